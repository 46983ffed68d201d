package main

import (
	"compress/gzip"
	"io"
	"os"
	"strings"
	"testing"
)

// TestEmbeddedListMatchesSource shows the committed blocklist is exactly
// what this generator makes from the zxcvbn module, so the source named
// in package password's comment is the real one.
func TestEmbeddedListMatchesSource(t *testing.T) {
	words, err := build()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("../../blocklist.txt.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Join(words, "\n") + "\n"; string(got) != want {
		t.Fatalf("blocklist.txt.gz is stale: run go generate ./password (%d words from zxcvbn)", len(words))
	}
	if len(words) != 30000 {
		t.Fatalf("%d words", len(words))
	}
}
