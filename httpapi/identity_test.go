package httpapi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mcrm"
	"mcrm/apitest"
	"mcrm/dbtest"
	"mcrm/dpop"
	"mcrm/httpapi"
	"mcrm/password"
	"mcrm/risk"
	"mcrm/sqlstore"
)

// Identity over real HTTPS (AUTH-01..AUTH-16): throttling and
// enumeration, token rotation and reuse, DPoP binding, browser cookies
// with CSRF, step-up, risk-based refusal, session limits per role.

var requestIDField = regexp.MustCompile(`"request_id":"[^"]*"`)

// sameAnswer strips the request id, the one part of an error body that
// differs per request by design.
func sameAnswer(b []byte) string {
	return requestIDField.ReplaceAllString(string(b), `"request_id":""`)
}

func loginBody(tenant, email, pw string) map[string]any {
	return map[string]any{"tenant": tenant, "email": email, "password": pw}
}

func eventCount(t *testing.T, e *apitest.Env, tenantID, action string) int {
	t.Helper()
	n, err := e.DB.CountEvents(context.Background(), tenantID, action)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Unknown tenant, unknown user, wrong password, deactivated user and a
// locked account answer the same status and body (AUTH-12); after
// PairMax failures of one account from one address the answer is 429 with
// Retry-After (AUTH-03), and the hard cap locks the account without
// saying so.
func TestIdentityThrottleAndEnumeration(t *testing.T) {
	for _, backend := range dbtest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apitest.NewWith(t, backend, func(c *httpapi.Config) {
				c.LoginLimits = sqlstore.ThrottleLimits{PairMax: 5, PairWindow: 15 * time.Minute, AccountMax: 8, AccountWindow: time.Hour, NetAccounts: 1000, NetWindow: time.Hour}
			})
			tn := e.Tenant.Name
			e.AddUser(e.Tenant.ID, "rep@enum.example", "Rep", mcrm.RoleSalesRep, "")
			gone := e.AddUser(e.Tenant.ID, "gone@enum.example", "Gone", mcrm.RoleSalesRep, "")
			admin := e.LoginStrong(tn, adminEmail(e.Tenant))
			u := e.Do(admin, "GET", "/api/v1/users/"+gone, nil, nil)
			if r := e.Do(admin, "PATCH", "/api/v1/users/"+gone, map[string]any{"active": false}, map[string]string{"If-Match": u.Header.Get("ETag")}); r.Status != 200 {
				t.Fatalf("deactivate: %d %s", r.Status, r.Body)
			}
			answers := map[string]*apitest.Response{
				"unknown tenant": e.Do("", "POST", "/api/v1/auth/login", loginBody("no-such-tenant", "rep@enum.example", "whatever password"), nil),
				"unknown user":   e.Do("", "POST", "/api/v1/auth/login", loginBody(tn, "nobody@enum.example", "whatever password"), nil),
				"wrong password": e.Do("", "POST", "/api/v1/auth/login", loginBody(tn, "rep@enum.example", "whatever password"), nil),
				"inactive user":  e.Do("", "POST", "/api/v1/auth/login", loginBody(tn, "gone@enum.example", apitest.Password), nil),
			}
			want := sameAnswer(answers["wrong password"].Body)
			for name, r := range answers {
				if r.Status != http.StatusUnauthorized || sameAnswer(r.Body) != want {
					t.Errorf("%s: %d %s, want 401 %s", name, r.Status, r.Body, want)
				}
			}
			// Four more failures make five for rep from this address.
			for range 4 {
				if r := e.Do("", "POST", "/api/v1/auth/login", loginBody(tn, "rep@enum.example", "still wrong"), nil); r.Status != 401 {
					t.Fatalf("failure: %d", r.Status)
				}
			}
			// The sixth attempt is refused before the password is looked
			// at, even the right one.
			r := e.Do("", "POST", "/api/v1/auth/login", loginBody(tn, "rep@enum.example", apitest.Password), nil)
			if r.Status != http.StatusTooManyRequests || r.JSON["code"] != string(mcrm.ERateLimited) {
				t.Fatalf("sixth attempt: %d %s", r.Status, r.Body)
			}
			if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
				t.Fatalf("Retry-After %q", ra)
			}
			if n := eventCount(t, e, e.Tenant.ID, "authn_login_fail_max"); n != 1 {
				t.Errorf("authn_login_fail_max events %d, want 1", n)
			}
			// Unknown accounts are throttled alike.
			for range 5 {
				e.Do("", "POST", "/api/v1/auth/login", loginBody(tn, "ghost@enum.example", "x password"), nil)
			}
			if r := e.Do("", "POST", "/api/v1/auth/login", loginBody(tn, "ghost@enum.example", "x password"), nil); r.Status != 429 {
				t.Errorf("unknown account not throttled: %d", r.Status)
			}

			// The hourly cap counts failures from every address; reach it
			// for a second user by clearing the per-address rows between
			// bursts (as failures from many addresses would).
			e.AddUser(e.Tenant.ID, "cap@enum.example", "Cap", mcrm.RoleSalesRep, "")
			for i := range 8 {
				if r := e.Do("", "POST", "/api/v1/auth/login", loginBody(tn, "cap@enum.example", "wrong again"), nil); r.Status != 401 {
					t.Fatalf("cap failure %d: %d %s", i, r.Status, r.Body)
				}
				if i%4 == 3 {
					// New address for the pair limit: rows keep their
					// account key, so the account count still grows.
					if _, err := e.DB.RawWriter().Exec(`UPDATE auth_failures SET addr_key = 'elsewhere-' || id WHERE pending = $1`, false); err != nil {
						t.Fatal(err)
					}
				}
			}
			locked := e.Do("", "POST", "/api/v1/auth/login", loginBody(tn, "cap@enum.example", apitest.Password), nil)
			if locked.Status != http.StatusUnauthorized || sameAnswer(locked.Body) != want {
				t.Fatalf("locked account with the right password: %d %s, want the wrong-password answer", locked.Status, locked.Body)
			}
			if n := eventCount(t, e, e.Tenant.ID, "authn_login_lock"); n != 1 {
				t.Errorf("authn_login_lock events %d, want 1", n)
			}
			if n := eventCount(t, e, e.Tenant.ID, "authn_login_fail"); n < 12 {
				t.Errorf("authn_login_fail events %d, want at least 12", n)
			}
		})
	}
}

