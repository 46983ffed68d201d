package password

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"mcrm"
)

// The blocklist is the 30,000 most common passwords from zxcvbn's frequency
// list (github.com/trustelem/zxcvbn v1.0.1, MIT licence; Dropbox's zxcvbn
// 4.4.2 derived it from Mark Burnett's 10 million password corpus),
// lower-cased and gzip-compressed by ./internal/blocklistgen.
//
//go:generate go run ./internal/blocklistgen -o blocklist.txt.gz
//go:embed blocklist.txt.gz
var blocklistGz []byte

// MinLengthWithSecondFactor is NIST SP 800-63B's minimum for a password
// used together with another factor; MinLength (15) applies when the
// password is the only one.
const MinLengthWithSecondFactor = 8

// ProductWords are context words refused for every tenant: a password
// built from the service's own name is the first thing an attacker tries.
var ProductWords = []string{"mcrm"}

// PolicyContext is what the policy needs to know about the account besides
// the password itself.
type PolicyContext struct {
	// HasSecondFactor lowers the minimum length from 15 to 8 characters.
	HasSecondFactor bool
	// ContextWords are account-specific words an attacker would try: the
	// tenant name, the user's email local part, their name. Case is
	// ignored; words shorter than 3 characters are ignored.
	ContextWords []string
}

// Normalize returns pw in Unicode NFKC, as NIST SP 800-63B §5.1.1.2 asks,
// so that the same passphrase typed on keyboards that compose characters
// differently (é as one code point or as e + combining accent, full-width
// digits) is the same password. Callers hash and verify Normalize(pw);
// for ASCII it changes nothing, so hashes made before are unaffected.
func Normalize(pw string) string { return norm.NFKC.String(pw) }

// CheckPolicy reports whether pw may be set as a new password, following
// NIST SP 800-63B: a length range counted in Unicode characters after
// NFKC normalisation, any characters (spaces and emoji included), no
// composition rules, and a refusal of common and context-specific
// passwords. The error is an *mcrm.Error with Code EInvalid and one
// FieldError on "password" whose Code is mcrm.CodePasswordTooShort,
// CodePasswordTooLong or CodePasswordBlocklisted. The message never
// repeats the password.
func CheckPolicy(pw string, pc PolicyContext) error {
	min := MinLength
	if pc.HasSecondFactor {
		min = MinLengthWithSecondFactor
	}
	// A byte length beyond what MaxLength characters can take is refused
	// before normalising, so a huge body costs nothing.
	if len(pw) > utf8.UTFMax*MaxLength {
		return tooLong()
	}
	n := Normalize(pw)
	switch count := utf8.RuneCountInString(n); {
	case count > MaxLength:
		return tooLong()
	case count < min:
		return mcrm.FieldErr("password", mcrm.CodePasswordTooShort, fmt.Sprintf("password must be at least %d characters", min))
	}
	if isBlocked(strings.ToLower(n), pc.ContextWords) || trivial(strings.ToLower(n)) {
		return mcrm.FieldErr("password", mcrm.CodePasswordBlocklisted, "password is too common or contains a word tied to this account or service")
	}
	return nil
}

// keyboardRuns are sequences people walk along: NIST SP 800-63B names
// repetitive and sequential characters ("aaaaaa", "1234abcd") beside
// dictionary words.
var keyboardRuns = []string{
	"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz", "zyxwvutsrqponmlkjihgfedcbazyxwvutsrqponmlkjihgfedcba",
	"12345678901234567890123456789012345678901234567890", "09876543210987654321098765432109876543210987654321",
	"qwertyuiopasdfghjklzxcvbnm", "mnbvcxzlkjhgfdsapoiuytrewq",
	"qwertzuiopasdfghjklyxcvbnm", "azertyuiopqsdfghjklmwxcvbn",
	"1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
}

