// Package dpop verifies and creates RFC 9449 DPoP proofs, the per-request
// signatures with which the mobile app shows it holds the device key its
// access token is bound to. A stolen token is useless without the key,
// and a captured proof is useless for another request or a second time.
//
// Only ES256 and EdDSA are accepted: they are what device key stores
// (Secure Enclave, Android StrongBox/TEE) offer, and a short allow-list
// closes the "alg":"none" and HMAC-with-a-public-key confusions.
//
// Replay protection is as wide as the ReplayCache: the in-memory one covers
// one process, so a deployment with several nodes needs a shared one.
//
// Every rejection is an *mcrm.Error with code mcrm.EUnauthorized and one
// FieldError{Field: "DPoP", Code: CodeInvalidProof or CodeUseNonce,
// Message: reason}. The reason is a fixed phrase; it never contains any
// part of the proof. The HTTP layer answers 401 with
// WWW-Authenticate: DPoP error="invalid_dpop_proof" (or "use_dpop_nonce"
// together with a DPoP-Nonce header).
package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"mcrm"
)

const (
	// CodeInvalidProof is the field code of every rejected proof (RFC 9449
	// §7.1 error name).
	CodeInvalidProof = "invalid_dpop_proof"
	// CodeUseNonce tells the client to retry with the nonce from the
	// DPoP-Nonce response header (RFC 9449 §8).
	CodeUseNonce = "use_dpop_nonce"

	// MaxProofSize caps the DPoP header before any decoding. A proof with an
	// EC or Ed25519 key is about 500 to 700 bytes; the cap keeps a hostile
	// header from costing parse time and memory.
	MaxProofSize = 8 << 10

	// DefaultMaxAge is how long after its iat a proof is accepted when
	// Verifier.MaxAge is zero. Proofs are made per request, so a minute
	// covers slow mobile networks.
	DefaultMaxAge = 60 * time.Second
	// DefaultLeeway is the clock skew we suggest allowing. Zero is allowed
	// (and is what a zero Verifier.Leeway means).
	DefaultLeeway = 10 * time.Second

	maxJTILen = 256
	typDPoP   = "dpop+jwt"
)

// SupportedAlgs is the algs parameter of WWW-Authenticate: DPoP (RFC 9449
// §7.1), space-separated, and the content of the metadata field
// dpop_signing_alg_values_supported.
const SupportedAlgs = "ES256 EdDSA"

var allowedAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA}

