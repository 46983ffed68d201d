package sqlstore_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"mcrm"
	"mcrm/dbtest"
	"mcrm/sqlstore"
)

// Contract tests for sqlstore/guard.go: throttling counters, the mail
// outbox and password reset tokens, on SQLite and PostgreSQL.

var guardT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var guardLimits = sqlstore.ThrottleLimits{
	PairMax: 3, PairWindow: 15 * time.Minute,
	AccountMax: 5, AccountWindow: time.Hour,
	NetAccounts: 4, NetWindow: 24 * time.Hour,
}

func TestContractThrottleVerdicts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ten := dbtest.Name("t")
		k := sqlstore.ThrottleKey{TenantID: ten, Account: "u:1", Addr: "a1", Net: "n1"}
		at := guardT0
		attempt := func(k sqlstore.ThrottleKey) sqlstore.ThrottleVerdict {
			t.Helper()
			v, err := db.ThrottleAttempt(ctx, k, guardLimits, at)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		fail := func(k sqlstore.ThrottleKey) {
			t.Helper()
			if err := db.ThrottleFailure(ctx, k, guardLimits, at, sqlstore.Event{TenantID: ten, Actor: "unknown"}); err != nil {
				t.Fatal(err)
			}
		}
		// An allowed attempt counts before its outcome is known: three
		// checks with no outcome yet use up the pair limit.
		for i := range 3 {
			if v := attempt(k); !v.Allowed {
				t.Fatalf("attempt %d refused: %+v", i, v)
			}
			at = at.Add(time.Minute)
		}
		if v := attempt(k); v.Allowed || v.Scope != sqlstore.ScopeAccountIP || v.RetryAfter != 12*time.Minute {
			t.Fatalf("4th: %+v", v)
		}
		// Confirming the pending attempts adds nothing and emits the
		// fail_max event once, when the third is confirmed.
		for range 3 {
			fail(k)
		}
		if n, _ := db.CountEvents(ctx, ten, "authn_login_fail_max"); n != 1 {
			t.Fatalf("fail_max events %d", n)
		}
		if v := attempt(k); v.Allowed || v.RetryAfter != 12*time.Minute {
			t.Fatalf("after confirming: %+v", v)
		}
		// A success clears the pair, not the account's other addresses.
		k2 := k
		k2.Addr = "a2"
		attempt(k2)
		fail(k2)
		if err := db.ThrottleSuccess(ctx, k); err != nil {
			t.Fatal(err)
		}
		var rows int
		db.SQL().QueryRow(`SELECT COUNT(*) FROM auth_failures WHERE tenant_id = $1`, ten).Scan(&rows)
		if rows != 1 {
			t.Fatalf("rows after success: %d", rows)
		}
		// The account cap counts every address: 1 left from a2, four more.
		for i := range 4 {
			kk := k
			kk.Addr = "b" + string(rune('0'+i))
			if v := attempt(kk); !v.Allowed {
				t.Fatalf("account attempt %d: %+v", i, v)
			}
			fail(kk)
		}
		kk := k
		kk.Addr = "fresh"
		if v := attempt(kk); v.Allowed || v.Scope != sqlstore.ScopeAccount {
			t.Fatalf("account cap: %+v", v)
		}
		if n, _ := db.CountEvents(ctx, ten, "authn_login_lock"); n != 1 {
			t.Fatalf("lock events %d", n)
		}
		// A failure recorded without a check still counts.
		other := sqlstore.ThrottleKey{TenantID: ten, Account: "u:2", Addr: "a9", Net: "n9"}
		for range 3 {
			fail(other)
		}
		if v := attempt(other); v.Allowed {
			t.Fatalf("unchecked failures not counted: %+v", v)
		}
	})
}

