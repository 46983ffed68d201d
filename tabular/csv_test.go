package tabular

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

// The test tables: a header with a cell padded by spaces, a quoted field
// containing the delimiter, a quoted field with an embedded line break, an
// escaped quote, an empty trailing field and a blank line before the last
// record (so the physical line numbers are 1, 2, 4, 6).
const latinTable = " id {d}name{d}company{d}note\n" +
	"1{d}Zoë Ångström{d}\"Horn{d} Shepard and Watson\"{d}\"first line\nsecond line\"\n" +
	"2{d}Jürgen Müller{d}\"Café \"\"Crème\"\"\"{d}\n" +
	"\n" +
	"3{d}Ana{d}Plain{d}x\n"

const chineseTable = "id{d}name{d}company{d}note\n" +
	"1{d}张伟{d}\"北京{d} 科技有限公司\"{d}\"第一行\n第二行\"\n" +
	"2{d}李娜{d}\"上海\"\"东方\"\"\"{d}\n" +
	"\n" +
	"3{d}王芳{d}广州{d}备注\n"

type wantRec struct {
	rec  []string
	line int
}

func latinWant(d string) []wantRec {
	return []wantRec{
		{[]string{"1", "Zoë Ångström", "Horn" + d + " Shepard and Watson", "first line\nsecond line"}, 2},
		{[]string{"2", "Jürgen Müller", `Café "Crème"`, ""}, 4},
		{[]string{"3", "Ana", "Plain", "x"}, 6},
	}
}

func chineseWant(d string) []wantRec {
	return []wantRec{
		{[]string{"1", "张伟", "北京" + d + " 科技有限公司", "第一行\n第二行"}, 2},
		{[]string{"2", "李娜", `上海"东方"`, ""}, 4},
		{[]string{"3", "王芳", "广州", "备注"}, 6},
	}
}

func render(table, delim, eol string) string {
	s := strings.ReplaceAll(table, "{d}", delim)
	return strings.ReplaceAll(s, "\n", eol)
}

type encCase struct {
	name   string // canonical name expected in Detected
	enc    encoding.Encoding
	bom    []byte
	chines bool // which table
}

func encodeWith(t *testing.T, e encCase, s string) []byte {
	t.Helper()
	out := []byte(s)
	if e.enc != nil {
		var err error
		out, err = e.enc.NewEncoder().Bytes(out)
		if err != nil {
			t.Fatalf("encoding %s: %v", e.name, err)
		}
	}
	return append(append([]byte{}, e.bom...), out...)
}

func readAll(t *testing.T, r Reader) []wantRec {
	t.Helper()
	var got []wantRec
	for {
		rec, line, err := r.Next()
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		got = append(got, wantRec{rec, line})
	}
}

