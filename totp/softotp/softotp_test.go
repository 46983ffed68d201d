package softotp

import (
	"testing"
	"time"

	"mcrm/totp"
)

// The app hands out steps cur-1, cur, cur+1 once each, then waits for the
// clock; every code verifies at the server's side and none repeats.
func TestCodesNeverRepeatAndVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a, err := New("JBSWY3DPEHPK3PXP")
	if err != nil {
		t.Fatal(err)
	}
	var slept time.Duration
	a.Now = func() time.Time { return now }
	a.Sleep = func(d time.Duration) { slept += d; now = now.Add(30 * time.Second) }
	secret := a.secret
	var last int64 = -1
	seen := map[string]bool{}
	for i := range 5 {
		c := a.Code()
		step, err := totp.Default.Verify(secret, c, now, last)
		if err != nil {
			t.Fatalf("code %d (%s) refused: %v", i, c, err)
		}
		last = step
		if seen[c] && i < 3 {
			t.Fatalf("code %d repeats", i)
		}
		seen[c] = true
	}
	if slept == 0 {
		t.Fatal("five codes in one window without waiting: a step was reused")
	}
	if a.last != totp.Default.Step(now)+1 {
		t.Fatalf("last step %d, want current+1 = %d", a.last, totp.Default.Step(now)+1)
	}
}

func TestNewRejectsBadSecret(t *testing.T) {
	if _, err := New("not base32!"); err == nil {
		t.Fatal("accepted a bad secret")
	}
}