func TestContractThrottleNetworkAcrossTenants(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		// Spraying across tenants is one attacker too: the network limit
		// counts distinct (tenant, account) pairs.
		for i, ten := range []string{"ta", "tb", "tc", "td"} {
			k := sqlstore.ThrottleKey{TenantID: ten, Account: "u:x", Addr: "a" + ten, Net: "net"}
			if v, err := db.ThrottleAttempt(ctx, k, guardLimits, guardT0.Add(time.Duration(i)*time.Hour)); err != nil || !v.Allowed {
				t.Fatalf("%s: %+v %v", ten, v, err)
			}
		}
		v, err := db.ThrottleAttempt(ctx, sqlstore.ThrottleKey{TenantID: "te", Account: "u:y", Addr: "z", Net: "net"}, guardLimits, guardT0.Add(4*time.Hour))
		if err != nil || v.Allowed || v.Scope != sqlstore.ScopeNetwork || v.RetryAfter != 20*time.Hour {
			t.Fatalf("network: %+v %v", v, err)
		}
		if n, err := db.ThrottlePrune(ctx, guardT0.Add(2*time.Hour)); err != nil || n != 2 {
			t.Fatalf("prune: %d %v", n, err)
		}
	})
}

func TestContractThrottleConcurrentFailuresBothCount(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ten := dbtest.Name("t")
		k := sqlstore.ThrottleKey{TenantID: ten, Account: "u:1", Addr: "a", Net: "n"}
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				if err := db.ThrottleFailure(ctx, k, guardLimits, guardT0, sqlstore.Event{TenantID: ten}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		var n int
		db.SQL().QueryRow(`SELECT COUNT(*) FROM auth_failures WHERE tenant_id = $1`, ten).Scan(&n)
		if n != 2 {
			t.Fatalf("rows %d", n)
		}
	})
}

func TestContractMailLease(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		var id string
		err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
			var err error
			id, err = tx.EnqueueMail(ctx, sqlstore.OutboxMail{TenantID: f.tenant.ID, Kind: "test", To: "a@example.com", Subject: "S", Text: "T"}, guardT0)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := db.ClaimMail(ctx, guardT0, time.Minute, 10)
		if err != nil || len(got) != 1 || got[0].ID != id || got[0].To != "a@example.com" || got[0].Subject != "S" || got[0].Text != "T" || got[0].Attempts != 1 || got[0].Kind != "test" {
			t.Fatalf("claim: %+v %v", got, err)
		}
		// Leased: nobody else gets it until the lease runs out (the worker
		// died), then it is delivered again.
		if again, _ := db.ClaimMail(ctx, guardT0.Add(59*time.Second), time.Minute, 10); len(again) != 0 {
			t.Fatalf("claimed during lease: %d", len(again))
		}
		again, _ := db.ClaimMail(ctx, guardT0.Add(time.Minute), time.Minute, 10)
		if len(again) != 1 || again[0].Attempts != 2 {
			t.Fatalf("after lease: %+v", again)
		}
		if err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
			_, err := tx.EnqueueMail(ctx, sqlstore.OutboxMail{TenantID: f.tenant.ID, Kind: "", To: "a@example.com"}, guardT0)
			return err
		}); code(err) != mcrm.EInvalid {
			t.Fatalf("kindless mail: %v", err)
		}
	})
}

// resetMail is the template the lead will supply.
func resetMail(token string) sqlstore.OutboxMail {
	return sqlstore.OutboxMail{To: "r1@example.com", Subject: "Reset your password", Text: "https://crm.example/reset#" + token}
}

// tokenFromOutbox reads the token back out of the queued mail, as the
// user would from their mailbox.
func tokenFromOutbox(t *testing.T, db *sqlstore.DB, at time.Time) string {
	t.Helper()
	got, err := db.ClaimMail(ctx, at, time.Minute, 10)
	if err != nil || len(got) != 1 || got[0].Kind != "password_reset" || got[0].To != "r1@example.com" {
		t.Fatalf("reset mail: %+v %v", got, err)
	}
	if want := at.Add(sqlstore.ResetTokenLifetime).Truncate(time.Microsecond); !got[0].ExpiresAt.Equal(want) {
		t.Fatalf("mail expiry %v, want %v", got[0].ExpiresAt, want)
	}
	if err := db.MarkMailSent(ctx, got[0].TenantID, got[0].ID, at); err != nil {
		t.Fatal(err)
	}
	_, tok, _ := strings.Cut(got[0].Text, "#")
	return tok
}

