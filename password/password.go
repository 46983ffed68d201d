// Package password hashes and verifies passwords with argon2id
// (golang.org/x/crypto/argon2) in the PHC string format
// $argon2id$v=19$m=...,t=...,p=...$salt$hash, so parameters can be raised
// later and old hashes still verify (and are re-hashed on login).
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	KeyLen  uint32
	SaltLen uint32
}

// Default follows the OWASP password storage cheat sheet's argon2id
// setting (m=19 MiB, t=2, p=1).
var Default = Params{Memory: 19 * 1024, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}

// ErrMismatch is returned when the password does not match the hash.
var ErrMismatch = errors.New("password does not match")

// slots bounds how many hashes run at once: each takes Params.Memory, so a
// burst of logins queues instead of exhausting memory.
var slots = make(chan struct{}, 4)

func acquire(ctx context.Context) error {
	select {
	case slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func release() { <-slots }

// Hash returns the PHC string of pw under p with a fresh random salt.
func Hash(ctx context.Context, pw string, p Params) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	if err := acquire(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	release()
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify checks pw against a PHC hash. needsRehash is true when the hash
// was made with parameters other than want.
func Verify(ctx context.Context, pw, phc string, want Params) (needsRehash bool, err error) {
	p, salt, key, err := parse(phc)
	if err != nil {
		return false, err
	}
	if err := acquire(ctx); err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	release()
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return false, ErrMismatch
	}
	return p.Memory != want.Memory || p.Time != want.Time || p.Threads != want.Threads || uint32(len(key)) != want.KeyLen, nil
}

func parse(phc string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("not an argon2id PHC string")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, errors.New("unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, errors.New("bad argon2 parameters")
	}
	if p.Memory < 8*uint32(p.Threads) || p.Time < 1 || p.Threads < 1 || p.Memory > 1024*1024 {
		return p, nil, nil, errors.New("argon2 parameters out of range")
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return p, nil, nil, errors.New("bad salt")
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 {
		return p, nil, nil, errors.New("bad hash")
	}
	return p, salt, key, nil
}

// dummy is a valid hash of a random password, verified when a login names
// an unknown user so that the answer takes as long as a wrong password.
var dummy = func() string {
	b := make([]byte, 16)
	rand.Read(b)
	h, _ := Hash(context.Background(), string(b), Default)
	return h
}()

// VerifyDummy spends the time of one verification and always fails.
func VerifyDummy(ctx context.Context) {
	_, _ = Verify(ctx, "x", dummy, Default)
}

// Generate returns a random password for first-run admin accounts: 26
// base32 characters, 128 bits from crypto/rand.
func Generate() string { return rand.Text() }

// MinLength and MaxLength bound accepted passwords. 15 is NIST SP 800-63B's
// minimum for a password that is the only factor; the identity layer lowers
// it to 8 for users with a second factor.
const (
	MinLength = 15
	MaxLength = 1024
)

// ErrPolicy explains why a new password is refused.
var ErrPolicy = fmt.Errorf("password must be %d to %d characters", MinLength, MaxLength)

// Check applies the length policy (in characters, any Unicode).
func Check(pw string) error {
	n := len([]rune(pw))
	if n < MinLength || n > MaxLength {
		return ErrPolicy
	}
	return nil
}
