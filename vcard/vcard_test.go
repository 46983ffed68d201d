package vcard

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/unicode"
)

var dataDir = filepath.Join("..", "..", "shared", "data", "vcard")

// wantCounts is the number of cards in each sample file.
var wantCounts = map[string]int{
	"John_Doe_ANDROID.vcf":          6,
	"John_Doe_BLACK_BERRY.vcf":      1,
	"John_Doe_EVOLUTION.vcf":        1,
	"John_Doe_GMAIL.vcf":            1,
	"John_Doe_IPHONE.vcf":           1,
	"John_Doe_LOTUS_NOTES.vcf":      1,
	"John_Doe_MAC_ADDRESS_BOOK.vcf": 1,
	"John_Doe_MS_OUTLOOK.vcf":       1,
	"fullcontact.vcf":               1,
	"gmail-list.vcf":                3,
	"gmail-single.vcf":              1,
	"gmail-single2.vcf":             1,
	"outlook-2003.vcf":              1,
	"outlook-2007.vcf":              1,
	"rfc2426-example.vcf":           2,
	"rfc6350-example.vcf":           1,
	"thunderbird-MoreFunctionsForAddressBook-extension.vcf": 1,
}

func parseSamples(t *testing.T) map[string][]Card {
	t.Helper()
	if _, err := os.Stat(dataDir); os.IsNotExist(err) {
		t.Skip("vcard sample folder not present")
	}
	files, err := filepath.Glob(filepath.Join(dataDir, "*.vcf"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]Card{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !Detect(data) {
			t.Errorf("%s: Detect = false", filepath.Base(f))
		}
		cards, err := Parse(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
		out[filepath.Base(f)] = cards
	}
	return out
}

func TestSampleCounts(t *testing.T) {
	parsed := parseSamples(t)
	if len(parsed) != 17 {
		t.Errorf("found %d .vcf files, want 17", len(parsed))
	}
	total := 0
	for name, cards := range parsed {
		total += len(cards)
		want, ok := wantCounts[name]
		if !ok {
			t.Errorf("unexpected file %s", name)
			continue
		}
		if len(cards) != want {
			t.Errorf("%s: %d cards, want %d", name, len(cards), want)
		}
	}
	if total != 25 {
		t.Errorf("total cards = %d, want 25", total)
	}
}

func TestSampleValues(t *testing.T) {
	parsed := parseSamples(t)
	for name, want := range wantCards {
		got := parsed[name]
		if len(got) != len(want) {
			t.Errorf("%s: %d cards, want %d", name, len(got), len(want))
			continue
		}
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("%s card %d:\n got %#v\nwant %#v", name, i, got[i], want[i])
			}
		}
	}
}

// TestSampleSpotChecks pins a few values from files not in wantCards.
func TestSampleSpotChecks(t *testing.T) {
	parsed := parseSamples(t)
	ev := parsed["John_Doe_EVOLUTION.vcf"][0]
	if ev.AdditionalNames != "Richter, James" || ev.FormattedName != "Mr. John Richter, James Doe Sr." ||
		ev.Addresses[0] != (Address{"home", "15 Crescent moon drive\nASB-123", "Albaney", "New York", "12345", "United States of America"}) ||
		ev.Emails[0] != (Typed{"work", "john.doe@ibm.com", false}) || ev.URL != "http://www.ibm.com" {
		t.Errorf("Evolution card = %#v", ev)
	}
	o3 := parsed["outlook-2003.vcf"][0]
	if o3.Note != "This is the note field!!\nSecond line\n\nThird line is empty" || o3.Organization != "Company, The" || o3.Birthday != "1980-03-21" {
		t.Errorf("Outlook 2003 card = %#v", o3)
	}
	bb := parsed["John_Doe_BLACK_BERRY.vcf"][0]
	if bb.FormattedName != "John Doe" || bb.Note != "" || !reflect.DeepEqual(bb.Phones, []Typed{{"mobile", "+96123456789", false}}) {
		t.Errorf("BlackBerry card = %#v", bb)
	}
	fc := parsed["fullcontact.vcf"][0]
	if fc.Birthday != "2016-08-01" || fc.Organization != "Organization1" || fc.Title != "Title1" || len(fc.Phones) != 9 || len(fc.Emails) != 5 {
		t.Errorf("fullcontact card = %#v", fc)
	}
	tb := parsed["thunderbird-MoreFunctionsForAddressBook-extension.vcf"][0]
	if !reflect.DeepEqual(tb.Categories, []string{"category1, category2, category3"}) ||
		tb.Note != "This is the notes field.\nSecond Line\n\nFourth Line\nYou can put anything in the \"note\" field; even curse words." {
		t.Errorf("Thunderbird card = %#v", tb)
	}
}