func TestCSVEncodingsAndDelimiters(t *testing.T) {
	le := unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
	be := unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)
	cases := []struct {
		label string
		opt   string // explicit Encoding option
		encCase
	}{
		{"utf-8", "utf-8", encCase{encUTF8, nil, nil, false}},
		{"utf-8 BOM", "utf-8", encCase{encUTF8, nil, bomUTF8, false}},
		{"utf-16le BOM", "utf-16", encCase{encUTF16LE, le, bomUTF16LE, false}},
		{"utf-16be BOM", "utf-16", encCase{encUTF16BE, be, bomUTF16BE, false}},
		{"utf-16le no BOM", "utf-16le", encCase{encUTF16LE, le, nil, false}},
		{"utf-16be no BOM", "utf-16be", encCase{encUTF16BE, be, nil, false}},
		{"windows-1252", "windows-1252", encCase{encCP1252, charmap.Windows1252, nil, false}},
		{"utf-8 zh", "utf-8", encCase{encUTF8, nil, nil, true}},
		{"utf-8 BOM zh", "utf-8", encCase{encUTF8, nil, bomUTF8, true}},
		{"utf-16le BOM zh", "utf-16le", encCase{encUTF16LE, le, bomUTF16LE, true}},
		{"utf-16be BOM zh", "utf-16be", encCase{encUTF16BE, be, bomUTF16BE, true}},
		{"gbk", "gbk", encCase{encGBK, simplifiedchinese.GBK, nil, true}},
	}
	delims := []struct{ d, opt string }{{",", "comma"}, {";", ";"}, {"\t", "tab"}}
	for _, c := range cases {
		for _, d := range delims {
			for _, eol := range []string{"\n", "\r\n"} {
				table, want := latinTable, latinWant(d.d)
				if c.chines {
					table, want = chineseTable, chineseWant(d.d)
				}
				data := encodeWith(t, c.encCase, render(table, d.d, eol))
				for _, explicit := range []bool{false, true} {
					name := fmt.Sprintf("%s/%q/%q/explicit=%v", c.label, d.d, eol, explicit)
					t.Run(name, func(t *testing.T) {
						opts := Options{}
						if explicit {
							opts = Options{Format: "csv", Encoding: c.opt, Delimiter: d.opt}
						}
						r, err := Open(bytes.NewReader(data), opts)
						if err != nil {
							t.Fatal(err)
						}
						defer r.Close()
						wantDet := Detected{Format: "csv", Encoding: c.name, Delimiter: d.d}
						if got := r.Detected(); got != wantDet {
							t.Errorf("Detected = %+v, want %+v", got, wantDet)
						}
						if got := r.Header(); !reflect.DeepEqual(got, []string{"id", "name", "company", "note"}) {
							t.Errorf("Header = %q", got)
						}
						if got := readAll(t, r); !reflect.DeepEqual(got, want) {
							t.Errorf("records = %#v, want %#v", got, want)
						}
					})
				}
			}
		}
	}
}

func TestDetectEncoding(t *testing.T) {
	tests := []struct {
		name   string
		sample []byte
		want   string
	}{
		{"ascii", []byte("a,b\n1,2\n"), encUTF8},
		{"empty", nil, encUTF8},
		{"utf-8", []byte("name\nZoë\n"), encUTF8},
		{"cp1252 ë+space", []byte("name\nZo\xeb \xc5ngstr\xf6m\n"), encCP1252},
		{"cp1252 letters only", []byte("M\xfcller,J\xfcrgen\n"), encCP1252},
		{"cp1252 euro", []byte("price\n\x80 5\n"), encCP1252},
		{"gbk", []byte("\xd5\xc5\xce\xb0,\xc0\xee\xc4\xc8\n"), encGBK},
		{"utf-16le no bom", []byte("a\x00,\x00b\x00\n\x00"), encUTF16LE},
		{"utf-16be no bom", []byte("\x00a\x00,\x00b\x00\n"), encUTF16BE},
	}
	for _, tt := range tests {
		if got := detectEncoding(tt.sample, true); got != tt.want {
			t.Errorf("%s: detectEncoding = %q, want %q", tt.name, got, tt.want)
		}
	}
	// A UTF-8 sample cut in the middle of a rune is still UTF-8 when the
	// input continues, but not when the sample is the whole input.
	cut := []byte("name\nZo\xc3")
	if got := detectEncoding(cut, false); got != encUTF8 {
		t.Errorf("cut sample: %q, want utf-8", got)
	}
	if got := detectEncoding(cut, true); got != encCP1252 {
		t.Errorf("truncated file: %q, want windows-1252", got)
	}
}

func TestSniffDelimiter(t *testing.T) {
	tests := []struct {
		sample string
		want   rune
	}{
		{"a,b,c\n1,2,3\n", ','},
		{"a;b;c\n1;2;3\n", ';'},
		{"a\tb\tc\n1\t2\t3\n", '\t'},
		// Quoted delimiters do not count.
		{"name;company\nx;\"Horn, Shepard, and, Watson\"\ny;\"a,b,c,d\"\n", ';'},
		{"name,company\nx,\"Horn; Shepard; Watson\"\ny,\"a;b;c\"\n", ','},
		// Semicolon file with decimal commas: consistency beats count.
		{"Name;Price;Qty\nA;1,5;2,0\nB;2,5;3,0\n", ';'},
		// A single column, or a tie: comma.
		{"name\nx\ny\n", ','},
		{"a,b;c\n", ','},
		{"", ','},
		// A record cut at the end of a partial sample is ignored.
		{"a;b\n1;2\n3;4\n5,6,7,8,9", ';'},
	}
	for _, tt := range tests {
		complete := !strings.HasSuffix(tt.sample, "9")
		if got := sniffDelimiter([]byte(tt.sample), complete); got != tt.want {
			t.Errorf("sniffDelimiter(%q) = %q, want %q", tt.sample, got, tt.want)
		}
	}
}

