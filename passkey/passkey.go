// Package passkey runs WebAuthn registration and login ceremonies for
// mcrm on top of github.com/go-webauthn/webauthn, which does the protocol
// verification (origin, rpIdHash, challenge, flags, signature). This
// package adds what the library leaves to the relying party:
//
//   - challenges kept server side, single use, 5 minutes, consumed by one
//     conditional UPDATE before anything is verified (a failed attempt
//     burns its challenge too);
//   - user verification required by policy (always for passwordless
//     login, where the passkey is the only factor);
//   - the sign-counter policy: a counter that does not grow on a
//     device-bound credential (BE=0) is a hard failure and the event
//     authn_authenticator_clone_suspected; on a synced passkey (BE=1), whose
//     copies cannot share a counter, a regression is only a risk signal and
//     counter 0 is normal;
//   - an optional AAGUID allow-list (managed-device profiles);
//   - errors as *mcrm.Error with stable field codes, never the library's
//     text (which may echo client input).
//
// The functions take and return JSON bytes so an HTTP handler only moves
// bodies: BeginX returns the options for navigator.credentials.create/get
// and a challenge id; FinishX takes the PublicKeyCredential JSON back.
//
// Tests drive the ceremonies with passkey/softkey, a software
// authenticator that writes the same JSON a browser does, and
// passkey/browsertest runs them in headless Chromium against its virtual
// authenticator (DevTools WebAuthn domain, via chromedp): registration,
// passwordless login, the sign count and a UV refusal against a real
// client. It skips without a chromium binary unless MCRM_REQUIRE_BROWSER=1.
package passkey

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"mcrm"
	"mcrm/record"
	"mcrm/sqlstore"
)

// ChallengeTTL is how long a ceremony may take (AUTH-06: 5 minutes).
const ChallengeTTL = 5 * time.Minute

// Challenge kinds, named after the clientDataJSON types they expect.
const (
	KindRegistration = "webauthn.create"
	KindLogin        = "webauthn.get"
)

// Security event names (OWASP logging vocabulary style).
const (
	EventRegistered        = "authn_passkey_registered"
	EventDeleted           = "authn_passkey_deleted"
	EventCloneSuspected    = "authn_authenticator_clone_suspected"
	EventCounterRegression = "authn_passkey_counter_regression"
)

// Field codes of the errors this package returns (in Error.Fields[0].Code).
const (
	CodeFailed           = "webauthn_failed"            // any protocol check: origin, rpIdHash, signature, unknown credential
	CodeChallenge        = "challenge_invalid"          // unknown, used, expired or foreign challenge
	CodeUserPresence     = "user_presence_required"     // UP flag not set
	CodeUserVerification = "user_verification_required" // UV flag not set where policy needs it
	CodeCloneSuspected   = "clone_suspected"            // counter did not grow on a device-bound key
	CodeNotAllowed       = "authenticator_not_allowed"  // AAGUID not on the allow-list (403)
	CodeNoCredentials    = "no_passkey"                 // user-bound login for a user without passkeys
)

// Config is the relying party. The server fills it from its configuration;
// DefaultConfig is the local development setup.
type Config struct {
	RPID          string   // the registrable domain passkeys are bound to
	RPDisplayName string   // shown by the authenticator
	Origins       []string // exact origins the browser may report, e.g. https://crm.example.com

	// RequireUV makes user verification (PIN, biometric) mandatory in
	// registration and user-bound login. Passwordless login always needs it.
	RequireUV bool
	// AllowedAAGUIDs, when not empty, is the list of authenticator models
	// accepted (registration asks for direct attestation then). A zero
	// AAGUID is refused unless listed. Without attestation trust anchors
	// (go-webauthn's MDS) the AAGUID is the authenticator's own claim: it
	// keeps honest users on approved models, it does not stop a forger.
	AllowedAAGUIDs []uuid.UUID
	// Now is the clock for challenge lifetimes; nil means time.Now.
	Now func() time.Time
}

