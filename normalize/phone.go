package normalize

import (
	"regexp"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Phone is the result of PhoneNumber.
type Phone struct {
	// E164 is the number in E.164 form (+<country><national>), without the
	// extension; empty when Valid is false.
	E164 string
	// Ext is the extension (the digits after x, ext., ;ext= ...), if any.
	Ext string
	// Original is the input with surrounding space trimmed, kept so the
	// importer can show the user what the file said.
	Original string
	// Valid reports that the number parsed and has a possible length for
	// its country. It deliberately does not require libphonenumber's
	// stricter IsValidNumber: contact exports are full of numbers from
	// ranges the metadata does not know yet, and rejecting them would lose
	// data the user still wants to dial.
	Valid bool
}

// PhoneNumber parses s with libphonenumber (github.com/nyaruka/phonenumbers).
//
// defaultRegion (an ISO 3166-1 alpha-2 code, case-insensitive) is used for
// numbers written in national form. Numbers starting with "+" or with the
// "00" international prefix ("0044 20...", "001-541-...") are read with the
// country code they carry, whatever the default region: a "001-" number in a
// file whose default region is US means +1, not a US national number
// starting with 001. The default region's own international prefix (011 for
// US) is handled by libphonenumber itself.
//
// Valid is false, and E164 empty, when the number does not parse or does not
// have a possible length for its country (numbers that are only dialable
// locally, like a US number without its area code, count as not possible).
//
// Extensions (x1234, ext. 1234, ;ext=1234, #1234) are returned in Ext and
// left out of E164.
func PhoneNumber(s, defaultRegion string) Phone {
	p := Phone{Original: strings.TrimSpace(s)}
	in := p.Original
	if in == "" {
		return p
	}
	region := strings.ToUpper(strings.TrimSpace(defaultRegion))
	if strings.HasPrefix(in, "00") {
		in = "+" + in[2:]
	} else if strings.HasPrefix(in, "tel:") {
		// RFC 3966 URIs, as vCard 4.0 writes them.
		in = strings.TrimPrefix(in, "tel:")
	}
	if fast, ok := nanp(in, region); ok {
		fast.Original = p.Original
		return fast
	}
	num, err := parse(in, region)
	// IS_POSSIBLE_LOCAL_ONLY (e.g. a 7-digit US number without area code)
	// is rejected: it cannot be dialled from elsewhere and its E.164 form
	// would be wrong.
	if err != nil || phonenumbers.IsPossibleNumberWithReason(num) != phonenumbers.IS_POSSIBLE {
		return p
	}
	p.E164 = phonenumbers.Format(num, phonenumbers.E164)
	p.Ext = num.GetExtension()
	p.Valid = true
	return p
}

// plainNumber matches what most contact files hold: digits with the usual
// separators, an optional leading +, and an optional x1234 / ext. 1234
// extension.
var plainNumber = regexp.MustCompile(`^(\+?[0-9 ().\-/]+?)\s*(?:(?:x|ext\.?|#)\s*([0-9]{1,10}))?$`)

// parse is phonenumbers.Parse with a fast path: for a plain number it
// passes only the digits (and the extension separately), which gives the
// same result at half the cost, because the library's extension and
// viability patterns then run on a short string. Imports parse two phones
// per row, so this is a large share of import time. Anything else (letters,
// other extension forms) goes to the library as it is.
// TestPhoneFastPathMatchesLibrary checks the equivalence on every number of
// the datablist file and on hand-picked forms.
func parse(in, region string) (*phonenumbers.PhoneNumber, error) {
	m := plainNumber.FindStringSubmatch(in)
	if m == nil {
		return phonenumbers.Parse(in, region)
	}
	var b strings.Builder
	for i, r := range m[1] {
		if (r >= '0' && r <= '9') || (r == '+' && i == 0) {
			b.WriteRune(r)
		}
	}
	num, err := phonenumbers.Parse(b.String(), region)
	if err != nil || m[2] == "" {
		return num, err
	}
	num.Extension = &m[2]
	return num, nil
}

// nanp is the fast path for the commonest input of all: a North American
// number, written +1 and ten digits, or ten digits (or 1 and ten) with US or
// CA as the default region, whose area code starts 2-9. For these
// libphonenumber's answer is always +1 and the ten digits, a possible
// number, and working it out through the library's patterns costs more
// than everything else an import does with a row.
// TestPhoneFastPathsMatchLibrary compares PhoneNumber with the library on
// every number of the datablist file, for several regions.
func nanp(in, region string) (Phone, bool) {
	m := plainNumber.FindStringSubmatch(in)
	if m == nil {
		return Phone{}, false
	}
	var d [16]byte
	n := 0
	plus := false
	for i := 0; i < len(m[1]); i++ {
		c := m[1][i]
		switch {
		case c >= '0' && c <= '9':
			if n == len(d) {
				return Phone{}, false
			}
			d[n] = c
			n++
		case c == '+' && i == 0:
			plus = true
		}
	}
	digits := d[:n]
	switch {
	case plus && n == 11 && digits[0] == '1':
		digits = digits[1:]
	case !plus && (region == "US" || region == "CA") && n == 11 && digits[0] == '1':
		digits = digits[1:]
	case !plus && (region == "US" || region == "CA") && n == 10:
	default:
		return Phone{}, false
	}
	if digits[0] < '2' {
		return Phone{}, false
	}
	return Phone{E164: "+1" + string(digits), Ext: m[2], Valid: true}, true
}
