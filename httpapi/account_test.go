package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"mcrm"
	"mcrm/apitest"
	"mcrm/outbox"
	"mcrm/sqlstore"
	"mcrm/throttle"
	"mcrm/totp"
)

// Tests of the account routes: password change, forgotten password and
// reset, and the tenant's authentication policy, on every backend.

// A password that passes the policy for every account of these tests
// (no second factor needed: 30 characters, no common or account words).
const acctPassphrase = "violet staple orbit lantern 42"

// acctMailRecorder is an outbox.Mailer that keeps what it is handed.
type acctMailRecorder struct {
	mu   sync.Mutex
	msgs []outbox.Message
}

func (m *acctMailRecorder) Send(_ context.Context, msg outbox.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, msg)
	return nil
}

// acctDeliver runs one outbox round, as the server's worker would, and
// returns what it sent.
func acctDeliver(t *testing.T, e *apitest.Env) []outbox.Message {
	t.Helper()
	rec := &acctMailRecorder{}
	w := outbox.Worker{DB: e.DB, Mailer: rec}
	res, err := w.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("outbox round: %v", err)
	}
	if res.Retried+res.Failed != 0 {
		t.Fatalf("outbox round: %+v", res)
	}
	// Only the reset mails: security notices (a reused refresh token
	// elsewhere in the run) share the outbox.
	var out []outbox.Message
	for _, m := range rec.msgs {
		if m.Subject == "Reset your mcrm password" {
			out = append(out, m)
		}
	}
	return out
}

var acctLinkRE = regexp.MustCompile(`https://\S+`)

// acctResetToken reads the token from the reset link of m. The link must
// carry it in the fragment (never sent to a server) and have no query.
func acctResetToken(t *testing.T, m outbox.Message) string {
	t.Helper()
	link := acctLinkRE.FindString(m.Text)
	u, err := url.Parse(link)
	if err != nil || link == "" {
		t.Fatalf("no link in the reset mail: %q", m.Text)
	}
	if u.RawQuery != "" || strings.Contains(link, "?") {
		t.Fatalf("reset link has a query: %s", link)
	}
	tok, ok := strings.CutPrefix(u.Fragment, "token=")
	if !ok || len(tok) < 40 {
		t.Fatalf("reset link without a token in its fragment: %s", link)
	}
	return tok
}

// acctRequestReset asks for a reset of email and returns the token of the one
// mail that results.
func acctRequestReset(t *testing.T, e *apitest.Env, email string) string {
	t.Helper()
	mustDo(t, e, "", "POST", "/api/v1/auth/password/forgot", map[string]any{"tenant": e.Tenant.Name, "email": email}, nil, http.StatusAccepted)
	msgs := acctDeliver(t, e)
	if len(msgs) != 1 || msgs[0].To != email {
		t.Fatalf("want one mail to the user, got %d", len(msgs))
	}
	return acctResetToken(t, msgs[0])
}

