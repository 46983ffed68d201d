// Package browsertest runs the passkey ceremonies end to end in a real
// browser: headless Chromium with its virtual authenticator (the DevTools
// protocol's WebAuthn domain), driven by chromedp, against passkey.Service
// on a fresh SQLite store.
//
// The test starts an httptest TLS server on https://localhost:PORT (RP ID
// localhost, passkey.Config.Origins set to that exact origin) with the
// server's own TLS setup (certs.EnsureSelfSigned, certs.ServerConfig).
// Chromium trusts exactly that key through
// --ignore-certificate-errors-spki-list, so the page has no certificate
// error (WebAuthn needs a secure context) and nothing else is trusted.
// It serves a small page whose script calls navigator.credentials.create/get
// on PublicKeyCredential.parseCreationOptionsFromJSON /
// parseRequestOptionsFromJSON of the server's Begin options and posts
// credential.toJSON() to four JSON endpoints over passkey.Service (the
// login is passwordless, RequireUV is on). The server answers errors as
// application/problem+json (httpapi.Problem), which the page hands back.
// It checks:
//
//   - registration of a discoverable, user-verified passkey (ctap2,
//     transport internal, resident key, UV) is stored for the user, with
//     one authn_passkey_registered event;
//   - a passwordless login names the registered user with UserVerified
//     (AMR "hwk user") and stores the next sign count;
//   - a second login increments the stored sign count by exactly one and
//     the stored count equals the authenticator's own (WebAuthn.getCredentials).
//     Chromium's virtual authenticator keeps one counter per credential,
//     starts it at 0 and adds one per operation (the registration
//     attestation reports 1, the first assertion 2), so the counter path is
//     the device-bound strict one (BE=0, no counter-0 exemption);
//   - with WebAuthn.setUserVerified(false) an honest page (userVerification
//     "required") gets NotAllowedError from the browser, and a page that
//     downgrades the request to "discouraged" (a lax or tampered client)
//     gets an assertion without UV, which the server refuses with the field
//     code user_verification_required.
//
// Run it with
//
//	go test ./passkey/browsertest/ -run Browser -v
//
// It needs the Debian package chromium (found as chromium, chromium-browser,
// google-chrome or at $MCRM_CHROMIUM); without one it skips, unless
// MCRM_REQUIRE_BROWSER=1 (CI), where it fails. The test itself takes
// about 1 s (the browser starts in under 1 s), plus compiling. Chromium
// runs as root here, hence --no-sandbox; --disable-background-networking,
// --disable-component-update, --disable-sync and --disable-quic keep it
// from dialling out.
package browsertest

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"mcrm"
	"mcrm/certs"
	"mcrm/dbtest"
	"mcrm/httpapi"
	"mcrm/passkey"
	"mcrm/sqlstore"
)

// chromiumPath finds the browser binary, or skips (fails under
// MCRM_REQUIRE_BROWSER=1) when there is none.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MCRM_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("MCRM_REQUIRE_BROWSER") == "1" {
		t.Fatal("no chromium binary found (apt-get install -y chromium, or set MCRM_CHROMIUM) but MCRM_REQUIRE_BROWSER=1")
	}
	t.Skip("no chromium binary found (apt-get install -y chromium, or set MCRM_CHROMIUM); browser passkey test skipped")
	return ""
}

const page = `<!doctype html>
<html><head><meta charset="utf-8"><title>passkey test</title></head>
<body><p>passkey test page</p>
<script>
async function post(path, body) {
  const r = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  return {status: r.status, body: await r.json()};
}
// Each call resolves to {status, body} of the last server answer, or to
// {error} when the browser refused (a DOMException name and message).
async function ceremony(kind, uvOverride) {
  try {
    const b = await post("/" + kind + "/begin", {});
    if (b.status !== 200) return b;
    const pk = b.body.options.publicKey;
    if (uvOverride) {
      if (kind === "register") pk.authenticatorSelection.userVerification = uvOverride;
      else pk.userVerification = uvOverride;
    }
    const cred = kind === "register"
      ? await navigator.credentials.create({publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(pk)})
      : await navigator.credentials.get({publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(pk)});
    return await post("/" + kind + "/finish", {challenge_id: b.body.challenge_id, credential: cred.toJSON()});
  } catch (e) {
    return {error: e.name + ": " + e.message};
  }
}
</script></body></html>`

// server is the relying party under test: the page and four endpoints.
type server struct {
	t     *testing.T
	db    *sqlstore.DB
	svc   *passkey.Service
	user  passkey.User
	login chan passkey.LoginResult // each successful FinishLogin
}

