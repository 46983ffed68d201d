package sqlstore_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mcrm"
	"mcrm/dbtest"
	"mcrm/record"
	"mcrm/sqlstore"
)

// Contract tests for the session store (sessions.go, authcache.go,
// migration 0008). Authenticate answers from an in-memory cache once it
// has resolved a token, so a test that moves a clock in the database
// either uses a token that was never authenticated, or proves with
// mustBeCached that it is exercising the cache on purpose.

// storeTime is the store's text timestamp layout; tests that move clocks
// write it directly.
const storeTime = "2006-01-02T15:04:05.000000Z"

func stamp(t time.Time) string { return t.UTC().Format(storeTime) }

func parseStamp(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(storeTime, s)
	if err != nil {
		t.Fatalf("timestamp %q: %v", s, err)
	}
	return v
}

var tokenShape = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// checkToken asserts a bearer secret is 43 base64url characters holding
// 256 bits.
func checkToken(t *testing.T, what, tok string) {
	t.Helper()
	if !tokenShape.MatchString(tok) {
		t.Fatalf("%s %q is not 43 base64url characters", what, tok)
	}
	if b, err := base64.RawURLEncoding.DecodeString(tok); err != nil || len(b) != 32 {
		t.Fatalf("%s decodes to %d bytes (%v), want 32", what, len(b), err)
	}
}

// sessFor is a token sign-in of user at stage with generous limits.
func sessFor(f *fixture, user *mcrm.Principal, stage string) sqlstore.NewSession {
	return sqlstore.NewSession{TenantID: f.tenant.ID, UserID: user.UserID, Kind: sqlstore.SessionToken, Stage: stage,
		AMR: []string{"pwd"}, Idle: time.Hour, Absolute: 8 * time.Hour, IP: "192.0.2.10", UserAgent: "mcrm-test/1.0"}
}

func start(t *testing.T, db *sqlstore.DB, ns sqlstore.NewSession) sqlstore.Issued {
	t.Helper()
	iss, err := db.StartSession(ctx, ns, sqlstore.Event{TenantID: ns.TenantID, Actor: ns.UserID, Action: "authn_login_success"})
	if err != nil {
		t.Fatalf("start session: %v", err)
	}
	return iss
}

func authOK(t *testing.T, db *sqlstore.DB, tok string) *sqlstore.Session {
	t.Helper()
	s, err := db.Authenticate(ctx, tok)
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	return s
}

func authFails(t *testing.T, db *sqlstore.DB, tok, why string) {
	t.Helper()
	s, err := db.Authenticate(ctx, tok)
	if code(err) != mcrm.EUnauthorized || s != nil {
		t.Fatalf("%s: authenticate gave %v, %v; want EUnauthorized", why, s, err)
	}
}