// DefaultConfig is the relying party of a local `mcrm serve`.
func DefaultConfig() Config {
	return Config{RPID: "localhost", RPDisplayName: "mcrm", Origins: []string{"https://localhost:8443"}}
}

// Service runs the ceremonies against the store.
type Service struct {
	db  *sqlstore.DB
	cfg Config
	wa  *webauthn.WebAuthn
}

// New validates cfg and returns a Service.
func New(db *sqlstore.DB, cfg Config) (*Service, error) {
	if cfg.RPDisplayName == "" {
		cfg.RPDisplayName = "mcrm"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          cfg.RPID,
		RPDisplayName: cfg.RPDisplayName,
		RPOrigins:     slices.Clone(cfg.Origins),
		// Expiry is enforced by the challenge store on our clock, so the
		// library's own (wall-clock) timeout is left off.
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: ChallengeTTL, TimeoutUVD: ChallengeTTL},
			Registration: webauthn.TimeoutConfig{Timeout: ChallengeTTL, TimeoutUVD: ChallengeTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	return &Service{db: db, cfg: cfg, wa: wa}, nil
}

// User is the account a ceremony is for.
type User struct {
	TenantID    string
	ID          string
	Name        string // account name shown by the authenticator (e.g. the email)
	DisplayName string
}

// Request carries what the security events record about the request.
type Request struct {
	IP        string
	RequestID string
	SessionID string
	// Name is the label the user gives a new passkey (registration only).
	Name string
	// RequireUV refuses a registration whose authenticator did not verify
	// the user, whatever the server-wide Config says (a tenant's policy).
	RequireUV bool
}

// Credential describes a stored passkey; nothing in it is secret.
type Credential struct {
	ID             string // row id, for listing and deleting
	UserID         string
	CredentialID   string // base64url credential id
	Name           string
	AAGUID         string // authenticator model, "" when unknown
	BackupEligible bool   // a synced (multi-device) passkey
	BackupState    bool   // currently backed up
	SignCount      uint32
	CreatedAt      time.Time
	LastUsedAt     time.Time
}

// LoginResult is the outcome of a successful login or step-up assertion.
type LoginResult struct {
	UserID       string
	Credential   Credential
	UserVerified bool // the authenticator verified the user (PIN, biometric)
	// CounterRegression marks a synced passkey whose counter went back: a
	// risk signal for the risk engine, not a failure.
	CounterRegression bool
}

// AMR returns RFC 8176 method references for the session: "hwk" for a
// device-bound key, "swk" for a synced passkey (its key leaves the device),
// and "user" when the user was verified, which with possession of the key
// makes the passkey multi-factor on its own.
func (r LoginResult) AMR() []string {
	m := []string{"hwk"}
	if r.Credential.BackupEligible {
		m[0] = "swk"
	}
	if r.UserVerified {
		m = append(m, "user")
	}
	return m
}

func fail(code, msg string, err error) error {
	return &mcrm.Error{Code: mcrm.EUnauthorized, Message: "authentication failed", Err: err,
		Fields: []mcrm.FieldError{{Field: "credential", Code: code, Message: msg}}}
}

func forbidden(err error) error {
	return &mcrm.Error{Code: mcrm.EForbidden, Message: "authenticator not allowed", Err: err,
		Fields: []mcrm.FieldError{{Field: "credential", Code: CodeNotAllowed, Message: "this authenticator model is not allowed"}}}
}

// protocolFail turns a go-webauthn error into ours; the library's message
// stays in Err (logs), never in the answer.
func protocolFail(err error) error {
	return fail(CodeFailed, "the authenticator response did not verify", err)
}

// waUser adapts a user and their stored credentials to go-webauthn. The
// user handle is the user id: opaque, stable, not personal data, and it
// lets a passwordless login name its user without a lookup table.
type waUser struct {
	u     User
	creds []webauthn.Credential
}

func (w *waUser) WebAuthnID() []byte                         { return []byte(w.u.ID) }
func (w *waUser) WebAuthnName() string                       { return w.u.Name }
func (w *waUser) WebAuthnDisplayName() string                { return w.u.DisplayName }
func (w *waUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

// loadUser reads a user's credentials. The sign counter column is the
// authority (it is compared and swapped atomically), so it overrides the
// copy inside the JSON record.
func (s *Service) loadUser(ctx context.Context, u User) (*waUser, []sqlstore.WebAuthnCredential, error) {
	rows, err := s.db.WebAuthnCredentials(ctx, u.TenantID, u.ID)
	if err != nil {
		return nil, nil, err
	}
	w := &waUser{u: u}
	for _, r := range rows {
		var c webauthn.Credential
		if err := json.Unmarshal([]byte(r.Data), &c); err != nil {
			return nil, nil, fmt.Errorf("passkey: stored credential %s: %w", r.ID, err)
		}
		c.Authenticator.SignCount = uint32(r.SignCount)
		w.creds = append(w.creds, c)
	}
	return w, rows, nil
}

func (s *Service) newChallenge(ctx context.Context, tenantID, userID, kind string, sd *webauthn.SessionData) (string, error) {
	data, err := json.Marshal(sd)
	if err != nil {
		return "", err
	}
	id := rand.Text() // 128 bits: the handle is not guessable either
	now := s.cfg.Now()
	err = s.db.CreateChallenge(ctx, sqlstore.AuthChallenge{TenantID: tenantID, ID: id, UserID: userID, Kind: kind, Data: string(data), ExpiresAt: now.Add(ChallengeTTL)}, now)
	return id, err
}

func (s *Service) takeChallenge(ctx context.Context, tenantID, id, kind string) (sqlstore.AuthChallenge, webauthn.SessionData, error) {
	var sd webauthn.SessionData
	if id == "" {
		return sqlstore.AuthChallenge{}, sd, fail(CodeChallenge, "the challenge is unknown, used or expired", nil)
	}
	c, err := s.db.ConsumeChallenge(ctx, tenantID, id, kind, s.cfg.Now())
	if err != nil {
		return c, sd, err
	}
	if err := json.Unmarshal([]byte(c.Data), &sd); err != nil {
		return c, sd, fmt.Errorf("passkey: stored challenge: %w", err)
	}
	return c, sd, nil
}

func (s *Service) uvRequirement() protocol.UserVerificationRequirement {
	if s.cfg.RequireUV {
		return protocol.VerificationRequired
	}
	return protocol.VerificationPreferred
}

// checkFlags gives UP and UV failures their own codes before the library
// checks everything again: a client can tell the user what to do.
func checkFlags(flags protocol.AuthenticatorFlags, uv protocol.UserVerificationRequirement) error {
	if !flags.HasUserPresent() {
		return fail(CodeUserPresence, "the authenticator did not test user presence", nil)
	}
	if uv == protocol.VerificationRequired && !flags.HasUserVerified() {
		return fail(CodeUserVerification, "the authenticator did not verify the user", nil)
	}
	return nil
}

func (s *Service) aaguidAllowed(aaguid []byte) error {
	if len(s.cfg.AllowedAAGUIDs) == 0 {
		return nil
	}
	id, err := uuid.FromBytes(aaguid)
	if err != nil || !slices.Contains(s.cfg.AllowedAAGUIDs, id) {
		return forbidden(err)
	}
	return nil
}

// BeginRegistration starts adding a passkey for u. It returns the options
// JSON for navigator.credentials.create ({"publicKey": {...}}) and the id
// of the server-side challenge, which the client sends back with the
// result. Credentials u already has are excluded, so one authenticator is
// not registered twice.
func (s *Service) BeginRegistration(ctx context.Context, u User) ([]byte, string, error) {
	w, _, err := s.loadUser(ctx, u)
	if err != nil {
		return nil, "", err
	}
	exclude := make([]protocol.CredentialDescriptor, len(w.creds))
	for i, c := range w.creds {
		exclude[i] = c.Descriptor()
	}
	conveyance := protocol.PreferNoAttestation
	if len(s.cfg.AllowedAAGUIDs) > 0 {
		conveyance = protocol.PreferDirectAttestation
	}
	creation, sd, err := s.wa.BeginRegistration(w,
		webauthn.WithExclusions(exclude),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementRequired,
			UserVerification: s.uvRequirement(),
		}),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithConveyancePreference(conveyance),
	)
	if err != nil {
		return nil, "", fmt.Errorf("passkey: begin registration: %w", err)
	}
	id, err := s.newChallenge(ctx, u.TenantID, u.ID, KindRegistration, sd)
	if err != nil {
		return nil, "", err
	}
	opts, err := json.Marshal(creation)
	return opts, id, err
}

