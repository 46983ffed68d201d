package vcard

import (
	"bufio"
	"io"
	"strings"
	"unicode/utf8"
)

// maxLineOctets is the RFC 6350 section 3.2 line length limit, excluding
// the line break.
const maxLineOctets = 75

// Write writes c as a vCard 4.0 card: CRLF line endings, lines folded at 75
// octets without splitting a UTF-8 sequence, text escaped per RFC 6350
// section 3.4. Empty fields are left out (FN, which vCard 4.0 requires, is
// always written). Version and Line are not written; Parse of the output
// gives back c with Version "4.0". CR and CRLF inside values are written as
// line breaks ("\n"), so they come back as "\n".
func Write(w io.Writer, c Card) error {
	bw := bufio.NewWriter(w)
	put := func(nameAndParams, value string) {
		writeFolded(bw, nameAndParams+":"+value)
	}
	put("BEGIN", "VCARD")
	put("VERSION", "4.0")
	put("FN", escapeText(c.FormattedName))
	if c.FamilyName+c.GivenName+c.AdditionalNames+c.HonorificPrefix+c.HonorificSuffix != "" {
		put("N", joinEscaped(c.FamilyName, c.GivenName, c.AdditionalNames, c.HonorificPrefix, c.HonorificSuffix))
	}
	if c.Organization != "" {
		put("ORG", escapeText(c.Organization))
	}
	if c.Title != "" {
		put("TITLE", escapeText(c.Title))
	}
	for _, e := range c.Emails {
		put("EMAIL"+typeParams(e.Type, e.Pref), escapeText(e.Value))
	}
	for _, p := range c.Phones {
		put("TEL"+typeParams(p.Type, p.Pref), escapeText(p.Value))
	}
	for _, a := range c.Addresses {
		put("ADR"+typeParams(a.Type, false), joinEscaped("", "", a.Street, a.Locality, a.Region, a.PostalCode, a.Country))
	}
	if c.Birthday != "" {
		put("BDAY", escapeText(c.Birthday))
	}
	if c.Note != "" {
		put("NOTE", escapeText(c.Note))
	}
	if c.URL != "" {
		put("URL", escapeText(c.URL))
	}
	if c.UID != "" {
		put("UID", escapeText(c.UID))
	}
	if len(c.Categories) > 0 {
		esc := make([]string, len(c.Categories))
		for i, cat := range c.Categories {
			esc[i] = escapeText(cat)
		}
		put("CATEGORIES", strings.Join(esc, ","))
	}
	put("END", "VCARD")
	return bw.Flush()
}

// typeParams renders ";TYPE=...;PREF=1". "mobile" is written as the
// standard "cell"; "other" and "" need no TYPE.
func typeParams(typ string, pref bool) string {
	var b strings.Builder
	switch typ {
	case "", "other":
	case "mobile":
		b.WriteString(";TYPE=cell")
	default:
		// Parameter values cannot contain DQUOTE; quote the value when it
		// holds characters that would end the parameter.
		typ = strings.ReplaceAll(typ, `"`, "")
		if strings.ContainsAny(typ, ";:,") {
			typ = `"` + typ + `"`
		}
		b.WriteString(";TYPE=" + typ)
	}
	if pref {
		b.WriteString(";PREF=1")
	}
	return b.String()
}

var textEscaper = strings.NewReplacer(`\`, `\\`, "\r\n", `\n`, "\r", `\n`, "\n", `\n`, ",", `\,`, ";", `\;`)

func escapeText(s string) string { return textEscaper.Replace(s) }

func joinEscaped(parts ...string) string {
	for i, p := range parts {
		parts[i] = escapeText(p)
	}
	return strings.Join(parts, ";")
}

// writeFolded writes one content line, folded so that no physical line
// exceeds 75 octets: continuation lines start with a space, which counts
// toward the limit, and a cut never falls inside a UTF-8 sequence.
func writeFolded(w *bufio.Writer, line string) {
	limit := maxLineOctets
	for len(line) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(line[cut]) {
			cut--
		}
		w.WriteString(line[:cut])
		w.WriteString("\r\n ")
		line = line[cut:]
		limit = maxLineOctets - 1
	}
	w.WriteString(line)
	w.WriteString("\r\n")
}