// rawExec writes behind the store's back (no cache eviction): only
// tests move clocks this way.
func rawExec(t *testing.T, db *sqlstore.DB, q string, args ...any) int64 {
	t.Helper()
	res, err := db.RawWriter().Exec(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	n, _ := res.RowsAffected()
	return n
}

func countRows(t *testing.T, db *sqlstore.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.SQL().QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func events(t *testing.T, db *sqlstore.DB, f *fixture, action string) int {
	t.Helper()
	n, err := db.CountEvents(ctx, f.tenant.ID, action)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// settle waits, on PostgreSQL, until the store's eviction listener is
// connected. On (re)connecting it clears the whole cache, which would
// otherwise make mustBeCached flake when it lands mid-test. A throwaway
// session is cached, revoked behind the cache's back and announced with
// a NOTIFY: once Authenticate refuses it, the listener has either applied
// the notification or cleared the cache on connecting; either way it is
// past its connect-time clear.
func settle(t *testing.T, db *sqlstore.DB, f *fixture) {
	t.Helper()
	if db.Dialect != sqlstore.Postgres {
		return
	}
	iss := start(t, db, sessFor(f, f.admin, sqlstore.StageFull))
	authOK(t, db, iss.Access)
	rawExec(t, db, `UPDATE sessions SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3`, stamp(time.Now()), f.tenant.ID, iss.SessionID)
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The channel and payload format of authcache.go.
		rawExec(t, db, `SELECT pg_notify('mcrm_auth', $1)`, f.tenant.ID+"/s/"+iss.SessionID)
		_, err := db.Authenticate(ctx, iss.Access)
		if err != nil {
			if code(err) != mcrm.EUnauthorized {
				t.Fatalf("settle: %v", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the eviction listener did not connect within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mustBeCached proves tok is answered from the cache: with its session
// revoked in the database behind the cache's back, Authenticate still
// accepts it. The row is restored before returning. Without this, a
// revocation test could pass only because nothing was cached.
//
// The cache drops a fill whose database read overlapped any eviction, and
// on PostgreSQL that includes every other node's (and every other test
// process's) NOTIFY on the shared channel. So a miss is answered by
// authenticating again to warm the cache, a bounded number of times.
func mustBeCached(t *testing.T, db *sqlstore.DB, f *fixture, tok, sessionID string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		if n := rawExec(t, db, `UPDATE sessions SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL`, stamp(time.Now()), f.tenant.ID, sessionID); n != 1 {
			t.Fatalf("mustBeCached: session %s not live (%d rows)", sessionID, n)
		}
		_, err := db.Authenticate(ctx, tok)
		rawExec(t, db, `UPDATE sessions SET revoked_at = NULL WHERE tenant_id = $1 AND id = $2`, f.tenant.ID, sessionID)
		if err == nil {
			return
		}
		if attempt == 20 {
			t.Fatalf("token was not served from the cache after %d fills: %v", attempt, err)
		}
		authOK(t, db, tok)
	}
}

func updateUser(t *testing.T, db *sqlstore.DB, f *fixture, userID string, patch record.Values) {
	t.Helper()
	err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
		_, err := tx.Update(ctx, f.admin, ent("users"), userID, -1, patch)
		return err
	})
	if err != nil {
		t.Fatalf("update user %v: %v", patch, err)
	}
}

func revokedReason(t *testing.T, db *sqlstore.DB, f *fixture, sessionID string) string {
	t.Helper()
	var reason *string
	if err := db.SQL().QueryRow(`SELECT revoked_reason FROM sessions WHERE tenant_id = $1 AND id = $2`, f.tenant.ID, sessionID).Scan(&reason); err != nil {
		t.Fatal(err)
	}
	if reason == nil {
		return ""
	}
	return *reason
}

// dumpRows returns every column of every row of q as text.
func dumpRows(t *testing.T, db *sqlstore.DB, q string, args ...any) [][]string {
	t.Helper()
	rows, err := db.SQL().Query(q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]any, len(cols))
		for i := range vals {
			vals[i] = new(any)
		}
		if err := rows.Scan(vals...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			if b, ok := (*v.(*any)).([]byte); ok {
				row[i] = string(b)
			} else {
				row[i] = fmt.Sprint(*v.(*any))
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestContractSessionFullTokens(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		before := time.Now().UTC()
		iss := start(t, db, sessFor(f, f.rep1, sqlstore.StageFull))
		after := time.Now().UTC()
		checkToken(t, "access", iss.Access)
		checkToken(t, "refresh", iss.Refresh)
		if iss.Access == iss.Refresh || iss.MFA != "" || iss.CSRF != "" || iss.Stage != sqlstore.StageFull || iss.SessionID == "" || iss.JKT != "" {
			t.Fatalf("issued %+v", iss)
		}
		if iss.AccessExpires.Sub(iss.SessionExpires) != sqlstore.AccessTokenTTL-8*time.Hour {
			t.Fatalf("access expires %v, session %v: want %v apart", iss.AccessExpires, iss.SessionExpires, 8*time.Hour-sqlstore.AccessTokenTTL)
		}
		if iss.AccessExpires.Before(before.Add(sqlstore.AccessTokenTTL)) || iss.AccessExpires.After(after.Add(sqlstore.AccessTokenTTL)) {
			t.Fatalf("access expires %v, want sign-in time + %v", iss.AccessExpires, sqlstore.AccessTokenTTL)
		}

		// Only SHA-256 hashes are stored: exactly the two hashes, and no
		// column of any session or token row contains a raw token.
		toks := dumpRows(t, db, `SELECT token_hash, kind, created_at, expires_at, used_at, tenant_id, session_id FROM session_tokens WHERE tenant_id = $1 ORDER BY kind`, f.tenant.ID)
		if len(toks) != 2 || toks[0][0] != sqlstore.TokenHash(iss.Access) || toks[0][1] != "access" || toks[1][0] != sqlstore.TokenHash(iss.Refresh) || toks[1][1] != "refresh" {
			t.Fatalf("token rows %q", toks)
		}
		// TokenHash is plain SHA-256 in hex, so other tools can look a
		// token up.
		if sum := sha256.Sum256([]byte(iss.Access)); toks[0][0] != hex.EncodeToString(sum[:]) {
			t.Fatalf("stored %q is not the SHA-256 of the access token", toks[0][0])
		}
		all := append(toks, dumpRows(t, db, `SELECT * FROM sessions WHERE tenant_id = $1`, f.tenant.ID)...)
		for _, row := range all {
			for _, v := range row {
				if strings.Contains(v, iss.Access) || strings.Contains(v, iss.Refresh) {
					t.Fatalf("raw token stored: %q", row)
				}
			}
		}
		// The access row lives exactly AccessTokenTTL; the refresh row as
		// long as the session.
		if d := parseStamp(t, toks[0][3]).Sub(parseStamp(t, toks[0][2])); d != sqlstore.AccessTokenTTL {
			t.Fatalf("access token lifetime %v", d)
		}
		var sessExp string
		db.SQL().QueryRow(`SELECT expires_at FROM sessions WHERE tenant_id = $1 AND id = $2`, f.tenant.ID, iss.SessionID).Scan(&sessExp)
		if toks[1][3] != sessExp {
			t.Fatalf("refresh expires %s, session %s", toks[1][3], sessExp)
		}

		s := authOK(t, db, iss.Access)
		p := s.Principal
		if p.TenantID != f.tenant.ID || p.UserID != f.rep1.UserID || p.Role != mcrm.RoleSalesRep || p.SessionID != iss.SessionID ||
			!slices.Equal(p.AMR, []string{"pwd"}) || !p.AuthTime.IsZero() || p.DeviceKey != "" || p.Location != nil {
			t.Fatalf("principal %+v", p)
		}
		if s.Kind != sqlstore.SessionToken || s.Stage != sqlstore.StageFull || s.Idle != time.Hour ||
			!s.TokenExpires.Equal(iss.AccessExpires.Truncate(time.Microsecond)) || !s.Expires.Equal(iss.SessionExpires.Truncate(time.Microsecond)) {
			t.Fatalf("session %+v, issued %+v", s, iss)
		}
		if p.StrongAuthWithin(time.Now(), time.Hour) {
			t.Fatal("a password-only session counts as strong")
		}
		// Each answer is a copy: changing it does not change the next one.
		s.Principal.Role = mcrm.RoleAdmin
		s.Principal.AMR[0] = "hwk"
		if again := authOK(t, db, iss.Access); again.Principal.Role != mcrm.RoleSalesRep || !slices.Equal(again.Principal.AMR, []string{"pwd"}) {
			t.Fatalf("cached answer was changed through a returned copy: %+v", again.Principal)
		}

		// The refresh token is no access token, and garbage is refused.
		authFails(t, db, iss.Refresh, "refresh token as access token")
		authFails(t, db, "", "empty token")
		authFails(t, db, sqlstore.NewToken(), "unknown token")

		// Access expiry: a token that was never authenticated (so not
		// cached) fails once its row's expiry has passed, while its
		// session carries on with a refreshed token.
		iss2 := start(t, db, sessFor(f, f.rep1, sqlstore.StageFull))
		if n := rawExec(t, db, `UPDATE session_tokens SET expires_at = $1 WHERE token_hash = $2`, stamp(time.Now().Add(-time.Second)), sqlstore.TokenHash(iss2.Access)); n != 1 {
			t.Fatalf("shifted %d rows", n)
		}
		authFails(t, db, iss2.Access, "expired access token")
		next, err := db.Refresh(ctx, iss2.Refresh, "", sqlstore.Event{Action: "authn_token_refresh"}, sqlstore.Event{Action: "authn_token_reuse"})
		if err != nil {
			t.Fatalf("refresh after access expiry: %v", err)
		}
		if got := authOK(t, db, next.Access); got.Principal.SessionID != iss2.SessionID {
			t.Fatalf("refreshed token of session %s, want %s", got.Principal.SessionID, iss2.SessionID)
		}
		// A token a minute before its end still works: the shift above,
		// not the test's own timing, is what refused iss2.
		iss3 := start(t, db, sessFor(f, f.rep1, sqlstore.StageFull))
		rawExec(t, db, `UPDATE session_tokens SET expires_at = $1 WHERE token_hash = $2`, stamp(time.Now().Add(time.Minute)), sqlstore.TokenHash(iss3.Access))
		authOK(t, db, iss3.Access)
	})
}

func TestContractSessionCookie(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		ns := sessFor(f, f.rep1, sqlstore.StageFull)
		ns.Kind = sqlstore.SessionCookie
		iss := start(t, db, ns)
		checkToken(t, "cookie", iss.Access)
		checkToken(t, "csrf", iss.CSRF)
		// A cookie session has no refresh token: the cookie lives as long
		// as the session.
		if iss.Refresh != "" || iss.MFA != "" || !iss.AccessExpires.Equal(iss.SessionExpires) {
			t.Fatalf("issued %+v", iss)
		}
		var csrf string
		db.SQL().QueryRow(`SELECT csrf_hash FROM sessions WHERE tenant_id = $1 AND id = $2`, f.tenant.ID, iss.SessionID).Scan(&csrf)
		if csrf != sqlstore.TokenHash(iss.CSRF) {
			t.Fatalf("csrf_hash %q", csrf)
		}
		s := authOK(t, db, iss.Access)
		if s.Kind != sqlstore.SessionCookie || !s.CheckCSRF(iss.CSRF) || s.CheckCSRF("") || s.CheckCSRF(iss.Access) {
			t.Fatalf("cookie session %+v", s)
		}
		// A token session has no CSRF token to match.
		tok := start(t, db, sessFor(f, f.rep1, sqlstore.StageFull))
		if authOK(t, db, tok.Access).CheckCSRF(iss.CSRF) {
			t.Fatal("token session accepted a CSRF token")
		}
		if _, err := db.StartSession(ctx, sqlstore.NewSession{TenantID: f.tenant.ID, UserID: f.rep1.UserID, Kind: "magic", Stage: sqlstore.StageFull, Idle: time.Hour, Absolute: time.Hour}, sqlstore.Event{}); code(err) != mcrm.EInternal || err == nil {
			t.Fatalf("unknown kind: %v", err)
		}
	})
}

func TestContractSessionIdleAndAbsolute(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		ns := sessFor(f, f.rep1, sqlstore.StageFull)
		ns.Idle, ns.Absolute = 2*time.Minute, 3*time.Hour
		ns.UserAgent = strings.Repeat("u", 300)

		// The per-session limits are stored as given.
		a := start(t, db, ns)
		var idle int64
		var created, expires, ua string
		db.SQL().QueryRow(`SELECT idle_seconds, created_at, expires_at, user_agent FROM sessions WHERE tenant_id = $1 AND id = $2`, f.tenant.ID, a.SessionID).Scan(&idle, &created, &expires, &ua)
		if idle != 120 || parseStamp(t, expires).Sub(parseStamp(t, created)) != 3*time.Hour || len(ua) != 200 {
			t.Fatalf("stored idle=%d created=%s expires=%s ua=%d", idle, created, expires, len(ua))
		}
		if !parseStamp(t, expires).Equal(a.SessionExpires.Truncate(time.Microsecond)) {
			t.Fatalf("expires_at %s, issued %v", expires, a.SessionExpires)
		}

		// Idle: last seen three minutes ago with a two-minute limit. The
		// token was never authenticated, so this is the database path.
		rawExec(t, db, `UPDATE sessions SET last_seen_at = $1 WHERE tenant_id = $2 AND id = $3`, stamp(time.Now().Add(-3*time.Minute)), f.tenant.ID, a.SessionID)
		authFails(t, db, a.Access, "idle session")
		if _, err := db.Refresh(ctx, a.Refresh, "", sqlstore.Event{}, sqlstore.Event{}); code(err) != mcrm.EUnauthorized || errors.Is(err, sqlstore.ErrTokenReused) {
			t.Fatalf("refresh of idle session: %v", err)
		}

		// Within the idle limit (90 s of 120) it works, and the request
		// moves the idle clock (in the background, at most once a minute).
		b := start(t, db, ns)
		seen := time.Now().Add(-90 * time.Second)
		rawExec(t, db, `UPDATE sessions SET last_seen_at = $1 WHERE tenant_id = $2 AND id = $3`, stamp(seen), f.tenant.ID, b.SessionID)
		s := authOK(t, db, b.Access)
		if s.Idle != 2*time.Minute {
			t.Fatalf("session idle %v", s.Idle)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			var last string
			db.SQL().QueryRow(`SELECT last_seen_at FROM sessions WHERE tenant_id = $1 AND id = $2`, f.tenant.ID, b.SessionID).Scan(&last)
			if parseStamp(t, last).After(seen.Add(80 * time.Second)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("last_seen_at not moved: %s", last)
			}
			time.Sleep(5 * time.Millisecond)
		}

		// Absolute: the session's end has passed; idle is fine.
		c := start(t, db, ns)
		rawExec(t, db, `UPDATE sessions SET expires_at = $1 WHERE tenant_id = $2 AND id = $3`, stamp(time.Now().Add(-time.Second)), f.tenant.ID, c.SessionID)
		authFails(t, db, c.Access, "expired session")
		if _, err := db.Refresh(ctx, c.Refresh, "", sqlstore.Event{}, sqlstore.Event{}); code(err) != mcrm.EUnauthorized || errors.Is(err, sqlstore.ErrTokenReused) {
			t.Fatalf("refresh of expired session: %v", err)
		}
		// Neither failed refresh consumed its token.
		if n := countRows(t, db, `SELECT COUNT(*) FROM session_tokens WHERE tenant_id = $1 AND used_at IS NOT NULL`, f.tenant.ID); n != 0 {
			t.Fatalf("%d tokens consumed by refused refreshes", n)
		}

		// An absolute limit shorter than the access token's caps it.
		ns.Absolute = time.Minute
		d := start(t, db, ns)
		if !d.AccessExpires.Equal(d.SessionExpires) {
			t.Fatalf("access expires %v after session %v", d.AccessExpires, d.SessionExpires)
		}
	})
}

