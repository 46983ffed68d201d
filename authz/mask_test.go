package authz

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMask(t *testing.T) {
	for _, c := range []struct{ value, kind, want string }{
		// e-mail: the first character of the local part and the domain.
		{"alice@example.com", MaskEmail, "a***@example.com"},
		{"Alice.Smith+crm@mail.example.co.uk", MaskEmail, "A***@mail.example.co.uk"},
		{"jürgen@beispiel.de", MaskEmail, "j***@beispiel.de"},
		{"ülrich@x.de", MaskEmail, "ü***@x.de"},
		{"a@example.com", MaskEmail, "***@example.com"}, // one character: show none
		{"ab@x.de", MaskEmail, "***"},                   // short: nothing
		{"a@b.c", MaskEmail, "***"},
		{"weird\"@\"x@example.com", MaskEmail, "w***@example.com"}, // the last @ splits
		{"no-at-sign", MaskEmail, "n***n"},                         // not an e-mail: text
		{"@example.com", MaskEmail, "@***m"},
		{"alice@", MaskEmail, "a***@"},
		// phone: 11+ digits keep "+", the first 3 and the last 4.
		{"+8613800131234", MaskPhone, "+861****1234"},
		{"+86 138 0013 1234", MaskPhone, "+861****1234"},
		{"13800131234", MaskPhone, "138****1234"},
		{"+4930123456789", MaskPhone, "+493****6789"},
		{"+1 (415) 555-0100", MaskPhone, "+141****0100"},
		{" +44 20 7946 0958", MaskPhone, "+442****0958"},
		{"+4791234567", MaskPhone, "****4567"}, // 10 digits: last 4 only
		{"030 1234567", MaskPhone, "****4567"},
		{"12345678", MaskPhone, "****5678"},
		{"1234567", MaskPhone, "****67"}, // short: last 2
		{"12345", MaskPhone, "****45"},
		{"1234", MaskPhone, "****"},
		{"+1", MaskPhone, "****"},
		{"ext", MaskPhone, "***"}, // no digits: text, short
		{"unknown", MaskPhone, "u***n"},
		// text: first and last character.
		{"Berlin", MaskText, "B***n"},
		{"Anna", MaskText, "A***a"},
		{"Ann", MaskText, "***"},
		{"Bo", MaskText, "***"},
		{"X", MaskText, "***"},
		{"Zürich", MaskText, "Z***h"},
		{"東京都港区", MaskText, "東***区"},
		{"12 Main Street\nSpringfield", MaskText, "1***d"},
		// anything else is masked whole; empty stays empty.
		{"1985-04-12", "", "***"},
		{"1985-04-12", "date", "***"},
		{"Berlin", "TEXT", "***"},
		{"", MaskEmail, ""},
		{"", MaskPhone, ""},
		{"", MaskText, ""},
		{"", "", ""},
	} {
		if got := Mask(c.value, c.kind); got != c.want {
			t.Errorf("Mask(%q, %q) = %q, want %q", c.value, c.kind, got, c.want)
		}
		if Mask(c.value, c.kind) != Mask(c.value, c.kind) {
			t.Errorf("Mask(%q, %q) is not deterministic", c.value, c.kind)
		}
	}
}

// TestMaskShortValues: a value shorter than 8 characters never shows more
// than 4 of them, whatever its kind.
func TestMaskShortValues(t *testing.T) {
	for _, v := range []string{"a", "ab", "abc", "abcd", "a@b.cd", "ab@c.de", "1234567", "+123456", "x@y.zz", "Ωmega"} {
		for _, kind := range []string{MaskEmail, MaskPhone, MaskText, ""} {
			if n := revealed(v, Mask(v, kind)); n > 4 {
				t.Errorf("Mask(%q, %q) = %q shows %d characters", v, kind, Mask(v, kind), n)
			}
		}
	}
}

// revealed counts the characters of the masked output that are not stars
// or the phone's "+" sign.
func revealed(orig, masked string) int {
	n := 0
	for _, r := range masked {
		if r != '*' && !(r == '+' && strings.HasPrefix(strings.TrimSpace(orig), "+")) {
			n++
		}
	}
	return n
}

func TestMaskKindFor(t *testing.T) {
	for _, c := range []struct{ object, field, want string }{
		{"contacts", "emails[].value", MaskEmail},
		{"contacts", "phones[].value", MaskPhone},
		{"contacts", "phones[].original", MaskPhone}, // the number as entered
		{"contacts", "phones[].ext", MaskPhone},
		{"contacts", "phones[].type", ""},
		{"contacts", "street", MaskText},
		{"contacts", "website", MaskText},
		{"contacts", "birthday", ""},
		{"contacts", "emails", ""},
		{"contacts", "nope", ""},
		{"contacts", "emails[].nope", ""},
		{"users", "email", MaskEmail},
		{"accounts", "annual_revenue", ""},
		{"nope", "email", ""},
	} {
		if got := MaskKindFor(c.object, c.field); got != c.want {
			t.Errorf("MaskKindFor(%s, %s) = %q, want %q", c.object, c.field, got, c.want)
		}
	}
}

func FuzzMask(f *testing.F) {
	for _, s := range []string{"alice@example.com", "+8613800131234", "Berlin", "", "@", "+", "\xff\xfe@\xff", "ü@ü.ü"} {
		f.Add(s, MaskEmail)
		f.Add(s, MaskPhone)
		f.Add(s, MaskText)
	}
	f.Fuzz(func(t *testing.T, v, kind string) {
		m := Mask(v, kind)
		if m != Mask(v, kind) {
			t.Fatal("not deterministic")
		}
		if !utf8.ValidString(m) {
			t.Fatalf("Mask(%q, %q) = %q: invalid UTF-8", v, kind, m)
		}
		if v != "" && m == "" {
			t.Fatalf("Mask(%q, %q) is empty", v, kind)
		}
		if kind == MaskText && utf8.RuneCountInString(v) >= 4 && utf8.RuneCountInString(m) != 5 {
			t.Fatalf("Mask(%q, text) = %q", v, m)
		}
		if kind == MaskPhone {
			digits := 0
			for _, r := range v {
				if r >= '0' && r <= '9' {
					digits++
				}
			}
			if shown := utf8.RuneCountInString(strings.ReplaceAll(m, "*", "")); digits > 0 && shown > 8 {
				t.Fatalf("Mask(%q, phone) = %q shows too much", v, m)
			}
		}
	})
}
