package passkey_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"mcrm"
	"mcrm/dbtest"
	"mcrm/passkey"
	"mcrm/passkey/softkey"
	"mcrm/sqlstore"
)

var ctx = context.Background()

const origin = "https://localhost:8443"

type env struct {
	t    *testing.T
	db   *sqlstore.DB
	svc  *passkey.Service
	now  time.Time
	user passkey.User
}

// newEnv opens a fresh store with one tenant and returns a service whose
// clock the test moves by hand.
func newEnv(t *testing.T, db *sqlstore.DB, mod func(*passkey.Config)) *env {
	t.Helper()
	ten, adminID, err := db.CreateTenant(ctx, sqlstore.NewTenant{Name: dbtest.Name("pk"), AdminEmail: "ada@example.com", AdminName: "Ada", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, now: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
		user: passkey.User{TenantID: ten.ID, ID: adminID, Name: "ada@example.com", DisplayName: "Ada"}}
	cfg := passkey.DefaultConfig()
	cfg.Now = func() time.Time { return e.now }
	if mod != nil {
		mod(&cfg)
	}
	if e.svc, err = passkey.New(db, cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

func fieldCode(err error) string {
	var e *mcrm.Error
	if errors.As(err, &e) && len(e.Fields) > 0 {
		return e.Fields[0].Code
	}
	return ""
}

// wantCode asserts an EUnauthorized (or other) error with the field code.
func wantCode(t *testing.T, err error, code mcrm.Code, field string) {
	t.Helper()
	if mcrm.ErrorCode(err) != code || fieldCode(err) != field {
		t.Fatalf("got %v (code %s, field %q), want %s/%s", err, mcrm.ErrorCode(err), fieldCode(err), code, field)
	}
	t.Logf("refused as expected: %v", err) // the cause, for reading -v output

}

func (e *env) register(sk *softkey.Authenticator) (passkey.Credential, error) {
	e.t.Helper()
	opts, id, err := e.svc.BeginRegistration(ctx, e.user)
	if err != nil {
		e.t.Fatal(err)
	}
	body, err := sk.Register(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.svc.FinishRegistration(ctx, e.user, id, body, passkey.Request{Name: "Laptop", IP: "127.0.0.1"})
}

func (e *env) mustRegister(sk *softkey.Authenticator) passkey.Credential {
	e.t.Helper()
	c, err := e.register(sk)
	if err != nil {
		e.t.Fatalf("register: %v", err)
	}
	return c
}

// begin starts a login: user-bound when bound is true, passwordless else.
func (e *env) begin(bound bool) ([]byte, string) {
	e.t.Helper()
	var u *passkey.User
	if bound {
		u = &e.user
	}
	opts, id, err := e.svc.BeginLogin(ctx, e.user.TenantID, u)
	if err != nil {
		e.t.Fatal(err)
	}
	return opts, id
}

func (e *env) login(sk *softkey.Authenticator, bound bool) (passkey.LoginResult, error) {
	e.t.Helper()
	opts, id := e.begin(bound)
	body, err := sk.Login(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.svc.FinishLogin(ctx, e.user.TenantID, id, body, passkey.Request{IP: "127.0.0.1"})
}

func (e *env) count(action string) int {
	e.t.Helper()
	n, err := e.db.CountEvents(ctx, e.user.TenantID, action)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func newKey(t *testing.T) *softkey.Authenticator {
	t.Helper()
	sk, err := softkey.New(origin)
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

func TestRegisterAndLogin(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, nil)
		sk := newKey(t)
		opts, _, err := e.svc.BeginRegistration(ctx, e.user)
		if err != nil {
			t.Fatal(err)
		}
		var o struct {
			PublicKey struct {
				RP struct {
					ID string `json:"id"`
				} `json:"rp"`
				Challenge string `json:"challenge"`
				Timeout   int    `json:"timeout"`
				Selection struct {
					ResidentKey      string `json:"residentKey"`
					UserVerification string `json:"userVerification"`
				} `json:"authenticatorSelection"`
			} `json:"publicKey"`
		}
		if err := json.Unmarshal(opts, &o); err != nil {
			t.Fatal(err)
		}
		if o.PublicKey.RP.ID != "localhost" || len(o.PublicKey.Challenge) != 43 || o.PublicKey.Timeout != 300000 ||
			o.PublicKey.Selection.ResidentKey != "required" || o.PublicKey.Selection.UserVerification != "preferred" {
			t.Fatalf("creation options: %s", opts)
		}

		cred := e.mustRegister(sk)
		if cred.UserID != e.user.ID || cred.Name != "Laptop" || cred.SignCount != 1 || cred.BackupEligible || cred.AAGUID != "" || cred.CreatedAt.IsZero() {
			t.Fatalf("credential: %+v", cred)
		}
		if n := e.count(passkey.EventRegistered); n != 1 {
			t.Fatalf("registered events = %d", n)
		}
		// A label with control characters falls back to the default.
		sk2 := newKey(t)
		opts, id, _ := e.svc.BeginRegistration(ctx, e.user)
		body, _ := sk2.Register(opts)
		if c2, err := e.svc.FinishRegistration(ctx, e.user, id, body, passkey.Request{Name: "x\x1b[31m"}); err != nil || c2.Name != "Passkey" {
			t.Fatalf("label: %v %+v", err, c2)
		}
		if err := e.svc.DeleteCredential(ctx, e.user, mustFind(t, e, sk2), passkey.Request{}); err != nil {
			t.Fatal(err)
		}

		// User-bound (second factor / step-up): the options list the key.
		opts, _ = e.begin(true)
		if !strings.Contains(string(opts), `"allowCredentials":[{"type":"public-key","id":"`+cred.CredentialID+`"`) {
			t.Fatalf("request options: %s", opts)
		}
		res, err := e.login(sk, true)
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		if res.UserID != e.user.ID || !res.UserVerified || res.CounterRegression || res.Credential.SignCount != 2 || res.Credential.ID != cred.ID || !res.Credential.LastUsedAt.Equal(e.now) {
			t.Fatalf("result: %+v", res)
		}
		if got := strings.Join(res.AMR(), ","); got != "hwk,user" {
			t.Fatalf("amr = %s", got)
		}

		// Passwordless: no allow-list, UV required.
		opts, _ = e.begin(false)
		if strings.Contains(string(opts), "allowCredentials") || !strings.Contains(string(opts), `"userVerification":"required"`) {
			t.Fatalf("passwordless options: %s", opts)
		}
		res, err = e.login(sk, false)
		if err != nil || res.UserID != e.user.ID || res.Credential.SignCount != 3 {
			t.Fatalf("passwordless: %v %+v", err, res)
		}
		list, err := e.svc.Credentials(ctx, e.user)
		if err != nil || len(list) != 1 || list[0].SignCount != 3 || !list[0].LastUsedAt.Equal(e.now) {
			t.Fatalf("list: %v %+v", err, list)
		}
		if n := e.count(passkey.EventCloneSuspected); n != 0 {
			t.Fatalf("clone events = %d", n)
		}

		// The same authenticator cannot be registered twice: it is excluded.
		opts, _, _ = e.svc.BeginRegistration(ctx, e.user)
		if _, err := sk.Register(opts); err == nil {
			t.Fatal("excluded credential registered again")
		}

		if err := e.svc.DeleteCredential(ctx, e.user, cred.ID, passkey.Request{}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.svc.BeginLogin(ctx, e.user.TenantID, &e.user); fieldCode(err) != passkey.CodeNoCredentials {
			t.Fatalf("login without passkeys: %v", err)
		}
		if n := e.count(passkey.EventDeleted); n != 2 {
			t.Fatalf("deleted events = %d", n)
		}
	})
}

func TestWrongOriginAndRPID(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, nil)
		// Registration from a phishing origin.
		bad := newKey(t)
		bad.Origin = "https://localhost.evil.example"
		_, err := e.register(bad)
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeFailed)
		// Registration whose authenticator data is for another RP ID.
		bad = newKey(t)
		bad.RPID = "evil.example"
		_, err = e.register(bad)
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeFailed)

		sk := newKey(t)
		e.mustRegister(sk)
		for _, bound := range []bool{true, false} {
			sk.Origin = "https://evil.example"
			_, err := e.login(sk, bound)
			wantCode(t, err, mcrm.EUnauthorized, passkey.CodeFailed)
			sk.Origin = "http://localhost:8443" // scheme matters
			_, err = e.login(sk, bound)
			wantCode(t, err, mcrm.EUnauthorized, passkey.CodeFailed)
			sk.Origin, sk.RPID = origin, "evil.example"
			_, err = e.login(sk, bound)
			wantCode(t, err, mcrm.EUnauthorized, passkey.CodeFailed)
			sk.RPID = ""
		}
		if _, err := e.login(sk, true); err != nil {
			t.Fatalf("good login after bad ones: %v", err)
		}
	})
}

