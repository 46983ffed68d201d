package password

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

var ctx = context.Background()

// Small parameters keep the test fast; the format and logic are the same.
var fast = Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

func TestHashVerify(t *testing.T) {
	h, err := Hash(ctx, "correct horse battery staple", fast)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") || len(strings.Split(h, "$")) != 6 {
		t.Fatalf("not a PHC argon2id string: %s", h)
	}
	if rehash, err := Verify(ctx, "correct horse battery staple", h, fast); err != nil || rehash {
		t.Fatalf("verify: %v rehash=%v", err, rehash)
	}
	if _, err := Verify(ctx, "correct horse battery stapl", h, fast); !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong password: %v", err)
	}
	// Raised parameters ask for a re-hash of a correct password.
	if rehash, err := Verify(ctx, "correct horse battery staple", h, Params{Memory: 128, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}); err != nil || !rehash {
		t.Fatalf("rehash not requested: %v %v", err, rehash)
	}
	// Two hashes of one password differ (random salt).
	h2, _ := Hash(ctx, "correct horse battery staple", fast)
	if h == h2 {
		t.Fatal("same salt twice")
	}
}

func TestVerifyRejectsMalformedAndHostileHashes(t *testing.T) {
	for _, bad := range []string{
		"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		// 16 GiB of memory from a planted hash must not be attempted.
		"$argon2id$v=19$m=16777216,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!!$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		if _, err := Verify(ctx, "x", bad, fast); err == nil || errors.Is(err, ErrMismatch) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestConcurrentHashesAreBounded(t *testing.T) {
	// More goroutines than slots: all finish, none at once beyond the cap.
	var wg sync.WaitGroup
	for i := 0; i < 3*cap(slots); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := Hash(ctx, "p", fast); err != nil {
				t.Error(err)
			}
			if n := len(slots); n > cap(slots) {
				t.Errorf("%d hashes at once", n)
			}
		}()
	}
	wg.Wait()
	// A cancelled context gives up waiting for a slot.
	for i := 0; i < cap(slots); i++ {
		slots <- struct{}{}
	}
	c, cancel := context.WithCancel(ctx)
	cancel()
	_, err := Hash(c, "p", fast)
	for i := 0; i < cap(slots); i++ {
		<-slots
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("waited despite cancellation: %v", err)
	}
}

func TestPolicy(t *testing.T) {
	if Check(strings.Repeat("a", 14)) == nil || Check(strings.Repeat("a", 15)) != nil {
		t.Fatal("length 15 is the boundary")
	}
	// Length is counted in characters, not bytes, and any Unicode is fine.
	if Check(strings.Repeat("密", 15)) != nil || Check(strings.Repeat("密", 14)) == nil {
		t.Fatal("characters, not bytes")
	}
	if Check(strings.Repeat("a", 1025)) == nil {
		t.Fatal("over the maximum accepted")
	}
	if g := Generate(); len(g) != 26 || Check(g) != nil {
		t.Fatalf("generated %q", g)
	}
}
