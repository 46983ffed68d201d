package dpop

import (
	"strings"
	"testing"

	"mcrm"
)

// FuzzVerify: no input panics, and anything refused is refused as a
// 401 invalid_dpop_proof / use_dpop_nonce, never another kind of error.
func FuzzVerify(f *testing.F) {
	c := newClock()
	k := ecKey(f)
	f.Add(proof(f, k, "GET", testURL, testToken, c.Now()))
	f.Add(proof(f, edKey(f), "GET", testURL, testToken, c.Now()))
	f.Add(craft(f, goodHeader(f, k.Public(), "none"), goodClaims(c.Now()), nil))
	f.Add("e30.e30.")
	f.Fuzz(func(t *testing.T, p string) {
		v := &Verifier{Now: c.Now, Replay: NewMemoryReplayCache(1024, c.Now)}
		_, err := v.Verify(p, "GET", testURL, testToken)
		if err == nil {
			return
		}
		if mcrm.ErrorCode(err) != mcrm.EUnauthorized {
			t.Fatalf("%v", err)
		}
		if code, _ := Reason(err); code != CodeInvalidProof && code != CodeUseNonce {
			t.Fatalf("%v", err)
		}
	})
}

// FuzzNormalizeHTU: normalising is idempotent and never keeps a query or
// fragment, so both sides of the comparison land on one canonical form.
func FuzzNormalizeHTU(f *testing.F) {
	for _, s := range []string{testURL, "HTTPS://A.b:443/%7e/./x/../y?q#f", "http://[::1]:80/a%2f", "https://h/.."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := normalizeHTU(s)
		if err != nil {
			return
		}
		if strings.ContainsAny(n, "?#") {
			t.Fatalf("%q -> %q keeps query or fragment", s, n)
		}
		n2, err := normalizeHTU(n)
		if err != nil || n2 != n {
			t.Fatalf("%q -> %q -> %q, %v", s, n, n2, err)
		}
	})
}