func TestRoundTrip(t *testing.T) {
	parsed := parseSamples(t)
	n := 0
	for name, cards := range parsed {
		for i, c := range cards {
			var buf bytes.Buffer
			if err := Write(&buf, c); err != nil {
				t.Fatal(err)
			}
			checkFolded(t, buf.String())
			back, err := Parse(&buf)
			if err != nil {
				t.Fatalf("%s card %d: re-parse: %v\n%s", name, i, err, buf.String())
			}
			if len(back) != 1 {
				t.Fatalf("%s card %d: re-parse gave %d cards", name, i, len(back))
			}
			got := back[0]
			if got.Version != "4.0" || got.Line != 1 {
				t.Errorf("%s card %d: Version %q Line %d", name, i, got.Version, got.Line)
			}
			got.Version, got.Line = c.Version, c.Line
			if !reflect.DeepEqual(got, c) {
				t.Errorf("%s card %d round trip:\n got %#v\nwant %#v", name, i, got, c)
			}
			n++
		}
	}
	if n != 25 {
		t.Errorf("round-tripped %d cards, want 25", n)
	}
}

// checkFolded asserts CRLF endings, lines of at most 75 octets, valid UTF-8
// on every physical line.
func checkFolded(t *testing.T, s string) {
	t.Helper()
	if !strings.HasSuffix(s, "\r\n") {
		t.Fatalf("output does not end with CRLF: %q", s)
	}
	for _, l := range strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n") {
		if strings.ContainsAny(l, "\r\n") {
			t.Fatalf("bare line break in %q", l)
		}
		if len(l) > 75 {
			t.Fatalf("line of %d octets: %q", len(l), l)
		}
		if !utf8.ValidString(l) {
			t.Fatalf("line splits a UTF-8 sequence: %q", l)
		}
	}
}

func TestFoldingCJK(t *testing.T) {
	note := strings.Repeat("联系人备注，", 50) // 300 characters, 900 octets
	if utf8.RuneCountInString(note) != 300 {
		t.Fatalf("note has %d characters", utf8.RuneCountInString(note))
	}
	c := Card{FormattedName: "张伟", Note: note}
	var buf bytes.Buffer
	if err := Write(&buf, c); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	checkFolded(t, out)
	lines := strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n")
	noteLines := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "NOTE:") || strings.HasPrefix(l, " ") {
			noteLines++
		}
	}
	// All 300 characters are 3 octets. The first line holds "NOTE:" and
	// 23 characters (74 octets: a 24th would need 77); each continuation
	// line holds a space and 24 characters (73 octets). 900 = 69 + 11*72 +
	// 39, so the note takes 1 + 12 lines.
	if noteLines != 13 {
		t.Errorf("note folded into %d lines, want 13", noteLines)
	}
	if !strings.HasPrefix(out, "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:张伟\r\nNOTE:"+note[:69]+"\r\n "+note[69:141]+"\r\n ") {
		t.Errorf("unexpected folding:\n%q", out)
	}
	back, err := Parse(strings.NewReader(out))
	if err != nil || len(back) != 1 || back[0].Note != note || back[0].FormattedName != "张伟" {
		t.Fatalf("re-parse = %#v, %v", back, err)
	}
}