// A cached entry enforces the token's and the session's limits from its
// own copy: the database is not asked again while the entry lives, so a
// limit the cache ignored would hold for up to the cache's lifetime. One
// session has a one-second idle limit, another a one-second absolute one;
// both are proved cached, then the test waits just past their ends.
func TestContractSessionCacheEnforcesLimits(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		settle(t, db, f)
		idle := sessFor(f, f.rep1, sqlstore.StageFull)
		idle.Idle = time.Second
		i := start(t, db, idle)
		abs := sessFor(f, f.rep1, sqlstore.StageFull)
		abs.Absolute = time.Second
		a := start(t, db, abs)
		// The access token ends with the session.
		if !a.AccessExpires.Equal(a.SessionExpires) {
			t.Fatalf("access expires %v, session %v", a.AccessExpires, a.SessionExpires)
		}
		for _, iss := range []sqlstore.Issued{i, a} {
			authOK(t, db, iss.Access)
			mustBeCached(t, db, f, iss.Access, iss.SessionID)
		}
		// i was last seen when it was created, which is its
		// SessionExpires less the 8-hour absolute limit; its idle limit
		// ends a second after that.
		end := a.SessionExpires
		if idleEnd := i.SessionExpires.Add(-8*time.Hour + time.Second); idleEnd.After(end) {
			end = idleEnd
		}
		time.Sleep(time.Until(end) + 20*time.Millisecond)
		authFails(t, db, i.Access, "cached token of an idle session")
		authFails(t, db, a.Access, "cached token of an expired session")
	})
}

func TestContractSessionRevokeEvictsCache(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		settle(t, db, f)
		a := start(t, db, sessFor(f, f.rep1, sqlstore.StageFull))
		authOK(t, db, a.Access)
		mustBeCached(t, db, f, a.Access, a.SessionID)
		if err := db.RevokeSession(ctx, f.tenant.ID, f.rep1.UserID, a.SessionID, sqlstore.RevokedLogout, sqlstore.Event{TenantID: f.tenant.ID, Action: "authn_logout"}); err != nil {
			t.Fatal(err)
		}
		authFails(t, db, a.Access, "revoked session (was cached)")
		if _, err := db.Refresh(ctx, a.Refresh, "", sqlstore.Event{}, sqlstore.Event{}); code(err) != mcrm.EUnauthorized || errors.Is(err, sqlstore.ErrTokenReused) {
			t.Fatalf("refresh of revoked session: %v", err)
		}
		if r := revokedReason(t, db, f, a.SessionID); r != sqlstore.RevokedLogout {
			t.Fatalf("reason %q", r)
		}
		if n := events(t, db, f, "authn_logout"); n != 1 {
			t.Fatalf("logout events %d", n)
		}
		// A session already ended is not found a second time.
		if err := db.RevokeSession(ctx, f.tenant.ID, "", a.SessionID, sqlstore.RevokedAdmin, sqlstore.Event{TenantID: f.tenant.ID, Action: "authn_logout"}); code(err) != mcrm.ENotFound {
			t.Fatalf("second revoke: %v", err)
		}
		if n := events(t, db, f, "authn_logout"); n != 1 {
			t.Fatalf("a refused revoke recorded an event: %d", n)
		}
	})
}