// Unknown user and wrong password take the same time: both verify one
// argon2id hash. Medians of a few attempts each, with a wide margin (the
// difference a missing verification makes is 100×, not 2×).
func TestIdentityNoTimingOracle(t *testing.T) {
	e := apitest.NewWith(t, "sqlite", func(c *httpapi.Config) {
		c.LoginLimits = sqlstore.ThrottleLimits{PairMax: 1000, PairWindow: time.Minute, AccountMax: 1000, AccountWindow: time.Hour, NetAccounts: 1000, NetWindow: time.Hour}
	})
	e.AddUser(e.Tenant.ID, "rep@time.example", "Rep", mcrm.RoleSalesRep, "")
	median := func(email string) time.Duration {
		var ds []time.Duration
		for range 7 {
			start := time.Now()
			if r := e.Do("", "POST", "/api/v1/auth/login", loginBody(e.Tenant.Name, email, "not the password"), nil); r.Status != 401 {
				t.Fatalf("%d", r.Status)
			}
			ds = append(ds, time.Since(start))
		}
		slices.Sort(ds)
		return ds[3]
	}
	known, unknown := median("rep@time.example"), median("nobody@time.example")
	ratio := float64(unknown) / float64(known)
	if ratio < 0.4 || ratio > 2.5 {
		t.Fatalf("unknown user %v vs wrong password %v (ratio %.2f): timing tells them apart", unknown, known, ratio)
	}
}

// A refresh token works once; presenting it again revokes the whole
// session and records authn_token_reuse (AUTH-06).
func TestIdentityRefreshRotationAndReuse(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, _ string) {
		e.AddUser(e.Tenant.ID, "rep@refresh.example", "Rep", mcrm.RoleSalesRep, "")
		first := e.Do("", "POST", "/api/v1/auth/login", loginBody(e.Tenant.Name, "rep@refresh.example", apitest.Password), nil)
		if first.Status != 200 || first.JSON["expires_in"] != json.Number("600") {
			t.Fatalf("login: %d %s", first.Status, first.Body)
		}
		stolen := first.JSON["refresh_token"].(string)
		second := e.Do("", "POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": stolen}, nil)
		if second.Status != 200 || second.JSON["refresh_token"] == stolen || second.JSON["session_id"] != first.JSON["session_id"] {
			t.Fatalf("refresh: %d %s", second.Status, second.Body)
		}
		access := second.JSON["access_token"].(string)
		if r := e.Do(access, "GET", "/api/v1/me", nil, nil); r.Status != 200 {
			t.Fatalf("new access token: %d", r.Status)
		}
		// The attacker replays the stolen (used) token.
		replay := e.Do("", "POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": stolen}, nil)
		if replay.Status != 401 || !strings.Contains(string(replay.Body), `"code":"reused"`) {
			t.Fatalf("replayed refresh token: %d %s", replay.Status, replay.Body)
		}
		// The whole family is gone: the legitimate client's tokens too.
		if r := e.Do(access, "GET", "/api/v1/me", nil, nil); r.Status != 401 {
			t.Fatalf("access token after reuse: %d", r.Status)
		}
		if r := e.Do("", "POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": second.JSON["refresh_token"]}, nil); r.Status != 401 {
			t.Fatalf("newest refresh token after reuse: %d", r.Status)
		}
		if n := eventCount(t, e, e.Tenant.ID, "authn_token_reuse"); n != 1 {
			t.Fatalf("authn_token_reuse events %d, want 1", n)
		}
		if n := eventCount(t, e, e.Tenant.ID, "authn_token_refresh"); n != 1 {
			t.Fatalf("authn_token_refresh events %d, want 1", n)
		}
	})
}

// dpopClient signs proofs with its own key.
type dpopClient struct {
	t   *testing.T
	e   *apitest.Env
	key *ecdsa.PrivateKey
}

func newDPoPClient(t *testing.T, e *apitest.Env) *dpopClient {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &dpopClient{t: t, e: e, key: k}
}