func TestWriteExact(t *testing.T) {
	c := Card{
		FormattedName: "Zoë Ångström",
		FamilyName:    "Ångström", GivenName: "Zoë", HonorificSuffix: "Ph.D., M.Sc.",
		Organization: "Horn; Shepard, and Watson",
		Title:        "CTO",
		Emails:       []Typed{{"work", "zoe@example.com", true}, {"other", "z@example.org", false}},
		Phones:       []Typed{{"mobile", "+46 70 123 45 67", false}, {"fax", "+46 8 123", false}},
		Addresses:    []Address{{"home", "Storgatan 1\nLgh 1101", "Stockholm", "", "111 22", "Sweden"}},
		Birthday:     "1980-01-02",
		Note:         "a\\b\r\nc",
		URL:          "https://example.com/a;b",
		UID:          "urn:uuid:1",
		Categories:   []string{"vip", "a,b"},
	}
	var buf bytes.Buffer
	if err := Write(&buf, c); err != nil {
		t.Fatal(err)
	}
	want := "BEGIN:VCARD\r\n" +
		"VERSION:4.0\r\n" +
		"FN:Zoë Ångström\r\n" +
		"N:Ångström;Zoë;;;Ph.D.\\, M.Sc.\r\n" +
		"ORG:Horn\\; Shepard\\, and Watson\r\n" +
		"TITLE:CTO\r\n" +
		"EMAIL;TYPE=work;PREF=1:zoe@example.com\r\n" +
		"EMAIL:z@example.org\r\n" +
		"TEL;TYPE=cell:+46 70 123 45 67\r\n" +
		"TEL;TYPE=fax:+46 8 123\r\n" +
		"ADR;TYPE=home:;;Storgatan 1\\nLgh 1101;Stockholm;;111 22;Sweden\r\n" +
		"BDAY:1980-01-02\r\n" +
		"NOTE:a\\\\b\\nc\r\n" +
		"URL:https://example.com/a\\;b\r\n" +
		"UID:urn:uuid:1\r\n" +
		"CATEGORIES:vip,a\\,b\r\n" +
		"END:VCARD\r\n"
	if buf.String() != want {
		t.Fatalf("Write =\n%q\nwant\n%q", buf.String(), want)
	}
	back, err := Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	c.Version, c.Line, c.Note = "4.0", 1, "a\\b\nc"
	if !reflect.DeepEqual(back, []Card{c}) {
		t.Fatalf("re-parse = %#v", back)
	}
}

func TestParseFeatures(t *testing.T) {
	in := "\uFEFF\r\n" +
		"begin:vcard\r\n" +
		"version:2.1\r\n" +
		"N;ENCODING=QUOTED-PRINTABLE;CHARSET=ISO-8859-1:M=FCller;J=FCrgen;;;\r\n" +
		"FN;QUOTED-PRINTABLE;CHARSET=UTF-8:J=C3=BCrgen =\r\n" +
		"M=C3=BCller\r\n" +
		"TEL;CELL;PREF:+49 170 1\r\n" +
		"TEL;WORK;VOICE:+49 30 2\r\n" +
		"item1.EMAIL;INTERNET:j@example.de\r\n" +
		"PHOTO;ENCODING=BASE64;TYPE=JPEG:\r\n" +
		"/9j/4AAQSkZJRgABAQEAYABgAAD\r\n" +
		"GBcUFhYaHSUfGhsjHBYWICwgIyYn==\r\n" +
		"\r\n" +
		"ORG:Firma\\; GmbH;Abteilung\r\n" +
		"X-CUSTOM;FOO=bar:ignored\r\n" +
		"AGENT:\r\n" +
		"BEGIN:VCARD\r\n" +
		"FN:Nested Agent\r\n" +
		"END:VCARD\r\n" +
		"NOTE:C:\\temp\r\n" +
		"end:vcard\r\n" +
		"BEGIN:VCARD\r\n" +
		"VERSION:3.0\r\n" +
		"FN:Taro\r\n" +
		"N;CHARSET=SHIFT_JIS:" + sjis(t, "山田;太郎") + ";;;\r\n" +
		"EMAIL;TYPE=internet;TYPE=home;TYPE=pref:taro@example.jp\r\n" +
		"TEL;TYPE=\"work,voice\":+81 3\r\n" +
		"NOTE;ENCODING=b:" + "SGVsbG8=" + "\r\n" +
		"BDAY:19800102\r\n" +
		"CATEGORIES:a,b\\,c\r\n" +
		"CATEGORIES:d\r\n" +
		"ADR;TYPE=work:;;1-1\\nChiyoda;Tokyo;;100-0001;Japan\r\n" +
		"END:VCARD\r\n"
	cards, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Card{
		{
			Version:       "2.1",
			FormattedName: "Jürgen Müller",
			FamilyName:    "Müller", GivenName: "Jürgen",
			Organization: "Firma; GmbH",
			Emails:       []Typed{{"other", "j@example.de", false}},
			Phones:       []Typed{{"mobile", "+49 170 1", true}, {"work", "+49 30 2", false}},
			Note:         `C:\temp`,
			Line:         2,
		},
		{
			Version:       "3.0",
			FormattedName: "Taro",
			FamilyName:    "山田", GivenName: "太郎",
			Emails:     []Typed{{"home", "taro@example.jp", true}},
			Phones:     []Typed{{"work", "+81 3", false}},
			Addresses:  []Address{{"work", "1-1\nChiyoda", "Tokyo", "", "100-0001", "Japan"}},
			Birthday:   "1980-01-02",
			Note:       "Hello",
			Categories: []string{"a", "b,c", "d"},
			Line:       22,
		},
	}
	if !reflect.DeepEqual(cards, want) {
		t.Fatalf("Parse =\n%#v\nwant\n%#v", cards, want)
	}
}