func TestContractPasswordReset(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		now := time.Now().UTC()
		queued, err := db.CreatePasswordReset(ctx, sqlstore.PasswordReset{TenantID: f.tenant.ID, UserID: f.rep1.UserID, Mail: resetMail}, now, sqlstore.Event{IP: "192.0.2.1"})
		if err != nil || !queued {
			t.Fatalf("create: %v %v", queued, err)
		}
		tok := tokenFromOutbox(t, db, now)
		if len(tok) != 43 { // 32 bytes, base64url without padding
			t.Fatalf("token length %d", len(tok))
		}
		// Stored only as its hash.
		var stored string
		db.SQL().QueryRow(`SELECT token_hash FROM password_resets WHERE tenant_id = $1`, f.tenant.ID).Scan(&stored)
		if stored != sqlstore.TokenHash(tok) || strings.Contains(stored, tok) {
			t.Fatalf("stored %q", stored)
		}
		if n, _ := db.CountEvents(ctx, f.tenant.ID, "authn_password_reset_requested"); n != 1 {
			t.Fatalf("request events %d", n)
		}
		// Two live sessions; the reset ends both.
		for range 2 {
			if _, err := db.StartSession(ctx, sqlstore.NewSession{TenantID: f.tenant.ID, UserID: f.rep1.UserID, Kind: sqlstore.SessionToken, Stage: sqlstore.StageFull,
				AMR: []string{"pwd"}, Idle: time.Hour, Absolute: time.Hour}, sqlstore.Event{TenantID: f.tenant.ID, Action: "authn_login_success"}); err != nil {
				t.Fatal(err)
			}
		}
		ten, user, err := db.PeekPasswordReset(ctx, tok, now)
		if err != nil || ten != f.tenant.ID || user != f.rep1.UserID {
			t.Fatalf("peek: %s %s %v", ten, user, err)
		}
		ten, user, err = db.ConsumePasswordReset(ctx, tok, "$argon2id$new", now.Add(time.Minute), sqlstore.Event{IP: "192.0.2.1"})
		if err != nil || ten != f.tenant.ID || user != f.rep1.UserID {
			t.Fatalf("consume: %s %s %v", ten, user, err)
		}
		var live int
		db.SQL().QueryRow(`SELECT COUNT(*) FROM sessions WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL`, f.tenant.ID, f.rep1.UserID).Scan(&live)
		if live != 0 {
			t.Fatalf("live sessions after reset: %d", live)
		}
		u, _ := db.UserForLogin(ctx, f.tenant.ID, "r1@example.com")
		if u.PasswordHash != "$argon2id$new" {
			t.Fatalf("hash %q", u.PasswordHash)
		}
		if n, _ := db.CountEvents(ctx, f.tenant.ID, "authn_password_change"); n != 1 {
			t.Fatalf("change events %d", n)
		}
		// Single use.
		if _, _, err := db.ConsumePasswordReset(ctx, tok, "$argon2id$again", now.Add(2*time.Minute), sqlstore.Event{}); !errors.Is(err, sqlstore.ErrResetToken) || code(err) != mcrm.EUnauthorized {
			t.Fatalf("second use: %v", err)
		}
		if _, _, err := db.PeekPasswordReset(ctx, tok, now); !errors.Is(err, sqlstore.ErrResetToken) {
			t.Fatalf("peek used: %v", err)
		}
		if _, _, err := db.ConsumePasswordReset(ctx, "not-a-token", "h", now, sqlstore.Event{}); !errors.Is(err, sqlstore.ErrResetToken) {
			t.Fatalf("unknown token: %v", err)
		}
	})
}

