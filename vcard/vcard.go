// Package vcard reads vCard 2.1, 3.0 and 4.0 files (RFC 2425/2426/6350 and
// the vCard 2.1 specification) as real clients export them, and writes
// vCard 4.0.
//
// Only the properties a contact manager imports are kept (see Card); all
// others, including photos and vendor X- extensions, are skipped.
package vcard

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/unicode"
)

// Card is one contact. All values are decoded UTF-8 text with escapes
// resolved and surrounding white space trimmed; line breaks inside values
// are "\n".
//
// For the single-valued fields (FN, N, ORG, TITLE, BDAY, NOTE, URL, UID) the
// first non-empty occurrence wins: clients such as Android repeat NOTE and
// ORG, and fullcontact repeats BDAY with ALTID in two representations.
type Card struct {
	// Version is the VERSION property as written ("2.1", "3.0", "4.0").
	Version string
	// FormattedName is FN.
	FormattedName string
	// FamilyName, GivenName, AdditionalNames, HonorificPrefix and
	// HonorificSuffix are the components of N, in that order. A component
	// that is itself a list keeps its commas ("Richter,James").
	FamilyName, GivenName, AdditionalNames, HonorificPrefix, HonorificSuffix string
	// Organization is the first component of ORG (the organisation name,
	// without units).
	Organization string
	// Title is TITLE.
	Title string
	// Emails and Phones are the EMAIL and TEL properties in file order.
	Emails []Typed
	Phones []Typed
	// Addresses are the ADR properties in file order.
	Addresses []Address
	// Birthday is BDAY, as YYYY-MM-DD when it is a full date (19800102,
	// 1980-01-02, or a date-time, whose date part is kept); otherwise as
	// given (--0102, "circa 1800").
	Birthday string
	// Note is NOTE.
	Note string
	// URL is URL.
	URL string
	// UID is UID.
	UID string
	// Categories are the CATEGORIES values of all CATEGORIES properties.
	Categories []string
	// Line is the 1-based line of BEGIN:VCARD in the input.
	Line int
}

// Typed is an e-mail address or phone number with its kind.
type Typed struct {
	// Type is the first informative TYPE token, lower-case: "work", "home",
	// "mobile" (for CELL, MOBILE and IPHONE), "fax", "pager", ...;
	// "other" when there is none. Tokens that say nothing about whose
	// number it is (pref, internet, voice, msg, text, video, x400) are
	// skipped, so TYPE=INTERNET,WORK gives "work".
	Type string
	// Value is the address or number as written (for a vCard 4.0 tel: URI,
	// without the "tel:" scheme).
	Value string
	// Pref marks the preferred entry: TYPE=pref, a bare 2.1 PREF, or the
	// vCard 4.0 PREF=1 parameter.
	Pref bool
}

// Address is an ADR property. Street joins the street address, extended
// address (suite, building) and post office box, non-empty ones only, with
// "\n": RFC 6350 discourages the last two, and a contact manager stores one
// street field.
type Address struct {
	Type, Street, Locality, Region, PostalCode, Country string
}

// MaxInput is the largest input Parse accepts. vCard files are small; the
// cap keeps a wrong file (or an endless stream) from exhausting memory.
const MaxInput = 16 << 20

// Parse reads all cards from r.
//
// It accepts CRLF, LF (and lone CR) line endings, a UTF-8 or UTF-16 byte
// order mark, folded lines, vCard 2.1 quoted-printable soft line breaks and
// base64 blocks ended by a blank line, lower-case keywords, property groups
// (item1.EMAIL), and values in the charset named by a CHARSET parameter.
// Text without a CHARSET that is not valid UTF-8 is read as Windows-1252,
// which is what old 2.1 exporters write. Blank lines and lines that are not
// properties inside a card are ignored; content outside BEGIN:VCARD ...
// END:VCARD, and a card without END:VCARD, are errors naming the line.
func Parse(r io.Reader) ([]Card, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxInput+1))
	if err != nil {
		return nil, fmt.Errorf("vcard: reading input: %w", err)
	}
	if len(data) > MaxInput {
		return nil, fmt.Errorf("vcard: input larger than %d bytes (%d MiB)", MaxInput, MaxInput>>20)
	}
	data = decodeBOM(data)
	lines := unfold(splitLines(data))

	var cards []Card
	var cur *cardBuilder
	depth := 0 // nesting of 2.1 AGENT cards inside the current card
	for _, ll := range lines {
		p, ok := parseProp(ll.text)
		isBegin := ok && strings.EqualFold(p.name, "BEGIN") && strings.EqualFold(strings.TrimSpace(p.value), "VCARD")
		isEnd := ok && strings.EqualFold(p.name, "END") && strings.EqualFold(strings.TrimSpace(p.value), "VCARD")
		switch {
		case cur == nil && isBegin:
			cur = &cardBuilder{card: Card{Line: ll.line}}
		case cur == nil:
			return nil, fmt.Errorf("vcard: line %d: expected BEGIN:VCARD, found %q", ll.line, truncate(ll.text, 40))
		case isBegin:
			depth++
		case isEnd && depth > 0:
			depth--
		case isEnd:
			cards = append(cards, cur.finish())
			cur = nil
		case depth > 0, !ok:
			// Nested card content, or a line that is not a property.
		default:
			cur.props = append(cur.props, p)
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("vcard: line %d: BEGIN:VCARD without END:VCARD", cur.card.Line)
	}
	return cards, nil
}