func (c *dpopClient) proof(method, path, token string) string {
	p, err := dpop.NewProof(c.key, method, c.e.Server.URL+path, token, time.Now(), "")
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

// do sends a DPoP-authenticated request (token "" at the token endpoints).
func (c *dpopClient) do(token, method, path string, body any) *apitest.Response {
	h := map[string]string{"DPoP": c.proof(method, path, token)}
	if token != "" {
		h["Authorization"] = "DPoP " + token
	}
	return c.e.Do("", method, path, body, h)
}

// Tokens bound to a device key (RFC 9449, AUTH-07): only a request with a
// fresh proof of that key is accepted.
func TestIdentityDPoPBinding(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, _ string) {
		e.AddUser(e.Tenant.ID, "rep@dpop.example", "Rep", mcrm.RoleSalesRep, "")
		phone := newDPoPClient(t, e)
		thief := newDPoPClient(t, e)
		login := phone.do("", "POST", "/api/v1/auth/login", loginBody(e.Tenant.Name, "rep@dpop.example", apitest.Password))
		if login.Status != 200 || login.JSON["token_type"] != "DPoP" {
			t.Fatalf("login with a proof: %d %s", login.Status, login.Body)
		}
		tok := login.JSON["access_token"].(string)
		if r := phone.do(tok, "GET", "/api/v1/me", nil); r.Status != 200 {
			t.Fatalf("bound token with its key: %d %s", r.Status, r.Body)
		}
		check := func(name string, r *apitest.Response, fieldCode string) {
			t.Helper()
			if r.Status != 401 || !strings.Contains(string(r.Body), `"code":"`+fieldCode+`"`) {
				t.Errorf("%s: %d %s, want 401 with %s", name, r.Status, r.Body, fieldCode)
			}
		}
		// As a plain bearer token.
		check("bearer", e.Do(tok, "GET", "/api/v1/me", nil, nil), "dpop_bound")
		// With a valid proof of another key.
		check("other key", thief.do(tok, "GET", "/api/v1/me", nil), "key_mismatch")
		// A proof replayed (same jti).
		p := phone.proof("GET", "/api/v1/me", tok)
		h := map[string]string{"DPoP": p, "Authorization": "DPoP " + tok}
		if r := e.Do("", "GET", "/api/v1/me", nil, h); r.Status != 200 {
			t.Fatalf("first use of a proof: %d", r.Status)
		}
		check("reused jti", e.Do("", "GET", "/api/v1/me", nil, h), dpop.CodeInvalidProof)
		// A proof for another method or URL.
		check("wrong method", e.Do("", "GET", "/api/v1/me", nil, map[string]string{"DPoP": phone.proof("POST", "/api/v1/me", tok), "Authorization": "DPoP " + tok}), dpop.CodeInvalidProof)
		check("wrong url", e.Do("", "GET", "/api/v1/me", nil, map[string]string{"DPoP": phone.proof("GET", "/api/v1/accounts", tok), "Authorization": "DPoP " + tok}), dpop.CodeInvalidProof)
		// A proof made for another token (ath).
		check("wrong ath", e.Do("", "GET", "/api/v1/me", nil, map[string]string{"DPoP": phone.proof("GET", "/api/v1/me", "another-token"), "Authorization": "DPoP " + tok}), dpop.CodeInvalidProof)
		if r := e.Do("", "GET", "/api/v1/me", nil, map[string]string{"Authorization": "DPoP " + tok}); r.Status != 401 || !strings.Contains(r.Header.Get("WWW-Authenticate"), `DPoP algs="ES256 EdDSA"`) {
			t.Errorf("no proof: %d %q", r.Status, r.Header.Get("WWW-Authenticate"))
		}
		// Refresh needs the same key.
		ref := login.JSON["refresh_token"].(string)
		check("refresh with another key", thief.do("", "POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": ref}), "key_mismatch")
		check("refresh without a proof", e.Do("", "POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": ref}, nil), "key_mismatch")
		if r := phone.do("", "POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": ref}); r.Status != 200 || r.JSON["token_type"] != "DPoP" {
			t.Fatalf("refresh with the key after refused attempts: %d %s", r.Status, r.Body)
		}
		// An unbound token may not pose as bound.
		plain := e.Login(e.Tenant.Name, "rep@dpop.example")
		check("unbound token with DPoP scheme", phone.do(plain, "GET", "/api/v1/me", nil), "not_dpop_bound")

		// A tenant that requires bound tokens refuses a sign-in without a
		// proof.
		pol := apitest.PasswordOnly()
		pol.RequireDPoP = true
		e.SetPolicy(e.Tenant.ID, pol)
		check("login without proof under require_dpop", e.Do("", "POST", "/api/v1/auth/login", loginBody(e.Tenant.Name, "rep@dpop.example", apitest.Password), nil), "dpop_required")
		if r := phone.do("", "POST", "/api/v1/auth/login", loginBody(e.Tenant.Name, "rep@dpop.example", apitest.Password)); r.Status != 200 {
			t.Errorf("login with proof under require_dpop: %d", r.Status)
		}
	})
}