func TestUserPresenceAndVerification(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		// UV by policy.
		e := newEnv(t, db, func(c *passkey.Config) { c.RequireUV = true })
		sk := newKey(t)
		sk.Flags.UV = false
		_, err := e.register(sk)
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeUserVerification)
		sk.Flags = softkey.Flags{UV: true}
		_, err = e.register(sk)
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeUserPresence)
		sk.Flags = softkey.Flags{UP: true, UV: true}
		e.mustRegister(sk)

		sk.Flags = softkey.Flags{UP: false, UV: true}
		_, err = e.login(sk, true)
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeUserPresence)
		sk.Flags = softkey.Flags{UP: true, UV: false}
		_, err = e.login(sk, true)
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeUserVerification)
		sk.Flags = softkey.Flags{UP: true, UV: true}
		if _, err := e.login(sk, true); err != nil {
			t.Fatal(err)
		}

		// Without the policy flag, a user-bound assertion may skip UV (it
		// follows a password) but a passwordless one may not.
		e2 := newEnv(t, db, nil)
		sk2 := newKey(t)
		e2.mustRegister(sk2)
		sk2.Flags.UV = false
		res, err := e2.login(sk2, true)
		if err != nil || res.UserVerified || strings.Join(res.AMR(), ",") != "hwk" {
			t.Fatalf("user-bound without UV: %v %+v", err, res)
		}
		_, err = e2.login(sk2, false)
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeUserVerification)
		sk2.Flags.UP = false
		_, err = e2.login(sk2, true)
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeUserPresence)
	})
}