func TestMalformedQuoteReportsLineAndContinues(t *testing.T) {
	in := "h1,h2\r\n1,2\r\n3,a\"b\r\n4,\"multi\r\nline\"\r\n5,x\"\r\n"
	r, err := Open(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec, line, err := r.Next()
	if err != nil || line != 2 || !reflect.DeepEqual(rec, []string{"1", "2"}) {
		t.Fatalf("Next = %q, %d, %v", rec, line, err)
	}
	rec, line, err = r.Next()
	if !errors.Is(err, csv.ErrBareQuote) || line != 3 || rec != nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("Next = %q, %d, %v; want ErrBareQuote at line 3", rec, line, err)
	}
	rec, line, err = r.Next()
	if err != nil || line != 4 || !reflect.DeepEqual(rec, []string{"4", "multi\nline"}) {
		t.Fatalf("Next = %q, %d, %v", rec, line, err)
	}
	rec, line, err = r.Next()
	if !errors.Is(err, csv.ErrBareQuote) || line != 6 {
		t.Fatalf("Next = %q, %d, %v; want ErrBareQuote at line 6", rec, line, err)
	}
	if _, _, err = r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("Next at end: %v", err)
	}
}

func TestUnterminatedQuote(t *testing.T) {
	in := "h1,h2\n1,\"never closed\n2,3\n4,5\n"
	r, err := Open(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, line, err := r.Next()
	var pe *csv.ParseError
	if !errors.As(err, &pe) || !errors.Is(err, csv.ErrQuote) || line != 2 || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("Next = line %d, %v; want ErrQuote starting at line 2", line, err)
	}
}