// Verifier checks DPoP proofs. The zero value is not usable: Replay must
// be set, since without it a proof could be replayed at will. A Verifier
// is safe for concurrent use once its fields are set.
type Verifier struct {
	// MaxAge bounds now - iat; zero means DefaultMaxAge.
	MaxAge time.Duration
	// Leeway is the allowed clock skew either side of the window.
	Leeway time.Duration
	// Replay remembers accepted jti values. Required. Use a shared
	// implementation when several nodes serve the same clients.
	Replay ReplayCache
	// Nonces, when set, makes a server nonce mandatory.
	Nonces NonceSource
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Headers and claims are decoded into maps, not structs: encoding/json
// matches struct fields case-insensitively, so {"alg":..,"ALG":..} would be
// read differently here than by go-jose, which matches exactly.
type members map[string]json.RawMessage

// str returns member name as a string and whether it is present and a
// JSON string.
func (m members) str(name string) (string, bool) {
	raw, ok := m[name]
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// privateJWKMembers are the JWK members that carry private or secret key
// material (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 uses "d").
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"}

func reject(reason string) error {
	return &mcrm.Error{
		Code:    mcrm.EUnauthorized,
		Message: "invalid DPoP proof",
		Fields:  []mcrm.FieldError{{Field: "DPoP", Code: CodeInvalidProof, Message: reason}},
	}
}

func needNonce(reason string) error {
	return &mcrm.Error{
		Code:    mcrm.EUnauthorized,
		Message: "DPoP nonce required",
		Fields:  []mcrm.FieldError{{Field: "DPoP", Code: CodeUseNonce, Message: reason}},
	}
}

// Reason returns the field code and reason of a Verify error, or "", ""
// if err did not come from a proof rejection.
func Reason(err error) (code, reason string) {
	var e *mcrm.Error
	if errors.As(err, &e) && e.Code == mcrm.EUnauthorized && len(e.Fields) == 1 && e.Fields[0].Field == "DPoP" {
		return e.Fields[0].Code, e.Fields[0].Message
	}
	return "", ""
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Nonce returns the value for the DPoP-Nonce response header, or "" when
// the Verifier does not use nonces.
func (v *Verifier) Nonce() string {
	if v.Nonces == nil {
		return ""
	}
	return v.Nonces.Nonce(v.now())
}

// Verify is VerifyContext with a background context.
func (v *Verifier) Verify(proof, method, requestURL, accessToken string) (string, error) {
	return v.VerifyContext(context.Background(), proof, method, requestURL, accessToken)
}

// VerifyContext checks proof (the DPoP request header) against the request
// it came with and returns the RFC 7638 SHA-256 thumbprint of its key,
// base64url without padding. requestURL is the absolute URL of the request
// as the server knows itself: build it from the configured public base URL
// and r.URL.EscapedPath(), not from the Host or X-Forwarded-* headers, or a
// client could make a proof meant for another server match here. Its query
// and fragment are ignored. accessToken is the token presented with the
// proof, or "" at the token endpoint; when given, the proof's ath must be
// its hash.
//
// A valid proof shows only that the caller holds some key. The caller must
// compare the returned thumbprint with the one the access token or refresh
// token is bound to, in constant time, and refuse on a difference.
func (v *Verifier) VerifyContext(ctx context.Context, proof, method, requestURL, accessToken string) (string, error) {
	if v.Replay == nil {
		return "", mcrm.Errorf(mcrm.EInternal, "dpop: verifier has no replay cache")
	}
	wantHTU, err := normalizeHTU(requestURL)
	if err != nil {
		return "", mcrm.Errorf(mcrm.EInternal, "dpop: request URL is not absolute http(s)")
	}
	if proof == "" {
		return "", reject("missing proof")
	}
	if len(proof) > MaxProofSize {
		return "", reject("proof too large")
	}
	if strings.Count(proof, ".") != 2 {
		return "", reject("malformed JWS")
	}

	// Pre-read the protected header for precise reasons before go-jose
	// parses it (go-jose enforces the alg list and a public jwk as well).
	rawHdr, err := base64.RawURLEncoding.DecodeString(proof[:strings.IndexByte(proof, '.')])
	if err != nil {
		return "", reject("malformed JWS")
	}
	var h members
	if err := json.Unmarshal(rawHdr, &h); err != nil || h == nil {
		return "", reject("malformed header")
	}
	if typ, _ := h.str("typ"); typ != typDPoP {
		return "", reject("typ is not dpop+jwt")
	}
	alg, _ := h.str("alg")
	var wantKty, wantCrv string
	switch alg {
	case string(jose.ES256):
		wantKty, wantCrv = "EC", "P-256"
	case string(jose.EdDSA):
		wantKty, wantCrv = "OKP", "Ed25519"
	default:
		return "", reject("alg not allowed")
	}
	if _, ok := h["crit"]; ok {
		return "", reject("crit header not supported")
	}
	rawJWK, ok := h["jwk"]
	if !ok {
		return "", reject("missing jwk")
	}
	var k members
	if err := json.Unmarshal(rawJWK, &k); err != nil || k == nil {
		return "", reject("invalid jwk")
	}
	for _, m := range privateJWKMembers {
		if _, ok := k[m]; ok {
			return "", reject("jwk contains private key")
		}
	}
	if kty, _ := k.str("kty"); kty != wantKty {
		return "", reject("jwk does not match alg")
	}
	if crv, _ := k.str("crv"); crv != wantCrv {
		return "", reject("jwk does not match alg")
	}

	jws, err := jose.ParseSignedCompact(proof, allowedAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return "", reject("malformed JWS")
	}
	sig := jws.Signatures[0]
	// Re-check what go-jose itself read, so the two parsers cannot disagree.
	if sig.Protected.Algorithm != alg || sig.Protected.ExtraHeaders[jose.HeaderType] != typDPoP {
		return "", reject("malformed header")
	}
	jwk := sig.Protected.JSONWebKey
	if jwk == nil || !jwk.IsPublic() || !jwk.Valid() {
		return "", reject("invalid jwk")
	}
	switch k := jwk.Key.(type) {
	case *ecdsa.PublicKey:
		if alg != string(jose.ES256) || k.Curve != elliptic.P256() {
			return "", reject("jwk does not match alg")
		}
	case ed25519.PublicKey:
		if alg != string(jose.EdDSA) {
			return "", reject("jwk does not match alg")
		}
	default:
		return "", reject("jwk does not match alg")
	}
	payload, err := jws.Verify(jwk)
	if err != nil {
		return "", reject("signature invalid")
	}

	var c members
	if err := json.Unmarshal(payload, &c); err != nil || c == nil {
		return "", reject("malformed claims")
	}
	jti, _ := c.str("jti")
	if jti == "" {
		return "", reject("missing jti")
	}
	if len(jti) > maxJTILen {
		return "", reject("jti too long")
	}
	if htm, ok := c.str("htm"); !ok || htm != method {
		return "", reject("htm mismatch")
	}
	htu, ok := c.str("htu")
	if !ok {
		return "", reject("htu mismatch")
	}
	if got, err := normalizeHTU(htu); err != nil || got != wantHTU {
		return "", reject("htu mismatch")
	}
	var iatSec float64
	if raw, ok := c["iat"]; !ok || json.Unmarshal(raw, &iatSec) != nil || math.Abs(iatSec) > 1e11 {
		return "", reject("missing iat")
	}
	now := v.now()
	maxAge := v.MaxAge
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	leeway := max(v.Leeway, 0)
	sec, frac := math.Modf(iatSec)
	iat := time.Unix(int64(sec), int64(frac*1e9))
	if iat.After(now.Add(leeway)) {
		return "", reject("iat in the future")
	}
	if iat.Before(now.Add(-maxAge - leeway)) {
		return "", reject("iat too old")
	}
	_, hasATH := c["ath"]
	if accessToken != "" {
		if !hasATH {
			return "", reject("missing ath")
		}
		got, _ := c.str("ath")
		if subtle.ConstantTimeCompare([]byte(got), []byte(ATH(accessToken))) != 1 {
			return "", reject("ath mismatch")
		}
	} else if hasATH {
		// A proof made for a resource request is not accepted where no
		// token is presented (the token endpoint).
		return "", reject("unexpected ath")
	}
	if v.Nonces != nil {
		nonce, _ := c.str("nonce")
		if nonce == "" {
			return "", needNonce("nonce required")
		}
		if !v.Nonces.Check(nonce, now) {
			return "", needNonce("nonce invalid or expired")
		}
	}

	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", reject("invalid jwk")
	}
	jkt := base64.RawURLEncoding.EncodeToString(tp)

	// The replay key is scoped to the key: jti values only need to be
	// unique per client (RFC 9449 §11.1), and hashing bounds its size.
	rk := sha256.Sum256([]byte(jkt + "\x00" + jti))
	// The proof stays acceptable until iat+MaxAge+Leeway on our clock;
	// remember it at least that long.
	seen, err := v.Replay.Seen(ctx, base64.RawURLEncoding.EncodeToString(rk[:]), iat.Add(maxAge+leeway))
	if err != nil {
		return "", &mcrm.Error{Code: mcrm.EUnavailable, Message: "DPoP replay check unavailable", Err: err}
	}
	if seen {
		return "", reject("jti reused")
	}
	return jkt, nil
}

// ATH is the ath claim for an access token: base64url(SHA-256(token)).
func ATH(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
