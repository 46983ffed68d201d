package tabular

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

var neutralizeCases = []struct{ in, want string }{
	{"", ""},
	{"plain", "plain"},
	{"'", "''"},
	{"''", "'''"},
	{"'a", "''a"},
	{"=1+1", "'=1+1"},
	{"+8613812341234", "'+8613812341234"},
	{"+3", "'+3"},
	{"-5", "-5"},
	{"-12.5", "-12.5"},
	{"12.5", "12.5"},
	{"-", "'-"},
	{"-5.", "'-5."},
	{"-.5", "'-.5"},
	{"-5e3", "'-5e3"},
	{"--5", "'--5"},
	{"-5 ", "'-5 "},
	{"-1+1", "'-1+1"},
	{"@SUM(A1)", "'@SUM(A1)"},
	{"\tx", "'\tx"},
	{"\rx", "'\rx"},
	{"'=x", "''=x"},
	{"a=1", "a=1"},
	{" =1", " =1"},
	{"=HYPERLINK(\"http://evil\",\"click\")", "'=HYPERLINK(\"http://evil\",\"click\")"},
	{"张伟", "张伟"},
}

func TestNeutralize(t *testing.T) {
	for _, tt := range neutralizeCases {
		got := Neutralize(tt.in)
		if got != tt.want {
			t.Errorf("Neutralize(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if back := Unneutralize(got); back != tt.in {
			t.Errorf("Unneutralize(%q) = %q, want %q", got, back, tt.in)
		}
	}
}

func TestUnneutralizeLeavesOthers(t *testing.T) {
	for _, s := range []string{"'a", "'", "'1", "''", "'=", "x'=1"} {
		want := s
		if s == "''" || s == "'=" {
			want = s[1:]
		}
		if got := Unneutralize(s); got != want {
			t.Errorf("Unneutralize(%q) = %q, want %q", s, got, want)
		}
	}
}

func FuzzNeutralizeRoundTrip(f *testing.F) {
	for _, tt := range neutralizeCases {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := Neutralize(s)
		if back := Unneutralize(n); back != s {
			t.Fatalf("Unneutralize(Neutralize(%q)) = %q", s, back)
		}
		if n != "" {
			switch n[0] {
			case '=', '+', '@', '\t', '\r':
				t.Fatalf("Neutralize(%q) = %q starts with a formula trigger", s, n)
			case '-':
				if !isPlainNumber(n) {
					t.Fatalf("Neutralize(%q) = %q starts with - but is not a plain number", s, n)
				}
			}
		}
	})
}

func TestCSVWriterRoundTrip(t *testing.T) {
	recs := [][]string{
		{"name", "formula", "amount", "note"},
		{"Zoë", "=1+1", "-12.5", "line one\nline two"},
		{"张伟", "@SUM(A1)", "+3", "'quoted"},
	}
	var buf bytes.Buffer
	w := NewCSVWriter(&buf)
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	const want = "name,formula,amount,note\n" +
		"Zoë,'=1+1,-12.5,\"line one\nline two\"\n" +
		"张伟,'@SUM(A1),'+3,''quoted\n"
	if buf.String() != want {
		t.Fatalf("output = %q, want %q", buf.String(), want)
	}
	if recs[1][1] != "=1+1" {
		t.Fatalf("Write modified its input: %q", recs[1])
	}

	r, err := Open(&buf, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Header(), recs[0]) {
		t.Fatalf("Header = %q", r.Header())
	}
	for i := 1; ; i++ {
		rec, _, err := r.Next()
		if errors.Is(err, io.EOF) {
			if i != len(recs) {
				t.Fatalf("read %d records", i-1)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for j := range rec {
			rec[j] = Unneutralize(rec[j])
		}
		if !reflect.DeepEqual(rec, recs[i]) {
			t.Fatalf("record %d = %q, want %q", i, rec, recs[i])
		}
	}
}

func TestCSVWriterError(t *testing.T) {
	w := NewCSVWriter(failWriter{})
	// csv.Writer buffers, so the write error surfaces at Flush.
	if err := w.Write([]string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err == nil || err.Error() != "disk full" {
		t.Fatalf("Flush err = %v, want disk full", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }
