package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"mcrm"
)

const (
	testURL   = "https://api.example.com/api/v1/contacts"
	testToken = "access-token-0123456789"
)

var t0 = time.Date(2026, 12, 4, 5, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time           { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration)      { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock() *clock                    { return &clock{t: t0} }
func b64(b []byte) string                 { return base64.RawURLEncoding.EncodeToString(b) }
func mustJSON(t testing.TB, v any) []byte { b, err := json.Marshal(v); must(t, err); return b }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newVerifier(c *clock) *Verifier {
	return &Verifier{MaxAge: 60 * time.Second, Leeway: 10 * time.Second, Now: c.Now, Replay: NewMemoryReplayCache(1024, c.Now)}
}

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	return k
}

func edKey(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	return k
}

func proof(t testing.TB, key crypto.Signer, method, url, token string, now time.Time) string {
	t.Helper()
	p, err := NewProof(key, method, url, token, now, "")
	must(t, err)
	return p
}

// publicJWK is the JSON of key's public JWK as a map, for hand-built headers.
func publicJWK(t testing.TB, pub crypto.PublicKey) map[string]any {
	var m map[string]any
	must(t, json.Unmarshal(mustJSON(t, jose.JSONWebKey{Key: pub}), &m))
	return m
}

// craft builds a compact JWS with any header and claims and signs it the
// JWS way with key (ECDSA P1363 r||s, Ed25519, or an HMAC secret), so tests
// can produce proofs NewProof never would.
func craft(t testing.TB, hdr, claims map[string]any, key any) string {
	t.Helper()
	input := b64(mustJSON(t, hdr)) + "." + b64(mustJSON(t, claims))
	var sig []byte
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		h := sha256.Sum256([]byte(input))
		r, s, err := ecdsa.Sign(rand.Reader, k, h[:])
		must(t, err)
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, []byte(input))
	case []byte:
		m := hmac.New(sha256.New, k)
		m.Write([]byte(input))
		sig = m.Sum(nil)
	case *rsa.PrivateKey:
		h := sha256.Sum256([]byte(input))
		var err error
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, h[:])
		must(t, err)
	case nil:
	default:
		t.Fatalf("craft: key type %T", key)
	}
	return input + "." + b64(sig)
}

func goodHeader(t testing.TB, pub crypto.PublicKey, alg string) map[string]any {
	return map[string]any{"typ": "dpop+jwt", "alg": alg, "jwk": publicJWK(t, pub)}
}

func goodClaims(now time.Time) map[string]any {
	return map[string]any{"jti": b64([]byte(now.String() + "x")), "htm": "GET", "htu": testURL, "iat": now.Unix(), "ath": ATH(testToken)}
}

// wantReject asserts err is the 401 invalid_dpop_proof error with reason.
func wantReject(t *testing.T, err error, reason string) {
	t.Helper()
	wantCode(t, err, CodeInvalidProof, reason)
}

func wantCode(t *testing.T, err error, code, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want %s %q", code, reason)
	}
	if got := mcrm.ErrorCode(err); got != mcrm.EUnauthorized {
		t.Fatalf("code %q (%v), want %q", got, err, mcrm.EUnauthorized)
	}
	gc, gr := Reason(err)
	if gc != code || gr != reason {
		t.Fatalf("reason %s %q, want %s %q", gc, gr, code, reason)
	}
}

func TestVerifyAcceptsES256AndEdDSA(t *testing.T) {
	for _, key := range []crypto.Signer{ecKey(t), edKey(t)} {
		c := newClock()
		v := newVerifier(c)
		want, err := Thumbprint(key.Public())
		must(t, err)
		if len(want) != 43 {
			t.Fatalf("thumbprint length %d, want 43", len(want))
		}
		jkt, err := v.Verify(proof(t, key, "GET", testURL, testToken, c.Now()), "GET", testURL, testToken)
		must(t, err)
		if jkt != want {
			t.Fatalf("jkt %q, want %q", jkt, want)
		}
		// Token endpoint: no access token, no ath.
		jkt, err = v.Verify(proof(t, key, "POST", "https://api.example.com/api/v1/auth/refresh", "", c.Now()), "POST", "https://api.example.com/api/v1/auth/refresh", "")
		must(t, err)
		if jkt != want {
			t.Fatalf("jkt %q, want %q", jkt, want)
		}
	}
}

// RFC 7638 §3.1 example key and thumbprint, to pin the thumbprint format
// to the standard rather than to go-jose alone. RFC 8037 §A.3 for Ed25519.
func TestThumbprintRFCExamples(t *testing.T) {
	x, _ := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	pub := ed25519.PublicKey(x)
	got, err := Thumbprint(pub)
	must(t, err)
	if got != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
		t.Fatalf("Ed25519 thumbprint %q", got)
	}
	xb, _ := base64.RawURLEncoding.DecodeString("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU")
	yb, _ := base64.RawURLEncoding.DecodeString("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0")
	ec := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(xb), Y: new(big.Int).SetBytes(yb)}
	got, err = Thumbprint(ec)
	must(t, err)
	// SHA-256 of {"crv":"P-256","kty":"EC","x":"f83O...","y":"x_FE..."}
	sum := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`))
	if got != b64(sum[:]) {
		t.Fatalf("EC thumbprint %q, want %q", got, b64(sum[:]))
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	if _, err := Thumbprint(&rk.PublicKey); err == nil {
		t.Fatal("RSA key accepted")
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := Thumbprint(&p384.PublicKey); err == nil {
		t.Fatal("P-384 key accepted")
	}
}

// The verifier only proves possession of *a* key; binding is the caller's
// comparison with the session's jkt. A token stolen with its session bound
// to key A, used with a valid proof from the thief's key B, must fail it.
func TestTokenReplayedWithAnotherKey(t *testing.T) {
	c := newClock()
	v := newVerifier(c)
	device, thief := ecKey(t), ecKey(t)
	boundJKT, err := Thumbprint(device.Public())
	must(t, err)

	jkt, err := v.Verify(proof(t, thief, "GET", testURL, testToken, c.Now()), "GET", testURL, testToken)
	must(t, err) // a well-formed proof, from the wrong key
	if jkt == boundJKT {
		t.Fatal("thief's key has the device's thumbprint")
	}
	if subtle.ConstantTimeCompare([]byte(jkt), []byte(boundJKT)) == 1 {
		t.Fatal("caller's binding check would accept the thief")
	}

	jkt, err = v.Verify(proof(t, device, "GET", testURL, testToken, c.Now()), "GET", testURL, testToken)
	must(t, err)
	if subtle.ConstantTimeCompare([]byte(jkt), []byte(boundJKT)) != 1 {
		t.Fatalf("device's own proof: jkt %q, bound %q", jkt, boundJKT)
	}
}

func TestReusedJTI(t *testing.T) {
	c := newClock()
	v := newVerifier(c)
	p := proof(t, ecKey(t), "GET", testURL, testToken, c.Now())
	if _, err := v.Verify(p, "GET", testURL, testToken); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(p, "GET", testURL, testToken)
	wantReject(t, err, "jti reused")
	c.Add(30 * time.Second)
	_, err = v.Verify(p, "GET", testURL, testToken)
	wantReject(t, err, "jti reused")
	// Once the proof is too old to pass the iat check the cache may forget
	// it; the age check then refuses it instead.
	c.Add(41 * time.Second)
	_, err = v.Verify(p, "GET", testURL, testToken)
	wantReject(t, err, "iat too old")
}

// The same jti from two different keys is two different proofs: jti
// uniqueness is per client (RFC 9449 §11.1).
func TestSameJTIDifferentKeys(t *testing.T) {
	c := newClock()
	v := newVerifier(c)
	a, b := ecKey(t), ecKey(t)
	cl := goodClaims(c.Now())
	if _, err := v.Verify(craft(t, goodHeader(t, a.Public(), "ES256"), cl, a), "GET", testURL, testToken); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(craft(t, goodHeader(t, b.Public(), "ES256"), cl, b), "GET", testURL, testToken); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(craft(t, goodHeader(t, a.Public(), "ES256"), cl, a), "GET", testURL, testToken)
	wantReject(t, err, "jti reused")
}

func TestWrongHTM(t *testing.T) {
	c := newClock()
	v := newVerifier(c)
	k := ecKey(t)
	_, err := v.Verify(proof(t, k, "GET", testURL, testToken, c.Now()), "DELETE", testURL, testToken)
	wantReject(t, err, "htm mismatch")
	// Methods are case-sensitive (RFC 9110 §9.1).
	_, err = v.Verify(proof(t, k, "get", testURL, testToken, c.Now()), "GET", testURL, testToken)
	wantReject(t, err, "htm mismatch")
	cl := goodClaims(c.Now())
	delete(cl, "htm")
	_, err = v.Verify(craft(t, goodHeader(t, k.Public(), "ES256"), cl, k), "GET", testURL, testToken)
	wantReject(t, err, "htm mismatch")
}

func TestWrongHTU(t *testing.T) {
	c := newClock()
	v := newVerifier(c)
	k := ecKey(t)
	for _, other := range []string{
		"https://api.example.com/api/v1/contacts/1",
		"https://api.example.com/api/v1/contacts/",
		"https://api.example.com/api/v1/Contacts",
		"https://api.example.com/api/v1//contacts",
		"https://api.example.com/api/v1%2Fcontacts",
		"http://api.example.com/api/v1/contacts",
		"https://api.example.com:8443/api/v1/contacts",
		"https://evil.example.com/api/v1/contacts",
		"https://api.example.com.evil/api/v1/contacts",
	} {
		_, err := v.Verify(proof(t, k, "GET", other, testToken, c.Now()), "GET", testURL, testToken)
		wantReject(t, err, "htu mismatch")
	}
	for _, bad := range []string{"/api/v1/contacts", "api.example.com/api/v1/contacts", "ftp://api.example.com/api/v1/contacts", "https://user@api.example.com/api/v1/contacts"} {
		cl := goodClaims(c.Now())
		cl["htu"] = bad
		_, err := v.Verify(craft(t, goodHeader(t, k.Public(), "ES256"), cl, k), "GET", testURL, testToken)
		wantReject(t, err, "htu mismatch")
	}
	cl := goodClaims(c.Now())
	delete(cl, "htu")
	_, err := v.Verify(craft(t, goodHeader(t, k.Public(), "ES256"), cl, k), "GET", testURL, testToken)
	wantReject(t, err, "htu mismatch")
}

// Query and fragment are not part of htu (RFC 9449 §4.2), on either side.
func TestHTUIgnoresQueryAndFragment(t *testing.T) {
	c := newClock()
	v := newVerifier(c)
	k := ecKey(t)
	p := proof(t, k, "GET", testURL+"?page=2&q=a%20b#top", testToken, c.Now())
	var cl map[string]any
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(p, ".")[1])
	must(t, json.Unmarshal(payload, &cl))
	if cl["htu"] != testURL {
		t.Fatalf("NewProof htu %q, want %q", cl["htu"], testURL)
	}
	if _, err := v.Verify(p, "GET", testURL+"?page=3#x", testToken); err != nil {
		t.Fatal(err)
	}
	// A client that leaves the query in htu is not refused for it either.
	cl = goodClaims(c.Now())
	cl["htu"] = testURL + "?page=2"
	if _, err := v.Verify(craft(t, goodHeader(t, k.Public(), "ES256"), cl, k), "GET", testURL+"?other=1", testToken); err != nil {
		t.Fatal(err)
	}
}

func TestNormalizeHTU(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://api.example.com/api/v1/contacts", "https://api.example.com/api/v1/contacts"},
		{"HTTPS://API.Example.COM:443/api/v1/contacts", "https://api.example.com/api/v1/contacts"},
		{"http://api.example.com:80/x", "http://api.example.com/x"},
		{"https://api.example.com:80/x", "https://api.example.com:80/x"},
		{"https://api.example.com:/x", "https://api.example.com/x"},
		{"https://api.example.com:0443/x", "https://api.example.com/x"},
		{"https://api.example.com", "https://api.example.com/"},
		{"https://api.example.com?x=1#f", "https://api.example.com/"},
		{"https://api.example.com/a/./b/../c", "https://api.example.com/a/c"},
		{"https://api.example.com/a/b/..", "https://api.example.com/a/"},
		{"https://api.example.com/../../a", "https://api.example.com/a"},
		{"https://api.example.com/%7euser/%41", "https://api.example.com/~user/A"},
		{"https://api.example.com/a%2fb%3F", "https://api.example.com/a%2Fb%3F"},
		{"https://api.example.com/a%2Fb", "https://api.example.com/a%2Fb"},
		{"https://api.example.com/a//b/", "https://api.example.com/a//b/"},
		{"https://api.example.com/caf%C3%A9", "https://api.example.com/caf%C3%A9"},
		{"https://[2001:DB8::1]:443/x", "https://[2001:db8::1]/x"},
		{"https://[2001:db8::1]:8443/x", "https://[2001:db8::1]:8443/x"},
	} {
		got, err := normalizeHTU(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("normalizeHTU(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "/x", "mailto:a@b", "ftp://h/x", "https:///x", "https://u:p@h/x", "https://h:99999999/x", "%zz"} {
		if got, err := normalizeHTU(bad); err == nil {
			t.Errorf("normalizeHTU(%q) = %q, want error", bad, got)
		}
	}
}

func TestRequestURLMustBeAbsolute(t *testing.T) {
	c := newClock()
	v := newVerifier(c)
	_, err := v.Verify(proof(t, ecKey(t), "GET", testURL, testToken, c.Now()), "GET", "/api/v1/contacts", testToken)
	if mcrm.ErrorCode(err) != mcrm.EInternal {
		t.Fatalf("relative request URL: %v, want internal error", err)
	}
}

func TestIATWindow(t *testing.T) {
	k := ecKey(t)
	for _, tc := range []struct {
		skew   time.Duration // iat - now
		reason string        // "" = accepted
	}{
		{0, ""},
		{-70 * time.Second, ""}, // MaxAge + Leeway
		{-70*time.Second - time.Second, "iat too old"},
		{-time.Hour, "iat too old"},
		{10 * time.Second, ""}, // Leeway
		{11 * time.Second, "iat in the future"},
		{time.Hour, "iat in the future"},
	} {
		c := newClock()
		v := newVerifier(c)
		_, err := v.Verify(proof(t, k, "GET", testURL, testToken, c.Now().Add(tc.skew)), "GET", testURL, testToken)
		if tc.reason == "" {
			if err != nil {
				t.Errorf("skew %v: %v", tc.skew, err)
			}
			continue
		}
		wantReject(t, err, tc.reason)
	}
	c := newClock()
	v := newVerifier(c)
	// Far-future iat values must not overflow into the window.
	for _, iat := range []any{1e10, 9.3e9, 99999999999.9} {
		cl := goodClaims(c.Now())
		cl["iat"] = iat
		_, err := v.Verify(craft(t, goodHeader(t, k.Public(), "ES256"), cl, k), "GET", testURL, testToken)
		wantReject(t, err, "iat in the future")
	}
	// Fractional NumericDate is allowed (RFC 7519 §2).
	cl := goodClaims(c.Now())
	cl["iat"] = float64(c.Now().Unix()) + 0.5
	if _, err := v.Verify(craft(t, goodHeader(t, k.Public(), "ES256"), cl, k), "GET", testURL, testToken); err != nil {
		t.Fatal(err)
	}
	for _, iat := range []any{nil, "1733288400", 1e300, -1e300, true} {
		cl := goodClaims(c.Now())
		if iat == nil {
			delete(cl, "iat")
		} else {
			cl["iat"] = iat
		}
		_, err := v.Verify(craft(t, goodHeader(t, k.Public(), "ES256"), cl, k), "GET", testURL, testToken)
		wantReject(t, err, "missing iat")
	}
	// Zero MaxAge means DefaultMaxAge, zero Leeway means none.
	v = &Verifier{Now: c.Now, Replay: NewMemoryReplayCache(16, c.Now)}
	_, err := v.Verify(proof(t, k, "GET", testURL, testToken, c.Now().Add(-DefaultMaxAge)), "GET", testURL, testToken)
	must(t, err)
	_, err = v.Verify(proof(t, k, "GET", testURL, testToken, c.Now().Add(-DefaultMaxAge-time.Second)), "GET", testURL, testToken)
	wantReject(t, err, "iat too old")
	_, err = v.Verify(proof(t, k, "GET", testURL, testToken, c.Now().Add(time.Second)), "GET", testURL, testToken)
	wantReject(t, err, "iat in the future")
}

func TestATH(t *testing.T) {
	c := newClock()
	v := newVerifier(c)
	k := ecKey(t)
	if got, want := ATH("abc"), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"; got != want {
		t.Fatalf("ATH(abc) = %q, want %q", got, want)
	}
	_, err := v.Verify(proof(t, k, "GET", testURL, "", c.Now()), "GET", testURL, testToken)
	wantReject(t, err, "missing ath")
	_, err = v.Verify(proof(t, k, "GET", testURL, "another-token", c.Now()), "GET", testURL, testToken)
	wantReject(t, err, "ath mismatch")
	_, err = v.Verify(proof(t, k, "GET", testURL, testToken, c.Now()), "GET", testURL, "")
	wantReject(t, err, "unexpected ath")
	cl := goodClaims(c.Now())
	cl["ath"] = 12
	_, err = v.Verify(craft(t, goodHeader(t, k.Public(), "ES256"), cl, k), "GET", testURL, testToken)
	wantReject(t, err, "ath mismatch")
	// Padded base64 is a different string: only the exact encoding passes.
	cl = goodClaims(c.Now())
	cl["ath"] = ATH(testToken) + "="
	_, err = v.Verify(craft(t, goodHeader(t, k.Public(), "ES256"), cl, k), "GET", testURL, testToken)
	wantReject(t, err, "ath mismatch")
}

func TestAlgorithmsRefused(t *testing.T) {
	c := newClock()
	v := newVerifier(c)
	ec := ecKey(t)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	must(t, err)
	secret := []byte("0123456789abcdef0123456789abcdef")
	cases := []struct {
		name string
		jws  string
	}{
		{"none", craft(t, goodHeader(t, ec.Public(), "none"), goodClaims(c.Now()), nil)},
		{"NONE", craft(t, goodHeader(t, ec.Public(), "NONE"), goodClaims(c.Now()), nil)},
		{"none with key", craft(t, goodHeader(t, ec.Public(), "none"), goodClaims(c.Now()), ec)},
		// HS256 keyed with the JWK's public bytes: the classic confusion.
		{"HS256", craft(t, goodHeader(t, ec.Public(), "HS256"), goodClaims(c.Now()), secret)},
		{"HS256 oct", craft(t, map[string]any{"typ": "dpop+jwt", "alg": "HS256", "jwk": map[string]any{"kty": "oct", "k": b64(secret)}}, goodClaims(c.Now()), secret)},
		{"RS256", craft(t, goodHeader(t, &rk.PublicKey, "RS256"), goodClaims(c.Now()), rk)},
		{"ES384", craft(t, goodHeader(t, &p384.PublicKey, "ES384"), goodClaims(c.Now()), nil)},
		{"es256", craft(t, goodHeader(t, ec.Public(), "es256"), goodClaims(c.Now()), ec)},
		{"missing", craft(t, map[string]any{"typ": "dpop+jwt", "jwk": publicJWK(t, ec.Public())}, goodClaims(c.Now()), ec)},
	}
	for _, tc := range cases {
		_, err := v.Verify(tc.jws, "GET", testURL, testToken)
		wantReject(t, err, "alg not allowed")
		// go-jose's own allow-list refuses them too (defence in depth).
		if _, err := jose.ParseSignedCompact(tc.jws, allowedAlgs); err == nil {
			t.Errorf("%s: go-jose parsed it with the allow-list", tc.name)
		}
	}
	// A P-256 key cannot claim EdDSA nor an Ed25519 key ES256.
	ed := edKey(t)
	_, err = v.Verify(craft(t, goodHeader(t, ec.Public(), "EdDSA"), goodClaims(c.Now()), ec), "GET", testURL, testToken)
	wantReject(t, err, "jwk does not match alg")
	_, err = v.Verify(craft(t, goodHeader(t, ed.Public(), "ES256"), goodClaims(c.Now()), ed), "GET", testURL, testToken)
	wantReject(t, err, "jwk does not match alg")
	// P-384 key under ES256.
	h := goodHeader(t, &p384.PublicKey, "ES256")
	_, err = v.Verify(craft(t, h, goodClaims(c.Now()), nil), "GET", testURL, testToken)
	wantReject(t, err, "jwk does not match alg")
}

func TestPrivateJWKRefused(t *testing.T) {
	c := newClock()
	v := newVerifier(c)
	ec, ed := ecKey(t), edKey(t)
	for _, tc := range []struct {
		priv any
		alg  string
		key  any
	}{{ec, "ES256", ec}, {ed, "EdDSA", ed}} {
		var jwk map[string]any
		must(t, json.Unmarshal(mustJSON(t, jose.JSONWebKey{Key: tc.priv}), &jwk))
		if jwk["d"] == nil {
			t.Fatal("test JWK has no d")
		}
		hdr := map[string]any{"typ": "dpop+jwt", "alg": tc.alg, "jwk": jwk}
		jws := craft(t, hdr, goodClaims(c.Now()), tc.key)
		_, err := v.Verify(jws, "GET", testURL, testToken)
		wantReject(t, err, "jwk contains private key")
		if _, err := jose.ParseSignedCompact(jws, allowedAlgs); err == nil {
			t.Errorf("%s: go-jose accepted a private embedded jwk", tc.alg)
		}
	}
	// Any private member, even alone, is refused.
	jwk := publicJWK(t, ec.Public())
	jwk["p"] = "AQAB"
	_, err := v.Verify(craft(t, map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}, goodClaims(c.Now()), ec), "GET", testURL, testToken)
	wantReject(t, err, "jwk contains private key")
}

func TestHeaderChecks(t *testing.T) {
	c := newClock()
	v := newVerifier(c)
	k := ecKey(t)
	jwk := publicJWK(t, k.Public())
	for _, tc := range []struct {
		hdr    map[string]any
		reason string
	}{
		{map[string]any{"alg": "ES256", "jwk": jwk}, "typ is not dpop+jwt"},
		{map[string]any{"typ": "JWT", "alg": "ES256", "jwk": jwk}, "typ is not dpop+jwt"},
		{map[string]any{"typ": "DPoP+JWT", "alg": "ES256", "jwk": jwk}, "typ is not dpop+jwt"},
		{map[string]any{"typ": "dpop+jwt", "alg": "ES256"}, "missing jwk"},
		{map[string]any{"typ": "dpop+jwt", "alg": "ES256", "kid": "k1"}, "missing jwk"},
		{map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": "x"}, "invalid jwk"},
		{map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": map[string]any{"kty": "EC", "crv": "P-256", "x": jwk["x"], "y": b64(make([]byte, 32))}}, "malformed JWS"},
		{map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk, "crit": []string{"b64"}, "b64": false}, "crit header not supported"},
		// Exact-case member names: "ALG" and "TYP" are not alg and typ.
		{map[string]any{"TYP": "dpop+jwt", "alg": "ES256", "jwk": jwk}, "typ is not dpop+jwt"},
		{map[string]any{"typ": "dpop+jwt", "ALG": "ES256", "jwk": jwk}, "alg not allowed"},
		{map[string]any{"typ": "dpop+jwt", "alg": "ES256", "JWK": jwk}, "missing jwk"},
	} {
		_, err := v.Verify(craft(t, tc.hdr, goodClaims(c.Now()), k), "GET", testURL, testToken)
		wantReject(t, err, tc.reason)
	}
}

func TestMissingClaims(t *testing.T) {
	c := newClock()
	v := newVerifier(c)
	k := edKey(t)
	cl := goodClaims(c.Now())
	delete(cl, "jti")
	_, err := v.Verify(craft(t, goodHeader(t, k.Public(), "EdDSA"), cl, k), "GET", testURL, testToken)
	wantReject(t, err, "missing jti")
	cl["jti"] = ""
	_, err = v.Verify(craft(t, goodHeader(t, k.Public(), "EdDSA"), cl, k), "GET", testURL, testToken)
	wantReject(t, err, "missing jti")
	cl["jti"] = strings.Repeat("j", 257)
	_, err = v.Verify(craft(t, goodHeader(t, k.Public(), "EdDSA"), cl, k), "GET", testURL, testToken)
	wantReject(t, err, "jti too long")
	// Claims that are not a JSON object.
	input := b64(mustJSON(t, goodHeader(t, k.Public(), "EdDSA"))) + "." + b64([]byte(`["jti"]`))
	_, err = v.Verify(input+"."+b64(ed25519.Sign(k, []byte(input))), "GET", testURL, testToken)
	wantReject(t, err, "malformed claims")
}

func TestMalformedJWS(t *testing.T) {
	c := newClock()
	v := newVerifier(c)
	k := ecKey(t)
	good := proof(t, k, "GET", testURL, testToken, c.Now())
	parts := strings.Split(good, ".")
	for _, tc := range []struct{ in, reason string }{
		{"", "missing proof"},
		{"abc", "malformed JWS"},
		{"a.b", "malformed JWS"},
		{good + ".x", "malformed JWS"},
		{"!!!." + parts[1] + "." + parts[2], "malformed JWS"},
		{b64([]byte("not json")) + "." + parts[1] + "." + parts[2], "malformed header"},
		{b64([]byte("null")) + "." + parts[1] + "." + parts[2], "malformed header"},
		{parts[0] + ".!!!." + parts[2], "malformed JWS"},
		{parts[0] + "." + parts[1] + ".!!!", "malformed JWS"},
		// JWS JSON serialisation is not a DPoP proof.
		{`{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`, "malformed JWS"},
		{parts[0] + "." + b64([]byte(`{"jti":"x"}`)) + "." + parts[2], "signature invalid"},
		{parts[0] + "." + parts[1] + "." + b64(make([]byte, 64)), "signature invalid"},
		{parts[0] + "." + parts[1] + ".", "signature invalid"},
	} {
		_, err := v.Verify(tc.in, "GET", testURL, testToken)
		wantReject(t, err, tc.reason)
	}
	if _, err := v.Verify(good, "GET", testURL, testToken); err != nil {
		t.Fatalf("the unmodified proof: %v", err)
	}
}

func TestOversizedProof(t *testing.T) {
	c := newClock()
	v := newVerifier(c)
	k := ecKey(t)
	cl := goodClaims(c.Now())
	cl["pad"] = strings.Repeat("p", MaxProofSize)
	big := craft(t, goodHeader(t, k.Public(), "ES256"), cl, k)
	if len(big) <= MaxProofSize {
		t.Fatal("test proof not over the cap")
	}
	_, err := v.Verify(big, "GET", testURL, testToken)
	wantReject(t, err, "proof too large")
	// Just under the cap still verifies: the cap is on size only.
	cl = goodClaims(c.Now())
	cl["pad"] = ""
	base := len(craft(t, goodHeader(t, k.Public(), "ES256"), cl, k))
	cl["pad"] = strings.Repeat("p", (MaxProofSize-base)*3/4)
	fits := craft(t, goodHeader(t, k.Public(), "ES256"), cl, k)
	if len(fits) > MaxProofSize || len(fits) < MaxProofSize-8 {
		t.Fatalf("fits is %d bytes", len(fits))
	}
	if _, err := v.Verify(fits, "GET", testURL, testToken); err != nil {
		t.Fatal(err)
	}
	if MaxProofSize != 8192 {
		t.Fatalf("MaxProofSize %d", MaxProofSize)
	}
}

// Signature edge cases of the Wycheproof kinds, applied to real proofs so
// they go through go-jose end to end.
func TestSignatureEdgeCasesThroughVerify(t *testing.T) {
	c := newClock()
	v := newVerifier(c)
	k := ecKey(t)
	good := proof(t, k, "GET", testURL, testToken, c.Now())
	i := strings.LastIndexByte(good, '.')
	sig, err := base64.RawURLEncoding.DecodeString(good[i+1:])
	must(t, err)
	if len(sig) != 64 {
		t.Fatalf("ES256 signature %d bytes, want 64 (P1363 r||s)", len(sig))
	}
	n := elliptic.P256().Params().N
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	enc := func(r, s *big.Int, size int) string {
		b := make([]byte, 2*size)
		r.FillBytes(b[:size])
		s.FillBytes(b[size:])
		return good[:i+1] + b64(b)
	}
	der, err := asn1Sig(r, s)
	must(t, err)
	zero := big.NewInt(0)
	for name, bad := range map[string]string{
		"r=0 s=0":     enc(zero, zero, 32),
		"r=0":         enc(zero, s, 32),
		"s=0":         enc(r, zero, 32),
		"r=n":         enc(n, s, 32),
		"s=n":         enc(r, n, 32),
		"r+n":         enc(new(big.Int).Add(r, n), s, 33),
		"DER":         good[:i+1] + b64(der),
		"truncated":   good[:i+1] + b64(sig[:63]),
		"extra byte":  good[:i+1] + b64(append(append([]byte{}, sig...), 0)),
		"leading 00s": enc(r, s, 33),
		"flipped bit": good[:i+1] + b64(append(append([]byte{}, sig[:10]...), append([]byte{sig[10] ^ 1}, sig[11:]...)...)),
	} {
		_, err := v.Verify(bad, "GET", testURL, testToken)
		if code, reason := Reason(err); code != CodeInvalidProof || reason != "signature invalid" {
			t.Errorf("%s: %v", name, err)
		}
	}
	// ECDSA is malleable: (r, n-s) is a second valid signature of the same
	// proof. The replay key is the key and jti, not the signature bytes, so
	// the twin is refused once the original was used.
	twin := enc(r, new(big.Int).Sub(n, s), 32)
	if _, err := v.Verify(good, "GET", testURL, testToken); err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(twin, "GET", testURL, testToken)
	wantReject(t, err, "jti reused")
}

func TestNonce(t *testing.T) {
	c := newClock()
	v := newVerifier(c)
	ns, err := NewHMACNonces(make([]byte, 32), time.Minute)
	must(t, err)
	v.Nonces = ns
	k := ecKey(t)
	_, err = v.Verify(proof(t, k, "GET", testURL, testToken, c.Now()), "GET", testURL, testToken)
	wantCode(t, err, CodeUseNonce, "nonce required")

	nonce := v.Nonce()
	if len(nonce) != 32 {
		t.Fatalf("nonce %q: %d chars, want 32", nonce, len(nonce))
	}
	p, err := NewProof(k, "GET", testURL, testToken, c.Now(), nonce)
	must(t, err)
	if _, err := v.Verify(p, "GET", testURL, testToken); err != nil {
		t.Fatal(err)
	}
	p, err = NewProof(k, "GET", testURL, testToken, c.Now(), "bm90LWEtbm9uY2U")
	must(t, err)
	_, err = v.Verify(p, "GET", testURL, testToken)
	wantCode(t, err, CodeUseNonce, "nonce invalid or expired")
	// A nonce from another key (another deployment) is refused.
	other, _ := NewHMACNonces([]byte(strings.Repeat("k", 32)), time.Minute)
	p, err = NewProof(k, "GET", testURL, testToken, c.Now(), other.Nonce(c.Now()))
	must(t, err)
	_, err = v.Verify(p, "GET", testURL, testToken)
	wantCode(t, err, CodeUseNonce, "nonce invalid or expired")

	// Valid in its window and the next, not after.
	if !ns.Check(nonce, c.Now().Add(time.Minute)) {
		t.Fatal("nonce refused in the next window")
	}
	if ns.Check(nonce, c.Now().Add(2*time.Minute)) {
		t.Fatal("nonce accepted two windows later")
	}
	if ns.Check(nonce, c.Now().Add(-time.Minute)) {
		t.Fatal("nonce accepted in the window before it was issued")
	}
	if ns.Check(nonce[:31]+"A", c.Now()) && nonce[31] != 'A' {
		t.Fatal("altered nonce accepted")
	}
	if _, err := NewHMACNonces(make([]byte, 31), time.Minute); err == nil {
		t.Fatal("31-byte nonce key accepted")
	}
	if (&Verifier{}).Nonce() != "" {
		t.Fatal("nonce without a source")
	}
}

func TestNoReplayCacheFailsClosed(t *testing.T) {
	c := newClock()
	v := &Verifier{Now: c.Now}
	_, err := v.Verify(proof(t, ecKey(t), "GET", testURL, testToken, c.Now()), "GET", testURL, testToken)
	if mcrm.ErrorCode(err) != mcrm.EInternal {
		t.Fatalf("no replay cache: %v, want internal error", err)
	}
}

type failingCache struct{}

func (failingCache) Seen(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("down")
}

func TestReplayCacheErrorFailsClosed(t *testing.T) {
	c := newClock()
	v := newVerifier(c)
	v.Replay = failingCache{}
	_, err := v.Verify(proof(t, ecKey(t), "GET", testURL, testToken, c.Now()), "GET", testURL, testToken)
	if mcrm.ErrorCode(err) != mcrm.EUnavailable {
		t.Fatalf("cache error: %v, want unavailable", err)
	}
}

// Rejections name a reason and never echo the proof or its claims.
func TestErrorsDoNotEchoProof(t *testing.T) {
	c := newClock()
	v := newVerifier(c)
	k := ecKey(t)
	cl := goodClaims(c.Now())
	cl["jti"] = "SECRETJTIVALUE"
	cl["htu"] = "https://SECRETHOST.example/x"
	p := craft(t, goodHeader(t, k.Public(), "ES256"), cl, k)
	_, err := v.Verify(p, "GET", testURL, testToken)
	wantReject(t, err, "htu mismatch")
	var me *mcrm.Error
	errors.As(err, &me)
	text := err.Error() + me.Message + me.Fields[0].Message
	for _, part := range append(strings.Split(p, "."), "SECRET", testToken, ATH(testToken)) {
		if strings.Contains(text, part) {
			t.Fatalf("error text %q contains %q", text, part)
		}
	}
	if me.Err != nil {
		t.Fatalf("wrapped cause %v", me.Err)
	}
}

func TestNewProofRefusesOtherKeys(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	if _, err := NewProof(rk, "GET", testURL, "", t0, ""); err == nil {
		t.Fatal("RSA key accepted")
	}
	if _, err := NewProof(ecKey(t), "GET", "/relative", "", t0, ""); err == nil {
		t.Fatal("relative URL accepted")
	}
	// Header of a proof: exactly typ, alg and a public jwk.
	p, err := NewProof(edKey(t), "GET", testURL, "", t0, "")
	must(t, err)
	raw, _ := base64.RawURLEncoding.DecodeString(strings.Split(p, ".")[0])
	var h map[string]any
	must(t, json.Unmarshal(raw, &h))
	if len(h) != 3 || h["typ"] != "dpop+jwt" || h["alg"] != "EdDSA" {
		t.Fatalf("header %s", raw)
	}
	if jwk := h["jwk"].(map[string]any); len(jwk) != 3 || jwk["kty"] != "OKP" || jwk["d"] != nil {
		t.Fatalf("jwk %v", jwk)
	}
}

func asn1Sig(r, s *big.Int) ([]byte, error) {
	return asn1.Marshal(struct{ R, S *big.Int }{r, s})
}

// craftRaw is craft with the header given as literal JSON, for duplicate
// members that a Go map cannot hold.
func craftRaw(t testing.TB, hdr string, claims map[string]any, key *ecdsa.PrivateKey) string {
	input := b64([]byte(hdr)) + "." + b64(mustJSON(t, claims))
	h := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, h[:])
	must(t, err)
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64(sig)
}

// Duplicate header members must not let this package's pre-check and
// go-jose read different values and each pass its half. go-jose refuses
// duplicate members outright; the pre-check sees the last one.
func TestDuplicateHeaderMembers(t *testing.T) {
	c := newClock()
	v := newVerifier(c)
	k := ecKey(t)
	pub := string(mustJSON(t, publicJWK(t, k.Public())))
	var privMap map[string]any
	must(t, json.Unmarshal(mustJSON(t, jose.JSONWebKey{Key: k}), &privMap))
	priv := string(mustJSON(t, privMap))
	for _, tc := range []struct{ hdr, reason string }{
		{`{"typ":"dpop+jwt","alg":"none","alg":"ES256","jwk":` + pub + `}`, "malformed JWS"},
		{`{"typ":"dpop+jwt","alg":"ES256","alg":"none","jwk":` + pub + `}`, "alg not allowed"},
		{`{"typ":"jwt","typ":"dpop+jwt","alg":"ES256","jwk":` + pub + `}`, "malformed JWS"},
		{`{"typ":"dpop+jwt","typ":"jwt","alg":"ES256","jwk":` + pub + `}`, "typ is not dpop+jwt"},
		{`{"typ":"dpop+jwt","alg":"ES256","jwk":` + priv + `,"jwk":` + pub + `}`, "malformed JWS"},
		{`{"typ":"dpop+jwt","alg":"ES256","jwk":` + pub + `,"jwk":` + priv + `}`, "jwk contains private key"},
	} {
		_, err := v.Verify(craftRaw(t, tc.hdr, goodClaims(c.Now()), k), "GET", testURL, testToken)
		wantReject(t, err, tc.reason)
	}
	// The control: the same construction without duplicates passes.
	if _, err := v.Verify(craftRaw(t, `{"typ":"dpop+jwt","alg":"ES256","jwk":`+pub+`}`, goodClaims(c.Now()), k), "GET", testURL, testToken); err != nil {
		t.Fatal(err)
	}
}

func TestSupportedAlgsMatchesAllowList(t *testing.T) {
	var names []string
	for _, a := range allowedAlgs {
		names = append(names, string(a))
	}
	if got := strings.Join(names, " "); got != SupportedAlgs || SupportedAlgs != "ES256 EdDSA" {
		t.Fatalf("allow-list %q, SupportedAlgs %q", got, SupportedAlgs)
	}
}
