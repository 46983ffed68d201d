package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"mcrm/passkey/softkey"
	"mcrm/totp/softotp"
)

// TestIdentityEndToEnd drives the built binary the way the issue asks: a
// user enrols TOTP and a passkey, signs in with each, refreshes, has a
// refresh token stolen and replayed (the whole session is revoked), and
// is stepped up for an export. SQLite, over HTTPS.
func TestIdentityEndToEnd(t *testing.T) {
	b := backend{dataDir: filepath.Join(t.TempDir(), "identity")}
	// Passwords alone may sign in to this tenant, so the user starts with
	// a session that is not strongly authenticated.
	srv := startServer(t, b, "MCRM_ADMIN_PASSWORD="+adminPassword)
	mustMcrm(t, nil, `{"mfa_required_roles":[],"allowed_factors":["totp","passkey","recovery_code"],"passkey_user_verification":"required","risk":{"low":"allow","medium":"allow","high":"deny"}}`,
		b.args("tenant", "policy", "set", "--tenant", "default")...)

	call := func(method, path, token string, body any, want int) map[string]any {
		t.Helper()
		var rd *bytes.Reader
		ct := ""
		if body != nil {
			raw, _ := json.Marshal(body)
			rd, ct = bytes.NewReader(raw), "application/json"
		} else {
			rd = bytes.NewReader(nil)
		}
		status, resp := srv.request(method, path, token, ct, rd)
		if status != want {
			t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, resp)
		}
		out := map[string]any{}
		if len(resp) > 0 && resp[0] == '{' {
			if err := json.Unmarshal(resp, &out); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	creds := map[string]any{"tenant": "default", "email": "admin@example.com", "password": adminPassword}

	// 1. Password only: signed in, but an export needs a step-up.
	s1 := call("POST", "/api/v1/auth/login", "", creds, http.StatusOK)
	if s1["status"] != "ok" {
		t.Fatalf("password sign-in: %v", s1)
	}
	tok1 := s1["access_token"].(string)
	if p := call("GET", "/api/v1/exports/accounts", tok1, nil, http.StatusUnauthorized); p["code"] != "insufficient_user_authentication" {
		t.Fatalf("export without step-up: %v", p)
	}

	// 2. Enrol TOTP (a first factor needs no step-up) and step up with it.
	enrol := call("POST", "/api/v1/auth/factors/totp", tok1, map[string]any{"name": "phone"}, http.StatusCreated)
	app, err := softotp.New(enrol["secret"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enrol["otpauth_uri"].(string), "otpauth://totp/") {
		t.Fatalf("otpauth_uri %v", enrol["otpauth_uri"])
	}
	conf := call("POST", "/api/v1/auth/factors/totp/"+enrol["id"].(string)+"/confirm", tok1, map[string]any{"code": app.Code()}, http.StatusOK)
	if codes, _ := conf["recovery_codes"].([]any); len(codes) != 10 {
		t.Fatalf("recovery codes: %v", conf["recovery_codes"])
	}
	call("POST", "/api/v1/auth/step-up", tok1, map[string]any{"code": app.Code()}, http.StatusOK)
	status, csv := srv.request("GET", "/api/v1/exports/accounts", tok1, "", nil)
	if status != http.StatusOK || !bytes.HasPrefix(csv, []byte("id,")) {
		t.Fatalf("export after step-up: %d %s", status, csv)
	}

	// 3. Register a passkey in the same (freshly stepped-up) session.
	u, _ := url.Parse(srv.base)
	key, err := softkey.New("https://localhost:" + u.Port())
	if err != nil {
		t.Fatal(err)
	}
	begin := call("POST", "/api/v1/auth/passkeys/register/begin", tok1, map[string]any{}, http.StatusOK)
	opts, _ := json.Marshal(begin["options"])
	att, err := key.Register(opts)
	if err != nil {
		t.Fatal(err)
	}
	call("POST", "/api/v1/auth/passkeys/register/finish", tok1, map[string]any{"challenge_id": begin["challenge_id"], "credential": json.RawMessage(att), "name": "laptop"}, http.StatusOK)
	call("POST", "/api/v1/auth/logout", tok1, nil, http.StatusNoContent)
	call("GET", "/api/v1/me", tok1, nil, http.StatusUnauthorized)

	// 4. Sign in with password + TOTP.
	pending := call("POST", "/api/v1/auth/login", "", creds, http.StatusOK)
	if pending["status"] != "mfa_required" || pending["access_token"] != nil {
		t.Fatalf("password step of a user with factors: %v", pending)
	}
	s2 := call("POST", "/api/v1/auth/login/mfa", "", map[string]any{"mfa_token": pending["mfa_token"], "code": app.Code()}, http.StatusOK)
	tok2 := s2["access_token"].(string)

	// 5. Sign in with the passkey alone.
	lb := call("POST", "/api/v1/auth/passkeys/login/begin", "", map[string]any{"tenant": "default"}, http.StatusOK)
	lopts, _ := json.Marshal(lb["options"])
	assertion, err := key.Login(lopts)
	if err != nil {
		t.Fatal(err)
	}
	s3 := call("POST", "/api/v1/auth/passkeys/login/finish", "", map[string]any{"tenant": "default", "challenge_id": lb["challenge_id"], "credential": json.RawMessage(assertion)}, http.StatusOK)
	if s3["status"] != "ok" {
		t.Fatalf("passkey sign-in: %v", s3)
	}

	// 6. Refresh; the old refresh token is stolen and replayed: the whole
	// passkey session ends, the TOTP session does not.
	stolen := s3["refresh_token"].(string)
	s3b := call("POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": stolen}, http.StatusOK)
	call("GET", "/api/v1/me", s3b["access_token"].(string), nil, http.StatusOK)
	call("POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": stolen}, http.StatusUnauthorized)
	call("GET", "/api/v1/me", s3b["access_token"].(string), nil, http.StatusUnauthorized)
	call("POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": s3b["refresh_token"]}, http.StatusUnauthorized)
	list := call("GET", "/api/v1/auth/sessions", tok2, nil, http.StatusOK)
	if data, _ := list["data"].([]any); len(data) != 1 || data[0].(map[string]any)["id"] != s2["session_id"] {
		t.Fatalf("live sessions after the reuse: %v", list)
	}
	srv.stop()
}
