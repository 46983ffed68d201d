// Package totp implements RFC 6238 time-based one-time passwords for second
// factor login, on github.com/pquerna/otp (the HMAC, dynamic truncation and
// otpauth URI are the library's; this package adds the server's rules):
// a code is accepted for the current 30-second step and one step either
// side (clock drift between phone and server), each step is accepted once
// only (RFC 6238 §5.2), and codes are compared in constant time.
//
// It also makes recovery codes: the one-time fallback when the phone is
// lost.
package totp

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	pqtotp "github.com/pquerna/otp/totp"

	"mcrm"
)

// SecretSize is the seed length: 20 bytes (160 bits), the HMAC-SHA1 output
// size RFC 4226 §4 recommends, which every authenticator app accepts.
const SecretSize = 20

// Params are the code parameters. Default is what authenticator apps
// assume when the otpauth URI says nothing else.
type Params struct {
	Period    time.Duration
	Digits    int // 6 or 8
	Algorithm otp.Algorithm
}

// Default is SHA-1, 6 digits, 30-second steps.
var Default = Params{Period: 30 * time.Second, Digits: 6, Algorithm: otp.AlgorithmSHA1}

// Drift is how many steps before and after the current one are accepted.
const Drift = 1

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSecret returns a fresh random seed of SecretSize bytes.
func NewSecret() []byte {
	b := make([]byte, SecretSize)
	rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return b
}

// URI returns the otpauth:// key URI an authenticator app scans:
// otpauth://totp/Issuer:account?secret=...&issuer=Issuer&period=30&algorithm=SHA1&digits=6.
// It contains the secret: show it to the user once, never log or store it.
func URI(issuer, account string, secret []byte) (string, error) {
	k, err := pqtotp.Generate(pqtotp.GenerateOpts{
		Issuer: issuer, AccountName: account, Secret: secret,
		Period: uint(Default.Period / time.Second), Digits: otp.Digits(Default.Digits), Algorithm: Default.Algorithm,
	})
	if err != nil {
		return "", err
	}
	return k.URL(), nil
}

// QRPNG renders uri as a QR code PNG (256×256), for enrolment screens that
// cannot draw QR codes themselves.
func QRPNG(uri string) ([]byte, error) {
	k, err := otp.NewKeyFromURL(uri)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(uri, "otpauth://totp/") || k.Type() != "totp" || k.Secret() == "" {
		return nil, errors.New("totp: not an otpauth TOTP URI")
	}
	img, err := k.Image(256, 256)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Step returns the RFC 6238 time step T of t: floor(unix seconds / period).
func (p Params) Step(t time.Time) int64 {
	return floorDiv(t.Unix(), int64(p.Period/time.Second))
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Code returns the code for secret at time step step.
func (p Params) Code(secret []byte, step int64) (string, error) {
	if step < 0 {
		return "", errors.New("totp: negative time step")
	}
	return hotp.GenerateCodeCustom(b32.EncodeToString(secret), uint64(step), hotp.ValidateOpts{Digits: otp.Digits(p.Digits), Algorithm: p.Algorithm})
}

// Verify checks code with the Default parameters; see Params.Verify.
func Verify(secret []byte, code string, now time.Time, lastStep int64) (int64, error) {
	return Default.Verify(secret, code, now, lastStep)
}

// Verify checks code against the steps T-1, T and T+1 around now (the
// server's clock). lastStep is the highest step accepted before for this
// secret (0 when none): a code for a step <= lastStep is a replay and
// refused, so an intercepted or shoulder-surfed code cannot be used again.
// On success it returns the matched step, which the caller must store as
// the new lastStep atomically (sqlstore does: UPDATE ... WHERE last_step <
// step), since two concurrent requests can both get here.
//
// Errors are *mcrm.Error with Code EUnauthorized and a FieldError on
// "code" with mcrm.CodeOTPInvalid or mcrm.CodeOTPReplay. All three steps
// are always computed and compared in constant time, so timing does not
// tell which step matched or where a wrong code differs.
func (p Params) Verify(secret []byte, code string, now time.Time, lastStep int64) (int64, error) {
	code = strings.TrimSpace(code)
	if len(code) != p.Digits || strings.Trim(code, "0123456789") != "" || len(secret) == 0 {
		return 0, Err(mcrm.CodeOTPInvalid)
	}
	t := p.Step(now)
	matched, replayed := int64(-1), false
	for s := t - Drift; s <= t+Drift; s++ {
		want, err := p.Code(secret, s)
		if err != nil {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			if s > lastStep {
				// The highest fresh match wins: a later code leaves no
				// earlier step of this window usable afterwards.
				matched = s
			} else {
				replayed = true
			}
		}
	}
	switch {
	case matched >= 0:
		return matched, nil
	case replayed:
		return 0, Err(mcrm.CodeOTPReplay)
	default:
		return 0, Err(mcrm.CodeOTPInvalid)
	}
}

// Err builds the error for a refused code: EUnauthorized with the
// field code (mcrm.CodeOTPInvalid, CodeOTPReplay, CodeRecoveryCodeInvalid),
// or ERateLimited for mcrm.CodeOTPThrottled.
func Err(fieldCode string) *mcrm.Error {
	c, msg := mcrm.EUnauthorized, "the code is not valid"
	switch fieldCode {
	case mcrm.CodeOTPReplay:
		msg = "the code was already used"
	case mcrm.CodeOTPThrottled:
		c, msg = mcrm.ERateLimited, "too many wrong codes, try again later"
	}
	return &mcrm.Error{Code: c, Message: msg, Fields: []mcrm.FieldError{{Field: "code", Code: fieldCode, Message: msg}}}
}

// FieldCode returns the first field code of err ("" if none), so callers
// can tell otp_replay from otp_invalid.
func FieldCode(err error) string {
	var e *mcrm.Error
	if errors.As(err, &e) && len(e.Fields) > 0 {
		return e.Fields[0].Code
	}
	return ""
}