// Detect reports whether sample looks like a vCard file: after an optional
// byte order mark and white space it starts with BEGIN:VCARD, in any case.
func Detect(sample []byte) bool {
	s := decodeBOM(sample)
	s = bytes.TrimLeft(s, " \t\r\n")
	const begin = "BEGIN:VCARD"
	return len(s) >= len(begin) && strings.EqualFold(string(s[:len(begin)]), begin)
}

// decodeBOM strips a UTF-8 byte order mark and converts UTF-16 input with a
// byte order mark to UTF-8.
func decodeBOM(data []byte) []byte {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		return data[3:]
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		// An odd trailing byte (cut sample) decodes to U+FFFD; fine.
		out, err := unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder().Bytes(data)
		if err == nil {
			return out
		}
	}
	return data
}

type physLine struct {
	text string
	line int
}

// splitLines splits on LF, dropping any CRs before it (the iPhone export
// in the test data ends lines with CR CR LF). Input with CRs but no LF
// (classic Mac) is split on CR.
func splitLines(data []byte) []physLine {
	s := string(data)
	if !strings.Contains(s, "\n") {
		s = strings.ReplaceAll(s, "\r", "\n")
	}
	raw := strings.Split(s, "\n")
	out := make([]physLine, len(raw))
	for i, l := range raw {
		out[i] = physLine{strings.TrimRight(l, "\r"), i + 1}
	}
	return out
}

// unfold joins physical lines into logical property lines:
//   - a line starting with a space or tab continues the previous one
//     (RFC 2425 folding: the line break and that one white-space character
//     are removed);
//   - a quoted-printable value ending in "=" continues on the next line
//     (vCard 2.1 soft line break), whatever that line starts with;
//   - after a base64 property, lines made only of base64 characters are part
//     of it even when not indented (vCard 2.1 ends such blocks with a blank
//     line instead).
//
// Blank lines are dropped.
func unfold(lines []physLine) []physLine {
	var out []physLine
	base64Block := false
	for i := 0; i < len(lines); i++ {
		l := lines[i].text
		if strings.TrimSpace(l) == "" {
			base64Block = false
			continue
		}
		if (l[0] == ' ' || l[0] == '\t') && len(out) > 0 {
			out[len(out)-1].text += l[1:]
			continue
		}
		if base64Block && isBase64Line(l) {
			out[len(out)-1].text += l
			continue
		}
		text, start := l, lines[i].line
		head, _, hasColon := cutUnquoted(text, ':')
		upperHead := strings.ToUpper(head)
		if hasColon && strings.Contains(upperHead, "QUOTED-PRINTABLE") {
			for strings.HasSuffix(text, "=") && i+1 < len(lines) {
				i++
				text = text[:len(text)-1] + lines[i].text
			}
		}
		base64Block = hasColon && isBase64Head(upperHead)
		out = append(out, physLine{text, start})
	}
	return out
}

func isBase64Head(upperHead string) bool {
	for _, p := range strings.Split(upperHead, ";")[1:] {
		switch strings.TrimSpace(p) {
		case "BASE64", "ENCODING=BASE64", "ENCODING=B", "ENCODING=\"B\"":
			return true
		}
	}
	return false
}

