package throttle_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mcrm/dbtest"
	"mcrm/sqlstore"
	"mcrm/throttle"
)

var ctx = context.Background()

// clock is an injected clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newLimiter(t *testing.T, db *sqlstore.DB) (*throttle.Limiter, *clock) {
	t.Helper()
	l, err := throttle.New(db, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	l.Now = c.Now
	return l, c
}

// login is the flow the HTTP layer runs: check, then verify only if
// allowed, then record. It returns the HTTP status the caller would send
// and whether the password was verified.
func login(t *testing.T, l *throttle.Limiter, k throttle.Key, right bool) (status int, d throttle.Decision, verified bool) {
	t.Helper()
	d, err := l.Check(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allowed {
		return 429, d, false
	}
	if right {
		if err := l.RecordSuccess(ctx, k); err != nil {
			t.Fatal(err)
		}
		return 200, d, true
	}
	if err := l.RecordFailure(ctx, k, sqlstore.Event{TenantID: tenantOf(k), Actor: "unknown", IP: "198.51.100.7"}); err != nil {
		t.Fatal(err)
	}
	return 401, d, true
}

var tenants sync.Map // Key -> tenant id, for events

func tenantOf(k throttle.Key) string {
	v, _ := tenants.Load(k)
	s, _ := v.(string)
	return s
}

func key(l *throttle.Limiter, tenant, user, ip string) throttle.Key {
	k := l.Key(tenant, l.Account(tenant, user, ""), netip.MustParseAddr(ip))
	tenants.Store(k, tenant)
	return k
}

func TestAccountIPLimit(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		l, c := newLimiter(t, db)
		ten := dbtest.Name("t")
		alice := key(l, ten, "alice", "198.51.100.7")
		for i := range 10 {
			if st, _, _ := login(t, l, alice, false); st != 401 {
				t.Fatalf("failure %d: status %d", i+1, st)
			}
			c.Add(time.Second)
		}
		// The 11th attempt is refused even with the right password, and
		// the password is not checked.
		st, d, verified := login(t, l, alice, true)
		if st != 429 || verified || d.Reason != throttle.ReasonAccountIP {
			t.Fatalf("11th attempt: status %d verified %v reason %q", st, verified, d.Reason)
		}
		// The first failure was 10 s ago and leaves the window at 15 min.
		if d.RetryAfter != 15*time.Minute-10*time.Second || d.RetryAfterHeader() != "890" {
			t.Fatalf("Retry-After %v (%s)", d.RetryAfter, d.RetryAfterHeader())
		}
		if n, _ := db.CountEvents(ctx, ten, "authn_login_fail_max"); n != 1 {
			t.Fatalf("authn_login_fail_max events: %d", n)
		}
		// Refused attempts add nothing: no second event, no longer wait.
		for range 5 {
			login(t, l, alice, false)
		}
		if n, _ := db.CountEvents(ctx, ten, "authn_login_fail_max"); n != 1 {
			t.Fatalf("events after refusals: %d", n)
		}
		// The same account from another address is still let through.
		if st, _, _ := login(t, l, key(l, ten, "alice", "192.0.2.1"), true); st != 200 {
			t.Fatalf("other IP: %d", st)
		}
		// Another account from the same address too.
		if st, _, _ := login(t, l, key(l, ten, "bob", "198.51.100.7"), true); st != 200 {
			t.Fatalf("other account: %d", st)
		}
		// Once the oldest failure ages out, one attempt gets through.
		c.Add(d.RetryAfter)
		if st, _, _ := login(t, l, alice, true); st != 200 {
			t.Fatalf("after Retry-After: %d", st)
		}
	})
}

func TestSuccessClearsAccountIP(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		l, c := newLimiter(t, db)
		ten := dbtest.Name("t")
		k := key(l, ten, "alice", "198.51.100.7")
		for range 9 {
			login(t, l, k, false)
			c.Add(time.Second)
		}
		if st, _, _ := login(t, l, k, true); st != 200 {
			t.Fatalf("success: %d", st)
		}
		for i := range 10 {
			if st, _, _ := login(t, l, k, false); st != 401 {
				t.Fatalf("failure %d after success: %d", i+1, st)
			}
		}
		if st, _, _ := login(t, l, k, false); st != 429 {
			t.Fatalf("11th after success: %d", st)
		}
	})
}

// TestAccountCapOverAnHour hammers one account from a new address (and a
// new network) every 10 seconds for three simulated hours: the per-IP and
// per-network limits never engage, so only the account cap stands between
// the attacker and the password. In no rolling hour are more than 100
// passwords verified, and in the first hour exactly 100 are.
func TestAccountCapOverAnHour(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		l, c := newLimiter(t, db)
		ten := dbtest.Name("t")
		start := c.Now()
		var verifiedAt []time.Time
		locked := 0
		for i := range 3 * 360 {
			ip := fmt.Sprintf("10.%d.%d.1", i/250, i%250)
			st, d, verified := login(t, l, key(l, ten, "victim", ip), false)
			if verified {
				verifiedAt = append(verifiedAt, c.Now())
			}
			if st == 429 {
				if d.Reason != throttle.ReasonAccount {
					t.Fatalf("attempt %d refused for %q", i, d.Reason)
				}
				locked++
			}
			c.Add(10 * time.Second)
		}
		first := 0
		for _, at := range verifiedAt {
			if at.Sub(start) < time.Hour {
				first++
			}
		}
		if first != 100 {
			t.Fatalf("verified in the first hour: %d, want 100", first)
		}
		for i, from := range verifiedAt {
			n := 0
			for _, at := range verifiedAt[i:] {
				if at.Sub(from) < time.Hour {
					n++
				}
			}
			if n > 100 {
				t.Fatalf("%d verifications in the hour from %v", n, from)
			}
		}
		if locked == 0 {
			t.Fatal("the account was never locked")
		}
		if n, _ := db.CountEvents(ctx, ten, "authn_login_lock"); n < 1 {
			t.Fatalf("authn_login_lock events: %d", n)
		}
	})
}

