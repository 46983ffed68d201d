package sqlstore_test

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"sync"
	"testing"
	"time"

	"mcrm"
	"mcrm/dbtest"
	"mcrm/sqlstore"
	"mcrm/totp"
)

// otpAt is the user's authenticator app: the code for seed at t.
func otpAt(t *testing.T, seed []byte, at time.Time) string {
	t.Helper()
	c, err := totp.Default.Code(seed, totp.Default.Step(at))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wrongCode is a well-formed code that is valid in no step of at's window.
func wrongCode(t *testing.T, seed []byte, at time.Time) string {
	t.Helper()
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if _, err := totp.Verify(seed, c, at, 0); err != nil {
			return c
		}
	}
	t.Fatal("no wrong code found")
	return ""
}

// otpField is the field code of a factor error.
func otpField(err error) string { return totp.FieldCode(err) }

// enrolled gives the user a confirmed TOTP factor; the returned time is
// one step after confirmation, so its code is fresh.
func enrolled(t *testing.T, db *sqlstore.DB, tenantID, userID string, now time.Time) ([]byte, string) {
	t.Helper()
	seed := totp.NewSecret()
	id, err := db.EnrolTOTP(ctx, tenantID, userID, "phone", seed, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.ConfirmTOTP(ctx, tenantID, userID, id, otpAt(t, seed, now), now, sqlstore.Event{}); err != nil {
		t.Fatal(err)
	}
	return seed, id
}

var t0 = time.Date(2026, 12, 4, 9, 0, 5, 0, time.UTC)

func TestContractTOTPEnrolConfirmVerify(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		ten, uid := f.tenant.ID, f.rep1.UserID
		seed := totp.NewSecret()
		id, err := db.EnrolTOTP(ctx, ten, uid, "phone", seed, t0)
		if err != nil {
			t.Fatal(err)
		}
		// Unconfirmed: not a second factor, and login verification finds none.
		if has, _ := db.HasSecondFactor(ctx, ten, uid); has {
			t.Fatal("unconfirmed factor counts")
		}
		if _, err := db.VerifyTOTP(ctx, ten, uid, otpAt(t, seed, t0), t0); code(err) != mcrm.ENotFound {
			t.Fatalf("verify before confirm: %v", err)
		}
		// A wrong code does not confirm.
		if err := db.ConfirmTOTP(ctx, ten, uid, id, wrongCode(t, seed, t0), t0, sqlstore.Event{}); otpField(err) != mcrm.CodeOTPInvalid || code(err) != mcrm.EUnauthorized {
			t.Fatalf("wrong confirm: %v", err)
		}
		// Another user cannot confirm it.
		if err := db.ConfirmTOTP(ctx, ten, f.rep2.UserID, id, otpAt(t, seed, t0), t0, sqlstore.Event{}); code(err) != mcrm.ENotFound {
			t.Fatalf("other user confirm: %v", err)
		}
		ev := sqlstore.Event{TenantID: ten, Actor: uid, Action: "authn_mfa_enrolled", Object: "auth_factors/" + id, Outcome: "success"}
		if err := db.ConfirmTOTP(ctx, ten, uid, id, otpAt(t, seed, t0), t0, ev); err != nil {
			t.Fatal(err)
		}
		if n, _ := db.CountEvents(ctx, ten, "authn_mfa_enrolled"); n != 1 {
			t.Fatalf("%d enrol events", n)
		}
		if has, _ := db.HasSecondFactor(ctx, ten, uid); !has {
			t.Fatal("confirmed factor does not count")
		}
		// The confirming code is used: the same code at login is a replay.
		if _, err := db.VerifyTOTP(ctx, ten, uid, otpAt(t, seed, t0), t0); otpField(err) != mcrm.CodeOTPReplay || code(err) != mcrm.EUnauthorized {
			t.Fatalf("confirm code reused: %v", err)
		}
		// The next step's code works once.
		t1 := t0.Add(30 * time.Second)
		got, err := db.VerifyTOTP(ctx, ten, uid, otpAt(t, seed, t1), t1)
		if err != nil || got != id {
			t.Fatalf("verify: %q %v", got, err)
		}
		if _, err := db.VerifyTOTP(ctx, ten, uid, otpAt(t, seed, t1), t1.Add(10*time.Second)); otpField(err) != mcrm.CodeOTPReplay {
			t.Fatalf("replay: %v", err)
		}
		// One step of drift either way, by the server's clock.
		t3 := t0.Add(3 * 30 * time.Second)
		if _, err := db.VerifyTOTP(ctx, ten, uid, otpAt(t, seed, t3.Add(-30*time.Second)), t3); err != nil {
			t.Fatalf("code one step behind: %v", err)
		}
		if _, err := db.VerifyTOTP(ctx, ten, uid, otpAt(t, seed, t3.Add(30*time.Second)), t3); err != nil {
			t.Fatalf("code one step ahead: %v", err)
		}
		// Having accepted T+1, the current step T is now older: refused.
		if _, err := db.VerifyTOTP(ctx, ten, uid, otpAt(t, seed, t3), t3); otpField(err) != mcrm.CodeOTPReplay {
			t.Fatalf("older step after newer: %v", err)
		}
		t6 := t0.Add(6 * 30 * time.Second)
		if _, err := db.VerifyTOTP(ctx, ten, uid, otpAt(t, seed, t6.Add(-60*time.Second)), t6); otpField(err) != mcrm.CodeOTPInvalid {
			t.Fatalf("two steps behind: %v", err)
		}
		// Another user's TOTP check does not see this factor.
		if _, err := db.VerifyTOTP(ctx, ten, f.rep2.UserID, otpAt(t, seed, t6), t6); code(err) != mcrm.ENotFound {
			t.Fatalf("other user: %v", err)
		}
		fs, err := db.ListFactors(ctx, ten, uid)
		if err != nil || len(fs) != 1 || fs[0].ID != id || fs[0].Kind != "totp" || fs[0].Name != "phone" || !fs[0].Confirmed ||
			!fs[0].CreatedAt.Equal(t0.Truncate(time.Microsecond)) || !fs[0].LastUsedAt.Equal(t3.Truncate(time.Microsecond)) {
			t.Fatalf("list: %+v %v", fs, err)
		}
		// Enrolling again and confirming replaces the old factor.
		seed2 := totp.NewSecret()
		id2, err := db.EnrolTOTP(ctx, ten, uid, "new phone", seed2, t6)
		if err != nil {
			t.Fatal(err)
		}
		if fs, _ := db.ListFactors(ctx, ten, uid); len(fs) != 2 || fs[1].Confirmed {
			t.Fatalf("list while enrolling: %+v", fs)
		}
		if err := db.ConfirmTOTP(ctx, ten, uid, id2, otpAt(t, seed2, t6), t6, sqlstore.Event{}); err != nil {
			t.Fatal(err)
		}
		if fs, _ := db.ListFactors(ctx, ten, uid); len(fs) != 1 || fs[0].ID != id2 {
			t.Fatalf("old factor not replaced: %+v", fs)
		}
		t7 := t6.Add(30 * time.Second)
		if _, err := db.VerifyTOTP(ctx, ten, uid, otpAt(t, seed, t7), t7); otpField(err) != mcrm.CodeOTPInvalid {
			t.Fatalf("old seed still works: %v", err)
		}
		// Delete: not by another user, then by the owner.
		if err := db.DeleteFactor(ctx, ten, f.rep2.UserID, id2, sqlstore.Event{}); code(err) != mcrm.ENotFound {
			t.Fatalf("other user delete: %v", err)
		}
		if err := db.DeleteFactor(ctx, ten, uid, id2, sqlstore.Event{TenantID: ten, Actor: uid, Action: "authn_mfa_removed", Object: "auth_factors/" + id2, Outcome: "success"}); err != nil {
			t.Fatal(err)
		}
		if n, _ := db.CountEvents(ctx, ten, "authn_mfa_removed"); n != 1 {
			t.Fatalf("%d remove events", n)
		}
		if has, _ := db.HasSecondFactor(ctx, ten, uid); has {
			t.Fatal("deleted factor counts")
		}
		if err := db.DeleteFactor(ctx, ten, uid, id2, sqlstore.Event{}); code(err) != mcrm.ENotFound {
			t.Fatalf("delete twice: %v", err)
		}
	})
}

