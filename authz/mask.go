package authz

import (
	"strings"

	"mcrm"
)

// Mask kinds: how a masked value keeps enough shape to be recognised
// ("is this the customer on the phone?") without being usable (PRV-02).
const (
	MaskEmail = "email" // a***@example.com: first character of the local part, the domain
	MaskPhone = "phone" // +861****1234: the first 3 digits and the last 4
	MaskText  = "text"  // B***n: the first and last character
)

// Stars stand in for the hidden part. Their number is fixed, so a masked
// value does not tell the length of the original either.
const (
	textStars  = "***"
	phoneStars = "****"
)

// shortValue is the length (in characters, digits for phones) below which
// a value counts as short: a short value never shows more than 4 of its
// characters, and for e-mails and phones nothing.
const shortValue = 8

// Mask returns value masked for a role whose access to the field is
// Masked. It is deterministic (the same input always gives the same
// output, so masked lists still sort and group stably) and works on
// characters, not bytes, so it never splits a multi-byte character. An
// empty value stays empty. Any kind other than email, phone and text (a
// date, an amount) is masked whole as "***": there is no partial form of
// a birthday that is safe to show.
//
//   - email: "alice@example.com" → "a***@example.com"; a one-character
//     local part shows no character; an e-mail shorter than 8 characters
//     shows nothing ("***"); a value that is not local@domain is masked
//     as text.
//   - phone (digits counted, separators ignored): 11 digits or more keep
//     a leading "+", the first 3 and the last 4 digits ("+8613800131234"
//     → "+861****1234", "13800131234" → "138****1234"); 8 to 10 digits
//     keep only the last 4; 5 to 7 digits the last 2; fewer, nothing. A
//     value without digits is masked as text.
//   - text: at least 4 characters keep the first and the last ("Berlin"
//     → "B***n"); shorter values show nothing.
func Mask(value, kind string) string {
	if value == "" {
		return ""
	}
	switch kind {
	case MaskEmail:
		return maskEmail(value)
	case MaskPhone:
		return maskPhone(value)
	case MaskText:
		return maskText(value)
	}
	return textStars
}

func maskText(v string) string {
	rs := []rune(v)
	if len(rs) < 4 {
		return textStars
	}
	return string(rs[0]) + textStars + string(rs[len(rs)-1])
}

func maskEmail(v string) string {
	at := strings.LastIndexByte(v, '@')
	if at <= 0 || at == len(v)-1 {
		return maskText(v)
	}
	if len([]rune(v)) < shortValue {
		return textStars
	}
	// The domain is copied, so make it valid UTF-8 like the rest: masked
	// values go into JSON and CSV.
	local, domain := []rune(v[:at]), strings.ToValidUTF8(v[at+1:], "\uFFFD")
	if len(local) < 2 {
		return textStars + "@" + domain
	}
	return string(local[0]) + textStars + "@" + domain
}

func maskPhone(v string) string {
	var digits []byte
	for i := 0; i < len(v); i++ {
		if v[i] >= '0' && v[i] <= '9' {
			digits = append(digits, v[i])
		}
	}
	n := len(digits)
	switch {
	case n == 0:
		return maskText(v)
	case n >= 11:
		plus := ""
		if strings.HasPrefix(strings.TrimSpace(v), "+") {
			plus = "+"
		}
		return plus + string(digits[:3]) + phoneStars + string(digits[n-4:])
	case n >= shortValue:
		return phoneStars + string(digits[n-4:])
	case n >= 5:
		return phoneStars + string(digits[n-2:])
	}
	return phoneStars
}

// MaskKindFor returns the mask kind for a field path of the schema (the
// FieldAccess naming: "emails[].value"): e-mails and phones keep their
// recognisable parts, other text its first and last character, and
// everything else (dates, numbers, amounts, references, enums) is masked
// whole (""). The text sub-fields of a phone item (original, the number as
// entered, and ext) are masked as phones, or the original would show more
// than the masked value beside it. A list field itself has no kind: its
// items are masked one by one.
func MaskKindFor(object, field string) string {
	e := mcrm.EntityByName(object)
	if e == nil {
		return ""
	}
	name, item, isItem := strings.Cut(field, "[].")
	f := e.Field(name)
	if f == nil {
		return ""
	}
	if !isItem {
		return kindOf(f.Type)
	}
	it := f.ItemField(item)
	if it == nil {
		return ""
	}
	if it.Type == mcrm.TString && f.ItemField("value") != nil && f.ItemField("value").Type == mcrm.TPhone {
		return MaskPhone
	}
	return kindOf(it.Type)
}

func kindOf(t mcrm.FieldType) string {
	switch t {
	case mcrm.TEmail:
		return MaskEmail
	case mcrm.TPhone:
		return MaskPhone
	case mcrm.TString, mcrm.TText, mcrm.TURL:
		return MaskText
	}
	return ""
}