func isBase64Line(l string) bool {
	l = strings.TrimSpace(l)
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return l != ""
}

// cutUnquoted splits s at the first sep outside double quotes.
func cutUnquoted(s string, sep byte) (before, after string, found bool) {
	inQ := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			inQ = !inQ
		case sep:
			if !inQ {
				return s[:i], s[i+1:], true
			}
		}
	}
	return s, "", false
}

// prop is a parsed content line.
type prop struct {
	name   string              // upper-case, without group
	params map[string][]string // upper-case keys; values unquoted, split on commas
	bare   []string            // vCard 2.1 parameters without a name, upper-case
	value  string              // raw value, still encoded and escaped
}

// parseProp parses "group.NAME;param=a,b;BARE:value". ok is false for a
// line without a colon.
func parseProp(line string) (prop, bool) {
	head, value, ok := cutUnquoted(line, ':')
	if !ok {
		return prop{}, false
	}
	parts := splitUnquoted(head, ';')
	name := strings.TrimSpace(parts[0])
	if dot := strings.LastIndexByte(name, '.'); dot >= 0 {
		name = name[dot+1:]
	}
	p := prop{name: strings.ToUpper(name), params: map[string][]string{}, value: value}
	for _, param := range parts[1:] {
		param = strings.TrimSpace(param)
		if param == "" {
			continue
		}
		k, v, hasEq := strings.Cut(param, "=")
		if !hasEq {
			p.bare = append(p.bare, strings.ToUpper(k))
			continue
		}
		k = strings.ToUpper(strings.TrimSpace(k))
		for _, item := range splitUnquoted(v, ',') {
			item = strings.TrimSpace(item)
			item = strings.TrimSuffix(strings.TrimPrefix(item, `"`), `"`)
			// A quoted list (TYPE="work,voice") is split after unquoting.
			for _, sub := range strings.Split(item, ",") {
				if sub = strings.TrimSpace(sub); sub != "" {
					p.params[k] = append(p.params[k], sub)
				}
			}
		}
	}
	return p, true
}

func splitUnquoted(s string, sep byte) []string {
	var out []string
	for {
		before, after, found := cutUnquoted(s, sep)
		out = append(out, before)
		if !found {
			return out
		}
		s = after
	}
}

// encoding returns the transfer encoding of p: "QP", "B" or "".
func (p prop) encoding() string {
	vals := append([]string{}, p.params["ENCODING"]...)
	vals = append(vals, p.bare...)
	for _, v := range vals {
		switch strings.ToUpper(v) {
		case "QUOTED-PRINTABLE":
			return "QP"
		case "B", "BASE64":
			return "B"
		}
	}
	return ""
}

// text decodes the raw value to UTF-8: transfer encoding first, then
// charset. ok is false when a base64 value does not decode.
func (p prop) text() (string, bool) {
	raw := []byte(p.value)
	switch p.encoding() {
	case "QP":
		raw = decodeQP(raw)
	case "B":
		clean := strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, p.value)
		b, err := base64.StdEncoding.DecodeString(clean)
		if err != nil {
			return "", false
		}
		raw = b
	}
	var s string
	if cs := p.params["CHARSET"]; len(cs) > 0 {
		if enc, err := htmlindex.Get(cs[0]); err == nil {
			if out, err := enc.NewDecoder().Bytes(raw); err == nil {
				s = string(out)
			}
		}
	}
	if s == "" {
		if utf8.Valid(raw) {
			s = string(raw)
		} else {
			out, _ := charmap.Windows1252.NewDecoder().Bytes(raw)
			s = string(out)
		}
	}
	// Decoders replace bad input with U+FFFD, but an explicit "utf-8"
	// charset passes bytes through unchecked in some paths.
	s = strings.ToValidUTF8(s, "\uFFFD")
	// Quoted-printable line breaks are CRLF; store text with "\n".
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n"), true
}

// decodeQP decodes quoted-printable leniently: "=XX" is a byte, a lone "="
// (left from a soft line break) is dropped, anything else is literal.
// mime/quotedprintable is stricter than real exports allow.
func decodeQP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '=' {
			out = append(out, b[i])
			continue
		}
		if i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]) {
			out = append(out, unhex(b[i+1])<<4|unhex(b[i+2]))
			i += 2
			continue
		}
		if i == len(b)-1 {
			continue
		}
		out = append(out, '=')
	}
	return out
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
