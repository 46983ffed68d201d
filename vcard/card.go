package vcard

import (
	"strings"
	"time"
)

type cardBuilder struct {
	card  Card
	props []prop
}

// finish interprets the collected properties. It runs at END:VCARD because
// escaping rules depend on VERSION, which need not be the first property.
func (b *cardBuilder) finish() Card {
	c := b.card
	for _, p := range b.props {
		if p.name == "VERSION" && c.Version == "" {
			c.Version = strings.TrimSpace(p.value)
		}
	}
	v21 := c.Version == "2.1"
	setFirst := func(dst *string, v string) {
		if *dst == "" {
			*dst = strings.TrimSpace(v)
		}
	}
	for _, p := range b.props {
		switch p.name {
		case "FN", "N", "ORG", "TITLE", "EMAIL", "TEL", "ADR", "BDAY", "NOTE", "URL", "UID", "CATEGORIES":
		default:
			continue // not imported (PHOTO, X-..., ...): never decoded
		}
		raw, ok := p.text()
		if !ok {
			continue
		}
		switch p.name {
		case "FN":
			setFirst(&c.FormattedName, unescape(raw, v21))
		case "N":
			if c.FamilyName+c.GivenName+c.AdditionalNames+c.HonorificPrefix+c.HonorificSuffix != "" {
				continue
			}
			n := components(raw, v21, 5)
			c.FamilyName, c.GivenName, c.AdditionalNames, c.HonorificPrefix, c.HonorificSuffix = n[0], n[1], n[2], n[3], n[4]
		case "ORG":
			setFirst(&c.Organization, components(raw, v21, 1)[0])
		case "TITLE":
			setFirst(&c.Title, unescape(raw, v21))
		case "EMAIL":
			if t, ok := typed(p, strings.TrimSpace(unescape(raw, v21))); ok {
				c.Emails = append(c.Emails, t)
			}
		case "TEL":
			val := raw
			isURI := strings.EqualFold(first(p.params["VALUE"]), "uri")
			if isURI || strings.HasPrefix(strings.ToLower(strings.TrimSpace(val)), "tel:") {
				// URIs are not text-escaped (RFC 6350 section 3.4).
				val = strings.TrimSpace(val)
				val = val[strings.IndexByte(val, ':')+1:]
			} else {
				val = unescape(val, v21)
			}
			if t, ok := typed(p, strings.TrimSpace(val)); ok {
				c.Phones = append(c.Phones, t)
			}
		case "ADR":
			a := components(raw, v21, 7)
			addr := Address{
				Type:       typeOf(p),
				Street:     joinNonEmpty("\n", a[2], a[1], a[0]),
				Locality:   a[3],
				Region:     a[4],
				PostalCode: a[5],
				Country:    a[6],
			}
			if addr.Street+addr.Locality+addr.Region+addr.PostalCode+addr.Country != "" {
				c.Addresses = append(c.Addresses, addr)
			}
		case "BDAY":
			setFirst(&c.Birthday, normalizeBirthday(unescape(raw, v21)))
		case "NOTE":
			setFirst(&c.Note, unescape(raw, v21))
		case "URL":
			setFirst(&c.URL, unescape(raw, v21))
		case "UID":
			setFirst(&c.UID, unescape(raw, v21))
		case "CATEGORIES":
			for _, cat := range splitEscaped(raw, ',') {
				if cat = strings.TrimSpace(unescape(cat, v21)); cat != "" {
					c.Categories = append(c.Categories, cat)
				}
			}
		}
	}
	return c
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// uninformative TYPE tokens: they describe the medium, not whose address
// or number it is.
var uninformative = map[string]bool{
	"pref": true, "internet": true, "voice": true, "msg": true, "text": true,
	"video": true, "x400": true, "postal": true, "parcel": true, "dom": true,
	"intl": true,
}

func typeOf(p prop) string {
	tokens := append([]string{}, p.params["TYPE"]...)
	// vCard 2.1 writes types bare (TEL;CELL;PREF); other bare words are
	// encodings and charsets.
	for _, b := range p.bare {
		switch b {
		case "QUOTED-PRINTABLE", "BASE64", "B", "8BIT", "7BIT":
		default:
			tokens = append(tokens, b)
		}
	}
	for _, t := range tokens {
		t = strings.ToLower(t)
		if uninformative[t] {
			continue
		}
		switch t {
		case "cell", "mobile", "iphone":
			return "mobile"
		}
		return t
	}
	return "other"
}

func isPref(p prop) bool {
	if first(p.params["PREF"]) == "1" {
		return true
	}
	for _, t := range append(append([]string{}, p.params["TYPE"]...), p.bare...) {
		if strings.EqualFold(t, "pref") {
			return true
		}
	}
	return false
}

func typed(p prop, value string) (Typed, bool) {
	if value == "" {
		return Typed{}, false
	}
	return Typed{Type: typeOf(p), Value: value, Pref: isPref(p)}, true
}

func joinNonEmpty(sep string, parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, sep)
}

// components splits a structured value on unescaped semicolons into exactly
// n unescaped, trimmed components (missing ones empty, extra ones dropped).
func components(raw string, v21 bool, n int) []string {
	parts := splitEscaped(raw, ';')
	out := make([]string, n)
	for i := 0; i < n && i < len(parts); i++ {
		out[i] = strings.TrimSpace(unescape(parts[i], v21))
	}
	return out
}

// splitEscaped splits s on sep where sep is not escaped by a backslash; the
// parts keep their escapes for unescape.
func splitEscaped(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unescape resolves backslash escapes. vCard 3.0 and 4.0 escape \\ \n \N
// \, \; (and some writers \: and \"); vCard 2.1 only escapes ; and \, so
// other backslashes there are literal (Windows paths in notes). Unknown
// escapes are kept as written.
func unescape(s string, v21 bool) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		next := s[i+1]
		switch {
		case next == ';' || next == '\\':
			b.WriteByte(next)
		case v21:
			b.WriteByte('\\')
			continue
		case next == 'n' || next == 'N':
			b.WriteByte('\n')
		case next == ',' || next == ':' || next == '"':
			b.WriteByte(next)
		default:
			b.WriteByte('\\')
			continue
		}
		i++
	}
	return b.String()
}

// normalizeBirthday returns YYYY-MM-DD for a full calendar date written as
// YYYYMMDD or YYYY-MM-DD, optionally followed by a time (T...); anything
// else (--MMDD, partial or free-text dates) is returned as given.
func normalizeBirthday(s string) string {
	s = strings.TrimSpace(s)
	date := s
	if i := strings.IndexAny(s, "Tt"); i >= 0 {
		date = s[:i]
	}
	for _, layout := range []string{"2006-01-02", "20060102"} {
		if len(date) != len(layout) {
			continue
		}
		if t, err := time.Parse(layout, date); err == nil {
			return t.Format("2006-01-02")
		}
	}
	return s
}
