package dpop_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"time"

	"mcrm/dpop"
)

// The middleware's part: verify the proof, then compare its key with the
// one the session was bound to when the token was issued.
func ExampleVerifier_Verify() {
	device, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sessionJKT, _ := dpop.Thumbprint(device.Public()) // stored at login

	v := &dpop.Verifier{MaxAge: time.Minute, Leeway: 10 * time.Second, Replay: dpop.NewMemoryReplayCache(0, nil)}
	url := "https://api.example.com/api/v1/contacts?page=2"
	proof, _ := dpop.NewProof(device, "GET", url, "the-access-token", time.Now(), "")

	jkt, err := v.Verify(proof, "GET", url, "the-access-token")
	bound := err == nil && subtle.ConstantTimeCompare([]byte(jkt), []byte(sessionJKT)) == 1
	fmt.Println("accepted:", bound)

	_, err = v.Verify(proof, "GET", url, "the-access-token")
	code, reason := dpop.Reason(err)
	fmt.Println("again:", code, reason)
	// Output:
	// accepted: true
	// again: invalid_dpop_proof jti reused
}