func TestContractTOTPSeedSealedAtRest(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		ten := f.tenant.ID
		seed, id := enrolled(t, db, ten, f.rep1.UserID, t0)
		var stored string
		if err := db.SQL().QueryRow(`SELECT secret FROM auth_factors WHERE tenant_id = $1 AND id = $2`, ten, id).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		ct, err := base64.StdEncoding.DecodeString(stored)
		if err != nil {
			t.Fatalf("column is not base64: %v", err)
		}
		b32 := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(seed)
		if bytes.Contains(ct, seed) || bytes.Contains([]byte(stored), []byte(b32)) || bytes.Contains([]byte(stored), []byte(base64.StdEncoding.EncodeToString(seed))) {
			t.Fatal("seed stored in clear")
		}
		if len(ct) < len(seed)+16 {
			t.Fatalf("ciphertext %d bytes: no tag?", len(ct))
		}
		// The ciphertext is bound to its row: copied onto another user's
		// factor it does not open, so that user's login fails.
		_, id2 := enrolled(t, db, ten, f.rep2.UserID, t0)
		if _, err := db.RawWriter().Exec(`UPDATE auth_factors SET secret = $1 WHERE tenant_id = $2 AND id = $3`, stored, ten, id2); err != nil {
			t.Fatal(err)
		}
		t1 := t0.Add(30 * time.Second)
		if _, err := db.VerifyTOTP(ctx, ten, f.rep2.UserID, otpAt(t, seed, t1), t1); code(err) != mcrm.EInternal {
			t.Fatalf("copied ciphertext opened: %v", err)
		}
		// Without a key provider nothing is stored.
		bare := dbtest.Open(t, "sqlite")
		bare.SetSealer(nil)
		if _, err := bare.EnrolTOTP(ctx, ten, f.rep1.UserID, "x", seed, t0); code(err) != mcrm.EUnavailable {
			t.Fatalf("enrol without sealer: %v", err)
		}
	})
}