func sjis(t *testing.T, s string) string {
	t.Helper()
	b, err := japanese.ShiftJIS.NewEncoder().String(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseUTF16(t *testing.T) {
	src := "BEGIN:VCARD\nVERSION:3.0\nFN:Zoë\nEND:VCARD\n"
	enc, err := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().Bytes([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if !Detect(enc) {
		t.Error("Detect(UTF-16) = false")
	}
	cards, err := Parse(bytes.NewReader(enc))
	if err != nil || len(cards) != 1 || cards[0].FormattedName != "Zoë" {
		t.Fatalf("Parse(UTF-16) = %#v, %v", cards, err)
	}
}

func TestBirthday(t *testing.T) {
	tests := map[string]string{
		"19800102":             "1980-01-02",
		"1980-01-02":           "1980-01-02",
		"1980-01-02T00:00:00Z": "1980-01-02",
		"19530102T000000":      "1953-01-02",
		"--0102":               "--0102",
		"1980":                 "1980",
		"19800231":             "19800231",
		"circa 1800":           "circa 1800",
	}
	for in, want := range tests {
		if got := normalizeBirthday(in); got != want {
			t.Errorf("normalizeBirthday(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"BEGIN:VCARD\r\n", true},
		{"begin:vcard\n", true},
		{"\uFEFF \r\n\tBEGIN:vCard", true},
		{"BEGIN:VCAL", false},
		{"BEGIN:VCALENDAR\r\n", false},
		{"name,email\n", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := Detect([]byte(tt.in)); got != tt.want {
			t.Errorf("Detect(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, wantErr string }{
		{"BEGIN:VCARD\nFN:A\nEND:VCARD\nBEGIN:VCARD\nFN:B\n", "line 4: BEGIN:VCARD without END:VCARD"},
		{"\n\nFN:A\n", "line 3: expected BEGIN:VCARD"},
		{"BEGIN:VCARD\nFN:A\nEND:VCARD\nstray\n", "line 4: expected BEGIN:VCARD"},
	}
	for _, tt := range tests {
		_, err := Parse(strings.NewReader(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Parse(%q) err = %v, want %q", tt.in, err, tt.wantErr)
		}
	}
	// Empty input: no cards, no error.
	if cards, err := Parse(strings.NewReader("\r\n")); err != nil || len(cards) != 0 {
		t.Errorf("Parse(blank) = %v, %v", cards, err)
	}
}

func TestParseTooLarge(t *testing.T) {
	r := io.MultiReader(strings.NewReader("BEGIN:VCARD\r\nNOTE:"), &repeatReader{n: MaxInput})
	_, err := Parse(r)
	if err == nil || !strings.Contains(err.Error(), "larger than 16777216 bytes") {
		t.Fatalf("err = %v", err)
	}
}

// repeatReader yields n 'x' bytes without allocating them up front.
type repeatReader struct{ n int }

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), r.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	r.n -= k
	return k, nil
}