// FinishRegistration verifies the registration response body against the
// challenge and stores the new credential, recording EventRegistered in
// the same transaction.
func (s *Service) FinishRegistration(ctx context.Context, u User, challengeID string, body []byte, req Request) (Credential, error) {
	c, sd, err := s.takeChallenge(ctx, u.TenantID, challengeID, KindRegistration)
	if err != nil {
		return Credential{}, err
	}
	if c.UserID != u.ID {
		return Credential{}, fail(CodeChallenge, "the challenge is unknown, used or expired", nil)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return Credential{}, protocolFail(err)
	}
	uv := sd.UserVerification
	if req.RequireUV {
		uv = protocol.VerificationRequired
	}
	if err := checkFlags(parsed.Response.AttestationObject.AuthData.Flags, uv); err != nil {
		return Credential{}, err
	}
	w, _, err := s.loadUser(ctx, u)
	if err != nil {
		return Credential{}, err
	}
	cred, err := s.wa.CreateCredential(w, sd, parsed)
	if err != nil {
		return Credential{}, protocolFail(err)
	}
	if err := s.aaguidAllowed(cred.Authenticator.AAGUID); err != nil {
		return Credential{}, err
	}
	data, err := json.Marshal(cred)
	if err != nil {
		return Credential{}, err
	}
	row := sqlstore.WebAuthnCredential{
		TenantID: u.TenantID, ID: record.NewID(), UserID: u.ID,
		CredentialID: base64.RawURLEncoding.EncodeToString(cred.ID), Name: credentialName(req.Name), Data: string(data),
		SignCount: int64(cred.Authenticator.SignCount), BackupEligible: cred.Flags.BackupEligible,
		CreatedAt: s.cfg.Now().UTC(),
	}
	ev := sqlstore.Event{TenantID: u.TenantID, Actor: u.ID, SessionID: req.SessionID, Action: EventRegistered,
		Object: "webauthn_credentials/" + row.ID, Outcome: "success", IP: req.IP, RequestID: req.RequestID,
		Detail: fmt.Sprintf("be=%t uv=%t", cred.Flags.BackupEligible, cred.Flags.UserVerified)}
	if err := s.db.AddWebAuthnCredential(ctx, row, ev); err != nil {
		return Credential{}, err
	}
	return info(row, cred), nil
}