func TestContractTOTPConcurrentUseOfOneCode(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		ten, uid := f.tenant.ID, f.rep1.UserID
		seed, _ := enrolled(t, db, ten, uid, t0)
		for round := 1; round <= 3; round++ {
			at := t0.Add(time.Duration(round) * 30 * time.Second)
			c := otpAt(t, seed, at)
			const n = 5 // below OTPMaxFailures: the losers' charges never throttle
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, errs[i] = db.VerifyTOTP(ctx, ten, uid, c, at)
				}()
			}
			close(start)
			wg.Wait()
			ok, replay := 0, 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case otpField(err) == mcrm.CodeOTPReplay:
					replay++
				default:
					t.Errorf("unexpected: %v", err)
				}
			}
			if ok != 1 || replay != n-1 {
				t.Fatalf("round %d: %d accepted, %d replays; want 1 and %d", round, ok, replay, n-1)
			}
		}
	})
}

func TestContractTOTPThrottle(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		ten, uid := f.tenant.ID, f.rep1.UserID
		seed, id := enrolled(t, db, ten, uid, t0)
		counter := func() (int64, string) {
			var n int64
			var until *string
			if err := db.SQL().QueryRow(`SELECT failed_count, throttled_until FROM auth_factors WHERE tenant_id = $1 AND id = $2`, ten, id).Scan(&n, &until); err != nil {
				t.Fatal(err)
			}
			if until == nil {
				return n, ""
			}
			return n, *until
		}
		at := t0.Add(time.Minute)
		// A success resets the count: 4 wrong, 1 right, 4 wrong, 1 right.
		for r := range 2 {
			for range 4 {
				if _, err := db.VerifyTOTP(ctx, ten, uid, wrongCode(t, seed, at), at); otpField(err) != mcrm.CodeOTPInvalid {
					t.Fatalf("wrong: %v", err)
				}
			}
			if n, _ := counter(); n != 4 {
				t.Fatalf("stored count %d, want 4", n)
			}
			if _, err := db.VerifyTOTP(ctx, ten, uid, otpAt(t, seed, at), at); err != nil {
				t.Fatalf("round %d right code: %v", r, err)
			}
			if n, until := counter(); n != 0 || until != "" {
				t.Fatalf("after success: %d %q", n, until)
			}
			at = at.Add(time.Minute)
		}
		// Replays are not guesses: 4 wrong and any number of replays of a
		// used code leave the right code usable.
		used := at.Add(-time.Minute) // accepted in the last round
		for range 4 {
			db.VerifyTOTP(ctx, ten, uid, wrongCode(t, seed, at), at)
		}
		for range 3 {
			if _, err := db.VerifyTOTP(ctx, ten, uid, otpAt(t, seed, used), used); otpField(err) != mcrm.CodeOTPReplay {
				t.Fatalf("replay: %v", err)
			}
		}
		if n, until := counter(); n != 4 || until != "" {
			t.Fatalf("replays counted: %d %q", n, until)
		}
		if _, err := db.VerifyTOTP(ctx, ten, uid, otpAt(t, seed, at), at); err != nil {
			t.Fatalf("right code after replays: %v", err)
		}
		at = at.Add(time.Minute)
		// 5 wrong in a row: each is otp_invalid, then even the right code
		// is otp_throttled (429) for 15 minutes.
		for range sqlstore.OTPMaxFailures {
			if _, err := db.VerifyTOTP(ctx, ten, uid, wrongCode(t, seed, at), at); otpField(err) != mcrm.CodeOTPInvalid {
				t.Fatalf("wrong: %v", err)
			}
		}
		if n, until := counter(); n != 5 || until != at.Add(15*time.Minute).Format("2006-01-02T15:04:05.000000Z") {
			t.Fatalf("stored throttle: %d %q", n, until)
		}
		for _, later := range []time.Duration{0, 30 * time.Second, 14*time.Minute + 59*time.Second} {
			now := at.Add(later)
			_, err := db.VerifyTOTP(ctx, ten, uid, otpAt(t, seed, now), now)
			if otpField(err) != mcrm.CodeOTPThrottled || code(err) != mcrm.ERateLimited {
				t.Fatalf("+%v: right code while throttled: %v", later, err)
			}
		}
		if n, _ := counter(); n != 5 {
			t.Fatalf("throttled attempts were counted: %d", n)
		}
		// After 15 minutes the right code works again.
		now := at.Add(15 * time.Minute)
		if _, err := db.VerifyTOTP(ctx, ten, uid, otpAt(t, seed, now), now); err != nil {
			t.Fatalf("after throttle: %v", err)
		}
		// After a throttle expires with no success, the count starts over.
		at = now.Add(time.Minute)
		for range sqlstore.OTPMaxFailures {
			db.VerifyTOTP(ctx, ten, uid, wrongCode(t, seed, at), at)
		}
		at = at.Add(15 * time.Minute)
		if _, err := db.VerifyTOTP(ctx, ten, uid, wrongCode(t, seed, at), at); otpField(err) != mcrm.CodeOTPInvalid {
			t.Fatalf("first wrong after expiry: %v", err)
		}
		if n, until := counter(); n != 1 || until != "" {
			t.Fatalf("count after expiry: %d %q", n, until)
		}
	})
}