// acctStepUp is the test seam for a recent strong authentication: the store
// call the step-up routes end in, on the session of token.
func acctStepUp(t *testing.T, e *apitest.Env, token string) {
	t.Helper()
	ctx := context.Background()
	sess, err := e.DB.Authenticate(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	p := sess.Principal
	ev := sqlstore.Event{TenantID: p.TenantID, Actor: p.UserID, Action: "authn_step_up", Object: "session", Outcome: "success", Detail: "method=otp"}
	if err := e.DB.StepUp(ctx, p.TenantID, p.SessionID, []string{"otp"}, ev); err != nil {
		t.Fatal(err)
	}
}

// acctLogin signs in with any password and returns the response.
func acctLogin(e *apitest.Env, email, pw string) *apitest.Response {
	return e.Do("", "POST", "/api/v1/auth/login", map[string]any{"tenant": e.Tenant.Name, "email": email, "password": pw}, nil)
}

func acctLiveSessions(t *testing.T, e *apitest.Env, userID string) int {
	t.Helper()
	list, err := e.DB.Sessions(context.Background(), e.Tenant.ID, userID)
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

func acctCountEvents(t *testing.T, e *apitest.Env, action string) int {
	t.Helper()
	n, err := e.DB.CountEvents(context.Background(), e.Tenant.ID, action)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func acctCountOutcome(t *testing.T, e *apitest.Env, action, outcome string) int {
	t.Helper()
	var n int
	err := e.DB.InTx(context.Background(), func(tx *sqlstore.Tx) error {
		return tx.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM security_events WHERE tenant_id = $1 AND action = $2 AND outcome = $3`,
			e.Tenant.ID, action, outcome).Scan(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// acctNoSecrets fails if any security event or log line quotes one of
// secrets (passwords, tokens, emails).
func acctNoSecrets(t *testing.T, e *apitest.Env, secrets ...string) {
	t.Helper()
	var events []string
	err := e.DB.InTx(context.Background(), func(tx *sqlstore.Tx) error {
		rows, err := tx.QueryContext(context.Background(), `SELECT actor, action, object, detail FROM security_events`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a, b, c, d string
			if err := rows.Scan(&a, &b, &c, &d); err != nil {
				return err
			}
			events = append(events, strings.Join([]string{a, b, c, d}, " "))
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	all := strings.ToLower(strings.Join(events, "\n") + "\n" + e.LogText())
	for _, s := range secrets {
		if strings.Contains(all, strings.ToLower(s)) {
			t.Errorf("a security event or log line quotes %q", s)
		}
	}
}

func TestAccountPasswordChange(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, admin string) {
		email := "pat.jones@" + e.Tenant.Name + ".example"
		uid := e.AddUser(e.Tenant.ID, email, "Pat Jones", mcrm.RoleSalesRep, "")
		current, other := e.Login(e.Tenant.Name, email), e.Login(e.Tenant.Name, email)
		change := func(cur, next string) *apitest.Response {
			return e.Do(current, "POST", "/api/v1/auth/password", map[string]any{"current_password": cur, "new_password": next}, nil)
		}

		t.Run("wrong current password", func(t *testing.T) {
			r := change("not my password at all", acctPassphrase)
			wantProblem(t, r, http.StatusUnauthorized, "unauthorized")
			wantFieldError(t, r, "current_password", "invalid")
			if n := acctCountEvents(t, e, "authn_password_change_fail"); n != 1 {
				t.Errorf("%d authn_password_change_fail events, want 1", n)
			}
		})
		t.Run("blocklisted", func(t *testing.T) {
			// A common password with digits and a symbol added.
			r := change(apitest.Password, "Password123456789!")
			wantProblem(t, r, http.StatusBadRequest, "invalid")
			wantFieldError(t, r, "new_password", mcrm.CodePasswordBlocklisted)
			// The tenant's name with a year.
			r = change(apitest.Password, e.Tenant.Name+"-2025!!")
			wantFieldError(t, r, "new_password", mcrm.CodePasswordBlocklisted)
		})
		t.Run("too short without a second factor", func(t *testing.T) {
			// 14 characters: enough with a second factor, not without.
			r := change(apitest.Password, "quartz-orbit-7")
			wantProblem(t, r, http.StatusBadRequest, "invalid")
			wantFieldError(t, r, "new_password", mcrm.CodePasswordTooShort)
			if !strings.Contains(r.JSON["errors"].([]any)[0].(map[string]any)["message"].(string), "15") {
				t.Errorf("message should name the minimum of 15: %s", r.Body)
			}
		})
		t.Run("missing and unknown members", func(t *testing.T) {
			wantOnlyFieldError(t, change(apitest.Password, ""), "new_password", "required")
			wantOnlyFieldError(t, change("", acctPassphrase), "current_password", "required")
			r := e.Do(current, "POST", "/api/v1/auth/password", map[string]any{"current_password": apitest.Password, "new_password": acctPassphrase, "password": "x"}, nil)
			wantOnlyFieldError(t, r, "password", "unknown_field")
		})
		if n := acctCountEvents(t, e, "authn_password_change"); n != 0 {
			t.Fatalf("a refused change wrote %d authn_password_change events", n)
		}
		if n := acctLiveSessions(t, e, uid); n != 2 {
			t.Fatalf("%d live sessions before the change, want 2", n)
		}

		t.Run("success", func(t *testing.T) {
			r := change(apitest.Password, acctPassphrase)
			if r.Status != http.StatusNoContent || len(r.Body) != 0 {
				t.Fatalf("change: %d %s", r.Status, r.Body)
			}
			// The other session ended at once (no cache grace); this one
			// goes on.
			wantProblem(t, e.Do(other, "GET", "/api/v1/me", nil, nil), http.StatusUnauthorized, "unauthorized")
			if me := mustDo(t, e, current, "GET", "/api/v1/me", nil, nil, http.StatusOK); me.JSON["id"] != uid {
				t.Errorf("me: %s", me.Body)
			}
			if n := acctLiveSessions(t, e, uid); n != 1 {
				t.Errorf("%d live sessions after the change, want 1", n)
			}
			wantProblem(t, acctLogin(e, email, apitest.Password), http.StatusUnauthorized, "unauthorized")
			if r := acctLogin(e, email, acctPassphrase); r.Status != http.StatusOK || r.JSON["status"] != "ok" || r.JSON["access_token"] == nil {
				t.Errorf("login with the new password: %d %s", r.Status, r.Body)
			}
			if n := acctCountEvents(t, e, "authn_password_change"); n != 1 {
				t.Errorf("%d authn_password_change events, want 1", n)
			}
		})
		acctNoSecrets(t, e, apitest.Password, acctPassphrase, "not my password at all", "Password123456789!", email, current, other)
	})
}

// TestAccountPasswordNormalized: a password is the same password however
// the keyboard composed its characters (NFKC), at change and at sign-in.
func TestAccountPasswordNormalized(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, admin string) {
		email := "nora.nfkc@" + e.Tenant.Name + ".example"
		e.AddUser(e.Tenant.ID, email, "Nora Nfkc", mcrm.RoleSalesRep, "")
		tok := e.Login(e.Tenant.Name, email)
		const decomposed = "cafe\u0301 society lantern orbit" // e + combining acute
		const composed = "caf\u00e9 society lantern orbit"    // precomposed é
		const fullWidth = "ｃａｆé society lantern orbit"        // full-width letters
		mustDo(t, e, tok, "POST", "/api/v1/auth/password", map[string]any{"current_password": apitest.Password, "new_password": decomposed}, nil, http.StatusNoContent)
		for _, pw := range []string{composed, decomposed, fullWidth} {
			if r := acctLogin(e, email, pw); r.Status != http.StatusOK {
				t.Errorf("login with %+q: %d %s", pw, r.Status, r.Body)
			}
		}
		mustDo(t, e, tok, "POST", "/api/v1/auth/password", map[string]any{"current_password": fullWidth, "new_password": acctPassphrase}, nil, http.StatusNoContent)
	})
}

// TestAccountPasswordChangeThrottle: a wrong current password counts on
// the login throttle's account counters, so a stolen session cannot guess
// the password faster than the sign-in could, and sign-in sees the
// guesses.
func TestAccountPasswordChangeThrottle(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, admin string) {
		email := "gus.guess@" + e.Tenant.Name + ".example"
		e.AddUser(e.Tenant.ID, email, "Gus Guess", mcrm.RoleSalesRep, "")
		tok := e.Login(e.Tenant.Name, email)
		for i := range throttle.PairMax {
			r := e.Do(tok, "POST", "/api/v1/auth/password", map[string]any{"current_password": "guess number " + string(rune('a'+i)), "new_password": acctPassphrase}, nil)
			wantFieldError(t, r, "current_password", "invalid")
		}
		// The right password is now refused too, here and at login.
		r := e.Do(tok, "POST", "/api/v1/auth/password", map[string]any{"current_password": apitest.Password, "new_password": acctPassphrase}, nil)
		wantProblem(t, r, http.StatusTooManyRequests, "rate_limited")
		if r.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		wantProblem(t, acctLogin(e, email, apitest.Password), http.StatusTooManyRequests, "rate_limited")
	})
}

func TestAccountPasswordReset(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, admin string) {
		ctx := context.Background()
		email := "rita.reset@" + e.Tenant.Name + ".example"
		uid := e.AddUser(e.Tenant.ID, email, "Rita Reset", mcrm.RoleSalesRep, "")
		s1, s2 := e.Login(e.Tenant.Name, email), e.Login(e.Tenant.Name, email)
		forgot := func(tenant, email string) *apitest.Response {
			return mustDo(t, e, "", "POST", "/api/v1/auth/password/forgot", map[string]any{"tenant": tenant, "email": email}, nil, http.StatusAccepted)
		}
		reset := func(token, pw string) *apitest.Response {
			return e.Do("", "POST", "/api/v1/auth/password/reset", map[string]any{"token": token, "new_password": pw}, nil)
		}

		// No enumeration: a live user, an unknown email and an unknown
		// tenant get the same status and the same bytes.
		known := forgot(e.Tenant.Name, strings.ToUpper(email))
		for _, r := range []*apitest.Response{
			forgot(e.Tenant.Name, "nobody@"+e.Tenant.Name+".example"),
			forgot("no-such-tenant", email),
		} {
			if !bytes.Equal(r.Body, known.Body) || r.Header.Get("Content-Type") != known.Header.Get("Content-Type") {
				t.Fatalf("forgot answers differ: %q vs %q", r.Body, known.Body)
			}
		}
		msgs := acctDeliver(t, e)
		if len(msgs) != 1 {
			t.Fatalf("%d mails queued, want exactly 1", len(msgs))
		}
		if msgs[0].To != email {
			t.Fatalf("mail to the wrong address")
		}
		token := acctResetToken(t, msgs[0])
		if !strings.HasPrefix(acctLinkRE.FindString(msgs[0].Text), e.Server.URL+"/reset-password#") {
			t.Errorf("link not on the default reset page: %s", acctLinkRE.FindString(msgs[0].Text))
		}
		// One success (the mail) and one failure (the unknown email; the
		// unknown tenant's event belongs to no tenant).
		for outcome, want := range map[string]int{"success": 1, "failure": 1} {
			if n := acctCountOutcome(t, e, "authn_password_reset_requested", outcome); n != want {
				t.Errorf("%d authn_password_reset_requested events with outcome %s, want %d", n, outcome, want)
			}
		}

		t.Run("bad tokens", func(t *testing.T) {
			for _, tok := range []string{"nonsense", strings.Repeat("A", 43), strings.Repeat("A", 500)} {
				r := reset(tok, acctPassphrase)
				wantProblem(t, r, http.StatusUnauthorized, "unauthorized")
				wantFieldError(t, r, "token", "invalid_reset_token")
			}
		})
		t.Run("policy refusal keeps the link", func(t *testing.T) {
			r := reset(token, "quartz-orbit-7")
			wantFieldError(t, r, "new_password", mcrm.CodePasswordTooShort)
			wantFieldError(t, reset(token, e.Tenant.Name+"-2025!!"), "new_password", mcrm.CodePasswordBlocklisted)
		})

		if n := acctLiveSessions(t, e, uid); n != 2 {
			t.Fatalf("%d live sessions before the reset, want 2", n)
		}
		r := reset(token, acctPassphrase)
		if r.Status != http.StatusNoContent || len(r.Body) != 0 || len(r.Header.Values("Set-Cookie")) != 0 {
			t.Fatalf("reset: %d %q %v (must sign no one in)", r.Status, r.Body, r.Header.Values("Set-Cookie"))
		}
		// Every session ended, including the caches' copies.
		if n := acctLiveSessions(t, e, uid); n != 0 {
			t.Errorf("%d live sessions after the reset, want 0", n)
		}
		for _, tok := range []string{s1, s2} {
			wantProblem(t, e.Do(tok, "GET", "/api/v1/me", nil, nil), http.StatusUnauthorized, "unauthorized")
		}
		// Single use.
		r = reset(token, "another fine passphrase 77")
		wantProblem(t, r, http.StatusUnauthorized, "unauthorized")
		wantFieldError(t, r, "token", "invalid_reset_token")
		wantProblem(t, acctLogin(e, email, apitest.Password), http.StatusUnauthorized, "unauthorized")
		if r := acctLogin(e, email, acctPassphrase); r.Status != http.StatusOK || r.JSON["status"] != "ok" {
			t.Errorf("login with the reset password: %d %s", r.Status, r.Body)
		}

		t.Run("expired token", func(t *testing.T) {
			token := acctRequestReset(t, e, email)
			// 16 minutes ago: past the 15-minute lifetime.
			then := time.Now().Add(-16 * time.Minute).UTC()
			err := e.DB.InTx(ctx, func(tx *sqlstore.Tx) error {
				_, err := tx.ExecContext(ctx, `UPDATE password_resets SET created_at = $1, expires_at = $2 WHERE tenant_id = $3 AND user_id = $4 AND used_at IS NULL`,
					then.Format("2006-01-02T15:04:05.000000Z"), then.Add(sqlstore.ResetTokenLifetime).Format("2006-01-02T15:04:05.000000Z"), e.Tenant.ID, uid)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			r := reset(token, "an expired link passphrase 3")
			wantProblem(t, r, http.StatusUnauthorized, "unauthorized")
			wantFieldError(t, r, "token", "invalid_reset_token")
		})
		acctNoSecrets(t, e, token, apitest.Password, acctPassphrase, email)
	})
}

// TestAccountResetKeepsSecondFactor: a reset changes the password only.
// A user with TOTP may choose an 8-character password, and still has to
// give the second factor at the next sign-in.
func TestAccountResetKeepsSecondFactor(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, admin string) {
		ctx := context.Background()
		email := "tom.totp@" + e.Tenant.Name + ".example"
		uid := e.AddUser(e.Tenant.ID, email, "Tom Totp", mcrm.RoleSalesRep, "")
		now := time.Now()
		seed := totp.NewSecret()
		fid, err := e.DB.EnrolTOTP(ctx, e.Tenant.ID, uid, "phone", seed, now)
		if err != nil {
			t.Fatal(err)
		}
		code, err := totp.Default.Code(seed, totp.Default.Step(now))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.DB.ConfirmTOTP(ctx, e.Tenant.ID, uid, fid, code, now, sqlstore.Event{TenantID: e.Tenant.ID, Actor: uid, Action: "authn_mfa_enrolled", Object: "users/" + uid, Outcome: "success"}); err != nil {
			t.Fatal(err)
		}

		token := acctRequestReset(t, e, email)
		wantFieldError(t, e.Do("", "POST", "/api/v1/auth/password/reset", map[string]any{"token": token, "new_password": "vX9#qLm"}, nil),
			"new_password", mcrm.CodePasswordTooShort)
		const short = "vX9#qLm2&k" // 10 characters: enough with a second factor
		mustDo(t, e, "", "POST", "/api/v1/auth/password/reset", map[string]any{"token": token, "new_password": short}, nil, http.StatusNoContent)

		r := acctLogin(e, email, short)
		if r.Status != http.StatusOK || r.JSON["status"] != "mfa_required" || r.JSON["access_token"] != nil || r.JSON["refresh_token"] != nil || r.JSON["mfa_token"] == nil {
			t.Fatalf("login after a reset must ask for the second factor: %d %s", r.Status, r.Body)
		}
	})
}

func TestAccountAuthPolicy(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, admin string) {
		ten := e.Tenant
		e.AddUser(ten.ID, "rex.rep@"+ten.Name+".example", "Rex Rep", mcrm.RoleSalesRep, "")
		e.AddUser(ten.ID, "ada.audit@"+ten.Name+".example", "Ada Audit", mcrm.RoleAuditor, "")
		rep, auditor := e.Login(ten.Name, "rex.rep@"+ten.Name+".example"), e.Login(ten.Name, "ada.audit@"+ten.Name+".example")
		const path = "/api/v1/auth/policy"
		policyOf := func(r *apitest.Response) mcrm.AuthPolicy {
			t.Helper()
			var p mcrm.AuthPolicy
			dec := json.NewDecoder(bytes.NewReader(r.Body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&p); err != nil {
				t.Fatalf("policy body: %v: %s", err, r.Body)
			}
			return p
		}
		same := func(a, b mcrm.AuthPolicy) bool {
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			return bytes.Equal(ja, jb)
		}

		wantProblem(t, e.Do(rep, "GET", path, nil, nil), http.StatusForbidden, "forbidden")
		if got := policyOf(mustDo(t, e, auditor, "GET", path, nil, nil, http.StatusOK)); !same(got, apitest.PasswordOnly()) {
			t.Errorf("auditor reads %+v", got)
		}
		if got := policyOf(mustDo(t, e, admin, "GET", path, nil, nil, http.StatusOK)); !same(got, apitest.PasswordOnly()) {
			t.Errorf("admin reads %+v", got)
		}

		want := apitest.PasswordOnly()
		want.MFARequiredRoles = []string{mcrm.RoleSalesManager}
		want.Sessions = mcrm.SessionLimits{IdleMinutes: 60, MaxHours: 8}
		want.RoleSessions = map[string]mcrm.SessionLimits{mcrm.RoleAdmin: {IdleMinutes: 15, MaxHours: 4}}

		wantProblem(t, e.Do(rep, "PUT", path, want, nil), http.StatusForbidden, "forbidden")
		wantProblem(t, e.Do(auditor, "PUT", path, want, nil), http.StatusForbidden, "forbidden")
		// The harness's admin token has stepped up; a fresh sign-in with
		// the password alone has not.
		weak := e.Login(e.Tenant.Name, adminEmail(e.Tenant))
		r := e.Do(weak, "PUT", path, want, nil)
		wantProblem(t, r, http.StatusUnauthorized, "insufficient_user_authentication")
		if h := r.Header.Get("WWW-Authenticate"); !strings.Contains(h, `error="insufficient_user_authentication"`) {
			t.Errorf("WWW-Authenticate %q", h)
		}

		acctStepUp(t, e, admin)
		if got := policyOf(mustDo(t, e, admin, "PUT", path, want, nil, http.StatusOK)); !same(got, want) {
			t.Errorf("PUT answered %+v, want %+v", got, want)
		}
		if got := policyOf(mustDo(t, e, admin, "GET", path, nil, nil, http.StatusOK)); !same(got, want) {
			t.Errorf("GET after PUT: %+v, want %+v", got, want)
		}
		if n := acctCountEvents(t, e, "authn_policy_change"); n != 1 {
			t.Errorf("%d authn_policy_change events, want 1", n)
		}

		// Refusals name the member. The body is built from the valid
		// policy with one change.
		body := func(change func(m map[string]any)) map[string]any {
			var m map[string]any
			b, _ := json.Marshal(want)
			json.Unmarshal(b, &m)
			change(m)
			return m
		}
		for _, c := range []struct {
			name, field, code string
			change            func(m map[string]any)
		}{
			{"bad value", "passkey_user_verification", "invalid", func(m map[string]any) { m["passkey_user_verification"] = "sometimes" }},
			{"bad risk action", "risk.high", "invalid", func(m map[string]any) { m["risk"].(map[string]any)["high"] = "shrug" }},
			{"unknown role", "mfa_required_roles", "unknown_role", func(m map[string]any) { m["mfa_required_roles"] = []any{"pirate"} }},
			{"unknown factor", "allowed_factors", "unknown_factor", func(m map[string]any) { m["allowed_factors"] = []any{"sms"} }},
			{"out of range", "sessions.idle_minutes", "out_of_range", func(m map[string]any) { m["sessions"].(map[string]any)["idle_minutes"] = 5000 }},
			{"unknown member", "colour", "unknown_field", func(m map[string]any) { m["colour"] = "red" }},
			{"unknown nested member", "extreme", "unknown_field", func(m map[string]any) { m["risk"].(map[string]any)["extreme"] = "deny" }},
			// Left out is not "empty": that would drop the second factor.
			{"missing member", "mfa_required_roles", "required", func(m map[string]any) { delete(m, "mfa_required_roles") }},
			{"null member", "risk", "required", func(m map[string]any) { m["risk"] = nil }},
			{"wrong type", "require_dpop", "invalid_type", func(m map[string]any) { m["require_dpop"] = "yes" }},
		} {
			t.Run(c.name, func(t *testing.T) {
				wantOnlyFieldError(t, e.Do(admin, "PUT", path, body(c.change), nil), c.field, c.code)
			})
		}
		if got := policyOf(mustDo(t, e, admin, "GET", path, nil, nil, http.StatusOK)); !same(got, want) {
			t.Errorf("a refused PUT changed the policy: %+v", got)
		}
		if n := acctCountEvents(t, e, "authn_policy_change"); n != 1 {
			t.Errorf("%d authn_policy_change events after refusals, want 1", n)
		}
	})
}

// oaAccount is TestOpenAPI's pass over the account routes: every request
// and response is checked against the document.
func oaAccount(t *testing.T, s *oaSpec, e *apitest.Env, admin string) {
	t.Helper()
	tenant := e.Tenant.Name
	email := "olga.account@" + tenant + ".example"
	e.AddUser(e.Tenant.ID, email, "Olga Account", mcrm.RoleSalesRep, "")
	lr := s.do(oaCall{method: "POST", path: "/api/v1/auth/login", json: map[string]any{"tenant": tenant, "email": email, "password": apitest.Password}, status: http.StatusOK})
	olga := lr.JSON["access_token"].(string)

	change := func(cur, next string, status int, breaks string) *apitest.Response {
		return s.do(oaCall{token: olga, method: "POST", path: "/api/v1/auth/password", json: map[string]any{"current_password": cur, "new_password": next}, status: status, breaks: breaks})
	}
	problemCode(t, change("wrong current password", acctPassphrase, http.StatusUnauthorized, ""), mcrm.EUnauthorized)
	problemCode(t, change(apitest.Password, "", http.StatusBadRequest, "body"), mcrm.EInvalid)
	problemCode(t, change(apitest.Password, "Password123456789!", http.StatusBadRequest, ""), mcrm.EInvalid)
	change(apitest.Password, acctPassphrase, http.StatusNoContent, "")

	r := s.do(oaCall{token: olga, method: "GET", path: "/api/v1/auth/policy", status: http.StatusForbidden})
	problemCode(t, r, mcrm.EForbidden)

	forgot := func(tenant, email string, status int, breaks string) *apitest.Response {
		return s.do(oaCall{method: "POST", path: "/api/v1/auth/password/forgot", json: map[string]any{"tenant": tenant, "email": email}, status: status, breaks: breaks})
	}
	forgot(tenant, email, http.StatusAccepted, "")
	forgot(tenant, "nobody@"+tenant+".example", http.StatusAccepted, "")
	forgot("", email, http.StatusBadRequest, "body")
	msgs := acctDeliver(t, e)
	if len(msgs) != 1 {
		t.Fatalf("%d reset mails, want 1", len(msgs))
	}
	reset := func(token, pw string, status int, breaks string) *apitest.Response {
		return s.do(oaCall{method: "POST", path: "/api/v1/auth/password/reset", json: map[string]any{"token": token, "new_password": pw}, status: status, breaks: breaks})
	}
	problemCode(t, reset("not-a-token", acctPassphrase, http.StatusUnauthorized, ""), mcrm.EUnauthorized)
	problemCode(t, reset("", acctPassphrase, http.StatusBadRequest, "body"), mcrm.EInvalid)
	reset(acctResetToken(t, msgs[0]), "a reset passphrase for olga", http.StatusNoContent, "")

	s.do(oaCall{token: admin, method: "GET", path: "/api/v1/auth/policy", status: http.StatusOK})
	pol := apitest.PasswordOnly()
	pol.Sessions = mcrm.SessionLimits{IdleMinutes: 45, MaxHours: 10}
	// A fresh password-only admin session has not stepped up.
	weak := s.do(oaCall{method: "POST", path: "/api/v1/auth/login", json: map[string]any{"tenant": tenant, "email": "admin@" + tenant + ".example", "password": apitest.Password}, status: http.StatusOK}).JSON["access_token"].(string)
	r = s.do(oaCall{token: weak, method: "PUT", path: "/api/v1/auth/policy", json: pol, status: http.StatusUnauthorized})
	problemCode(t, r, mcrm.EStepUpRequired)
	acctStepUp(t, e, admin)
	bad := pol
	bad.PasskeyUserVerification = "sometimes"
	problemCode(t, s.do(oaCall{token: admin, method: "PUT", path: "/api/v1/auth/policy", json: bad, status: http.StatusBadRequest, breaks: "body"}), mcrm.EInvalid)
	missing := map[string]any{"mfa_required_roles": []string{}, "allowed_factors": []string{"totp"}}
	problemCode(t, s.do(oaCall{token: admin, method: "PUT", path: "/api/v1/auth/policy", json: missing, status: http.StatusBadRequest, breaks: "body"}), mcrm.EInvalid)
	s.do(oaCall{token: admin, method: "PUT", path: "/api/v1/auth/policy", json: pol, status: http.StatusOK})
}
