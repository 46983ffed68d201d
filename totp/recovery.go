package totp

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// RecoveryCount is how many recovery codes a user gets at a time.
const RecoveryCount = 10

// recoveryAlphabet is Crockford's base32: no I, L, O or U, so a code read
// off paper has no look-alike letters, and normalisation maps the
// look-alikes people type (i, l → 1; o → 0) back.
const recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// recoveryLen is 20 symbols of 5 bits: 100 bits per code.
const recoveryLen = 20

// NewRecoveryCodes returns RecoveryCount fresh codes to show the user once,
// each 20 Crockford base32 characters (100 bits) in four groups of five:
// "7kq2m-x9c4r-...". Store only RecoveryHash of each.
func NewRecoveryCodes() []string {
	out := make([]string, RecoveryCount)
	buf := make([]byte, recoveryLen)
	for i := range out {
		rand.Read(buf)
		var b strings.Builder
		for j, c := range buf {
			if j > 0 && j%5 == 0 {
				b.WriteByte('-')
			}
			b.WriteByte(recoveryAlphabet[c&31]) // 256 is a multiple of 32: no bias
		}
		out[i] = b.String()
	}
	return out
}

// NormalizeRecovery puts a typed recovery code in canonical form: lower
// case, no spaces or hyphens, look-alike letters mapped. It returns ""
// for anything that cannot be a recovery code.
func NormalizeRecovery(code string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(code) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			continue
		case r == 'i' || r == 'l':
			r = '1'
		case r == 'o':
			r = '0'
		}
		if !strings.ContainsRune(recoveryAlphabet, r) {
			return ""
		}
		b.WriteRune(r)
	}
	if b.Len() != recoveryLen {
		return ""
	}
	return b.String()
}

// RecoveryHash is how a recovery code is stored: hex SHA-256 of the
// normalised code ("" for a malformed one). A fast hash is enough, unlike
// for passwords: each code carries 100 random bits, so even a stolen table
// cannot be searched by guessing (2^100 tries per code), and a plain
// digest lets the database find a code by equality.
func RecoveryHash(code string) string {
	n := NormalizeRecovery(code)
	if n == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(n))
	return hex.EncodeToString(sum[:])
}

// MatchRecovery returns the index of the hash in hashes that code matches,
// or -1. Every hash is compared, in constant time.
func MatchRecovery(hashes []string, code string) int {
	h := RecoveryHash(code)
	found := -1
	if h == "" {
		return found
	}
	for i, s := range hashes {
		if subtle.ConstantTimeCompare([]byte(s), []byte(h)) == 1 && found < 0 {
			found = i
		}
	}
	return found
}