func TestNetworkLimit(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		l, c := newLimiter(t, db)
		ten := dbtest.Name("t")
		// One failure each on 100 accounts from addresses all over one /24.
		for i := range 100 {
			if st, _, _ := login(t, l, key(l, ten, fmt.Sprintf("user%d", i), fmt.Sprintf("203.0.113.%d", i)), false); st != 401 {
				t.Fatalf("account %d: %d", i, st)
			}
			c.Add(time.Minute)
		}
		// Now every account is refused from anywhere in that range, even
		// with the right password, including one never tried before.
		for _, tc := range []struct{ user, ip string }{{"user0", "203.0.113.0"}, {"fresh", "203.0.113.250"}, {"user99", "::ffff:203.0.113.9"}} {
			st, d, _ := login(t, l, key(l, ten, tc.user, tc.ip), true)
			if st != 429 || d.Reason != throttle.ReasonNetwork {
				t.Fatalf("%s from %s: %d %q", tc.user, tc.ip, st, d.Reason)
			}
			// user0's failure (the first, at the start) leaves the 24 h
			// window first; 100 minutes have passed.
			if d.RetryAfter != 24*time.Hour-100*time.Minute {
				t.Fatalf("Retry-After %v", d.RetryAfter)
			}
		}
		// The neighbouring /24 is not affected.
		if st, _, _ := login(t, l, key(l, ten, "fresh", "203.0.114.1"), true); st != 200 {
			t.Fatalf("other network: %d", st)
		}
		if n, _ := db.CountEvents(ctx, ten, "authn_login_fail_max"); n != 1 {
			t.Fatalf("network fail_max events: %d", n)
		}
	})
}

func TestNetworkIPv6Slash64(t *testing.T) {
	if throttle.Network(netip.MustParseAddr("2001:db8:1:2:aaaa::1")) != throttle.Network(netip.MustParseAddr("2001:db8:1:2:ffff::9")) {
		t.Fatal("one /64 counted as two networks")
	}
	if throttle.Network(netip.MustParseAddr("2001:db8:1:2::1")) == throttle.Network(netip.MustParseAddr("2001:db8:1:3::1")) {
		t.Fatal("two /64s counted as one")
	}
	if got := throttle.Network(netip.MustParseAddr("::ffff:192.0.2.77")); got != "192.0.2.0/24" {
		t.Fatalf("mapped IPv4: %s", got)
	}
	if got := throttle.Network(netip.MustParseAddr("2001:db8:1:2:3:4:5:6")); got != "2001:db8:1:2::/64" {
		t.Fatalf("IPv6: %s", got)
	}
}

// TestConcurrentAttempts: twenty parallel wrong-password attempts on one
// (account, IP) both count each other; exactly ten reach the password
// check.
func TestConcurrentAttempts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		l, _ := newLimiter(t, db)
		ten := dbtest.Name("t")
		k := key(l, ten, "alice", "198.51.100.7")
		var verified, refused atomic.Int32
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				d, err := l.Check(ctx, k)
				if err != nil {
					t.Error(err)
					return
				}
				if !d.Allowed {
					refused.Add(1)
					return
				}
				verified.Add(1)
				if err := l.RecordFailure(ctx, k, sqlstore.Event{TenantID: ten, Actor: "unknown"}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if verified.Load() != 10 || refused.Load() != 10 {
			t.Fatalf("verified %d refused %d", verified.Load(), refused.Load())
		}
	})
}

// TestUnknownAccountsThrottledAlike: an email that matches no user is
// throttled exactly like a user, under a key that is not the email.
func TestUnknownAccountsThrottledAlike(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		l, _ := newLimiter(t, db)
		ten := dbtest.Name("t")
		acct := l.Account(ten, "", "Nobody@Example.com")
		if acct != l.Account(ten, "", " nobody@example.COM") || acct == l.Account("other", "", "nobody@example.com") {
			t.Fatal("account hash must be per tenant and case-insensitive")
		}
		k := l.Key(ten, acct, netip.MustParseAddr("198.51.100.7"))
		tenants.Store(k, ten)
		for range 10 {
			login(t, l, k, false)
		}
		if st, _, _ := login(t, l, k, false); st != 429 {
			t.Fatalf("unknown account, 11th: %d", st)
		}
		var n int
		if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM auth_failures WHERE account_key LIKE '%nobody%' OR addr_key LIKE '%198.51%' OR net_key LIKE '%198.51%'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("personal data stored: %d %v", n, err)
		}
	})
}

func TestPrune(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		l, c := newLimiter(t, db)
		ten := dbtest.Name("t")
		for i := range 5 {
			login(t, l, key(l, ten, "alice", fmt.Sprintf("192.0.2.%d", i)), false)
		}
		c.Add(24*time.Hour + time.Second)
		login(t, l, key(l, ten, "alice", "192.0.2.9"), false)
		n, err := l.Prune(ctx)
		if err != nil || n != 5 {
			t.Fatalf("pruned %d, %v", n, err)
		}
	})
}

func TestNewRejectsShortKey(t *testing.T) {
	if _, err := throttle.New(nil, []byte("short")); err == nil {
		t.Fatal("short server key accepted")
	}
}
