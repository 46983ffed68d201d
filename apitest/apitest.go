// Package apitest runs the real API over real HTTPS for tests: a fresh
// database (SQLite or PostgreSQL), the httpapi server behind
// httptest.NewTLSServer, and helpers to log in and call it.
package apitest

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"mcrm"
	"mcrm/dbtest"
	"mcrm/httpapi"
	"mcrm/password"
	"mcrm/record"
	"mcrm/sqlstore"
	"mcrm/totp"
	"mcrm/totp/softotp"
)

// Password is the password every user created by the harness has.
const Password = "correct horse battery staple"

// Env is one running API with one tenant.
type Env struct {
	T       testing.TB
	DB      *sqlstore.DB
	Server  *httptest.Server
	Client  *http.Client
	API     *httpapi.Server
	Tenant  sqlstore.Tenant
	AdminID string
	logw    *lockedWriter
}

// New starts an API on backend ("sqlite" or "postgres") with a tenant
// named tenant whose admin is admin@<tenant>.example.
func New(t testing.TB, backend string) *Env { return NewWith(t, backend, nil) }

// NewWith is New with the server configuration adjusted by configure.
func NewWith(t testing.TB, backend string, configure func(*httpapi.Config)) *Env {
	t.Helper()
	db := dbtest.Open(t, backend)
	logw := &lockedWriter{w: &bytes.Buffer{}}
	log := slog.New(slog.NewJSONHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := httpapi.Config{RateLimit: -1, Argon2: TestArgon2}
	if configure != nil {
		configure(&cfg)
	}
	api, err := httpapi.New(db, log, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(api)
	srv.StartTLS()
	api.SetPublicURL(srv.URL)
	t.Cleanup(srv.Close)
	e := &Env{T: t, DB: db, Server: srv, Client: srv.Client(), API: api, logw: logw}
	e.Tenant, e.AdminID = e.NewTenant(dbtest.Name("acme"))
	return e
}

// TestArgon2 is the harness's password hashing: the production memory
// cost, one pass. Identity tests that measure hashing use their own.
var TestArgon2 = password.Default

// PasswordOnly is the policy the harness gives its tenants unless a test
// asks for the default: no second factor required and every risk level
// allowed, so tests of other layers sign in with a password. Identity
// tests call UseDefaultPolicy.
func PasswordOnly() mcrm.AuthPolicy {
	p := mcrm.DefaultAuthPolicy()
	p.MFARequiredRoles = []string{}
	p.Risk = mcrm.RiskActions{Low: mcrm.RiskAllow, Medium: mcrm.RiskAllow, High: mcrm.RiskAllow}
	return p
}

// SetPolicy stores a tenant's authentication policy.
func (e *Env) SetPolicy(tenantID string, pol mcrm.AuthPolicy) {
	e.T.Helper()
	p := &mcrm.Principal{TenantID: tenantID, System: true}
	if err := e.DB.SetAuthPolicy(context.Background(), p, pol, sqlstore.Event{TenantID: tenantID, Actor: "test", Action: "authz_policy_change", Object: "auth_policy", Outcome: "success"}); err != nil {
		e.T.Fatal(err)
	}
}

// UseDefaultPolicy gives the tenant the product's default policy (second
// factor for every role, high risk refused).
func (e *Env) UseDefaultPolicy(tenantID string) { e.SetPolicy(tenantID, mcrm.DefaultAuthPolicy()) }

// NewTenant creates another tenant with an admin admin@<name>.example.
func (e *Env) NewTenant(name string) (sqlstore.Tenant, string) {
	e.T.Helper()
	hash := hashPassword(e.T)
	t, adminID, err := e.DB.CreateTenant(context.Background(), sqlstore.NewTenant{Name: name, AdminEmail: "admin@" + name + ".example", AdminName: "Admin", PasswordHash: hash})
	if err != nil {
		e.T.Fatal(err)
	}
	e.SetPolicy(t.ID, PasswordOnly())
	return t, adminID
}

var cachedHash string

func hashPassword(t testing.TB) string {
	if cachedHash == "" {
		h, err := password.Hash(context.Background(), Password, password.Default)
		if err != nil {
			t.Fatal(err)
		}
		cachedHash = h
	}
	return cachedHash
}

// AddUser creates a user in tenant with the harness password.
func (e *Env) AddUser(tenantID, email, name, role, teamID string) string {
	e.T.Helper()
	p := &mcrm.Principal{TenantID: tenantID, System: true}
	var id string
	err := e.DB.InTx(context.Background(), func(tx *sqlstore.Tx) error {
		v := record.Values{"email": email, "name": name, "role": role}
		if teamID != "" {
			v["team_id"] = teamID
		}
		u, err := tx.Create(context.Background(), p, mcrm.EntityByName("users"), v)
		if err != nil {
			return err
		}
		id = u["id"].(string)
		return tx.SetPasswordHash(context.Background(), tenantID, id, hashPassword(e.T))
	})
	if err != nil {
		e.T.Fatal(err)
	}
	return id
}

// AddTeam creates a team.
func (e *Env) AddTeam(tenantID, name, parentID, managerID string) string {
	e.T.Helper()
	p := &mcrm.Principal{TenantID: tenantID, System: true}
	v := record.Values{"name": name}
	if parentID != "" {
		v["parent_team_id"] = parentID
	}
	if managerID != "" {
		v["manager_id"] = managerID
	}
	var id string
	err := e.DB.InTx(context.Background(), func(tx *sqlstore.Tx) error {
		t, err := tx.Create(context.Background(), p, mcrm.EntityByName("teams"), v)
		if err == nil {
			id = t["id"].(string)
		}
		return err
	})
	if err != nil {
		e.T.Fatal(err)
	}
	return id
}

// Login logs in and returns the bearer token.
func (e *Env) Login(tenant, email string) string {
	e.T.Helper()
	resp := e.Do("", "POST", "/api/v1/auth/login", map[string]any{"tenant": tenant, "email": email, "password": Password}, nil)
	if resp.Status != 200 {
		e.T.Fatalf("login %s: %d %s", email, resp.Status, resp.Body)
	}
	return resp.JSON["access_token"].(string)
}

// Response is a decoded response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any // when the body is a JSON object
}

// Do sends a request with an optional bearer token and JSON body (or raw
// []byte / io.Reader body) and extra headers.
func (e *Env) Do(token, method, path string, body any, headers map[string]string) *Response {
	e.T.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b
	case string:
		rd = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			e.T.Fatal(err)
		}
		rd = bytes.NewReader(buf)
		ct = "application/json"
	}
	req, err := http.NewRequest(method, e.Server.URL+path, rd)
	if err != nil {
		e.T.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := e.Client.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.T.Fatal(err)
	}
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	if len(b) > 0 && b[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		_ = dec.Decode(&out.JSON)
	}
	return out
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// LogText returns everything the server has logged so far.
func (e *Env) LogText() string {
	e.logw.mu.Lock()
	defer e.logw.mu.Unlock()
	return e.logw.w.String()
}