func TestChallengeSingleUseAndLifetime(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, nil)
		sk := newKey(t)

		// Expired registration challenge.
		opts, id, err := e.svc.BeginRegistration(ctx, e.user)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := sk.Register(opts)
		e.now = e.now.Add(passkey.ChallengeTTL + time.Second)
		_, err = e.svc.FinishRegistration(ctx, e.user, id, body, passkey.Request{})
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeChallenge)
		// A registration challenge belongs to its user.
		opts, id, _ = e.svc.BeginRegistration(ctx, e.user)
		body, _ = sk.Register(opts)
		other := e.user
		other.ID = "someone-else"
		_, err = e.svc.FinishRegistration(ctx, other, id, body, passkey.Request{})
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeChallenge)
		// ... and that attempt burnt it.
		_, err = e.svc.FinishRegistration(ctx, e.user, id, body, passkey.Request{})
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeChallenge)
		e.mustRegister(sk)

		// Reuse: the same challenge and body a second time.
		opts, id = e.begin(true)
		body, _ = sk.Login(opts)
		if _, err := e.svc.FinishLogin(ctx, e.user.TenantID, id, body, passkey.Request{}); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.FinishLogin(ctx, e.user.TenantID, id, body, passkey.Request{})
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeChallenge)
		// The old body with a fresh challenge: the signed challenge differs.
		_, id2 := e.begin(true)
		_, err = e.svc.FinishLogin(ctx, e.user.TenantID, id2, body, passkey.Request{})
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeFailed)

		// Lifetime: valid just before 5 minutes, not at 5 minutes.
		opts, id = e.begin(false)
		body, _ = sk.Login(opts)
		e.now = e.now.Add(passkey.ChallengeTTL - time.Second)
		if _, err := e.svc.FinishLogin(ctx, e.user.TenantID, id, body, passkey.Request{}); err != nil {
			t.Fatalf("at 4m59s: %v", err)
		}
		opts, id = e.begin(false)
		body, _ = sk.Login(opts)
		e.now = e.now.Add(passkey.ChallengeTTL)
		_, err = e.svc.FinishLogin(ctx, e.user.TenantID, id, body, passkey.Request{})
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeChallenge)

		// A registration challenge is no login challenge, a login challenge
		// is not valid in another tenant, and an unknown one is nothing.
		_, rid, _ := e.svc.BeginRegistration(ctx, e.user)
		opts, _ = e.begin(true)
		body, _ = sk.Login(opts)
		_, err = e.svc.FinishLogin(ctx, e.user.TenantID, rid, body, passkey.Request{})
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeChallenge)
		_, id = e.begin(true)
		_, err = e.svc.FinishLogin(ctx, "another-tenant", id, body, passkey.Request{})
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeChallenge)
		_, err = e.svc.FinishLogin(ctx, e.user.TenantID, "", body, passkey.Request{})
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeChallenge)
	})
}

