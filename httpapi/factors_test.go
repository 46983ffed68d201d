package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"mcrm"
	"mcrm/apitest"
	"mcrm/dbtest"
	"mcrm/passkey/softkey"
	"mcrm/record"
	"mcrm/sqlstore"
	"mcrm/totp"
)

// Second factors over the API, on every backend: TOTP and recovery codes
// from the forced enrolment on, passkeys from registration to
// passwordless sign-in and step-up, and the rules every factor change
// follows (step-up, other sessions end, other users' factors are 404).

// passkeyOrigin is the origin of the harness's relying party
// (passkey.DefaultConfig): the softkey claims it as a browser would.
const passkeyOrigin = "https://localhost:8443"

// fenv is one API with helpers for the calls factor tests repeat.
type fenv struct {
	t *testing.T
	e *apitest.Env
}

func (f *fenv) do(token, method, path string, body any, status int) *apitest.Response {
	f.t.Helper()
	return mustDo(f.t, f.e, token, method, path, body, nil, status)
}

// login signs in with the password and returns the answer, which must be
// 200 with the given status (ok, mfa_required, enrolment_required).
func (f *fenv) login(tenant, email, status string) *apitest.Response {
	f.t.Helper()
	r := f.do("", "POST", "/api/v1/auth/login", map[string]any{"tenant": tenant, "email": email, "password": apitest.Password}, 200)
	if r.JSON["status"] != status {
		f.t.Fatalf("login %s: status %v, want %s: %s", email, r.JSON["status"], status, r.Body)
	}
	return r
}

// mfa completes a pending sign-in with a TOTP code or a recovery code
// (field "code" or "recovery_code") and returns the answer.
func (f *fenv) mfa(login *apitest.Response, field, value string) *apitest.Response {
	f.t.Helper()
	return f.e.Do("", "POST", "/api/v1/auth/login/mfa", map[string]any{"mfa_token": login.JSON["mfa_token"], field: value}, nil)
}

