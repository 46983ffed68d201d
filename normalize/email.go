package normalize

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
)

// ErrInvalidEmail is returned (wrapped, with the offending value) by Email.
var ErrInvalidEmail = errors.New("invalid e-mail address")

// maxEmailLen is the longest address that fits in an SMTP forward path
// (RFC 5321 section 4.5.3.1.3 limits the path to 256 octets including the
// angle brackets).
const maxEmailLen = 254

// Email validates s as a bare e-mail address (an RFC 5322 addr-spec such as
// jane@example.com, with no display name, angle brackets or comments) and
// returns it trimmed and lower-cased.
//
// The whole address is lower-cased, although RFC 5321 allows the local part
// to be case-sensitive, because the result is a matching key: the importer
// uses it to find duplicate contacts, and in practice no mail provider
// delivers Jane@x and jane@x to different people, while exports routinely
// differ in case for the same person. The caller keeps the original spelling
// for display and sending.
func Email(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("%w: empty value", ErrInvalidEmail)
	}
	if len(s) > maxEmailLen {
		return "", fmt.Errorf("%w: %d characters, longer than %d", ErrInvalidEmail, len(s), maxEmailLen)
	}
	addr, err := mail.ParseAddress(s)
	if err != nil {
		// The address itself stays out of the error: errors end up in logs.
		return "", fmt.Errorf("%w: %v", ErrInvalidEmail, err)
	}
	// ParseAddress also accepts "Jane <jane@x>" and "jane@x (comment)";
	// requiring the parsed address to be the whole input keeps names and
	// other decoration out of the matching key.
	if addr.Name != "" || addr.Address != s {
		return "", fmt.Errorf("%w: not a bare address", ErrInvalidEmail)
	}
	return strings.ToLower(s), nil
}

// EmailKey is the matching key of an address already accepted by Email
// (the same value Email returns), without parsing it again.
func EmailKey(valid string) string { return strings.ToLower(strings.TrimSpace(valid)) }