// credentialName is the user's label for a passkey, shown in factor lists:
// printable, at most 100 bytes, else a neutral default (a label is not
// worth failing a registration over).
func credentialName(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 100 || !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return "Passkey"
	}
	return s
}

func info(row sqlstore.WebAuthnCredential, c *webauthn.Credential) Credential {
	out := Credential{ID: row.ID, UserID: row.UserID, CredentialID: row.CredentialID, Name: row.Name,
		BackupEligible: c.Flags.BackupEligible, BackupState: c.Flags.BackupState,
		SignCount: c.Authenticator.SignCount, CreatedAt: row.CreatedAt, LastUsedAt: row.LastUsedAt}
	if id, err := uuid.FromBytes(c.Authenticator.AAGUID); err == nil && id != uuid.Nil {
		out.AAGUID = id.String()
	}
	return out
}

// BeginLogin starts an assertion. With u, the options list u's
// credentials (second factor or step-up; UV as the policy says). With u
// nil it is a passwordless login: no credentials are listed, the
// authenticator offers its discoverable ones, and UV is always required
// because the passkey is then the only factor.
func (s *Service) BeginLogin(ctx context.Context, tenantID string, u *User) ([]byte, string, error) {
	var (
		assertion *protocol.CredentialAssertion
		sd        *webauthn.SessionData
		err       error
		userID    string
	)
	if u == nil {
		assertion, sd, err = s.beginDiscoverable()
	} else {
		if u.TenantID != tenantID {
			return nil, "", mcrm.Errorf(mcrm.EInvalid, "user of another tenant")
		}
		w, _, lerr := s.loadUser(ctx, *u)
		if lerr != nil {
			return nil, "", lerr
		}
		if len(w.creds) == 0 {
			return nil, "", fail(CodeNoCredentials, "no passkey is registered", nil)
		}
		userID = u.ID
		assertion, sd, err = s.wa.BeginLogin(w, webauthn.WithUserVerification(s.uvRequirement()))
	}
	if err != nil {
		return nil, "", fmt.Errorf("passkey: begin login: %w", err)
	}
	id, err := s.newChallenge(ctx, tenantID, userID, KindLogin, sd)
	if err != nil {
		return nil, "", err
	}
	opts, err := json.Marshal(assertion)
	return opts, id, err
}