// Browser sessions: a __Host- cookie (Secure, HttpOnly, SameSite=Strict,
// Path=/) and a CSRF token required on every unsafe request (AUTH-08).
func TestIdentityCookieSessionAndCSRF(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, _ string) {
		e.AddUser(e.Tenant.ID, "rep@cookie.example", "Rep", mcrm.RoleSalesRep, "")
		body := loginBody(e.Tenant.Name, "rep@cookie.example", apitest.Password)
		body["session"] = "cookie"
		r := e.Do("", "POST", "/api/v1/auth/login", body, nil)
		if r.Status != 200 || r.JSON["access_token"] != nil || r.JSON["refresh_token"] != nil {
			t.Fatalf("cookie login: %d %s", r.Status, r.Body)
		}
		sc := r.Header.Get("Set-Cookie")
		for _, want := range []string{"__Host-mcrm_session=", "Path=/", "HttpOnly", "Secure", "SameSite=Strict"} {
			if !strings.Contains(sc, want) {
				t.Errorf("Set-Cookie %q lacks %s", sc, want)
			}
		}
		if strings.Contains(sc, "Domain=") {
			t.Errorf("Set-Cookie %q names a domain", sc)
		}
		cookie := strings.SplitN(sc, ";", 2)[0]
		csrf := r.JSON["csrf_token"].(string)
		with := func(extra map[string]string) map[string]string {
			h := map[string]string{"Cookie": cookie}
			for k, v := range extra {
				h[k] = v
			}
			return h
		}
		if g := e.Do("", "GET", "/api/v1/me", nil, with(nil)); g.Status != 200 {
			t.Fatalf("GET with the cookie: %d", g.Status)
		}
		acct := map[string]any{"name": "Cookie Co"}
		if p := e.Do("", "POST", "/api/v1/accounts", acct, with(nil)); p.Status != 403 || !strings.Contains(string(p.Body), `"code":"csrf"`) {
			t.Fatalf("POST without CSRF token: %d %s", p.Status, p.Body)
		}
		if p := e.Do("", "POST", "/api/v1/accounts", acct, with(map[string]string{"X-CSRF-Token": "forged"})); p.Status != 403 {
			t.Fatalf("POST with a wrong CSRF token: %d", p.Status)
		}
		if p := e.Do("", "POST", "/api/v1/accounts", acct, with(map[string]string{"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"})); p.Status != 403 {
			t.Fatalf("cross-site POST with the token: %d", p.Status)
		}
		if p := e.Do("", "POST", "/api/v1/accounts", acct, with(map[string]string{"X-CSRF-Token": csrf, "Origin": "https://evil.example"})); p.Status != 403 {
			t.Fatalf("POST from another origin: %d", p.Status)
		}
		if p := e.Do("", "POST", "/api/v1/accounts", acct, with(map[string]string{"X-CSRF-Token": csrf, "Sec-Fetch-Site": "same-origin", "Origin": e.Server.URL})); p.Status != 201 {
			t.Fatalf("same-origin POST with the token: %d %s", p.Status, p.Body)
		}
		// The cookie's value is not a bearer token.
		val := strings.TrimPrefix(cookie, "__Host-mcrm_session=")
		if g := e.Do(val, "GET", "/api/v1/me", nil, nil); g.Status != 401 {
			t.Fatalf("cookie value as a bearer token: %d", g.Status)
		}
		// Logout ends it and clears the cookie.
		out := e.Do("", "POST", "/api/v1/auth/logout", nil, with(map[string]string{"X-CSRF-Token": csrf}))
		if out.Status != 204 || !strings.Contains(out.Header.Get("Set-Cookie"), "Max-Age=0") {
			t.Fatalf("logout: %d %q", out.Status, out.Header.Get("Set-Cookie"))
		}
		if g := e.Do("", "GET", "/api/v1/me", nil, with(nil)); g.Status != 401 {
			t.Fatalf("cookie after logout: %d", g.Status)
		}
	})
}

// Export and user administration need a strong authentication in the
// last 5 minutes (AUTH-09): 401 insufficient_user_authentication with the
// RFC 9470 challenge, then allowed after a TOTP step-up, and refused again
// once the window has passed.
func TestIdentityStepUp(t *testing.T) {
	for _, backend := range dbtest.Backends {
		t.Run(backend, func(t *testing.T) {
			var skew atomic.Int64
			e := apitest.NewWith(t, backend, func(c *httpapi.Config) {
				c.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
			})
			app := e.EnrolTOTP(e.Tenant.ID, e.AdminID)
			pending := e.Do("", "POST", "/api/v1/auth/login", loginBody(e.Tenant.Name, adminEmail(e.Tenant), apitest.Password), nil)
			if pending.JSON["status"] != "mfa_required" || !slices.Equal(anyStrings(pending.JSON["factors"]), []string{"totp", "recovery_code"}) && !slices.Equal(anyStrings(pending.JSON["factors"]), []string{"totp"}) {
				t.Fatalf("password step: %s", pending.Body)
			}
			if pending.JSON["access_token"] != nil || pending.JSON["user"] != nil {
				t.Fatalf("the password step handed out more than an mfa token: %s", pending.Body)
			}
			done := e.Do("", "POST", "/api/v1/auth/login/mfa", map[string]any{"mfa_token": pending.JSON["mfa_token"], "code": app.Code()}, nil)
			if done.Status != 200 {
				t.Fatalf("mfa: %d %s", done.Status, done.Body)
			}
			// The mfa token worked once.
			if r := e.Do("", "POST", "/api/v1/auth/login/mfa", map[string]any{"mfa_token": pending.JSON["mfa_token"], "code": "123456"}, nil); r.Status != 401 {
				t.Fatalf("mfa token reused: %d", r.Status)
			}
			tok := done.JSON["access_token"].(string)
			if r := e.Do(tok, "GET", "/api/v1/exports/accounts", nil, nil); r.Status != 200 {
				t.Fatalf("export right after MFA: %d %s", r.Status, r.Body)
			}
			skew.Store(int64(6 * time.Minute))
			refused := e.Do(tok, "GET", "/api/v1/exports/accounts", nil, nil)
			if refused.Status != 401 || refused.JSON["code"] != string(mcrm.EStepUpRequired) ||
				!strings.Contains(refused.Header.Get("WWW-Authenticate"), `error="insufficient_user_authentication"`) ||
				!strings.Contains(refused.Header.Get("WWW-Authenticate"), "max_age=300") {
				t.Fatalf("export 6 minutes after MFA: %d %q %s", refused.Status, refused.Header.Get("WWW-Authenticate"), refused.Body)
			}
			rep := e.AddUser(e.Tenant.ID, "rep@stepup.example", "Rep", mcrm.RoleSalesRep, "")
			u := e.Do(tok, "GET", "/api/v1/users/"+rep, nil, nil)
			promote := map[string]any{"role": mcrm.RoleAdmin}
			if r := e.Do(tok, "PATCH", "/api/v1/users/"+rep, promote, map[string]string{"If-Match": u.Header.Get("ETag")}); r.Status != 401 || r.JSON["code"] != string(mcrm.EStepUpRequired) {
				t.Fatalf("role change without step-up: %d %s", r.Status, r.Body)
			}
			// Other edits of a user are not sensitive.
			if r := e.Do(tok, "PATCH", "/api/v1/users/"+rep, map[string]any{"name": "Rep Renamed"}, map[string]string{"If-Match": u.Header.Get("ETag")}); r.Status != 200 {
				t.Fatalf("rename without step-up: %d %s", r.Status, r.Body)
			}
			// A wrong code does not step up; a fresh one does.
			if r := e.Do(tok, "POST", "/api/v1/auth/step-up", map[string]any{"code": "000000"}, nil); r.Status != 401 {
				t.Fatalf("step-up with a wrong code: %d", r.Status)
			}
			up := e.Do(tok, "POST", "/api/v1/auth/step-up", map[string]any{"code": app.Code()}, nil)
			if up.Status != 200 {
				t.Fatalf("step-up: %d %s", up.Status, up.Body)
			}
			if r := e.Do(tok, "GET", "/api/v1/exports/accounts", nil, nil); r.Status != 200 {
				t.Fatalf("export after step-up: %d %s", r.Status, r.Body)
			}
			if n := eventCount(t, e, e.Tenant.ID, "authn_step_up"); n != 1 {
				t.Fatalf("authn_step_up events %d", n)
			}
			if n := eventCount(t, e, e.Tenant.ID, "authn_step_up_fail"); n != 1 {
				t.Fatalf("authn_step_up_fail events %d", n)
			}
		})
	}
}