func TestContractSessionRevokeUserSessions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		settle(t, db, f)
		var mine []sqlstore.Issued
		for range 3 {
			iss := start(t, db, sessFor(f, f.rep1, sqlstore.StageFull))
			authOK(t, db, iss.Access)
			mine = append(mine, iss)
		}
		other := start(t, db, sessFor(f, f.rep2, sqlstore.StageFull))
		authOK(t, db, other.Access)
		for _, iss := range mine {
			mustBeCached(t, db, f, iss.Access, iss.SessionID)
		}
		keep := mine[1]
		n, err := db.RevokeUserSessions(ctx, f.tenant.ID, f.rep1.UserID, keep.SessionID, sqlstore.RevokedPassword, sqlstore.Event{TenantID: f.tenant.ID, Action: "authn_password_change"})
		if err != nil || n != 2 {
			t.Fatalf("revoked %d, %v; want 2", n, err)
		}
		authFails(t, db, mine[0].Access, "first session")
		authFails(t, db, mine[2].Access, "third session")
		authOK(t, db, keep.Access)
		authOK(t, db, other.Access)
		for _, i := range []int{0, 2} {
			if r := revokedReason(t, db, f, mine[i].SessionID); r != sqlstore.RevokedPassword {
				t.Fatalf("reason %q", r)
			}
		}
		if r := revokedReason(t, db, f, keep.SessionID); r != "" {
			t.Fatalf("kept session has reason %q", r)
		}
		// Without except every remaining one ends; already ended ones do
		// not count again.
		n, err = db.RevokeUserSessions(ctx, f.tenant.ID, f.rep1.UserID, "", sqlstore.RevokedAdmin, sqlstore.Event{TenantID: f.tenant.ID, Action: "authn_sessions_revoked"})
		if err != nil || n != 1 {
			t.Fatalf("revoked %d, %v; want 1", n, err)
		}
		authFails(t, db, keep.Access, "kept session after revoking all")
		authOK(t, db, other.Access)
		if got := events(t, db, f, "authn_password_change") + events(t, db, f, "authn_sessions_revoked"); got != 2 {
			t.Fatalf("events %d", got)
		}
	})
}

func TestContractSessionUserChangesReachCache(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		settle(t, db, f)

		// Time zone: the session stays valid and the next answer carries
		// the new location although the token was cached.
		tz := start(t, db, sessFor(f, f.rep1, sqlstore.StageFull))
		if loc := authOK(t, db, tz.Access).Principal.Location; loc != nil {
			t.Fatalf("location before %v", loc)
		}
		mustBeCached(t, db, f, tz.Access, tz.SessionID)
		updateUser(t, db, f, f.rep1.UserID, record.Values{"time_zone": "Europe/Berlin"})
		if loc := authOK(t, db, tz.Access).Principal.Location; loc == nil || loc.String() != "Europe/Berlin" {
			t.Fatalf("location after %v", loc)
		}
		if r := revokedReason(t, db, f, tz.SessionID); r != "" {
			t.Fatalf("time zone change revoked the session: %q", r)
		}

		// Role change: every session of the user ends at once.
		role := start(t, db, sessFor(f, f.rep2, sqlstore.StageFull))
		authOK(t, db, role.Access)
		mustBeCached(t, db, f, role.Access, role.SessionID)
		updateUser(t, db, f, f.rep2.UserID, record.Values{"role": mcrm.RoleSalesManager})
		authFails(t, db, role.Access, "session after a role change")
		if r := revokedReason(t, db, f, role.SessionID); r != sqlstore.RevokedRights {
			t.Fatalf("reason %q", r)
		}
		// A new sign-in carries the new role.
		if p := authOK(t, db, start(t, db, sessFor(f, f.rep2, sqlstore.StageFull)).Access).Principal; p.Role != mcrm.RoleSalesManager {
			t.Fatalf("role after change %q", p.Role)
		}

		// Deactivation ends the sessions, and reactivating does not bring
		// them back.
		off := start(t, db, sessFor(f, f.manager, sqlstore.StageFull))
		authOK(t, db, off.Access)
		mustBeCached(t, db, f, off.Access, off.SessionID)
		updateUser(t, db, f, f.manager.UserID, record.Values{"active": false})
		authFails(t, db, off.Access, "session of a deactivated user")
		if r := revokedReason(t, db, f, off.SessionID); r != sqlstore.RevokedRights {
			t.Fatalf("reason %q", r)
		}
		updateUser(t, db, f, f.manager.UserID, record.Values{"active": true})
		authFails(t, db, off.Access, "session of a reactivated user")

		// The time zone user was untouched by the other changes.
		authOK(t, db, tz.Access)

		// Authenticate checks the user's active flag itself, so a user
		// deactivated without the revocation (a raw write here) is still
		// refused on a token that was not cached.
		fresh := start(t, db, sessFor(f, f.rep1, sqlstore.StageFull))
		rawExec(t, db, `UPDATE users SET active = $1 WHERE tenant_id = $2 AND id = $3`, false, f.tenant.ID, f.rep1.UserID)
		authFails(t, db, fresh.Access, "session of an inactive user")
		if _, err := db.Refresh(ctx, fresh.Refresh, "", sqlstore.Event{}, sqlstore.Event{}); code(err) != mcrm.EUnauthorized || errors.Is(err, sqlstore.ErrTokenReused) {
			t.Fatalf("refresh for an inactive user: %v", err)
		}
	})
}