func TestContractPasswordResetExpiresAndSupersedes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		now := time.Now().UTC()
		create := func(at time.Time) (bool, string) {
			t.Helper()
			ok, err := db.CreatePasswordReset(ctx, sqlstore.PasswordReset{TenantID: f.tenant.ID, UserID: f.rep1.UserID, Mail: resetMail}, at, sqlstore.Event{})
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return false, ""
			}
			return true, tokenFromOutbox(t, db, at)
		}
		_, old := create(now)
		// Expired: at exactly 15 minutes the token no longer works.
		if _, _, err := db.ConsumePasswordReset(ctx, old, "h", now.Add(sqlstore.ResetTokenLifetime), sqlstore.Event{}); !errors.Is(err, sqlstore.ErrResetToken) {
			t.Fatalf("expired token: %v", err)
		}
		// A newer token ends the older one.
		_, t1 := create(now.Add(time.Minute))
		_, t2 := create(now.Add(2 * time.Minute))
		if _, _, err := db.ConsumePasswordReset(ctx, t1, "h", now.Add(3*time.Minute), sqlstore.Event{}); !errors.Is(err, sqlstore.ErrResetToken) {
			t.Fatalf("superseded token: %v", err)
		}
		// The cap: a fourth request within 15 minutes queues nothing.
		if ok, _ := create(now.Add(3 * time.Minute)); ok {
			t.Fatal("fourth reset mail in 15 minutes queued")
		}
		var mails int
		db.SQL().QueryRow(`SELECT COUNT(*) FROM mail_outbox WHERE tenant_id = $1`, f.tenant.ID).Scan(&mails)
		if mails != 3 {
			t.Fatalf("mails %d", mails)
		}
		// Concurrent uses of one token: exactly one wins.
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 4 {
			wg.Go(func() {
				_, _, err := db.ConsumePasswordReset(ctx, t2, "h2", now.Add(4*time.Minute), sqlstore.Event{})
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					wins++
				} else if !errors.Is(err, sqlstore.ErrResetToken) {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d concurrent uses succeeded", wins)
		}
	})
}

// No token without its mail: if queueing the mail fails, the token is not
// stored either.
func TestContractPasswordResetAtomicWithMail(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		_, err := db.CreatePasswordReset(ctx, sqlstore.PasswordReset{TenantID: f.tenant.ID, UserID: f.rep1.UserID,
			Mail: func(string) sqlstore.OutboxMail { return sqlstore.OutboxMail{} }}, time.Now(), sqlstore.Event{})
		if code(err) != mcrm.EInvalid {
			t.Fatalf("mail without recipient: %v", err)
		}
		var n int
		db.SQL().QueryRow(`SELECT COUNT(*) FROM password_resets WHERE tenant_id = $1`, f.tenant.ID).Scan(&n)
		if n != 0 {
			t.Fatalf("tokens stored without mail: %d", n)
		}
	})
}

// A deactivated user gets no token and no mail, and a token issued before
// the deactivation stops working.
func TestContractPasswordResetInactiveUser(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		now := time.Now().UTC()
		if ok, err := db.CreatePasswordReset(ctx, sqlstore.PasswordReset{TenantID: f.tenant.ID, UserID: f.rep1.UserID, Mail: resetMail}, now, sqlstore.Event{}); err != nil || !ok {
			t.Fatalf("create: %v %v", ok, err)
		}
		tok := tokenFromOutbox(t, db, now)
		if err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
			_, err := tx.Update(ctx, f.admin, ent("users"), f.rep1.UserID, 1, map[string]any{"active": false})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if ok, err := db.CreatePasswordReset(ctx, sqlstore.PasswordReset{TenantID: f.tenant.ID, UserID: f.rep1.UserID, Mail: resetMail}, now, sqlstore.Event{}); err != nil || ok {
			t.Fatalf("create for inactive user: %v %v", ok, err)
		}
		if _, _, err := db.PeekPasswordReset(ctx, tok, now); !errors.Is(err, sqlstore.ErrResetToken) {
			t.Fatalf("peek for inactive user: %v", err)
		}
		if _, _, err := db.ConsumePasswordReset(ctx, tok, "h", now, sqlstore.Event{}); !errors.Is(err, sqlstore.ErrResetToken) {
			t.Fatalf("consume for inactive user: %v", err)
		}
	})
}