func TestMaxRowBytes(t *testing.T) {
	// A record over the limit but within csv.Reader's read-ahead is caught
	// after parsing, with its exact line; a much longer one is cut off
	// while reading, and the error names the last good line.
	for _, tc := range []struct {
		size    int
		wantMsg string
	}{{3000, "line 3:"}, {50000, "record after line 2:"}} {
		long := strings.Repeat("x", tc.size)
		in := "h\nshort\n\"" + long + "\"\nafter\n"
		r, err := Open(strings.NewReader(in), Options{MaxRowBytes: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if rec, line, err := r.Next(); err != nil || line != 2 || rec[0] != "short" {
			t.Fatalf("Next = %q, %d, %v", rec, line, err)
		}
		_, line, err := r.Next()
		if !errors.Is(err, errRowTooLong) || !strings.Contains(err.Error(), tc.wantMsg) || line != 3 {
			t.Fatalf("size %d: Next = line %d, err %v; want row too long, %q", tc.size, line, err, tc.wantMsg)
		}
		// The error is final.
		if _, _, err2 := r.Next(); err2 != err {
			t.Fatalf("second Next err = %v", err2)
		}
	}

	// An unterminated quote in a long file stops at the limit instead of
	// reading the rest of the input into one field.
	big := io.MultiReader(strings.NewReader("h\n\"open\n"), strings.NewReader(strings.Repeat("filler line\n", 1<<20)))
	r, err := Open(big, Options{MaxRowBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Next(); !errors.Is(err, errRowTooLong) {
		t.Fatalf("unterminated quote: err = %v, want row too long", err)
	}
}

func TestInvalidUTF8AfterSample(t *testing.T) {
	var b strings.Builder
	b.WriteString("name,city\n")
	for b.Len() < sampleSize+1000 {
		b.WriteString("Ann,Paris\n")
	}
	b.WriteString("Zo\xeb,Z\xfcrich\n")
	r, err := Open(strings.NewReader(b.String()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Detected().Encoding != encUTF8 {
		t.Fatalf("Detected = %+v", r.Detected())
	}
	for {
		_, line, err := r.Next()
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "invalid UTF-8") || !strings.Contains(err.Error(), fmt.Sprintf("line %d", line)) {
			t.Fatalf("err = %v", err)
		}
		break
	}
	// Forcing the encoding reads it.
	r, err = Open(strings.NewReader(b.String()), Options{Encoding: "windows-1252"})
	if err != nil {
		t.Fatal(err)
	}
	var last []string
	n := 0
	for {
		rec, _, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		last = rec
		n++
	}
	if !reflect.DeepEqual(last, []string{"Zoë", "Zürich"}) {
		t.Fatalf("last record = %q", last)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(strings.NewReader(""), Options{}); !errors.Is(err, io.EOF) {
		t.Errorf("empty input: err = %v, want io.EOF", err)
	}
	if _, err := Open(strings.NewReader("\n\n"), Options{}); !errors.Is(err, io.EOF) {
		t.Errorf("blank input: err = %v, want io.EOF", err)
	}
	for _, o := range []Options{{Format: "ods"}, {Encoding: "latin-9"}, {Delimiter: "|"}} {
		if _, err := Open(strings.NewReader("a,b\n"), o); err == nil {
			t.Errorf("Open(%+v) succeeded", o)
		}
	}
}

func TestHeaderDoubleBOM(t *testing.T) {
	r, err := Open(strings.NewReader("\uFEFF\uFEFF name ,x\n1,2\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Header(); !reflect.DeepEqual(got, []string{"name", "x"}) {
		t.Fatalf("Header = %q", got)
	}
}

func TestDatablistCustomers(t *testing.T) {
	path := filepath.Join("..", "..", "shared", "data", "datablist-customers", "customers-10000.csv")
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			t.Skip("datablist sample not present")
		}
		t.Fatal(err)
	}
	defer f.Close()
	r, err := Open(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, want := r.Detected(), (Detected{"csv", "utf-8", ","}); got != want {
		t.Errorf("Detected = %+v, want %+v", got, want)
	}
	wantHeader := []string{"Index", "Customer Id", "First Name", "Last Name", "Company", "City", "Country", "Phone 1", "Phone 2", "Email", "Subscription Date", "Website"}
	if !reflect.DeepEqual(r.Header(), wantHeader) {
		t.Errorf("Header = %q", r.Header())
	}
	n := 0
	for {
		rec, line, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if len(rec) != 12 {
			t.Fatalf("record %d has %d fields", n, len(rec))
		}
		// No embedded line breaks in this file: record n is on line n+1.
		if line != n+1 {
			t.Fatalf("record %d reported at line %d", n, line)
		}
		if n == 2 && rec[4] != "Horn, Shepard and Watson" {
			t.Errorf("record 2 company = %q", rec[4])
		}
	}
	if n != 10000 {
		t.Errorf("records = %d, want 10000", n)
	}
}

// TestStreamingMemoryFlat streams 200k rows (about 14 MB) through a pipe
// and checks the heap does not grow with the input.
func TestStreamingMemoryFlat(t *testing.T) {
	const rows = 200_000
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 32<<10)
		fmt.Fprint(w, "id,name,email,note\n")
		for i := range rows {
			fmt.Fprintf(w, "%d,Person %d,p%d@example.com,\"note, with comma %d\"\n", i, i, i, i)
		}
		w.Flush()
		pw.Close()
	}()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r, err := Open(pr, Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		_, _, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n != rows {
		t.Fatalf("read %d rows, want %d", n, rows)
	}
	growth := int64(after.HeapInuse) - int64(before.HeapInuse)
	if growth > 32<<20 {
		t.Fatalf("heap grew by %d bytes reading %d rows", growth, rows)
	}
	runtime.KeepAlive(r)
}