func TestContractSessionRefreshRotation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		refreshEv, reuseEv := sqlstore.Event{Action: "authn_token_refresh"}, sqlstore.Event{Action: "authn_token_reuse"}
		iss := start(t, db, sessFor(f, f.rep1, sqlstore.StageFull))
		next, err := db.Refresh(ctx, iss.Refresh, "", refreshEv, reuseEv)
		if err != nil {
			t.Fatal(err)
		}
		checkToken(t, "access", next.Access)
		checkToken(t, "refresh", next.Refresh)
		if next.Access == iss.Access || next.Refresh == iss.Refresh || next.SessionID != iss.SessionID || next.Stage != sqlstore.StageFull ||
			!next.SessionExpires.Truncate(time.Microsecond).Equal(iss.SessionExpires.Truncate(time.Microsecond)) {
			t.Fatalf("rotated %+v from %+v", next, iss)
		}
		if n := events(t, db, f, "authn_token_refresh"); n != 1 {
			t.Fatalf("refresh events %d", n)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM session_tokens WHERE token_hash = $1 AND used_at IS NOT NULL`, sqlstore.TokenHash(iss.Refresh)); n != 1 {
			t.Fatal("old refresh token not marked used")
		}
		// Cache the new access token so the reuse must evict it.
		authOK(t, db, next.Access)

		_, err = db.Refresh(ctx, iss.Refresh, "", refreshEv, reuseEv)
		if !errors.Is(err, sqlstore.ErrTokenReused) || code(err) != mcrm.EUnauthorized || fieldCode(err) != "reused" {
			t.Fatalf("reuse: %v", err)
		}
		authFails(t, db, next.Access, "access token of a session revoked for reuse")
		if _, err := db.Refresh(ctx, next.Refresh, "", refreshEv, reuseEv); code(err) != mcrm.EUnauthorized || errors.Is(err, sqlstore.ErrTokenReused) {
			t.Fatalf("new refresh token after reuse: %v", err)
		}
		if r := revokedReason(t, db, f, iss.SessionID); r != sqlstore.RevokedReuse {
			t.Fatalf("reason %q", r)
		}
		if n := events(t, db, f, "authn_token_reuse"); n != 1 {
			t.Fatalf("reuse events %d", n)
		}
		if n := events(t, db, f, "authn_token_refresh"); n != 1 {
			t.Fatalf("refresh events after reuse %d", n)
		}

		// Tokens of other kinds are no refresh tokens, and refusing them
		// consumes nothing.
		mfa := start(t, db, sessFor(f, f.rep1, sqlstore.StageMFA))
		if _, err := db.Refresh(ctx, mfa.MFA, "", refreshEv, reuseEv); code(err) != mcrm.EUnauthorized || errors.Is(err, sqlstore.ErrTokenReused) {
			t.Fatalf("refresh with an mfa token: %v", err)
		}
		if _, err := db.PendingMFA(ctx, mfa.MFA); err != nil {
			t.Fatalf("mfa token consumed by a refused refresh: %v", err)
		}
		enrol := start(t, db, sessFor(f, f.rep1, sqlstore.StageEnrol))
		if _, err := db.Refresh(ctx, enrol.Access, "", refreshEv, reuseEv); code(err) != mcrm.EUnauthorized {
			t.Fatalf("refresh with an enrol access token: %v", err)
		}
		full := start(t, db, sessFor(f, f.rep1, sqlstore.StageFull))
		if _, err := db.Refresh(ctx, full.Access, "", refreshEv, reuseEv); code(err) != mcrm.EUnauthorized {
			t.Fatalf("refresh with an access token: %v", err)
		}
		// A refresh token whose session went back to stage mfa (not
		// reachable through the API, forced here) is refused as well.
		rawExec(t, db, `UPDATE sessions SET stage = 'mfa' WHERE tenant_id = $1 AND id = $2`, f.tenant.ID, full.SessionID)
		if _, err := db.Refresh(ctx, full.Refresh, "", refreshEv, reuseEv); code(err) != mcrm.EUnauthorized || errors.Is(err, sqlstore.ErrTokenReused) {
			t.Fatalf("refresh of an mfa-stage session: %v", err)
		}
		authOK(t, db, enrol.Access)
		if n := events(t, db, f, "authn_token_reuse"); n != 1 {
			t.Fatalf("reuse events %d", n)
		}
	})
}

func TestContractSessionRefreshBoundKey(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		refreshEv, reuseEv := sqlstore.Event{Action: "authn_token_refresh"}, sqlstore.Event{Action: "authn_token_reuse"}
		ns := sessFor(f, f.rep1, sqlstore.StageFull)
		ns.JKT = "jkt-right-0123456789"
		iss := start(t, db, ns)
		if iss.JKT != ns.JKT {
			t.Fatalf("issued jkt %q", iss.JKT)
		}
		if p := authOK(t, db, iss.Access).Principal; p.DeviceKey != ns.JKT {
			t.Fatalf("device key %q", p.DeviceKey)
		}
		for _, jkt := range []string{"jkt-wrong-0123456789", "", "jkt-right-012345678"} {
			_, err := db.Refresh(ctx, iss.Refresh, jkt, refreshEv, reuseEv)
			if !errors.Is(err, sqlstore.ErrKeyMismatch) || code(err) != mcrm.EUnauthorized || fieldCode(err) != "key_mismatch" {
				t.Fatalf("refresh with jkt %q: %v", jkt, err)
			}
		}
		// Nothing was consumed or revoked: the right key still refreshes.
		if n := countRows(t, db, `SELECT COUNT(*) FROM session_tokens WHERE tenant_id = $1 AND used_at IS NOT NULL`, f.tenant.ID); n != 0 {
			t.Fatalf("%d tokens consumed by refused refreshes", n)
		}
		next, err := db.Refresh(ctx, iss.Refresh, ns.JKT, refreshEv, reuseEv)
		if err != nil || next.JKT != ns.JKT {
			t.Fatalf("refresh with the right key: %+v %v", next, err)
		}
		if s := authOK(t, db, next.Access); s.JKT != ns.JKT || s.Principal.DeviceKey != ns.JKT {
			t.Fatalf("refreshed session jkt %q", s.JKT)
		}
		if n := events(t, db, f, "authn_token_reuse"); n != 0 {
			t.Fatalf("reuse events %d", n)
		}
		if n := events(t, db, f, "authn_token_refresh"); n != 1 {
			t.Fatalf("refresh events %d", n)
		}
	})
}

// Two parties holding one refresh token may present it at the same time.
// Exactly one gets new tokens; every other presentation is reuse, so the
// session (with the winner's new tokens) ends, on both databases. Whether
// a loser reads the token before or after the winner commits is up to the
// scheduler, so the race is run over several sessions.
func TestContractSessionConcurrentRefreshIsReuse(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		const n, rounds = 8, 10
		for round := range rounds {
			iss := start(t, db, sessFor(f, f.rep1, sqlstore.StageFull))
			var wg sync.WaitGroup
			errs := make([]error, n)
			out := make([]sqlstore.Issued, n)
			gate := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-gate
					out[i], errs[i] = db.Refresh(ctx, iss.Refresh, "", sqlstore.Event{Action: "authn_token_refresh"}, sqlstore.Event{Action: "authn_token_reuse"})
				}()
			}
			close(gate)
			wg.Wait()
			ok, reused := -1, 0
			for i, err := range errs {
				switch {
				case err == nil:
					if ok >= 0 {
						t.Fatalf("round %d: two refreshes succeeded", round)
					}
					ok = i
				case errors.Is(err, sqlstore.ErrTokenReused):
					reused++
				default:
					t.Errorf("round %d: refresh %d: %v", round, i, err)
				}
			}
			if ok < 0 || reused != n-1 {
				t.Fatalf("round %d: winner=%d reused=%d", round, ok, reused)
			}
			authFails(t, db, out[ok].Access, "winner's access token after concurrent reuse")
			if r := revokedReason(t, db, f, iss.SessionID); r != sqlstore.RevokedReuse {
				t.Fatalf("round %d: reason %q", round, r)
			}
			// Every losing presentation is recorded.
			if got := events(t, db, f, "authn_token_reuse"); got != (round+1)*(n-1) {
				t.Fatalf("round %d: reuse events %d", round, got)
			}
		}
	})
}

func TestContractSessionMFA(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		iss := start(t, db, sessFor(f, f.rep1, sqlstore.StageMFA))
		checkToken(t, "mfa", iss.MFA)
		if iss.Access != "" || iss.Refresh != "" || iss.CSRF != "" || iss.Stage != sqlstore.StageMFA {
			t.Fatalf("issued %+v", iss)
		}
		toks := dumpRows(t, db, `SELECT kind, created_at, expires_at FROM session_tokens WHERE tenant_id = $1`, f.tenant.ID)
		if len(toks) != 1 || toks[0][0] != "mfa" || parseStamp(t, toks[0][2]).Sub(parseStamp(t, toks[0][1])) != sqlstore.MFATokenTTL {
			t.Fatalf("mfa token rows %q", toks)
		}
		authFails(t, db, iss.MFA, "mfa token as access token")

		// PendingMFA does not consume.
		for range 2 {
			p, err := db.PendingMFA(ctx, iss.MFA)
			if err != nil || p.Stage != sqlstore.StageMFA || p.Principal.UserID != f.rep1.UserID || p.Principal.SessionID != iss.SessionID {
				t.Fatalf("pending: %+v %v", p, err)
			}
		}
		if _, err := db.PendingMFA(ctx, sqlstore.NewToken()); code(err) != mcrm.EUnauthorized {
			t.Fatalf("pending with unknown token: %v", err)
		}

		before := time.Now().UTC().Truncate(time.Microsecond)
		done, err := db.CompleteMFA(ctx, iss.MFA, []string{"otp", "pwd"}, sqlstore.Event{TenantID: f.tenant.ID, Action: "authn_mfa_success"})
		after := time.Now().UTC()
		if err != nil {
			t.Fatal(err)
		}
		checkToken(t, "access", done.Access)
		checkToken(t, "refresh", done.Refresh)
		if done.MFA != "" || done.Stage != sqlstore.StageFull || done.SessionID != iss.SessionID {
			t.Fatalf("completed %+v", done)
		}
		s := authOK(t, db, done.Access)
		p := s.Principal
		// pwd is not repeated; otp is added after it.
		if s.Stage != sqlstore.StageFull || !slices.Equal(p.AMR, []string{"pwd", "otp"}) {
			t.Fatalf("after mfa: stage %q amr %q", s.Stage, p.AMR)
		}
		if p.AuthTime.Before(before) || p.AuthTime.After(after) || !p.StrongAuthWithin(time.Now(), 5*time.Minute) {
			t.Fatalf("auth time %v not in [%v, %v]", p.AuthTime, before, after)
		}
		if n := events(t, db, f, "authn_mfa_success"); n != 1 {
			t.Fatalf("mfa events %d", n)
		}

		// The mfa token is single use.
		if _, err := db.CompleteMFA(ctx, iss.MFA, []string{"otp"}, sqlstore.Event{TenantID: f.tenant.ID, Action: "authn_mfa_success"}); code(err) != mcrm.EUnauthorized {
			t.Fatalf("second completion: %v", err)
		}
		if _, err := db.PendingMFA(ctx, iss.MFA); code(err) != mcrm.EUnauthorized {
			t.Fatalf("pending after completion: %v", err)
		}
		if n := events(t, db, f, "authn_mfa_success"); n != 1 {
			t.Fatalf("mfa events after refused completion %d", n)
		}

		// An expired mfa token is refused by both and stays unused.
		exp := start(t, db, sessFor(f, f.rep1, sqlstore.StageMFA))
		rawExec(t, db, `UPDATE session_tokens SET expires_at = $1 WHERE token_hash = $2`, stamp(time.Now().Add(-time.Second)), sqlstore.TokenHash(exp.MFA))
		if _, err := db.PendingMFA(ctx, exp.MFA); code(err) != mcrm.EUnauthorized {
			t.Fatalf("pending with expired token: %v", err)
		}
		if _, err := db.CompleteMFA(ctx, exp.MFA, []string{"otp"}, sqlstore.Event{}); code(err) != mcrm.EUnauthorized {
			t.Fatalf("completion with expired token: %v", err)
		}
		var stage string
		db.SQL().QueryRow(`SELECT stage FROM sessions WHERE tenant_id = $1 AND id = $2`, f.tenant.ID, exp.SessionID).Scan(&stage)
		if stage != sqlstore.StageMFA {
			t.Fatalf("refused completion moved the session to %q", stage)
		}

		// A revoked mfa session cannot be completed.
		rev := start(t, db, sessFor(f, f.rep1, sqlstore.StageMFA))
		if err := db.RevokeSession(ctx, f.tenant.ID, "", rev.SessionID, sqlstore.RevokedAdmin, sqlstore.Event{}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.CompleteMFA(ctx, rev.MFA, []string{"otp"}, sqlstore.Event{}); code(err) != mcrm.EUnauthorized {
			t.Fatalf("completion of a revoked session: %v", err)
		}
	})
}

func TestContractSessionConcurrentCompleteMFA(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		iss := start(t, db, sessFor(f, f.rep1, sqlstore.StageMFA))
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		gate := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				_, errs[i] = db.CompleteMFA(ctx, iss.MFA, []string{"otp"}, sqlstore.Event{TenantID: f.tenant.ID, Action: "authn_mfa_success"})
			}()
		}
		close(gate)
		wg.Wait()
		ok, refused := 0, 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case code(err) == mcrm.EUnauthorized:
				refused++
			default:
				t.Errorf("completion %d: %v", i, err)
			}
		}
		if ok != 1 || refused != n-1 {
			t.Fatalf("ok=%d refused=%d", ok, refused)
		}
		// One completion, one set of tokens, one event.
		if got := countRows(t, db, `SELECT COUNT(*) FROM session_tokens WHERE tenant_id = $1 AND session_id = $2 AND kind = 'access'`, f.tenant.ID, iss.SessionID); got != 1 {
			t.Fatalf("access tokens %d", got)
		}
		if got := countRows(t, db, `SELECT COUNT(*) FROM session_tokens WHERE tenant_id = $1 AND session_id = $2 AND kind = 'refresh'`, f.tenant.ID, iss.SessionID); got != 1 {
			t.Fatalf("refresh tokens %d", got)
		}
		if got := events(t, db, f, "authn_mfa_success"); got != 1 {
			t.Fatalf("mfa events %d", got)
		}
	})
}

func TestContractSessionEnrolment(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		iss := start(t, db, sessFor(f, f.rep1, sqlstore.StageEnrol))
		checkToken(t, "access", iss.Access)
		if iss.Refresh != "" || iss.MFA != "" || iss.Stage != sqlstore.StageEnrol {
			t.Fatalf("issued %+v", iss)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM session_tokens WHERE tenant_id = $1 AND kind = 'refresh'`, f.tenant.ID); n != 0 {
			t.Fatalf("enrol session has %d refresh tokens", n)
		}
		s := authOK(t, db, iss.Access)
		if s.Stage != sqlstore.StageEnrol || !s.Principal.AuthTime.IsZero() {
			t.Fatalf("enrol session %+v", s)
		}
		// The enrol token is cached now; finishing must still end it.
		done, err := db.FinishEnrolment(ctx, f.tenant.ID, iss.SessionID, []string{"otp"}, sqlstore.Event{TenantID: f.tenant.ID, Action: "authn_factor_enrolled"})
		if err != nil {
			t.Fatal(err)
		}
		checkToken(t, "access", done.Access)
		checkToken(t, "refresh", done.Refresh)
		if done.Stage != sqlstore.StageFull || done.SessionID != iss.SessionID || done.Access == iss.Access {
			t.Fatalf("finished %+v", done)
		}
		authFails(t, db, iss.Access, "enrol access token after enrolment")
		s = authOK(t, db, done.Access)
		if s.Stage != sqlstore.StageFull || !slices.Equal(s.Principal.AMR, []string{"pwd", "otp"}) || !s.Principal.StrongAuthWithin(time.Now(), 5*time.Minute) {
			t.Fatalf("after enrolment %+v", s)
		}
		if _, err := db.Refresh(ctx, done.Refresh, "", sqlstore.Event{}, sqlstore.Event{}); err != nil {
			t.Fatalf("refresh after enrolment: %v", err)
		}
		if _, err := db.FinishEnrolment(ctx, f.tenant.ID, iss.SessionID, []string{"otp"}, sqlstore.Event{}); code(err) != mcrm.EConflict {
			t.Fatalf("second finish: %v", err)
		}
		full := start(t, db, sessFor(f, f.rep1, sqlstore.StageFull))
		if _, err := db.FinishEnrolment(ctx, f.tenant.ID, full.SessionID, []string{"otp"}, sqlstore.Event{}); code(err) != mcrm.EConflict {
			t.Fatalf("finish on a full session: %v", err)
		}
		if n := events(t, db, f, "authn_factor_enrolled"); n != 1 {
			t.Fatalf("enrolment events %d", n)
		}
	})
}