// A tenant that maps medium risk to deny refuses a sign-in from a new
// device with the wrong-password answer, and records why (AUTH-15).
func TestIdentityRiskDeny(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, _ string) {
		e.AddUser(e.Tenant.ID, "rep@risk.example", "Rep", mcrm.RoleSalesRep, "")
		wrong := e.Do("", "POST", "/api/v1/auth/login", loginBody(e.Tenant.Name, "rep@risk.example", "not it at all"), nil)
		pol := apitest.PasswordOnly()
		pol.Risk.Medium = mcrm.RiskDeny
		e.SetPolicy(e.Tenant.ID, pol)
		r := e.Do("", "POST", "/api/v1/auth/login", loginBody(e.Tenant.Name, "rep@risk.example", apitest.Password), nil)
		if r.Status != 401 || sameAnswer(r.Body) != sameAnswer(wrong.Body) {
			t.Fatalf("denied login: %d %s", r.Status, r.Body)
		}
		var detail string
		if err := e.DB.SQL().QueryRow(`SELECT detail FROM security_events WHERE tenant_id = $1 AND action = 'authn_login_fail' AND detail LIKE 'reason=risk_denied%'`, e.Tenant.ID).Scan(&detail); err != nil {
			t.Fatalf("no risk_denied event: %v", err)
		}
		if !strings.Contains(detail, "risk=medium") || !strings.Contains(detail, "new_device") {
			t.Fatalf("event detail %q", detail)
		}
		// Medium → second factor: a user without one must enrol first.
		pol.Risk.Medium = mcrm.RiskRequireMFA
		e.SetPolicy(e.Tenant.ID, pol)
		r = e.Do("", "POST", "/api/v1/auth/login", loginBody(e.Tenant.Name, "rep@risk.example", apitest.Password), nil)
		if r.Status != 200 || r.JSON["status"] != "enrolment_required" {
			t.Fatalf("medium risk under require_mfa: %d %s", r.Status, r.Body)
		}
		if g := e.Do(r.JSON["access_token"].(string), "GET", "/api/v1/accounts", nil, nil); g.Status != 403 || !strings.Contains(string(g.Body), "enrolment_required") {
			t.Fatalf("enrol-only token on a CRM route: %d %s", g.Status, g.Body)
		}
	})
}

// Session limits come from the tenant's policy, per role (AUTH-05).
func TestIdentitySessionLimitsPerRole(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, _ string) {
		e.AddUser(e.Tenant.ID, "rep@limits.example", "Rep", mcrm.RoleSalesRep, "")
		pol := apitest.PasswordOnly()
		pol.Sessions = mcrm.SessionLimits{IdleMinutes: 20, MaxHours: 8}
		pol.RoleSessions = map[string]mcrm.SessionLimits{mcrm.RoleAdmin: {MaxHours: 2}}
		e.SetPolicy(e.Tenant.ID, pol)
		for _, c := range []struct {
			email string
			max   time.Duration
			idle  int64
		}{{"rep@limits.example", 8 * time.Hour, 20 * 60}, {adminEmail(e.Tenant), 2 * time.Hour, 20 * 60}} {
			before := time.Now()
			r := e.Do("", "POST", "/api/v1/auth/login", loginBody(e.Tenant.Name, c.email, apitest.Password), nil)
			exp, err := time.Parse(time.RFC3339Nano, r.JSON["session_expires_at"].(string))
			if err != nil || exp.Before(before.Add(c.max)) || exp.After(time.Now().Add(c.max)) {
				t.Errorf("%s: session expires %v, want %v after sign-in", c.email, r.JSON["session_expires_at"], c.max)
			}
			var idle int64
			e.DB.SQL().QueryRow(`SELECT idle_seconds FROM sessions WHERE id = $1`, r.JSON["session_id"]).Scan(&idle)
			if idle != c.idle {
				t.Errorf("%s: idle %d s, want %d", c.email, idle, c.idle)
			}
		}
	})
}

func anyStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// Failed passkey assertions are throttled per tenant and address like
// passwords: after 10 the answer is 429 with Retry-After.
func TestIdentityPasskeyThrottle(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, _ string) {
		bogus := map[string]any{"tenant": e.Tenant.Name, "challenge_id": "nope", "credential": map[string]any{"id": "x", "type": "public-key"}}
		for i := range 10 {
			if r := e.Do("", "POST", "/api/v1/auth/passkeys/login/finish", bogus, nil); r.Status != 401 {
				t.Fatalf("failure %d: %d %s", i, r.Status, r.Body)
			}
		}
		r := e.Do("", "POST", "/api/v1/auth/passkeys/login/finish", bogus, nil)
		if r.Status != 429 || r.Header.Get("Retry-After") == "" {
			t.Fatalf("eleventh failure: %d %q", r.Status, r.Header.Get("Retry-After"))
		}
		if n := eventCount(t, e, e.Tenant.ID, "authn_login_fail"); n != 10 {
			t.Fatalf("authn_login_fail events %d, want 10", n)
		}
	})
}

// geoByNet is a GeoIP stand-in: documentation networks in fixed countries.
type geoByNet map[string]string

func (g geoByNet) Lookup(ip netip.Addr) (risk.Location, bool) {
	for prefix, country := range g {
		if netip.MustParsePrefix(prefix).Contains(ip) {
			return risk.Location{Country: country}, true
		}
	}
	return risk.Location{}, false
}

// from sends a request as if from addr (the harness's own client always
// comes from 127.0.0.1), through the same handler.
func from(e *apitest.Env, addr, token, method, path string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, e.Server.URL+path, nil)
	req.RemoteAddr = addr + ":40000"
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	e.API.ServeHTTP(rec, req)
	return rec
}

// An address change never signs a mobile user out (AUTH-13): a move to
// another network is recorded as session_ip_change; a move to another
// country within minutes also ends the step-up window.
func TestIdentitySessionIPChange(t *testing.T) {
	for _, backend := range dbtest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apitest.NewWith(t, backend, func(c *httpapi.Config) {
				c.Geo = geoByNet{"127.0.0.0/8": "DE", "198.51.100.0/24": "DE", "203.0.113.0/24": "CN"}
			})
			tok := e.LoginStrong(e.Tenant.Name, adminEmail(e.Tenant))
			if r := from(e, "127.0.0.1", tok, "GET", "/api/v1/exports/accounts"); r.Code != 200 {
				t.Fatalf("export from the sign-in address: %d", r.Code)
			}
			// Same country, other network: allowed, recorded, step-up kept.
			if r := from(e, "198.51.100.7", tok, "GET", "/api/v1/exports/accounts"); r.Code != 200 {
				t.Fatalf("export after a move within the country: %d %s", r.Code, r.Body)
			}
			if n := eventCount(t, e, e.Tenant.ID, "session_ip_change"); n != 1 {
				t.Fatalf("session_ip_change events %d, want 1", n)
			}
			// Another country a moment later: still signed in, but the
			// next sensitive operation needs a step-up.
			if r := from(e, "203.0.113.9", tok, "GET", "/api/v1/me"); r.Code != 200 {
				t.Fatalf("request after a move abroad: %d", r.Code)
			}
			if r := from(e, "203.0.113.9", tok, "GET", "/api/v1/exports/accounts"); r.Code != 401 || !strings.Contains(r.Body.String(), string(mcrm.EStepUpRequired)) {
				t.Fatalf("export after a move abroad: %d %s", r.Code, r.Body)
			}
			var detail string
			e.DB.SQL().QueryRow(`SELECT detail FROM security_events WHERE tenant_id = $1 AND action = 'session_ip_change' AND detail LIKE '%step_up=true%'`, e.Tenant.ID).Scan(&detail)
			if !strings.Contains(detail, "session_ip_change") {
				t.Fatalf("no step-up session_ip_change event: %q", detail)
			}
			// Requests from the same address again record nothing more.
			from(e, "203.0.113.9", tok, "GET", "/api/v1/me")
			if n := eventCount(t, e, e.Tenant.ID, "session_ip_change"); n != 2 {
				t.Fatalf("session_ip_change events %d, want 2", n)
			}
		})
	}
}