// Parallel attempts on different accounts from one network cannot push
// the distinct-account count past its limit between check and count.
func TestContractThrottleNetworkConcurrent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ten := dbtest.Name("t")
		var wg sync.WaitGroup
		var mu sync.Mutex
		allowed := 0
		for i := range 12 {
			wg.Go(func() {
				k := sqlstore.ThrottleKey{TenantID: ten, Account: "u:" + string(rune('a'+i)), Addr: "a" + string(rune('a'+i)), Net: "net-" + ten}
				v, err := db.ThrottleAttempt(ctx, k, guardLimits, guardT0)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if v.Allowed {
					allowed++
				}
			})
		}
		wg.Wait()
		if allowed != guardLimits.NetAccounts {
			t.Fatalf("allowed %d, want %d", allowed, guardLimits.NetAccounts)
		}
	})
}

// Real users signing in together behind one NAT fill the network limit
// only while their attempts are in flight: the refusal asks for a retry
// in seconds, not a day, and once they succeeded the network is free.
func TestContractThrottleNetworkInFlightIsShortWait(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ten := dbtest.Name("t")
		lim := sqlstore.ThrottleLimits{PairMax: 10, PairWindow: time.Hour, AccountMax: 100, AccountWindow: time.Hour, NetAccounts: 5, NetWindow: 24 * time.Hour}
		var keys []sqlstore.ThrottleKey
		for i := range 5 {
			k := sqlstore.ThrottleKey{TenantID: ten, Account: fmt.Sprintf("u:%d", i), Addr: "office", Net: "office-net"}
			if v, err := db.ThrottleAttempt(ctx, k, lim, guardT0); err != nil || !v.Allowed {
				t.Fatalf("attempt %d: %+v %v", i, v, err)
			}
			keys = append(keys, k)
		}
		sixth := sqlstore.ThrottleKey{TenantID: ten, Account: "u:6", Addr: "office", Net: "office-net"}
		v, err := db.ThrottleAttempt(ctx, sixth, lim, guardT0.Add(time.Second))
		if err != nil || v.Allowed || v.Scope != sqlstore.ScopeNetwork || v.RetryAfter != 2*time.Second {
			t.Fatalf("sixth while five are in flight: %+v %v", v, err)
		}
		for _, k := range keys {
			if err := db.ThrottleSuccess(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		if v, err := db.ThrottleAttempt(ctx, sixth, lim, guardT0.Add(3*time.Second)); err != nil || !v.Allowed {
			t.Fatalf("sixth after the others succeeded: %+v %v", v, err)
		}
	})
}

// Guesses at invented tenants never fill the network limit: otherwise
// anyone could block a whole office's (or proxy's) sign-ins by naming
// tenants that do not exist.
func TestContractThrottleNetworkIgnoresUnknownTenants(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		lim := sqlstore.ThrottleLimits{PairMax: 10, PairWindow: time.Hour, AccountMax: 100, AccountWindow: time.Hour, NetAccounts: 3, NetWindow: 24 * time.Hour}
		for i := range 10 {
			k := sqlstore.ThrottleKey{TenantID: fmt.Sprintf("h:invented%d", i), Account: "h:x", Addr: "a", Net: "shared-net"}
			if err := db.ThrottleFailure(ctx, k, lim, guardT0, sqlstore.Event{}); err != nil {
				t.Fatal(err)
			}
		}
		real := sqlstore.ThrottleKey{TenantID: dbtest.Name("t"), Account: "u:1", Addr: "b", Net: "shared-net"}
		if v, err := db.ThrottleAttempt(ctx, real, lim, guardT0.Add(time.Minute)); err != nil || !v.Allowed {
			t.Fatalf("a real account behind the same network: %+v %v", v, err)
		}
	})
}