func TestContractSessionStepUp(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		settle(t, db, f)
		iss := start(t, db, sessFor(f, f.rep1, sqlstore.StageFull))
		p := authOK(t, db, iss.Access).Principal
		if !p.AuthTime.IsZero() || p.StrongAuthWithin(time.Now(), 5*time.Minute) {
			t.Fatalf("before step-up %+v", p)
		}
		mustBeCached(t, db, f, iss.Access, iss.SessionID)
		before := time.Now().UTC().Truncate(time.Microsecond)
		if err := db.StepUp(ctx, f.tenant.ID, iss.SessionID, []string{"hwk"}, sqlstore.Event{TenantID: f.tenant.ID, Action: "authn_step_up"}); err != nil {
			t.Fatal(err)
		}
		after := time.Now().UTC()
		p = authOK(t, db, iss.Access).Principal
		if p.AuthTime.Before(before) || p.AuthTime.After(after) || !p.StrongAuthWithin(time.Now(), 5*time.Minute) || !slices.Equal(p.AMR, []string{"pwd", "hwk"}) {
			t.Fatalf("after step-up: auth time %v (want in [%v, %v]) amr %q", p.AuthTime, before, after, p.AMR)
		}
		// Not for a session still at the mfa stage, nor for another
		// tenant's session.
		mfa := start(t, db, sessFor(f, f.rep1, sqlstore.StageMFA))
		if err := db.StepUp(ctx, f.tenant.ID, mfa.SessionID, []string{"hwk"}, sqlstore.Event{}); code(err) != mcrm.EUnauthorized {
			t.Fatalf("step-up at stage mfa: %v", err)
		}
		g := setup(t, db)
		if err := db.StepUp(ctx, g.tenant.ID, iss.SessionID, []string{"hwk"}, sqlstore.Event{}); code(err) != mcrm.EUnauthorized {
			t.Fatalf("step-up through another tenant: %v", err)
		}
		if n := events(t, db, f, "authn_step_up"); n != 1 {
			t.Fatalf("step-up events %d", n)
		}
	})
}