// ageStepUp moves the user's last strong authentication 6 minutes back,
// past mcrm.StepUpMaxAge, as if the user had been working that long: a
// sign-in with a second factor counts as a step-up, so without this every
// fresh session would pass the check. The cache is evicted as a real
// change of the session would.
func (f *fenv) ageStepUp(tenantID, userID string) {
	f.t.Helper()
	old := time.Now().Add(-6 * time.Minute).UTC().Format("2006-01-02T15:04:05.000000Z")
	err := f.e.DB.InTx(context.Background(), func(tx *sqlstore.Tx) error {
		if _, err := tx.ExecContext(context.Background(), `UPDATE sessions SET strong_at = $1 WHERE tenant_id = $2 AND user_id = $3 AND strong_at IS NOT NULL`, old, tenantID, userID); err != nil {
			return err
		}
		tx.EvictUser(tenantID, userID)
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fenv) events(tenantID, action string) int {
	f.t.Helper()
	n, err := f.e.DB.CountEvents(context.Background(), tenantID, action)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// sessions counts the user's live sessions (GET /auth/sessions).
func (f *fenv) sessions(token string) int {
	f.t.Helper()
	return len(f.do(token, "GET", "/api/v1/auth/sessions", nil, 200).JSON["data"].([]any))
}

func (f *fenv) factors(token string) (totps, passkeys []any, codesLeft int64) {
	f.t.Helper()
	r := f.do(token, "GET", "/api/v1/auth/factors", nil, 200)
	totps, _ = r.JSON["totp"].([]any)
	passkeys, _ = r.JSON["passkeys"].([]any)
	n, err := r.JSON["recovery_codes_left"].(json.Number).Int64()
	if totps == nil || passkeys == nil || err != nil {
		f.t.Fatalf("factor list: %s", r.Body)
	}
	return totps, passkeys, n
}

// wantStepUp checks the RFC 9470 answer to a sensitive operation without
// a recent step-up.
func wantStepUp(t *testing.T, r *apitest.Response) {
	t.Helper()
	wantProblem(t, r, 401, string(mcrm.EStepUpRequired))
	if h := r.Header.Get("WWW-Authenticate"); !strings.Contains(h, `error="insufficient_user_authentication"`) {
		t.Fatalf("WWW-Authenticate %q", h)
	}
}

func totpSecret(t *testing.T, enrol *apitest.Response) []byte {
	t.Helper()
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(enrol.JSON["secret"].(string))
	if err != nil || len(secret) != totp.SecretSize {
		t.Fatalf("secret %v: %v", enrol.JSON["secret"], err)
	}
	return secret
}

func totpCode(t *testing.T, secret []byte, step int64) string {
	t.Helper()
	c, err := totp.Default.Code(secret, step)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func nowStep() int64 { return totp.Default.Step(time.Now()) }

// wrongCode is a well-formed code that matches no step near now.
func wrongCode(t *testing.T, secret []byte) string {
	t.Helper()
	var near []string
	for s := nowStep() - 3; s <= nowStep()+3; s++ {
		near = append(near, totpCode(t, secret, s))
	}
	for i := 0; ; i++ {
		if c := fmt.Sprintf("%06d", i); !slices.Contains(near, c) {
			return c
		}
	}
}

func strs(t *testing.T, v any) []string {
	t.Helper()
	list, ok := v.([]any)
	if !ok {
		t.Fatalf("not a list: %v", v)
	}
	out := make([]string, len(list))
	for i, x := range list {
		out[i] = x.(string)
	}
	return out
}

func newSoftkey(t *testing.T) *softkey.Authenticator {
	t.Helper()
	sk, err := softkey.New(passkeyOrigin)
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

// registerPasskey runs register/begin and /finish with sk and returns the
// finish answer.
func (f *fenv) registerPasskey(token string, sk *softkey.Authenticator, name string) *apitest.Response {
	f.t.Helper()
	begin := f.do(token, "POST", "/api/v1/auth/passkeys/register/begin", nil, 200)
	opts, _ := json.Marshal(begin.JSON["options"])
	cred, err := sk.Register(opts)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.do(token, "POST", "/api/v1/auth/passkeys/register/finish",
		map[string]any{"challenge_id": begin.JSON["challenge_id"], "credential": json.RawMessage(cred), "name": name}, 200)
}

// assertion answers the options of a begin response with sk.
func assertion(t *testing.T, sk *softkey.Authenticator, begin *apitest.Response) json.RawMessage {
	t.Helper()
	opts, _ := json.Marshal(begin.JSON["options"])
	body, err := sk.Login(opts)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// passwordless runs a passwordless sign-in with sk; it answers status.
func (f *fenv) passwordless(tenant string, sk *softkey.Authenticator, status int) *apitest.Response {
	f.t.Helper()
	begin := f.do("", "POST", "/api/v1/auth/passkeys/login/begin", map[string]any{"tenant": tenant}, 200)
	return f.do("", "POST", "/api/v1/auth/passkeys/login/finish",
		map[string]any{"tenant": tenant, "challenge_id": begin.JSON["challenge_id"], "credential": assertion(f.t, sk, begin)}, status)
}

// stepUpPasskey steps the session up with sk.
func (f *fenv) stepUpPasskey(token string, sk *softkey.Authenticator) *apitest.Response {
	f.t.Helper()
	begin := f.do(token, "POST", "/api/v1/auth/step-up/passkey/begin", nil, 200)
	return f.do(token, "POST", "/api/v1/auth/step-up/passkey/finish",
		map[string]any{"challenge_id": begin.JSON["challenge_id"], "credential": assertion(f.t, sk, begin)}, 200)
}

func TestFactorsTOTP(t *testing.T) {
	for _, backend := range dbtest.Backends {
		t.Run(backend, func(t *testing.T) {
			f := &fenv{t: t, e: apitest.New(t, backend)}
			testFactorsTOTP(f)
		})
	}
}

func testFactorsTOTP(f *fenv) {
	t, e := f.t, f.e
	tn, tid := e.Tenant.Name, e.Tenant.ID
	e.UseDefaultPolicy(tid)
	email := "rita@" + tn + ".example"
	rita := e.AddUser(tid, email, "Rita Rep", mcrm.RoleSalesRep, "")

	// The default policy demands a second factor the user does not have:
	// the session can only enrol one.
	first := f.login(tn, email, "enrolment_required")
	enrol := first.JSON["access_token"].(string)
	if _, ok := first.JSON["refresh_token"]; ok {
		t.Fatalf("an enrolment session got a refresh token: %s", first.Body)
	}
	other := f.login(tn, email, "enrolment_required").JSON["access_token"].(string)
	r := e.Do(enrol, "GET", "/api/v1/accounts", nil, nil)
	wantProblem(t, r, 403, "forbidden")
	wantFieldError(t, r, "session", "enrolment_required")
	if totps, pks, n := f.factors(enrol); len(totps) != 0 || len(pks) != 0 || n != 0 {
		t.Fatalf("a new user has factors: %v %v %d", totps, pks, n)
	}

	en := f.do(enrol, "POST", "/api/v1/auth/factors/totp", map[string]any{"name": "Phone"}, 201)
	secret := totpSecret(t, en)
	factorID := en.JSON["id"].(string)
	uri := en.JSON["otpauth_uri"].(string)
	if !strings.HasPrefix(uri, "otpauth://totp/") || !strings.Contains(uri, "issuer=mcrm") || !strings.Contains(uri, "secret="+en.JSON["secret"].(string)) {
		t.Fatalf("otpauth URI %s", uri)
	}
	qr, err := base64.StdEncoding.DecodeString(en.JSON["qr_png"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := png.DecodeConfig(bytes.NewReader(qr)); err != nil || cfg.Width != 256 || cfg.Height != 256 {
		t.Fatalf("QR code: %v %+v", err, cfg)
	}
	if totps, _, _ := f.factors(enrol); len(totps) != 1 || totps[0].(map[string]any)["confirmed"] != false || totps[0].(map[string]any)["name"] != "Phone" {
		t.Fatalf("after enrolment began: %v", totps)
	}

	confirm := "/api/v1/auth/factors/totp/" + factorID + "/confirm"
	r = e.Do(enrol, "POST", confirm, map[string]any{"code": wrongCode(t, secret)}, nil)
	wantProblem(t, r, 401, "unauthorized")
	wantFieldError(t, r, "code", mcrm.CodeOTPInvalid)
	if n := f.events(tid, "authn_factor_enrol_fail"); n != 1 {
		t.Fatalf("%d enrol failure events, want 1", n)
	}

	step := nowStep()
	done := f.do(enrol, "POST", confirm, map[string]any{"code": totpCode(t, secret, step)}, 200)
	codes := strs(t, done.JSON["recovery_codes"])
	if len(codes) != 10 || len(slices.Compact(slices.Sorted(slices.Values(codes)))) != 10 {
		t.Fatalf("recovery codes %v", codes)
	}
	if fc := done.JSON["factor"].(map[string]any); fc["id"] != factorID || fc["confirmed"] != true {
		t.Fatalf("confirmed factor %v", fc)
	}
	if done.JSON["sessions_revoked"] != json.Number("1") {
		t.Fatalf("sessions_revoked %v, want 1 (the other enrolment session)", done.JSON["sessions_revoked"])
	}
	sess, _ := done.JSON["session"].(map[string]any)
	full, _ := sess["access_token"].(string)
	if sess["status"] != "ok" || full == "" || sess["refresh_token"] == nil || sess["token_type"] != "Bearer" || sess["session_id"] == nil {
		t.Fatalf("enrolment did not end in a full session: %s", done.Body)
	}
	if f.events(tid, "authn_factor_enrolled") != 1 || f.events(tid, "authn_recovery_codes_generated") != 1 {
		t.Fatal("missing enrolment events")
	}
	// The enrolment token has done its job; the other device's session
	// ended with the factor change.
	wantProblem(t, e.Do(enrol, "GET", "/api/v1/me", nil, nil), 401, "unauthorized")
	wantProblem(t, e.Do(other, "GET", "/api/v1/me", nil, nil), 401, "unauthorized")
	f.do(full, "GET", "/api/v1/accounts", nil, 200)
	if n := f.sessions(full); n != 1 {
		t.Fatalf("%d live sessions after enrolment, want 1", n)
	}
	if totps, _, n := f.factors(full); len(totps) != 1 || totps[0].(map[string]any)["last_used_at"] == nil || n != 10 {
		t.Fatalf("after confirmation: %v, %d codes left", totps, n)
	}

	// Sign-in now asks for the factor. The confirmation used this step's
	// code; the next step's is inside the drift window.
	pending := f.login(tn, email, "mfa_required")
	if got := strs(t, pending.JSON["factors"]); !slices.Equal(got, []string{"totp", "recovery_code"}) {
		t.Fatalf("factors %v", got)
	}
	next := totpCode(t, secret, step+1)
	if r := f.mfa(pending, "code", next); r.Status != 200 || r.JSON["status"] != "ok" {
		t.Fatalf("mfa: %d %s", r.Status, r.Body)
	}
	r = f.mfa(f.login(tn, email, "mfa_required"), "code", next)
	wantProblem(t, r, 401, "unauthorized")
	wantFieldError(t, r, "code", mcrm.CodeOTPReplay)

	if r := f.mfa(f.login(tn, email, "mfa_required"), "recovery_code", codes[0]); r.Status != 200 {
		t.Fatalf("recovery code: %d %s", r.Status, r.Body)
	}
	r = f.mfa(f.login(tn, email, "mfa_required"), "recovery_code", codes[0])
	wantProblem(t, r, 401, "unauthorized")
	wantFieldError(t, r, "code", mcrm.CodeRecoveryCodeInvalid)
	if _, _, n := f.factors(full); n != 9 {
		t.Fatalf("%d recovery codes left, want 9", n)
	}

	// A factor change needs a recent step-up.
	f.ageStepUp(tid, rita)
	wantStepUp(t, e.Do(full, "POST", "/api/v1/auth/factors/totp", map[string]any{}, nil))
	wantStepUp(t, e.Do(full, "POST", "/api/v1/auth/passkeys/register/begin", nil, nil))
	wantStepUp(t, e.Do(full, "POST", "/api/v1/auth/recovery-codes", nil, nil))
	wantStepUp(t, e.Do(full, "DELETE", "/api/v1/auth/factors/"+factorID, nil, nil))
	f.do(full, "POST", "/api/v1/auth/step-up", map[string]any{"recovery_code": codes[1]}, 200)

	// Live now: this session, the one of the TOTP sign-in, the one of
	// the recovery-code sign-in and the two left waiting for a second
	// factor after the refused replay and the refused recovery code.
	if n := f.sessions(full); n != 5 {
		t.Fatalf("%d live sessions, want 5", n)
	}
	en2 := f.do(full, "POST", "/api/v1/auth/factors/totp", nil, 201)
	secret2, id2 := totpSecret(t, en2), en2.JSON["id"].(string)
	if bytes.Equal(secret2, secret) {
		t.Fatal("a new enrolment reused the secret")
	}
	step2 := nowStep()
	done = f.do(full, "POST", "/api/v1/auth/factors/totp/"+id2+"/confirm", map[string]any{"code": totpCode(t, secret2, step2)}, 200)
	if _, ok := done.JSON["recovery_codes"]; ok {
		t.Fatalf("recovery codes replaced although 8 were left: %s", done.Body)
	}
	if _, ok := done.JSON["session"]; ok {
		t.Fatalf("a full session got a new one: %s", done.Body)
	}
	if done.JSON["sessions_revoked"] != json.Number("4") {
		t.Fatalf("sessions_revoked %v, want 4", done.JSON["sessions_revoked"])
	}
	if n := f.sessions(full); n != 1 {
		t.Fatalf("%d live sessions after the factor change, want 1", n)
	}
	if totps, _, _ := f.factors(full); len(totps) != 1 || totps[0].(map[string]any)["id"] != id2 {
		t.Fatalf("the new factor did not replace the old: %v", totps)
	}
	// The old secret is worthless now.
	r = f.mfa(f.login(tn, email, "mfa_required"), "code", totpCode(t, secret, step2+1))
	wantProblem(t, r, 401, "unauthorized")

	// New recovery codes replace every earlier one.
	fresh := strs(t, f.do(full, "POST", "/api/v1/auth/recovery-codes", nil, 200).JSON["recovery_codes"])
	if len(fresh) != 10 || slices.Contains(fresh, codes[2]) {
		t.Fatalf("new recovery codes %v", fresh)
	}
	wantProblem(t, f.mfa(f.login(tn, email, "mfa_required"), "recovery_code", codes[2]), 401, "unauthorized")
	if _, _, n := f.factors(full); n != 10 {
		t.Fatalf("%d recovery codes left, want 10", n)
	}

	// Another tenant's factor, and another user's, are not found.
	ten2, _ := e.NewTenant(dbtest.Name("globex"))
	tok2 := e.Login(ten2.Name, adminEmail(ten2))
	foreign := f.do(tok2, "POST", "/api/v1/auth/factors/totp", nil, 201)
	foreignID := foreign.JSON["id"].(string)
	r = e.Do(full, "POST", "/api/v1/auth/factors/totp/"+foreignID+"/confirm", map[string]any{"code": totpCode(t, totpSecret(t, foreign), nowStep())}, nil)
	wantProblem(t, r, 404, "not_found")
	wantProblem(t, e.Do(full, "DELETE", "/api/v1/auth/factors/"+foreignID, nil, nil), 404, "not_found")
	wantProblem(t, e.Do(full, "DELETE", "/api/v1/auth/factors/"+record.NewID(), nil, nil), 404, "not_found")

	// Removing the factor needs a step-up too, and ends the other sessions.
	second := f.mfa(f.login(tn, email, "mfa_required"), "code", totpCode(t, secret2, step2+1))
	if second.Status != 200 {
		t.Fatalf("mfa with the new factor: %d %s", second.Status, second.Body)
	}
	f.ageStepUp(tid, rita)
	wantStepUp(t, e.Do(full, "DELETE", "/api/v1/auth/factors/"+id2, nil, nil))
	f.do(full, "POST", "/api/v1/auth/step-up", map[string]any{"recovery_code": fresh[0]}, 200)
	f.do(full, "DELETE", "/api/v1/auth/factors/"+id2, nil, 204)
	wantProblem(t, e.Do(second.JSON["access_token"].(string), "GET", "/api/v1/me", nil, nil), 401, "unauthorized")
	if totps, _, _ := f.factors(full); len(totps) != 0 {
		t.Fatalf("factor still listed: %v", totps)
	}
	if f.events(tid, "authn_factor_deleted") != 1 {
		t.Fatal("no authn_factor_deleted event")
	}
	// Recovery codes back up a factor; without one there is nothing to back up.
	r = e.Do(full, "POST", "/api/v1/auth/recovery-codes", nil, nil)
	wantProblem(t, r, 409, "conflict")
	wantFieldError(t, r, "factor", "no_second_factor")
	// And the next sign-in must enrol again.
	f.login(tn, email, "enrolment_required")

	// No secret reached the log or the security events.
	secrets := []string{en.JSON["secret"].(string), en2.JSON["secret"].(string), codes[3], fresh[1], full}
	var details []string
	rows, err := e.DB.SQL().Query(`SELECT action, detail FROM security_events WHERE tenant_id = $1`, tid)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var action, detail string
		if err := rows.Scan(&action, &detail); err != nil {
			t.Fatal(err)
		}
		details = append(details, action+" "+detail)
	}
	rows.Close()
	all := strings.Join(details, "\n") + e.LogText()
	for _, s := range secrets {
		if strings.Contains(all, s) || strings.Contains(all, strings.ReplaceAll(s, "-", "")) {
			t.Fatalf("a secret (%.6s…) is in the events or the log", s)
		}
	}
}

func TestFactorsPasskeys(t *testing.T) {
	for _, backend := range dbtest.Backends {
		t.Run(backend, func(t *testing.T) {
			f := &fenv{t: t, e: apitest.New(t, backend)}
			testFactorsPasskeys(f)
		})
	}
}

func testFactorsPasskeys(f *fenv) {
	t, e := f.t, f.e
	tn, tid := e.Tenant.Name, e.Tenant.ID
	e.UseDefaultPolicy(tid)
	email := "pat@" + tn + ".example"
	pat := e.AddUser(tid, email, "Pat Manager", mcrm.RoleSalesManager, "")

	// The forced enrolment with a passkey.
	enrol := f.login(tn, email, "enrolment_required").JSON["access_token"].(string)
	sk := newSoftkey(t)
	reg := f.registerPasskey(enrol, sk, "Laptop")
	pk := reg.JSON["factor"].(map[string]any)
	pkID := pk["id"].(string)
	if pk["name"] != "Laptop" || pk["backup_eligible"] != false || pk["last_used_at"] != nil || !record.ValidID(pkID) {
		t.Fatalf("registered passkey %v", pk)
	}
	if len(strs(t, reg.JSON["recovery_codes"])) != 10 || reg.JSON["sessions_revoked"] != json.Number("0") {
		t.Fatalf("registration: %s", reg.Body)
	}
	sess := reg.JSON["session"].(map[string]any)
	full := sess["access_token"].(string)
	if sess["status"] != "ok" {
		t.Fatalf("registration session %v", sess)
	}
	wantProblem(t, e.Do(enrol, "GET", "/api/v1/me", nil, nil), 401, "unauthorized")
	if _, pks, n := f.factors(full); len(pks) != 1 || pks[0].(map[string]any)["id"] != pkID || n != 10 {
		t.Fatalf("factor list: %v %d", pks, n)
	}
	if f.events(tid, "authn_passkey_registered") != 1 {
		t.Fatal("no registration event")
	}

	// Passwordless sign-in: a full, strong session.
	before := f.events(tid, "authn_login_success")
	pl := f.passwordless(tn, sk, 200)
	if pl.JSON["status"] != "ok" || pl.JSON["refresh_token"] == nil || pl.JSON["user"].(map[string]any)["id"] != pat {
		t.Fatalf("passwordless sign-in: %s", pl.Body)
	}
	plTok := pl.JSON["access_token"].(string)
	f.do(plTok, "GET", "/api/v1/accounts", nil, 200)
	if n := f.events(tid, "authn_login_success"); n != before+1 {
		t.Fatalf("%d login events, want %d", n, before+1)
	}
	var amr []string
	for _, s := range f.do(plTok, "GET", "/api/v1/auth/sessions", nil, 200).JSON["data"].([]any) {
		if s.(map[string]any)["current"] == true {
			amr = strs(t, s.(map[string]any)["amr"])
		}
	}
	if !slices.Equal(amr, []string{"hwk", "user"}) {
		t.Fatalf("passwordless amr %v", amr)
	}
	// A sign-in with a passkey is a strong authentication: factor
	// changes are allowed at once.
	f.do(plTok, "POST", "/api/v1/auth/passkeys/register/begin", nil, 200)

	// An assertion works once: its challenge is burnt.
	begin := f.do("", "POST", "/api/v1/auth/passkeys/login/begin", map[string]any{"tenant": tn}, 200)
	finish := map[string]any{"tenant": tn, "challenge_id": begin.JSON["challenge_id"], "credential": assertion(t, sk, begin)}
	f.do("", "POST", "/api/v1/auth/passkeys/login/finish", finish, 200)
	fails := f.events(tid, "authn_login_fail")
	replay := e.Do("", "POST", "/api/v1/auth/passkeys/login/finish", finish, nil)
	wantProblem(t, replay, 401, "unauthorized")
	if n := f.events(tid, "authn_login_fail"); n != fails+1 {
		t.Fatalf("%d login failure events, want %d", n, fails+1)
	}

	// Nothing tells a known tenant or email from an unknown one.
	shapes := map[string]*apitest.Response{
		"known email":    f.do("", "POST", "/api/v1/auth/passkeys/login/begin", map[string]any{"tenant": tn, "email": email}, 200),
		"unknown email":  f.do("", "POST", "/api/v1/auth/passkeys/login/begin", map[string]any{"tenant": tn, "email": "nobody@" + tn + ".example"}, 200),
		"no email":       f.do("", "POST", "/api/v1/auth/passkeys/login/begin", map[string]any{"tenant": tn}, 200),
		"unknown tenant": f.do("", "POST", "/api/v1/auth/passkeys/login/begin", map[string]any{"tenant": "no-such-tenant", "email": email}, 200),
	}
	want := shapeOf(shapes["known email"].JSON)
	for name, r := range shapes {
		if got := shapeOf(r.JSON); got != want {
			t.Fatalf("%s: answer shape\n%s\nwant\n%s", name, got, want)
		}
	}
	// Finishing is the same refusal for a decoy challenge of an unknown
	// tenant and for an unknown challenge of a known one.
	var bodies [][]byte
	for _, c := range []struct{ tenant, id string }{
		{"no-such-tenant", shapes["unknown tenant"].JSON["challenge_id"].(string)},
		{tn, shapes["unknown tenant"].JSON["challenge_id"].(string)},
		{tn, shapes["known email"].JSON["challenge_id"].(string) + "x"},
	} {
		r := e.Do("", "POST", "/api/v1/auth/passkeys/login/finish", map[string]any{"tenant": c.tenant, "challenge_id": c.id, "credential": assertion(t, sk, shapes["no email"])}, nil)
		wantProblem(t, r, 401, "unauthorized")
		bodies = append(bodies, bytes.Replace(r.Body, []byte(r.JSON["request_id"].(string)), nil, 1))
	}
	for _, b := range bodies[1:] {
		if !bytes.Equal(b, bodies[0]) {
			t.Fatalf("failures differ:\n%s\n%s", b, bodies[0])
		}
	}

	// Step-up with the passkey.
	f.ageStepUp(tid, pat)
	wantStepUp(t, e.Do(full, "POST", "/api/v1/auth/factors/totp", nil, nil))
	sb := f.do(full, "POST", "/api/v1/auth/step-up/passkey/begin", nil, 200)
	allow, _ := sb.JSON["options"].(map[string]any)["publicKey"].(map[string]any)["allowCredentials"].([]any)
	if len(allow) != 1 || allow[0].(map[string]any)["id"] != base64.RawURLEncoding.EncodeToString(sk.CredentialID()) {
		t.Fatalf("step-up options do not list the user's passkey: %v", allow)
	}
	up := f.do(full, "POST", "/api/v1/auth/step-up/passkey/finish",
		map[string]any{"challenge_id": sb.JSON["challenge_id"], "credential": assertion(t, sk, sb)}, 200)
	if up.JSON["auth_time"] == nil || up.JSON["valid_until"] == nil {
		t.Fatalf("step-up: %s", up.Body)
	}
	f.do(full, "POST", "/api/v1/auth/factors/totp", nil, 201)

	// Another user cannot step up with Pat's passkey, even through a
	// passwordless challenge that names no user.
	qemail := "quinn@" + tn + ".example"
	e.AddUser(tid, qemail, "Quinn Rep", mcrm.RoleSalesRep, "")
	qsk := newSoftkey(t)
	quinn := f.registerPasskey(f.login(tn, qemail, "enrolment_required").JSON["access_token"].(string), qsk, "").JSON["session"].(map[string]any)["access_token"].(string)
	open := f.do("", "POST", "/api/v1/auth/passkeys/login/begin", map[string]any{"tenant": tn}, 200)
	r := e.Do(quinn, "POST", "/api/v1/auth/step-up/passkey/finish", map[string]any{"challenge_id": open.JSON["challenge_id"], "credential": assertion(t, sk, open)}, nil)
	wantProblem(t, r, 401, "unauthorized")
	wantFieldError(t, r, "credential", "webauthn_failed")
	if f.events(tid, "authn_step_up_fail") != 1 {
		t.Fatal("no step-up failure event")
	}
	// Quinn's session is strong (the enrolment), so this reaches the lookup.
	wantProblem(t, e.Do(quinn, "DELETE", "/api/v1/auth/passkeys/"+pkID, nil, nil), 404, "not_found")
	wantProblem(t, e.Do(quinn, "DELETE", "/api/v1/auth/factors/"+pkID, nil, nil), 404, "not_found")

	// Removing the passkey needs a step-up, ends the other sessions and
	// stops passwordless sign-in with it.
	f.ageStepUp(tid, pat)
	wantStepUp(t, e.Do(full, "DELETE", "/api/v1/auth/passkeys/"+pkID, nil, nil))
	f.stepUpPasskey(full, sk)
	// Live: this session and the two passwordless ones.
	if n := f.sessions(full); n != 3 {
		t.Fatalf("%d live sessions before the removal, want 3", n)
	}
	f.do(full, "DELETE", "/api/v1/auth/passkeys/"+pkID, nil, 204)
	if n := f.sessions(full); n != 1 {
		t.Fatalf("%d live sessions after the removal, want 1", n)
	}
	wantProblem(t, e.Do(plTok, "GET", "/api/v1/me", nil, nil), 401, "unauthorized")
	wantProblem(t, f.passwordless(tn, sk, 401), 401, "unauthorized")
	if _, pks, _ := f.factors(full); len(pks) != 0 {
		t.Fatalf("passkey still listed: %v", pks)
	}
	if f.events(tid, "authn_passkey_deleted") != 1 {
		t.Fatal("no authn_passkey_deleted event")
	}
	// Nothing left to step up with.
	r = e.Do(full, "POST", "/api/v1/auth/step-up/passkey/begin", nil, nil)
	wantProblem(t, r, 409, "conflict")
	wantFieldError(t, r, "credential", "no_passkey")
}

// shapeOf renders a JSON value with every string replaced by its length
// class and object keys sorted: two answers with the same shape differ
// only in random values.
func shapeOf(v any) string {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var b strings.Builder
		b.WriteString("{")
		for _, k := range keys {
			b.WriteString(k + ":" + shapeOf(x[k]) + ",")
		}
		return b.String() + "}"
	case []any:
		var b strings.Builder
		b.WriteString("[")
		for _, y := range x {
			b.WriteString(shapeOf(y) + ",")
		}
		return b.String() + "]"
	case string:
		return fmt.Sprintf("string(%d)", len(x))
	default:
		return fmt.Sprint(x)
	}
}

func TestFactorsPolicy(t *testing.T) {
	for _, backend := range dbtest.Backends {
		t.Run(backend, func(t *testing.T) {
			f := &fenv{t: t, e: apitest.New(t, backend)}
			e := f.e
			tn, tid := e.Tenant.Name, e.Tenant.ID
			pol := mcrm.DefaultAuthPolicy()
			pol.AllowedFactors = []string{mcrm.FactorPasskey, mcrm.FactorRecoveryCode}
			e.SetPolicy(tid, pol)
			email := "vic@" + tn + ".example"
			e.AddUser(tid, email, "Vic", mcrm.RoleSalesRep, "")

			enrol := f.login(tn, email, "enrolment_required").JSON["access_token"].(string)
			r := e.Do(enrol, "POST", "/api/v1/auth/factors/totp", nil, nil)
			wantProblem(t, r, 403, "forbidden")
			wantFieldError(t, r, "factor", "factor_not_allowed")
			sk := newSoftkey(t)
			full := f.registerPasskey(enrol, sk, "Key").JSON["session"].(map[string]any)["access_token"].(string)
			f.passwordless(tn, sk, 200)

			// A tenant that stops allowing passkeys stops their sign-ins
			// with the same refusal as any other failure.
			pol.AllowedFactors = []string{mcrm.FactorTOTP, mcrm.FactorRecoveryCode}
			e.SetPolicy(tid, pol)
			wantProblem(t, f.passwordless(tn, sk, 401), 401, "unauthorized")
			r = e.Do(full, "POST", "/api/v1/auth/passkeys/register/begin", nil, nil)
			wantProblem(t, r, 403, "forbidden")
			wantFieldError(t, r, "factor", "factor_not_allowed")
			r = e.Do(full, "POST", "/api/v1/auth/step-up/passkey/begin", nil, nil)
			wantProblem(t, r, 403, "forbidden")

			// Under a password-only policy a full session enrols its
			// first factor without a step-up and stays what it was.
			e.SetPolicy(tid, apitest.PasswordOnly())
			demail := "dee@" + tn + ".example"
			e.AddUser(tid, demail, "Dee", mcrm.RoleSalesRep, "")
			dee := f.login(tn, demail, "ok").JSON["access_token"].(string)
			other := f.login(tn, demail, "ok").JSON["access_token"].(string)
			en := f.do(dee, "POST", "/api/v1/auth/factors/totp", nil, 201)
			done := f.do(dee, "POST", "/api/v1/auth/factors/totp/"+en.JSON["id"].(string)+"/confirm", map[string]any{"code": totpCode(t, totpSecret(t, en), nowStep())}, 200)
			if _, ok := done.JSON["session"]; ok || done.JSON["sessions_revoked"] != json.Number("1") || len(strs(t, done.JSON["recovery_codes"])) != 10 {
				t.Fatalf("first factor of a full session: %s", done.Body)
			}
			wantProblem(t, e.Do(other, "GET", "/api/v1/me", nil, nil), 401, "unauthorized")
			// Its password sign-in was never strong: the next change
			// needs a step-up.
			wantStepUp(t, e.Do(dee, "POST", "/api/v1/auth/factors/totp", nil, nil))
			// Unknown or malformed ids are 404 before any lookup.
			wantProblem(t, e.Do(dee, "POST", "/api/v1/auth/factors/totp/not-an-id/confirm", map[string]any{"code": "123456"}, nil), 404, "not_found")
		})
	}
}

// oaFactorTraffic is the factor routes' part of TestOpenAPI: every
// operation answered successfully at least once, and the refusals a client
// must expect, each checked against the document. The tenant has the
// harness's password-only policy, so the user starts with a full session
// and no factor.
func oaFactorTraffic(s *oaSpec, tenant string) {
	t, e := s.t, s.e
	email := "fay@" + tenant + ".example"
	e.AddUser(e.Tenant.ID, email, "Fay Rep", mcrm.RoleSalesRep, "")
	tok := e.Login(tenant, email)

	s.do(oaCall{token: tok, method: "GET", path: "/api/v1/auth/factors", status: http.StatusOK})

	// A first passkey needs no step-up; with it the session steps up.
	sk := newSoftkey(t)
	begin := s.do(oaCall{token: tok, method: "POST", path: "/api/v1/auth/passkeys/register/begin", status: http.StatusOK})
	opts, _ := json.Marshal(begin.JSON["options"])
	cred, err := sk.Register(opts)
	if err != nil {
		t.Fatal(err)
	}
	reg := s.do(oaCall{token: tok, method: "POST", path: "/api/v1/auth/passkeys/register/finish", status: http.StatusOK,
		json: map[string]any{"challenge_id": begin.JSON["challenge_id"], "credential": json.RawMessage(cred), "name": "Laptop"}})
	pkID := reg.JSON["factor"].(map[string]any)["id"].(string)
	r := s.do(oaCall{token: tok, method: "POST", path: "/api/v1/auth/factors/totp", json: map[string]any{}, status: http.StatusUnauthorized})
	problemCode(t, r, mcrm.EStepUpRequired)
	sb := s.do(oaCall{token: tok, method: "POST", path: "/api/v1/auth/step-up/passkey/begin", status: http.StatusOK})
	s.do(oaCall{token: tok, method: "POST", path: "/api/v1/auth/step-up/passkey/finish", status: http.StatusOK,
		json: map[string]any{"challenge_id": sb.JSON["challenge_id"], "credential": assertion(t, sk, sb)}})

	en := s.do(oaCall{token: tok, method: "POST", path: "/api/v1/auth/factors/totp", json: map[string]any{"name": "Phone"}, status: http.StatusCreated})
	secret, totpID := totpSecret(t, en), en.JSON["id"].(string)
	confirm := "/api/v1/auth/factors/totp/" + totpID + "/confirm"
	r = s.do(oaCall{token: tok, method: "POST", path: confirm, json: map[string]any{"code": wrongCode(t, secret)}, status: http.StatusUnauthorized})
	problemCode(t, r, mcrm.EUnauthorized)
	s.do(oaCall{token: tok, method: "POST", path: confirm, json: map[string]any{}, status: http.StatusBadRequest, breaks: "body"})
	s.do(oaCall{token: tok, method: "POST", path: confirm, json: map[string]any{"code": totpCode(t, secret, nowStep())}, status: http.StatusOK})
	s.do(oaCall{token: tok, method: "POST", path: "/api/v1/auth/recovery-codes", status: http.StatusOK})

	// Passwordless sign-in, and its one refusal.
	lb := s.do(oaCall{method: "POST", path: "/api/v1/auth/passkeys/login/begin", json: map[string]any{"tenant": tenant, "email": email}, status: http.StatusOK})
	s.do(oaCall{method: "POST", path: "/api/v1/auth/passkeys/login/begin", json: map[string]any{"email": email}, status: http.StatusBadRequest, breaks: "body"})
	login := map[string]any{"tenant": tenant, "challenge_id": lb.JSON["challenge_id"], "credential": assertion(t, sk, lb), "session": "token"}
	s.do(oaCall{method: "POST", path: "/api/v1/auth/passkeys/login/finish", json: login, status: http.StatusOK})
	r = s.do(oaCall{method: "POST", path: "/api/v1/auth/passkeys/login/finish", json: login, status: http.StatusUnauthorized})
	problemCode(t, r, mcrm.EUnauthorized)

	r = s.do(oaCall{token: tok, method: "DELETE", path: "/api/v1/auth/factors/" + record.NewID(), status: http.StatusNotFound})
	problemCode(t, r, mcrm.ENotFound)
	s.do(oaCall{token: tok, method: "DELETE", path: "/api/v1/auth/factors/" + totpID, status: http.StatusNoContent})
	s.do(oaCall{token: tok, method: "DELETE", path: "/api/v1/auth/passkeys/" + pkID, status: http.StatusNoContent})
	r = s.do(oaCall{token: tok, method: "DELETE", path: "/api/v1/auth/passkeys/" + pkID, status: http.StatusNotFound})
	problemCode(t, r, mcrm.ENotFound)
	r = s.do(oaCall{token: tok, method: "POST", path: "/api/v1/auth/recovery-codes", status: http.StatusConflict})
	problemCode(t, r, mcrm.EConflict)
	r = s.do(oaCall{token: tok, method: "POST", path: "/api/v1/auth/step-up/passkey/begin", status: http.StatusConflict})
	problemCode(t, r, mcrm.EConflict)
}