func (s *server) problem(w http.ResponseWriter, err error) {
	var me *mcrm.Error
	p := httpapi.Problem{Type: "about:blank", Code: mcrm.EInternal, Detail: "internal error", Status: http.StatusInternalServerError}
	if errors.As(err, &me) {
		p.Code, p.Detail, p.Errors = me.Code, me.Message, me.Fields
		switch me.Code {
		case mcrm.EUnauthorized:
			p.Status = http.StatusUnauthorized
		case mcrm.EForbidden:
			p.Status = http.StatusForbidden
		default:
			p.Status = http.StatusBadRequest
		}
	}
	p.Title = http.StatusText(p.Status)
	s.t.Logf("server refused: %v (%+v)", err, p.Errors)
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

type beginReply struct {
	Options     json.RawMessage `json:"options"`
	ChallengeID string          `json:"challenge_id"`
}

type finishRequest struct {
	ChallengeID string          `json:"challenge_id"`
	Credential  json.RawMessage `json:"credential"`
}

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	})
	finish := func(w http.ResponseWriter, r *http.Request) (finishRequest, bool) {
		var f finishRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&f); err != nil {
			s.problem(w, mcrm.Errorf(mcrm.EInvalid, "bad body"))
			return f, false
		}
		return f, true
	}
	mux.HandleFunc("POST /register/begin", func(w http.ResponseWriter, r *http.Request) {
		opts, id, err := s.svc.BeginRegistration(r.Context(), s.user)
		if err != nil {
			s.problem(w, err)
			return
		}
		reply(w, beginReply{opts, id})
	})
	mux.HandleFunc("POST /register/finish", func(w http.ResponseWriter, r *http.Request) {
		f, ok := finish(w, r)
		if !ok {
			return
		}
		c, err := s.svc.FinishRegistration(r.Context(), s.user, f.ChallengeID, f.Credential, passkey.Request{IP: r.RemoteAddr, Name: "Chromium virtual"})
		if err != nil {
			s.problem(w, err)
			return
		}
		reply(w, c)
	})
	mux.HandleFunc("POST /login/begin", func(w http.ResponseWriter, r *http.Request) {
		opts, id, err := s.svc.BeginLogin(r.Context(), s.user.TenantID, nil) // passwordless
		if err != nil {
			s.problem(w, err)
			return
		}
		reply(w, beginReply{opts, id})
	})
	mux.HandleFunc("POST /login/finish", func(w http.ResponseWriter, r *http.Request) {
		f, ok := finish(w, r)
		if !ok {
			return
		}
		res, err := s.svc.FinishLogin(r.Context(), s.user.TenantID, f.ChallengeID, f.Credential, passkey.Request{IP: r.RemoteAddr})
		if err != nil {
			s.problem(w, err)
			return
		}
		s.login <- res
		reply(w, map[string]any{"user_id": res.UserID, "user_verified": res.UserVerified, "sign_count": res.Credential.SignCount})
	})
	return mux
}

// answer is what the page's ceremony() resolves to.
type answer struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
	Error  string          `json:"error"`
}

func (a answer) problemField() string {
	var p httpapi.Problem
	json.Unmarshal(a.Body, &p)
	if len(p.Errors) == 0 {
		return ""
	}
	return p.Errors[0].Code
}

