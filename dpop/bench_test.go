package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"
)

// benchVerify verifies b.N distinct proofs (made before the timer starts,
// each with its own jti) through the in-memory replay cache, so the figure
// is one real request's cost: parse, header checks, signature, claims,
// thumbprint and the replay insert.
func benchVerify(b *testing.B, key crypto.Signer) {
	c := newClock()
	v := &Verifier{MaxAge: time.Hour, Leeway: 10 * time.Second, Now: c.Now, Replay: NewMemoryReplayCache(2*b.N+1024, c.Now)}
	proofs := make([]string, b.N)
	for i := range proofs {
		proofs[i] = proof(b, key, "GET", testURL, testToken, c.Now())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := v.Verify(proofs[i], "GET", testURL, testToken); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyES256(b *testing.B) { benchVerify(b, ecKey(b)) }
func BenchmarkVerifyEdDSA(b *testing.B) { benchVerify(b, edKey(b)) }

// Baselines: the bare signature checks, to show what Verify adds.
func BenchmarkBaselineECDSAVerify(b *testing.B) {
	k := ecKey(b)
	h := sha256.Sum256([]byte("x"))
	r, s, err := ecdsa.Sign(rand.Reader, k, h[:])
	must(b, err)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !ecdsa.Verify(&k.PublicKey, h[:], r, s) {
			b.Fatal("verify")
		}
	}
}

func BenchmarkBaselineEd25519Verify(b *testing.B) {
	k := edKey(b)
	sig := ed25519.Sign(k, []byte("x"))
	pub := k.Public().(ed25519.PublicKey)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !ed25519.Verify(pub, []byte("x"), sig) {
			b.Fatal("verify")
		}
	}
}

func BenchmarkNewProofES256(b *testing.B) {
	k := ecKey(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := NewProof(k, "GET", testURL, testToken, t0, ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemoryReplayCacheSeen(b *testing.B) {
	c := newClock()
	rc := NewMemoryReplayCache(b.N+1024, c.Now)
	keys := make([]string, b.N)
	for i := range keys {
		keys[i] = fmt.Sprintf("%043d", i)
	}
	ctx := context.Background()
	exp := c.Now().Add(time.Minute)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if seen, err := rc.Seen(ctx, keys[i], exp); err != nil || seen {
			b.Fatal(seen, err)
		}
	}
}