func TestCloneDetectionDeviceBound(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, nil)
		sk := newKey(t)
		e.mustRegister(sk) // counter 1
		sk.Counter = 5
		if res, err := e.login(sk, true); err != nil || res.Credential.SignCount != 5 {
			t.Fatalf("counter 5: %v %+v", err, res)
		}
		// A second device with a copy of the key answers with 5 again.
		sk.Counter = 5
		_, err := e.login(sk, true)
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeCloneSuspected)
		if n := e.count(passkey.EventCloneSuspected); n != 1 {
			t.Fatalf("clone events = %d, want exactly 1", n)
		}
		var actor, object, outcome, detail string
		if err := db.SQL().QueryRow(`SELECT actor, object, outcome, detail FROM security_events WHERE tenant_id = $1 AND action = $2`,
			e.user.TenantID, passkey.EventCloneSuspected).Scan(&actor, &object, &outcome, &detail); err != nil {
			t.Fatal(err)
		}
		if list, _ := e.svc.Credentials(ctx, e.user); actor != e.user.ID || object != "webauthn_credentials/"+list[0].ID || outcome != "failure" || detail != "stored=5 got=5 be=false" {
			t.Fatalf("clone event: %q %q %q %q", actor, object, outcome, detail)
		}
		// Lower still, passwordless this time: fails the same way.
		sk.Counter = 3
		_, err = e.login(sk, false)
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeCloneSuspected)
		if n := e.count(passkey.EventCloneSuspected); n != 2 {
			t.Fatalf("clone events = %d, want 2", n)
		}
		// The stored counter did not move, so the genuine key (6) works.
		list, _ := e.svc.Credentials(ctx, e.user)
		if len(list) != 1 || list[0].SignCount != 5 {
			t.Fatalf("stored counter: %+v", list)
		}
		sk.Counter = 6
		if _, err := e.login(sk, true); err != nil {
			t.Fatalf("counter 6: %v", err)
		}
		if n := e.count(passkey.EventCounterRegression); n != 0 {
			t.Fatalf("regression events = %d", n)
		}
	})
}

func TestSyncedPasskeyCounter(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, nil)
		// A synced passkey never counts: BE=1, counter always 0.
		sk := newKey(t)
		sk.Flags = softkey.Flags{UP: true, UV: true, BE: true, BS: true}
		sk.Counter, sk.CounterStep = 0, 0
		cred := e.mustRegister(sk)
		if !cred.BackupEligible || !cred.BackupState || cred.SignCount != 0 {
			t.Fatalf("credential: %+v", cred)
		}
		for i := 0; i < 3; i++ {
			res, err := e.login(sk, i%2 == 0)
			if err != nil || res.CounterRegression || res.Credential.SignCount != 0 || strings.Join(res.AMR(), ",") != "swk,user" {
				t.Fatalf("login %d: %v %+v", i, err, res)
			}
		}
		if n := e.count(passkey.EventCloneSuspected) + e.count(passkey.EventCounterRegression); n != 0 {
			t.Fatalf("alerts = %d, want 0", n)
		}

		// A synced passkey that counts and goes back: accepted, risk signal.
		sk2 := newKey(t)
		sk2.Flags = softkey.Flags{UP: true, UV: true, BE: true}
		e.mustRegister(sk2)
		sk2.Counter = 5
		if _, err := e.login(sk2, false); err != nil {
			t.Fatal(err)
		}
		sk2.Counter = 3
		res, err := e.login(sk2, false)
		if err != nil || !res.CounterRegression || res.Credential.SignCount != 5 {
			t.Fatalf("regression: %v %+v", err, res)
		}
		// Counter 0 from a passkey that used to count: no alert either.
		sk2.Counter = 0
		res, err = e.login(sk2, false)
		if err != nil || res.CounterRegression {
			t.Fatalf("counter 0: %v %+v", err, res)
		}
		if n := e.count(passkey.EventCounterRegression); n != 1 {
			t.Fatalf("regression events = %d, want 1", n)
		}
		if n := e.count(passkey.EventCloneSuspected); n != 0 {
			t.Fatalf("clone events = %d, want 0", n)
		}
		// The backup-eligible flag cannot change after registration.
		sk2.Flags.BE, sk2.Flags.BS = false, false
		sk2.Counter = 9
		_, err = e.login(sk2, false)
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeFailed)
	})
}