// serveTLS starts ts with the server's own TLS setup (certs.EnsureSelfSigned
// for localhost, certs.ServerConfig) and returns the base64 SHA-256 of the
// certificate's public key, for Chromium's --ignore-certificate-errors-spki-list.
func serveTLS(t *testing.T, ts *httptest.Server) string {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if _, err := certs.EnsureSelfSigned(certFile, keyFile, "localhost"); err != nil {
		t.Fatal(err)
	}
	r, err := certs.NewReloader(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	ts.TLS = certs.ServerConfig(r, false)
	// httptest adds its own example.com certificate when Certificates is
	// empty, and Go prefers that one to GetCertificate without SNI.
	ts.TLS.Certificates = []tls.Certificate{*c}
	ts.StartTLS()
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func TestBrowserPasskey(t *testing.T) {
	bin := chromiumPath(t)
	start := time.Now()
	ctx := context.Background()

	db := dbtest.Open(t, "sqlite")
	ten, adminID, err := db.CreateTenant(ctx, sqlstore.NewTenant{Name: dbtest.Name("browser"), AdminEmail: "ada@example.com", AdminName: "Ada", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, db: db, login: make(chan passkey.LoginResult, 4),
		user: passkey.User{TenantID: ten.ID, ID: adminID, Name: "ada@example.com", DisplayName: "Ada"}}

	ts := httptest.NewUnstartedServer(s.handler())
	spki := serveTLS(t, ts)
	t.Cleanup(ts.Close)
	_, port, err := net.SplitHostPort(ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	origin := "https://localhost:" + port
	s.svc, err = passkey.New(db, passkey.Config{RPID: "localhost", RPDisplayName: "mcrm test", Origins: []string{origin}, RequireUV: true})
	if err != nil {
		t.Fatal(err)
	}

	// The profile directory is registered first so that it is removed
	// after the browser has exited (cleanups run last in, first out).
	profile := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(profile),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Trust exactly the server's key, as a pinned certificate: no
		// certificate error, so the page is as secure as a real one.
		chromedp.Flag("ignore-certificate-errors-spki-list", spki),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelBrowser)
	bctx, cancelTimeout := context.WithTimeout(bctx, 60*time.Second)
	t.Cleanup(cancelTimeout)

	if err := chromedp.Do(bctx, chromedp.Navigate(origin+"/")); err != nil {
		t.Fatalf("start chromium and load %s: %v", origin, err)
	}
	if _, err := chromedp.Call(bctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	added, err := chromedp.Call(bctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
	}})
	if err != nil {
		t.Fatal(err)
	}
	authID := added.AuthenticatorID
	t.Logf("browser up, page loaded, authenticator %s: %v", authID, time.Since(start).Round(time.Millisecond))

	run := func(t *testing.T, kind, uvOverride string) answer {
		t.Helper()
		expr := "ceremony(" + strconv.Quote(kind) + ", " + strconv.Quote(uvOverride) + ")"
		a, err := chromedp.Run(bctx, chromedp.Evaluate[answer](expr, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return a
	}
	storedCount := func(t *testing.T) int64 {
		t.Helper()
		rows, err := db.WebAuthnCredentials(ctx, s.user.TenantID, s.user.ID)
		if err != nil || len(rows) != 1 {
			t.Fatalf("stored credentials: %d, %v", len(rows), err)
		}
		return rows[0].SignCount
	}
	deviceCount := func(t *testing.T) int64 {
		t.Helper()
		r, err := chromedp.Call(bctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: authID})
		if err != nil || len(r.Credentials) != 1 {
			t.Fatalf("authenticator credentials: %v, %v", r.Credentials, err)
		}
		return int64(r.Credentials[0].SignCount)
	}
	login := func(t *testing.T) passkey.LoginResult {
		t.Helper()
		a := run(t, "login", "")
		if a.Status != http.StatusOK {
			t.Fatalf("login: status %d error %q body %s", a.Status, a.Error, a.Body)
		}
		res := <-s.login
		if res.UserID != s.user.ID || !res.UserVerified {
			t.Fatalf("login result: user %q verified %t, want %q true", res.UserID, res.UserVerified, s.user.ID)
		}
		return res
	}

	t.Run("register", func(t *testing.T) {
		a := run(t, "register", "")
		if a.Status != http.StatusOK {
			t.Fatalf("register: status %d error %q body %s", a.Status, a.Error, a.Body)
		}
		var c passkey.Credential
		if err := json.Unmarshal(a.Body, &c); err != nil {
			t.Fatal(err)
		}
		if c.UserID != s.user.ID || c.Name != "Chromium virtual" || c.BackupEligible {
			t.Fatalf("registered %+v", c)
		}
		if got, dev := storedCount(t), deviceCount(t); got != dev {
			t.Fatalf("after registration: stored sign count %d, authenticator %d", got, dev)
		}
		if n, err := db.CountEvents(ctx, s.user.TenantID, passkey.EventRegistered); err != nil || n != 1 {
			t.Fatalf("%s events: %d, %v", passkey.EventRegistered, n, err)
		}
		t.Logf("registered %s, sign count %d", c.CredentialID, c.SignCount)
	})
	if t.Failed() {
		return
	}

	t.Run("passwordless login", func(t *testing.T) {
		before := storedCount(t)
		res := login(t)
		if got := storedCount(t); got != before+1 || uint32(got) != res.Credential.SignCount {
			t.Fatalf("sign count: before %d, stored %d (want %d), result %d", before, got, before+1, res.Credential.SignCount)
		}
		if amr := strings.Join(res.AMR(), " "); amr != "hwk user" {
			t.Fatalf("AMR %q, want \"hwk user\"", amr)
		}
	})

	t.Run("second login increments the sign count", func(t *testing.T) {
		before := storedCount(t)
		login(t)
		got, dev := storedCount(t), deviceCount(t)
		if got != before+1 || got != dev {
			t.Fatalf("sign count: before %d, stored %d (want %d), authenticator %d", before, got, before+1, dev)
		}
		t.Logf("sign count %d -> %d", before, got)
	})

	t.Run("user verification fails", func(t *testing.T) {
		if _, err := chromedp.Call(bctx, webauthn.SetUserVerified, webauthn.SetUserVerifiedParams{AuthenticatorID: authID, IsUserVerified: false}); err != nil {
			t.Fatal(err)
		}
		before := storedCount(t)

		// An honest page asks for UV as the server said: the browser refuses.
		a := run(t, "login", "")
		if a.Status != 0 || !strings.HasPrefix(a.Error, "NotAllowedError") {
			t.Fatalf("honest page without UV: status %d error %q, want NotAllowedError", a.Status, a.Error)
		}

		// A page that downgrades UV gets an assertion without it: the
		// server refuses with its field code.
		a = run(t, "login", "discouraged")
		if a.Status != http.StatusUnauthorized || a.problemField() != passkey.CodeUserVerification {
			t.Fatalf("login without UV: status %d error %q body %s, want 401 %s", a.Status, a.Error, a.Body, passkey.CodeUserVerification)
		}
		if got := storedCount(t); got != before {
			t.Fatalf("a refused login moved the stored sign count %d -> %d", before, got)
		}
		select {
		case res := <-s.login:
			t.Fatalf("a login without UV succeeded: %+v", res)
		default:
		}
	})
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}