func TestContractSessionList(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		var ids []string
		for i := range 4 {
			ns := sessFor(f, f.rep1, sqlstore.StageFull)
			ns.UserAgent = fmt.Sprint("agent-", i)
			if i == 3 {
				ns.JKT = "jkt-3"
			}
			ids = append(ids, start(t, db, ns).SessionID)
		}
		start(t, db, sessFor(f, f.rep2, sqlstore.StageFull))
		if err := db.RevokeSession(ctx, f.tenant.ID, f.rep1.UserID, ids[1], sqlstore.RevokedUser, sqlstore.Event{}); err != nil {
			t.Fatal(err)
		}
		rawExec(t, db, `UPDATE sessions SET last_seen_at = $1 WHERE tenant_id = $2 AND id = $3`, stamp(time.Now().Add(-2*time.Hour)), f.tenant.ID, ids[2])
		list, err := db.Sessions(ctx, f.tenant.ID, f.rep1.UserID)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID != ids[3] || list[1].ID != ids[0] {
			t.Fatalf("sessions %+v, want %s then %s", list, ids[3], ids[0])
		}
		l := list[0]
		if l.Kind != sqlstore.SessionToken || l.Stage != sqlstore.StageFull || !slices.Equal(l.AMR, []string{"pwd"}) || l.DeviceKey != "jkt-3" ||
			l.LastIP != "192.0.2.10" || l.UserAgent != "agent-3" || l.ExpiresAt.Sub(l.CreatedAt) != 8*time.Hour || !l.LastSeenAt.Equal(l.CreatedAt) {
			t.Fatalf("session info %+v", l)
		}
		if other, _ := db.Sessions(ctx, f.tenant.ID, f.rep2.UserID); len(other) != 1 {
			t.Fatalf("rep2 sessions %d", len(other))
		}
		if none, err := db.Sessions(ctx, f.tenant.ID, f.manager.UserID); err != nil || none == nil || len(none) != 0 {
			t.Fatalf("no sessions: %#v %v", none, err)
		}
		g := setup(t, db)
		if cross, _ := db.Sessions(ctx, g.tenant.ID, f.rep1.UserID); len(cross) != 0 {
			t.Fatalf("listed through another tenant: %d", len(cross))
		}
	})
}