func TestAAGUIDAllowList(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		approved := uuid.MustParse("08987058-cadc-4b81-b6e1-30de50dcbe96")
		e := newEnv(t, db, func(c *passkey.Config) { c.AllowedAAGUIDs = []uuid.UUID{approved} })
		opts, _, err := e.svc.BeginRegistration(ctx, e.user)
		if err != nil || !strings.Contains(string(opts), `"attestation":"direct"`) {
			t.Fatalf("options: %v %s", err, opts)
		}
		sk := newKey(t) // zero AAGUID
		_, err = e.register(sk)
		wantCode(t, err, mcrm.EForbidden, passkey.CodeNotAllowed)
		sk.AAGUID = uuid.MustParse("ee882879-721c-4913-9775-3dfcce97072a")
		_, err = e.register(sk)
		wantCode(t, err, mcrm.EForbidden, passkey.CodeNotAllowed)
		if list, _ := e.svc.Credentials(ctx, e.user); len(list) != 0 {
			t.Fatalf("refused credential stored: %+v", list)
		}
		sk.AAGUID = approved
		cred := e.mustRegister(sk)
		if cred.AAGUID != approved.String() {
			t.Fatalf("aaguid = %q", cred.AAGUID)
		}
		if _, err := e.login(sk, true); err != nil {
			t.Fatal(err)
		}
	})
}

func TestForeignAndForgedAssertions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, nil)
		alice := newKey(t)
		e.mustRegister(alice)
		// Bob, a second user of the tenant, with his own passkey.
		bob := *e
		bobID := ""
		if err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
			v, err := tx.Create(ctx, &mcrm.Principal{TenantID: e.user.TenantID, System: true}, mcrm.EntityByName("users"),
				map[string]any{"email": "bob@example.com", "name": "Bob", "role": mcrm.RoleSalesRep})
			if err == nil {
				bobID = v["id"].(string)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		bob.user = passkey.User{TenantID: e.user.TenantID, ID: bobID, Name: "bob@example.com"}
		bk := newKey(t)
		bob.mustRegister(bk)

		// Bob's key answering a challenge bound to Alice: refused.
		opts, id := e.begin(true)
		var o map[string]map[string]any
		_ = json.Unmarshal(opts, &o)
		delete(o["publicKey"], "allowCredentials")
		stripped, _ := json.Marshal(o)
		body, err := bk.Login(stripped)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.FinishLogin(ctx, e.user.TenantID, id, body, passkey.Request{})
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeFailed)

		// A passwordless assertion claiming Alice's user handle with Bob's key.
		opts, id = e.begin(false)
		body, _ = bk.Login(opts)
		var a softkey.AssertionResponse
		_ = json.Unmarshal(body, &a)
		a.Response.UserHandle = base64.RawURLEncoding.EncodeToString([]byte(e.user.ID))
		body, _ = json.Marshal(a)
		_, err = e.svc.FinishLogin(ctx, e.user.TenantID, id, body, passkey.Request{})
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeFailed)

		// A forged signature.
		opts, id = e.begin(false)
		body, _ = alice.Login(opts)
		_ = json.Unmarshal(body, &a)
		sig, _ := base64.RawURLEncoding.DecodeString(a.Response.Signature)
		sig[len(sig)-1] ^= 1
		a.Response.Signature = base64.RawURLEncoding.EncodeToString(sig)
		body, _ = json.Marshal(a)
		_, err = e.svc.FinishLogin(ctx, e.user.TenantID, id, body, passkey.Request{})
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeFailed)

		// An unknown credential and a body that is not JSON.
		stranger := newKey(t)
		opts, id = e.begin(false)
		body, _ = stranger.Login(opts)
		_, err = e.svc.FinishLogin(ctx, e.user.TenantID, id, body, passkey.Request{})
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeFailed)
		_, id = e.begin(false)
		_, err = e.svc.FinishLogin(ctx, e.user.TenantID, id, []byte("{"), passkey.Request{})
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeFailed)

		// A deactivated user's passkey no longer logs in.
		if _, err := db.RawWriter().Exec(`UPDATE users SET active = FALSE WHERE tenant_id = $1 AND id = $2`, e.user.TenantID, bobID); err != nil {
			t.Fatal(err)
		}
		opts, id = e.begin(false)
		body, _ = bk.Login(opts)
		_, err = e.svc.FinishLogin(ctx, e.user.TenantID, id, body, passkey.Request{})
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeFailed)

		// The error text never carries the library's detail.
		if e, ok := err.(*mcrm.Error); !ok || e.Message != "authentication failed" {
			t.Fatalf("message: %v", err)
		}
	})
}