func TestContractTOTPThrottleHoldsUnderConcurrency(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		ten, uid := f.tenant.ID, f.rep1.UserID
		seed, _ := enrolled(t, db, ten, uid, t0)
		at := t0.Add(time.Minute)
		wrong := wrongCode(t, seed, at)
		const n = 12
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = db.VerifyTOTP(ctx, ten, uid, wrong, at)
			}()
		}
		close(start)
		wg.Wait()
		invalid, throttled := 0, 0
		for _, err := range errs {
			switch otpField(err) {
			case mcrm.CodeOTPInvalid:
				invalid++
			case mcrm.CodeOTPThrottled:
				throttled++
			default:
				t.Errorf("unexpected: %v", err)
			}
		}
		if invalid != sqlstore.OTPMaxFailures || throttled != n-sqlstore.OTPMaxFailures {
			t.Fatalf("%d guesses checked, %d throttled; want %d and %d", invalid, throttled, sqlstore.OTPMaxFailures, n-sqlstore.OTPMaxFailures)
		}
	})
}

func TestContractRecoveryCodes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		ten, uid := f.tenant.ID, f.rep1.UserID
		codes, err := db.ReplaceRecoveryCodes(ctx, ten, uid, t0, sqlstore.Event{TenantID: ten, Actor: uid, Action: "authn_recovery_codes_created", Object: "auth_factors", Outcome: "success"})
		if err != nil || len(codes) != 10 {
			t.Fatalf("%d codes, %v", len(codes), err)
		}
		if n, _ := db.RecoveryCodesLeft(ctx, ten, uid); n != 10 {
			t.Fatalf("%d left", n)
		}
		// Stored as hashes only.
		rows, err := db.SQL().Query(`SELECT secret FROM auth_factors WHERE tenant_id = $1 AND user_id = $2 AND kind = 'recovery'`, ten, uid)
		if err != nil {
			t.Fatal(err)
		}
		stored := map[string]bool{}
		for rows.Next() {
			var s string
			rows.Scan(&s)
			stored[s] = true
		}
		rows.Close()
		for _, c := range codes {
			if !stored[totp.RecoveryHash(c)] || stored[c] || stored[totp.NormalizeRecovery(c)] {
				t.Fatalf("code %s not stored as its hash only", c)
			}
		}
		// Recovery codes are not listed as factors nor count as one.
		if fs, _ := db.ListFactors(ctx, ten, uid); len(fs) != 0 {
			t.Fatalf("listed: %+v", fs)
		}
		// Another user cannot use them.
		if err := db.ConsumeRecoveryCode(ctx, ten, f.rep2.UserID, codes[0], t0, sqlstore.Event{}); otpField(err) != mcrm.CodeRecoveryCodeInvalid || code(err) != mcrm.EUnauthorized {
			t.Fatalf("other user: %v", err)
		}
		ev := sqlstore.Event{TenantID: ten, Actor: uid, Action: "authn_recovery_code_used", Object: "auth_factors", Outcome: "success"}
		if err := db.ConsumeRecoveryCode(ctx, ten, uid, codes[0], t0, ev); err != nil {
			t.Fatal(err)
		}
		if err := db.ConsumeRecoveryCode(ctx, ten, uid, codes[0], t0, ev); otpField(err) != mcrm.CodeRecoveryCodeInvalid {
			t.Fatalf("used twice: %v", err)
		}
		if n, _ := db.CountEvents(ctx, ten, "authn_recovery_code_used"); n != 1 {
			t.Fatalf("%d use events", n)
		}
		for _, bad := range []string{"", "nope", "00000-00000-00000-00000"} {
			if err := db.ConsumeRecoveryCode(ctx, ten, uid, bad, t0, sqlstore.Event{}); otpField(err) != mcrm.CodeRecoveryCodeInvalid {
				t.Fatalf("%q: %v", bad, err)
			}
		}
		// Concurrent uses of one code: exactly one wins.
		const n = 6
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = db.ConsumeRecoveryCode(ctx, ten, uid, codes[1], t0, sqlstore.Event{})
			}()
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if otpField(err) != mcrm.CodeRecoveryCodeInvalid {
				t.Errorf("unexpected: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d concurrent uses accepted", ok)
		}
		if n, _ := db.RecoveryCodesLeft(ctx, ten, uid); n != 8 {
			t.Fatalf("%d left, want 8", n)
		}
		// A new set replaces all old codes, used or not.
		fresh, err := db.ReplaceRecoveryCodes(ctx, ten, uid, t0, sqlstore.Event{})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.ConsumeRecoveryCode(ctx, ten, uid, codes[5], t0, sqlstore.Event{}); otpField(err) != mcrm.CodeRecoveryCodeInvalid {
			t.Fatalf("old code after replace: %v", err)
		}
		if n, _ := db.RecoveryCodesLeft(ctx, ten, uid); n != 10 {
			t.Fatalf("%d left after replace", n)
		}
		if err := db.ConsumeRecoveryCode(ctx, ten, uid, fresh[9], t0, sqlstore.Event{}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestContractTOTPConcurrentConfirm(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		ten, uid := f.tenant.ID, f.rep1.UserID
		seed := totp.NewSecret()
		id, err := db.EnrolTOTP(ctx, ten, uid, "phone", seed, t0)
		if err != nil {
			t.Fatal(err)
		}
		c := otpAt(t, seed, t0)
		const n = 4
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = db.ConfirmTOTP(ctx, ten, uid, id, c, t0, sqlstore.Event{TenantID: ten, Actor: uid, Action: "authn_mfa_enrolled", Object: "auth_factors/" + id, Outcome: "success"})
			}()
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case code(err) == mcrm.ENotFound, otpField(err) == mcrm.CodeOTPReplay:
				// Lost the race: the factor was confirmed (no longer an
				// unconfirmed enrolment) or its step was taken.
			default:
				t.Errorf("unexpected: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d confirmations succeeded", ok)
		}
		if n, _ := db.CountEvents(ctx, ten, "authn_mfa_enrolled"); n != 1 {
			t.Fatalf("%d enrol events", n)
		}
	})
}