func TestContractSessionPrune(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		refreshEv, reuseEv := sqlstore.Event{Action: "authn_token_refresh"}, sqlstore.Event{Action: "authn_token_reuse"}
		long := stamp(time.Now().Add(-time.Hour))
		// live: refreshed once (a1, r1 used, a2, r2), a1 long expired.
		live := start(t, db, sessFor(f, f.rep1, sqlstore.StageFull))
		next, err := db.Refresh(ctx, live.Refresh, "", refreshEv, reuseEv)
		if err != nil {
			t.Fatal(err)
		}
		rawExec(t, db, `UPDATE session_tokens SET expires_at = $1 WHERE token_hash = $2`, long, sqlstore.TokenHash(live.Access))
		// revoked an hour ago.
		old := start(t, db, sessFor(f, f.rep1, sqlstore.StageFull))
		if err := db.RevokeSession(ctx, f.tenant.ID, "", old.SessionID, sqlstore.RevokedAdmin, sqlstore.Event{}); err != nil {
			t.Fatal(err)
		}
		rawExec(t, db, `UPDATE sessions SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3`, long, f.tenant.ID, old.SessionID)
		// expired an hour ago (its tokens' own rows have not).
		expired := start(t, db, sessFor(f, f.rep1, sqlstore.StageFull))
		rawExec(t, db, `UPDATE sessions SET expires_at = $1 WHERE tenant_id = $2 AND id = $3`, long, f.tenant.ID, expired.SessionID)
		// revoked just now: after the cutoff, kept for now.
		recent := start(t, db, sessFor(f, f.rep1, sqlstore.StageFull))
		if err := db.RevokeSession(ctx, f.tenant.ID, "", recent.SessionID, sqlstore.RevokedAdmin, sqlstore.Event{}); err != nil {
			t.Fatal(err)
		}

		sessions := func() int { return countRows(t, db, `SELECT COUNT(*) FROM sessions`) }
		tokens := func() int { return countRows(t, db, `SELECT COUNT(*) FROM session_tokens`) }
		if s, k := sessions(), tokens(); s != 4 || k != 10 {
			t.Fatalf("before prune: %d sessions, %d tokens", s, k)
		}
		n, err := db.PruneSessions(ctx, time.Now().Add(-time.Minute))
		if err != nil || n != 2 {
			t.Fatalf("pruned %d, %v; want 2", n, err)
		}
		if s, k := sessions(), tokens(); s != 2 || k != 5 {
			t.Fatalf("after prune: %d sessions, %d tokens; want 2, 5", s, k)
		}
		for _, id := range []string{old.SessionID, expired.SessionID} {
			if c := countRows(t, db, `SELECT COUNT(*) FROM sessions WHERE id = $1`, id) + countRows(t, db, `SELECT COUNT(*) FROM session_tokens WHERE session_id = $1`, id); c != 0 {
				t.Fatalf("session %s left %d rows", id, c)
			}
		}
		if c := countRows(t, db, `SELECT COUNT(*) FROM session_tokens WHERE token_hash = $1`, sqlstore.TokenHash(live.Access)); c != 0 {
			t.Fatal("expired access token of a live session kept")
		}
		authOK(t, db, next.Access)
		// The used refresh token of the live session is kept, so reuse is
		// still detected after housekeeping.
		if _, err := db.Refresh(ctx, live.Refresh, "", refreshEv, reuseEv); !errors.Is(err, sqlstore.ErrTokenReused) {
			t.Fatalf("reuse after prune: %v", err)
		}
		// Pruning again finds nothing older than the cutoff.
		if n, err := db.PruneSessions(ctx, time.Now().Add(-time.Minute)); err != nil || n != 0 {
			t.Fatalf("second prune %d, %v", n, err)
		}
	})
}

func TestContractSessionCrossTenant(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a := setup(t, db)
		b := setup(t, db)
		iss := start(t, db, sessFor(a, a.rep1, sqlstore.StageFull))
		authOK(t, db, iss.Access)
		if err := db.RevokeSession(ctx, b.tenant.ID, "", iss.SessionID, sqlstore.RevokedAdmin, sqlstore.Event{TenantID: b.tenant.ID, Action: "authn_session_revoked"}); code(err) != mcrm.ENotFound {
			t.Fatalf("revoke through another tenant: %v", err)
		}
		authOK(t, db, iss.Access)
		if err := db.RevokeSession(ctx, a.tenant.ID, a.rep2.UserID, iss.SessionID, sqlstore.RevokedUser, sqlstore.Event{TenantID: a.tenant.ID, Action: "authn_session_revoked"}); code(err) != mcrm.ENotFound {
			t.Fatalf("revoke of another user's session: %v", err)
		}
		authOK(t, db, iss.Access)
		if n, err := db.RevokeUserSessions(ctx, b.tenant.ID, a.rep1.UserID, "", sqlstore.RevokedAdmin, sqlstore.Event{TenantID: b.tenant.ID, Action: "authn_sessions_revoked"}); err != nil || n != 0 {
			t.Fatalf("revoke all through another tenant: %d %v", n, err)
		}
		authOK(t, db, iss.Access)
		if _, err := db.FinishEnrolment(ctx, b.tenant.ID, iss.SessionID, []string{"otp"}, sqlstore.Event{}); code(err) != mcrm.EUnauthorized {
			t.Fatal("finish enrolment through another tenant")
		}
		if r := revokedReason(t, db, a, iss.SessionID); r != "" {
			t.Fatalf("reason %q", r)
		}
		if n := events(t, db, a, "authn_session_revoked") + events(t, db, b, "authn_session_revoked"); n != 0 {
			t.Fatalf("refused revokes recorded %d events", n)
		}
		// The owner can.
		if err := db.RevokeSession(ctx, a.tenant.ID, a.rep1.UserID, iss.SessionID, sqlstore.RevokedUser, sqlstore.Event{TenantID: a.tenant.ID, Action: "authn_session_revoked"}); err != nil {
			t.Fatal(err)
		}
		authFails(t, db, iss.Access, "revoked by its owner")
	})
}

// Requests in flight while a session is revoked may still succeed, but no
// request that starts after RevokeSession has returned may. Each worker
// reads the "revoked" flag before calling Authenticate, so a success with
// the flag already set is a request that started after the revocation.
// The rounds race the pre-commit eviction, the commit and the post-commit
// eviction against readers re-filling the cache from the database.
func TestContractSessionRevokeRace(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		const workers, rounds, after = 8, 10, 50
		for round := range rounds {
			iss := start(t, db, sessFor(f, f.rep1, sqlstore.StageFull))
			var revoked atomic.Bool
			var successes atomic.Int64
			var late atomic.Int64
			var wg sync.WaitGroup
			errc := make(chan error, workers)
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for post := 0; post < after; {
						wasRevoked := revoked.Load()
						_, err := db.Authenticate(ctx, iss.Access)
						switch {
						case err == nil && wasRevoked:
							late.Add(1)
						case err == nil:
							successes.Add(1)
						case code(err) != mcrm.EUnauthorized:
							// Refusals before the flag are requests that
							// overlapped the revocation: allowed.
							errc <- err
							return
						}
						if wasRevoked {
							post++
						}
					}
				}()
			}
			// Revoke once the workers are hitting the cache.
			for successes.Load() < workers*4 && len(errc) == 0 {
				time.Sleep(100 * time.Microsecond)
			}
			if err := db.RevokeSession(ctx, f.tenant.ID, "", iss.SessionID, sqlstore.RevokedAdmin, sqlstore.Event{}); err != nil {
				t.Fatal(err)
			}
			revoked.Store(true)
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Fatalf("round %d: %v", round, err)
			}
			if n := late.Load(); n != 0 {
				t.Fatalf("round %d: %d authentications that started after RevokeSession returned succeeded", round, n)
			}
		}
	})
}

// On PostgreSQL a revocation on one node reaches the cache of another
// through NOTIFY.
func TestSessionEvictionReachesOtherNodes(t *testing.T) {
	url := dbtest.PostgresURL(t)
	nodeA, err := sqlstore.Open(ctx, t.TempDir(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer nodeA.Close()
	nodeB, err := sqlstore.Open(ctx, t.TempDir(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer nodeB.Close()
	f := setup(t, nodeA)
	settle(t, nodeB, f)
	iss := start(t, nodeA, sessFor(f, f.rep1, sqlstore.StageFull))
	authOK(t, nodeB, iss.Access)
	mustBeCached(t, nodeB, f, iss.Access, iss.SessionID)
	if err := nodeA.RevokeSession(ctx, f.tenant.ID, "", iss.SessionID, sqlstore.RevokedAdmin, sqlstore.Event{}); err != nil {
		t.Fatal(err)
	}
	// Delivery is asynchronous; it is normally a millisecond away.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := nodeB.Authenticate(ctx, iss.Access); code(err) == mcrm.EUnauthorized {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("node B still accepts a session node A revoked")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