// Two copies of a device-bound key answering at once with the same
// counter: at most one assertion is accepted, whatever the interleaving
// (the counter is compared and swapped in the store).
func TestConcurrentAssertionsSameCounter(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, nil)
		sk := newKey(t)
		e.mustRegister(sk)
		const n = 6
		bodies, ids := make([][]byte, n), make([]string, n)
		for i := range n {
			opts, id := e.begin(false)
			sk.Counter = 9
			body, err := sk.Login(opts)
			if err != nil {
				t.Fatal(err)
			}
			bodies[i], ids[i] = body, id
		}
		errs := make(chan error, n)
		for i := range n {
			go func() {
				_, err := e.svc.FinishLogin(ctx, e.user.TenantID, ids[i], bodies[i], passkey.Request{})
				errs <- err
			}()
		}
		ok := 0
		for range n {
			err := <-errs
			switch {
			case err == nil:
				ok++
			case mcrm.ErrorCode(err) != mcrm.EUnauthorized:
				t.Fatalf("unexpected error: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d assertions with counter 9 accepted, want 1", ok)
		}
		list, _ := e.svc.Credentials(ctx, e.user)
		if len(list) != 1 || list[0].SignCount != 9 {
			t.Fatalf("stored: %+v", list)
		}
	})
}

func mustFind(t *testing.T, e *env, sk *softkey.Authenticator) string {
	t.Helper()
	list, err := e.svc.Credentials(ctx, e.user)
	if err != nil {
		t.Fatal(err)
	}
	want := base64.RawURLEncoding.EncodeToString(sk.CredentialID())
	for _, c := range list {
		if c.CredentialID == want {
			return c.ID
		}
	}
	t.Fatalf("credential not stored")
	return ""
}

// A tenant policy can demand user verification at registration even when
// the server-wide relying party only prefers it.
func TestRegistrationRequireUVPerRequest(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, nil)
		sk := newKey(t)
		sk.Flags.UV = false
		opts, id, err := e.svc.BeginRegistration(ctx, e.user)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := sk.Register(opts)
		_, err = e.svc.FinishRegistration(ctx, e.user, id, body, passkey.Request{RequireUV: true})
		wantCode(t, err, mcrm.EUnauthorized, passkey.CodeUserVerification)
		creds, _ := e.svc.Credentials(ctx, e.user)
		if len(creds) != 0 {
			t.Fatalf("%d credentials stored after a refused registration", len(creds))
		}
		// The same authenticator without the per-request demand registers.
		opts, id, _ = e.svc.BeginRegistration(ctx, e.user)
		body, _ = sk.Register(opts)
		if _, err := e.svc.FinishRegistration(ctx, e.user, id, body, passkey.Request{}); err != nil {
			t.Fatalf("without RequireUV: %v", err)
		}
	})
}