// trivial refuses passwords with almost no information whatever their
// length: made of fewer than 4 distinct visible characters (runs of one
// key, spaces, invisible format characters), a shorter unit repeated
// ("passwordpassword", "abcabcabc") where the unit is weak, and walks
// along one keyboard or alphabet row.
func trivial(key string) bool {
	visible := map[rune]bool{}
	for _, r := range key {
		if !unicode.IsSpace(r) && !unicode.Is(unicode.Cf, r) && !unicode.IsControl(r) {
			visible[r] = true
		}
	}
	if len(visible) < 4 {
		return true
	}
	body := core(key)
	if body == "" {
		body = key
	}
	runes := []rune(body)
	for size := 1; size <= len(runes)/2; size++ {
		if len(runes)%size != 0 {
			continue
		}
		unit := string(runes[:size])
		if strings.Repeat(unit, len(runes)/size) == body && (size < 6 || common(unit)) {
			return true
		}
	}
	for _, run := range keyboardRuns {
		if len(body) >= 6 && strings.Contains(run, body) {
			return true
		}
	}
	return false
}

func tooLong() error {
	return mcrm.FieldErr("password", mcrm.CodePasswordTooLong, fmt.Sprintf("password must be at most %d characters", MaxLength))
}

// isBlocked applies the list checks to key (normalised, lower-case):
//   - key, key without spaces, and its core (key without the digits,
//     punctuation and spaces at either end, so "Password1!" counts as
//     "password") are looked up in the common-password list;
//   - a context word inside key makes it blocked when what remains after
//     removing the word is short (under 4 letters) or itself common, so
//     "mcrm2024!" and "acmepassword" are refused but a long passphrase
//     that happens to name the tenant is not.
func isBlocked(key string, context []string) bool {
	if common(key) {
		return true
	}
	for _, w := range append(append([]string(nil), ProductWords...), context...) {
		for _, tok := range contextTokens(w) {
			if !strings.Contains(key, tok) {
				continue
			}
			rest := core(strings.ReplaceAll(key, tok, ""))
			if utf8.RuneCountInString(rest) < 4 || common(rest) {
				return true
			}
		}
	}
	return false
}

// common tells whether s or an obvious variant of it is in the blocklist.
func common(s string) bool {
	list := blocklist()
	for _, v := range []string{s, strings.Join(strings.Fields(s), ""), core(s)} {
		if _, ok := list[v]; ok && v != "" {
			return true
		}
	}
	return false
}

// core strips leading and trailing characters that are not letters: the
// digits and symbols people add to satisfy composition rules.
func core(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return !unicode.IsLetter(r) })
}

// contextTokens returns the word and its parts ("ada.lovelace" gives
// "ada.lovelace", "ada", "lovelace"), lower-cased, each at least 3
// characters long.
func contextTokens(w string) []string {
	w = strings.ToLower(Normalize(strings.TrimSpace(w)))
	var out []string
	add := func(s string) {
		if utf8.RuneCountInString(s) >= 3 {
			out = append(out, s)
		}
	}
	add(w)
	parts := strings.FieldsFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(parts) > 1 {
		for _, p := range parts {
			add(p)
		}
	}
	return out
}

// blocklist decompresses the embedded list on first use (about 30,000
// entries, a few hundred KB in memory).
var blocklist = sync.OnceValue(func() map[string]struct{} {
	zr, err := gzip.NewReader(bytes.NewReader(blocklistGz))
	if err != nil {
		panic("password: embedded blocklist is corrupt: " + err.Error())
	}
	m := make(map[string]struct{}, 30000)
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		if w := sc.Text(); w != "" {
			m[w] = struct{}{}
		}
	}
	if err := sc.Err(); err != nil {
		panic("password: embedded blocklist is corrupt: " + err.Error())
	}
	return m
})

// BlocklistSize is the number of common passwords refused (for tests and
// the operator's documentation).
func BlocklistSize() int { return len(blocklist()) }
