package sqlstore_test

import (
	"testing"
	"time"

	"mcrm/dbtest"
	"mcrm/sqlstore"
)

// authBenchToken opens a database of backend with a tenant and returns a
// live full-stage access token of its admin.
func authBenchToken(b *testing.B, backend string) (*sqlstore.DB, string) {
	db := dbtest.Open(b, backend)
	ten, adminID, err := db.CreateTenant(ctx, sqlstore.NewTenant{Name: dbtest.Name("bench"), AdminEmail: "admin@bench.example", AdminName: "Admin", PasswordHash: "x"})
	if err != nil {
		b.Fatal(err)
	}
	is, err := db.StartSession(ctx, sqlstore.NewSession{TenantID: ten.ID, UserID: adminID, Kind: sqlstore.SessionToken, Stage: sqlstore.StageFull,
		AMR: []string{"pwd"}, Idle: time.Hour, Absolute: 12 * time.Hour}, sqlstore.Event{TenantID: ten.ID, Action: "authn_login_success"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Authenticate(ctx, is.Access); err != nil {
		b.Fatal(err)
	}
	return db, is.Access
}

// benchAuthenticate runs Authenticate on tok under b.RunParallel (with
// -cpu 1 that is one goroutine on one core) and reports verifications
// per second; before each call, prepare runs (untimed work is not
// possible per op in parallel, so it is part of the figure).
func benchAuthenticate(b *testing.B, db *sqlstore.DB, tok string, prepare func()) {
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if prepare != nil {
				prepare()
			}
			s, err := db.Authenticate(ctx, tok)
			if err != nil || s.Principal.UserID == "" {
				b.Errorf("authenticate: %v", err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "verifications/s")
}

// BenchmarkAuthenticateCached verifies an access token the session cache
// holds: hash the token (SHA-256), look it up, check its expiry and the
// session's idle and absolute limits, copy the session. No database.
// AUTH-05 asks for at least 50,000 verifications a second per core.
func BenchmarkAuthenticateCached(b *testing.B) {
	for _, backend := range dbtest.Backends {
		db, tok := authBenchToken(b, backend)
		b.Run(backend, func(b *testing.B) { benchAuthenticate(b, db, tok, nil) })
	}
}

// BenchmarkAuthenticateUncached is the baseline: the same call with the
// token dropped from the cache before each one, so each reads the session,
// its token and the user from the database (one three-table join through
// a cached prepared statement) and caches the result again.
func BenchmarkAuthenticateUncached(b *testing.B) {
	for _, backend := range dbtest.Backends {
		db, tok := authBenchToken(b, backend)
		b.Run(backend, func(b *testing.B) { benchAuthenticate(b, db, tok, func() { db.ForgetCachedToken(tok) }) })
	}
}