// AUTH-09: an ended session answers reauth_required, an expired access
// token token_expired; every sign-in gets a new session id, also when the
// browser already holds a cookie (no fixation).
func TestIdentityReauthAndFixation(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, _ string) {
		e.AddUser(e.Tenant.ID, "rep@fix.example", "Rep", mcrm.RoleSalesRep, "")
		a := e.Do("", "POST", "/api/v1/auth/login", loginBody(e.Tenant.Name, "rep@fix.example", apitest.Password), nil)
		b := e.Do("", "POST", "/api/v1/auth/login", loginBody(e.Tenant.Name, "rep@fix.example", apitest.Password), nil)
		if a.JSON["session_id"] == b.JSON["session_id"] || a.JSON["access_token"] == b.JSON["access_token"] {
			t.Fatal("two sign-ins share a session")
		}
		ts := func(d time.Duration) string { return time.Now().UTC().Add(d).Format("2006-01-02T15:04:05.000000Z") }
		// Idle for 31 minutes (never used, so not cached).
		if _, err := e.DB.RawWriter().Exec(`UPDATE sessions SET last_seen_at = $1 WHERE id = $2`, ts(-31*time.Minute), a.JSON["session_id"]); err != nil {
			t.Fatal(err)
		}
		if r := e.Do(a.JSON["access_token"].(string), "GET", "/api/v1/me", nil, nil); r.Status != 401 || !strings.Contains(string(r.Body), `"code":"reauth_required"`) {
			t.Fatalf("idle session: %d %s", r.Status, r.Body)
		}
		// An access token past its 10 minutes in a live session.
		if _, err := e.DB.RawWriter().Exec(`UPDATE session_tokens SET expires_at = $1 WHERE session_id = $2 AND kind = 'access'`, ts(-time.Second), b.JSON["session_id"]); err != nil {
			t.Fatal(err)
		}
		if r := e.Do(b.JSON["access_token"].(string), "GET", "/api/v1/me", nil, nil); r.Status != 401 || !strings.Contains(string(r.Body), `"code":"token_expired"`) {
			t.Fatalf("expired access token: %d %s", r.Status, r.Body)
		}
		if r := e.Do("", "POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": b.JSON["refresh_token"]}, nil); r.Status != 200 {
			t.Fatalf("refresh after expiry: %d %s", r.Status, r.Body)
		}
		// A browser that arrives with a cookie gets a new one.
		body := loginBody(e.Tenant.Name, "rep@fix.example", apitest.Password)
		body["session"] = "cookie"
		c1 := e.Do("", "POST", "/api/v1/auth/login", body, nil)
		old := strings.SplitN(c1.Header.Get("Set-Cookie"), ";", 2)[0]
		c2 := e.Do("", "POST", "/api/v1/auth/login", body, map[string]string{"Cookie": old})
		if nw := strings.SplitN(c2.Header.Get("Set-Cookie"), ";", 2)[0]; nw == old || c1.JSON["session_id"] == c2.JSON["session_id"] {
			t.Fatal("a sign-in kept the cookie the browser came with")
		}
	})
}

// A reused refresh token mails the user a security notice (AUTH-11).
func TestIdentityReuseNotifies(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, _ string) {
		e.AddUser(e.Tenant.ID, "rep@notice.example", "Rep", mcrm.RoleSalesRep, "")
		l := e.Do("", "POST", "/api/v1/auth/login", loginBody(e.Tenant.Name, "rep@notice.example", apitest.Password), nil)
		e.Do("", "POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": l.JSON["refresh_token"]}, nil)
		e.Do("", "POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": l.JSON["refresh_token"]}, nil)
		var n int
		e.DB.SQL().QueryRow(`SELECT COUNT(*) FROM mail_outbox WHERE tenant_id = $1 AND kind = 'security_notice'`, e.Tenant.ID).Scan(&n)
		if n != 1 {
			t.Fatalf("%d security notices queued, want 1", n)
		}
	})
}

// AUTH-02: a sign-in that finds a hash made with other parameters
// replaces it with one made with the configured ones.
func TestIdentityRehashOnLogin(t *testing.T) {
	e := apitest.NewWith(t, "sqlite", func(c *httpapi.Config) {
		c.Argon2 = password.Params{Memory: 20 * 1024, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}
	})
	id := e.AddUser(e.Tenant.ID, "rep@rehash.example", "Rep", mcrm.RoleSalesRep, "")
	before, _ := e.DB.UserForLogin(context.Background(), e.Tenant.ID, "rep@rehash.example")
	if !strings.HasPrefix(before.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("harness hash %q", before.PasswordHash[:30])
	}
	e.Login(e.Tenant.Name, "rep@rehash.example")
	after, _ := e.DB.UserForLogin(context.Background(), e.Tenant.ID, "rep@rehash.example")
	if !strings.HasPrefix(after.PasswordHash, "$argon2id$v=19$m=20480,t=2,p=1$") || after.ID != id {
		t.Fatalf("after sign-in: %q", after.PasswordHash[:30])
	}
	e.Login(e.Tenant.Name, "rep@rehash.example") // the new hash verifies
}

// Bodies that encoding/json would read differently from what they show
// are refused: member names equal under case folding, and escapes of
// half a surrogate pair (decoded to U+FFFD without a word).
func TestBodyFoldedKeysAndSurrogates(t *testing.T) {
	e := apitest.New(t, "sqlite")
	for _, body := range []string{
		`{"tenant":"x","TENANT":"y","email":"a@b.example","password":"p"}`,
		`{"tenant":"x","email":"a@b.example","password":"p","paſsword":"q"}`,
		`{"tenant":"x\ud800","email":"a@b.example","password":"p"}`,
		`{"tenant":"x\udc00\ud800","email":"a@b.example","password":"p"}`,
		"{\"tenant\":\"x\xff\",\"email\":\"a@b.example\",\"password\":\"p\"}",
	} {
		r := e.Do("", "POST", "/api/v1/auth/login", []byte(body), map[string]string{"Content-Type": "application/json"})
		if r.Status != 400 {
			t.Errorf("%q: %d %s, want 400", body, r.Status, r.Body)
		}
	}
	// A proper pair and an escaped backslash before "u" are fine.
	for _, body := range []string{
		`{"tenant":"x\ud83d\ude00","email":"a@b.example","password":"p"}`,
		`{"tenant":"x\\ud800","email":"a@b.example","password":"p"}`,
	} {
		if r := e.Do("", "POST", "/api/v1/auth/login", []byte(body), map[string]string{"Content-Type": "application/json"}); r.Status != 401 {
			t.Errorf("%q: %d %s, want 401", body, r.Status, r.Body)
		}
	}
}