// StepUp marks the token's session as strongly authenticated now, as a
// second factor would (a test seam for layers that need a step-up, such
// as export and user administration; identity tests step up for real).
func (e *Env) StepUp(token string) {
	e.T.Helper()
	ctx := context.Background()
	s, err := e.DB.Authenticate(ctx, token)
	if err != nil {
		e.T.Fatal(err)
	}
	p := s.Principal
	if err := e.DB.StepUp(ctx, p.TenantID, p.SessionID, []string{"otp"}, sqlstore.Event{TenantID: p.TenantID, Actor: p.UserID, Action: "authn_step_up", Object: "session", Outcome: "success", Detail: "via=test"}); err != nil {
		e.T.Fatal(err)
	}
}

// LoginStrong logs in and steps the session up.
func (e *Env) LoginStrong(tenant, email string) string {
	e.T.Helper()
	tok := e.Login(tenant, email)
	e.StepUp(tok)
	return tok
}

// EnrolTOTP gives a user a confirmed TOTP factor straight in the store
// and returns the authenticator app holding its secret (for tests of
// sign-in with a second factor; the enrolment API has its own tests).
func (e *Env) EnrolTOTP(tenantID, userID string) *softotp.App {
	e.T.Helper()
	ctx := context.Background()
	seed := totp.NewSecret()
	app, err := softotp.New(base32.StdEncoding.EncodeToString(seed))
	if err != nil {
		e.T.Fatal(err)
	}
	id, err := e.DB.EnrolTOTP(ctx, tenantID, userID, "test", seed, time.Now())
	if err != nil {
		e.T.Fatal(err)
	}
	if err := e.DB.ConfirmTOTP(ctx, tenantID, userID, id, app.Code(), time.Now(), sqlstore.Event{}); err != nil {
		e.T.Fatal(err)
	}
	return app
}