// beginDiscoverable makes the options of a passwordless login; BeginLogin
// and DecoyLogin share it so their answers cannot drift apart.
func (s *Service) beginDiscoverable() (*protocol.CredentialAssertion, *webauthn.SessionData, error) {
	return s.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
}

// DecoyLogin returns options and a challenge id shaped exactly like
// BeginLogin's passwordless ones, for a sign-in naming a tenant that does
// not exist: the answer must not tell whether it does. Nothing is stored
// (there is no tenant to store it under), so FinishLogin with the id fails
// like any unknown challenge.
func (s *Service) DecoyLogin() ([]byte, string, error) {
	assertion, _, err := s.beginDiscoverable()
	if err != nil {
		return nil, "", fmt.Errorf("passkey: begin login: %w", err)
	}
	opts, err := json.Marshal(assertion)
	return opts, rand.Text(), err
}

// FinishLogin verifies an assertion body against the challenge and returns
// whose passkey it was. The new counter is stored with a compare-and-swap;
// a non-growing counter on a device-bound credential fails with
// CodeCloneSuspected and records EventCloneSuspected. The caller starts the
// session and records the login event.
func (s *Service) FinishLogin(ctx context.Context, tenantID, challengeID string, body []byte, req Request) (LoginResult, error) {
	ch, sd, err := s.takeChallenge(ctx, tenantID, challengeID, KindLogin)
	if err != nil {
		return LoginResult{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return LoginResult{}, protocolFail(err)
	}
	credID := base64.RawURLEncoding.EncodeToString(parsed.RawID)
	row, err := s.db.WebAuthnCredentialByCredentialID(ctx, tenantID, credID)
	if mcrm.ErrorCode(err) == mcrm.ENotFound {
		return LoginResult{}, fail(CodeFailed, "the authenticator response did not verify", errors.New("unknown credential"))
	} else if err != nil {
		return LoginResult{}, err
	}
	if ch.UserID != "" && row.UserID != ch.UserID {
		return LoginResult{}, fail(CodeFailed, "the authenticator response did not verify", errors.New("credential of another user"))
	}
	if err := checkFlags(parsed.Response.AuthenticatorData.Flags, sd.UserVerification); err != nil {
		return LoginResult{}, err
	}
	w, _, err := s.loadUser(ctx, User{TenantID: tenantID, ID: row.UserID})
	if err != nil {
		return LoginResult{}, err
	}
	var cred *webauthn.Credential
	if ch.UserID != "" {
		cred, err = s.wa.ValidateLogin(w, sd, parsed)
	} else {
		_, cred, err = s.wa.ValidatePasskeyLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
			if !bytes.Equal(userHandle, w.WebAuthnID()) {
				return nil, errors.New("user handle does not match the credential")
			}
			return w, nil
		}, sd, parsed)
	}
	if err != nil {
		return LoginResult{}, protocolFail(err)
	}
	if err := s.aaguidAllowed(cred.Authenticator.AAGUID); err != nil {
		return LoginResult{}, err
	}
	res := LoginResult{UserID: row.UserID, UserVerified: parsed.Response.AuthenticatorData.Flags.HasUserVerified()}
	got, stored := parsed.Response.AuthenticatorData.Counter, uint32(row.SignCount)
	regressed := got <= stored && !(got == 0 && stored == 0)
	ev := func(action, outcome string) sqlstore.Event {
		return sqlstore.Event{TenantID: tenantID, Actor: row.UserID, SessionID: req.SessionID, Action: action,
			Object: "webauthn_credentials/" + row.ID, Outcome: outcome, IP: req.IP, RequestID: req.RequestID,
			Detail: fmt.Sprintf("stored=%d got=%d be=%t", stored, got, cred.Flags.BackupEligible)}
	}
	var signal *sqlstore.Event
	switch {
	case regressed && !cred.Flags.BackupEligible:
		// The go-webauthn record carries CloneWarning=true now.
		data, merr := json.Marshal(cred)
		if merr != nil {
			return LoginResult{}, merr
		}
		if err := s.db.FlagWebAuthnClone(ctx, tenantID, row.ID, string(data), ev(EventCloneSuspected, "failure")); err != nil {
			return LoginResult{}, err
		}
		return LoginResult{}, fail(CodeCloneSuspected, "the authenticator may have been cloned", nil)
	case regressed && got == 0:
		// A synced passkey that does not count: normal, nothing to say.
		cred.Authenticator.CloneWarning = false
	case regressed:
		cred.Authenticator.CloneWarning = false
		res.CounterRegression = true
		e := ev(EventCounterRegression, "success")
		signal = &e
	}
	next := max(got, stored)
	cred.Authenticator.SignCount = next
	data, err := json.Marshal(cred)
	if err != nil {
		return LoginResult{}, err
	}
	now := s.cfg.Now().UTC()
	if err := s.db.RecordWebAuthnUse(ctx, tenantID, row.ID, row.SignCount, int64(next), string(data), now, signal); err != nil {
		return LoginResult{}, err
	}
	row.LastUsedAt = now
	res.Credential = info(row, cred)
	return res, nil
}

// Credentials lists u's passkeys.
func (s *Service) Credentials(ctx context.Context, u User) ([]Credential, error) {
	w, rows, err := s.loadUser(ctx, u)
	if err != nil {
		return nil, err
	}
	out := make([]Credential, len(rows))
	for i, r := range rows {
		out[i] = info(r, &w.creds[i])
	}
	return out, nil
}

// DeleteCredential removes one of u's passkeys (the lead's factor
// management requires step-up first), recording EventDeleted.
func (s *Service) DeleteCredential(ctx context.Context, u User, id string, req Request) error {
	return s.db.DeleteWebAuthnCredential(ctx, u.TenantID, u.ID, id, sqlstore.Event{TenantID: u.TenantID, Actor: u.ID,
		SessionID: req.SessionID, Action: EventDeleted, Object: "webauthn_credentials/" + id, Outcome: "success", IP: req.IP, RequestID: req.RequestID})
}