// Break-it findings, each with its test: user imports, user-creating
// lookups and user restores need a step-up like single user changes; a
// refresh ends the old access token; requiring DPoP ends unbound
// sessions; X-Forwarded-For counts only behind a trusted proxy.
func TestIdentityBreakItFixes(t *testing.T) {
	for _, backend := range dbtest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apitest.NewWith(t, backend, func(c *httpapi.Config) {
				c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
			})
			weak := e.Login(e.Tenant.Name, adminEmail(e.Tenant))
			csv := []byte("email,name,role\nnew-admin@x.example,New Admin,admin\n")
			mapping := `{"columns":{"email":{"field":"email"},"name":{"field":"name"},"role":{"field":"role"}}}`
			if r := upload(t, e, weak, "/api/v1/imports/users", mapping, "users.csv", csv); r.Status != 401 || r.JSON["code"] != string(mcrm.EStepUpRequired) {
				t.Fatalf("users import without step-up: %d %s", r.Status, r.Body)
			}
			acctCSV := []byte("name,owner\nInitech,new-owner@x.example\n")
			acctMap := `{"columns":{"name":{"field":"name"},"owner":{"field":"owner_id","lookup":{"entity":"users","by":"email","if_missing":"create","create":{"name":"$raw","role":"admin"}}}}}`
			if r := upload(t, e, weak, "/api/v1/imports/accounts", acctMap, "accounts.csv", acctCSV); r.Status != 401 || r.JSON["code"] != string(mcrm.EStepUpRequired) {
				t.Fatalf("accounts import creating users without step-up: %d %s", r.Status, r.Body)
			}
			var users int
			e.DB.SQL().QueryRow(`SELECT COUNT(*) FROM users WHERE tenant_id = $1`, e.Tenant.ID).Scan(&users)
			if users != 1 {
				t.Fatalf("%d users after refused imports, want 1", users)
			}
			strong := e.LoginStrong(e.Tenant.Name, adminEmail(e.Tenant))
			rep := e.AddUser(e.Tenant.ID, "gone@x.example", "Gone", mcrm.RoleSalesRep, "")
			mustDo(t, e, strong, "DELETE", "/api/v1/users/"+rep, nil, nil, 204)
			if r := e.Do(weak, "POST", "/api/v1/users/"+rep+"/restore", nil, nil); r.Status != 401 || r.JSON["code"] != string(mcrm.EStepUpRequired) {
				t.Fatalf("user restore without step-up: %d %s", r.Status, r.Body)
			}
			mustDo(t, e, strong, "POST", "/api/v1/users/"+rep+"/restore", nil, nil, 200)

			// Refresh ends the access token it replaces.
			l := e.Do("", "POST", "/api/v1/auth/login", loginBody(e.Tenant.Name, "gone@x.example", apitest.Password), nil)
			old := l.JSON["access_token"].(string)
			mustDo(t, e, old, "GET", "/api/v1/me", nil, nil, 200)
			e.Do("", "POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": l.JSON["refresh_token"]}, nil)
			if r := e.Do(old, "GET", "/api/v1/me", nil, nil); r.Status != 401 {
				t.Fatalf("access token after its refresh: %d", r.Status)
			}

			// Requiring DPoP ends the tenant's unbound token sessions.
			unbound := e.Login(e.Tenant.Name, "gone@x.example")
			pol := apitest.PasswordOnly()
			pol.RequireDPoP = true
			e.SetPolicy(e.Tenant.ID, pol)
			if r := e.Do(unbound, "GET", "/api/v1/me", nil, nil); r.Status != 401 {
				t.Fatalf("unbound session after require_dpop: %d", r.Status)
			}
			e.SetPolicy(e.Tenant.ID, apitest.PasswordOnly())

			// Behind a trusted proxy the client is the forwarded address.
			e.Do("", "POST", "/api/v1/auth/login", loginBody(e.Tenant.Name, "gone@x.example", "wrong password here"), map[string]string{"X-Forwarded-For": "198.51.100.23"})
			var ip string
			e.DB.SQL().QueryRow(`SELECT ip FROM security_events WHERE tenant_id = $1 AND action = 'authn_login_fail' ORDER BY at DESC LIMIT 1`, e.Tenant.ID).Scan(&ip)
			if ip != "198.51.100.23" {
				t.Fatalf("event address %q, want the forwarded one", ip)
			}
		})
	}
	// Without trusted proxies the header is ignored.
	e := apitest.New(t, "sqlite")
	e.Do("", "POST", "/api/v1/auth/login", loginBody(e.Tenant.Name, adminEmail(e.Tenant), "wrong password here"), map[string]string{"X-Forwarded-For": "198.51.100.23"})
	var ip string
	e.DB.SQL().QueryRow(`SELECT ip FROM security_events WHERE tenant_id = $1 AND action = 'authn_login_fail'`, e.Tenant.ID).Scan(&ip)
	if ip != "127.0.0.1" {
		t.Fatalf("untrusted X-Forwarded-For believed: %q", ip)
	}
}
