// Command blocklistgen writes the password blocklist that package password
// embeds: the "passwords" frequency list of github.com/trustelem/zxcvbn (a
// Go port, MIT licence, of Dropbox's zxcvbn 4.4.2, whose list holds the
// 30,000 most common passwords of Mark Burnett's 10 million password
// corpus), lower-cased, de-duplicated, sorted, one per line, gzip-compressed.
//
// It is a generator rather than an import so the server binary carries the
// 30,000 passwords (about 100 KB compressed) and not zxcvbn's other
// dictionaries (about 1 MB of names and English words) it has no use for.
//
// Run it with `go generate ./password`.
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"strings"

	"github.com/trustelem/zxcvbn/frequency"
)

func main() {
	out := flag.String("o", "blocklist.txt.gz", "output file")
	flag.Parse()
	words, err := build()
	if err != nil {
		log.Fatal(err)
	}
	var buf bytes.Buffer
	// No name or modification time in the header: the same list always
	// gives the same bytes, so a re-run shows no diff.
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		log.Fatal(err)
	}
	zw.Write([]byte(strings.Join(words, "\n") + "\n"))
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("%s: %d passwords, %d bytes", *out, len(words), buf.Len())
}

// build returns the list's entries lower-cased, de-duplicated and sorted.
func build() ([]string, error) {
	list := frequency.FrequencyLists["passwords"]
	if len(list) < 10000 {
		return nil, fmt.Errorf("zxcvbn passwords list has %d entries, want at least 10000", len(list))
	}
	seen := make(map[string]bool, len(list))
	words := make([]string, 0, len(list))
	for _, w := range list {
		w = strings.ToLower(strings.TrimSpace(w))
		if w == "" || seen[w] || strings.ContainsAny(w, "\n\r") {
			continue
		}
		seen[w] = true
		words = append(words, w)
	}
	slices.Sort(words)
	return words, nil
}
