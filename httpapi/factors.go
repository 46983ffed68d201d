package httpapi

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"mcrm"
	"mcrm/passkey"
	"mcrm/record"
	"mcrm/risk"
	"mcrm/sqlstore"
	"mcrm/totp"
)

// This file is the user's second factors: TOTP, recovery codes and
// passkeys, from enrolment (also the forced one of a session at stage
// enrol) to passwordless sign-in and step-up with a passkey.
//
// Rules that hold for every route here:
//   - Adding a factor when the user already has one, and removing one, is
//     a factor change: it needs a recent strong authentication (step-up),
//     or a stolen session could swap in the thief's factor.
//   - A factor change ends every other session of the user: whoever else
//     held one signed in under the old set of factors.
//   - Secrets (TOTP seeds, recovery codes, assertions) appear in answers
//     shown once, never in events or logs.

// factorRoutes are the second-factor routes: TOTP, recovery codes and
// passkeys (enrolment, passwordless sign-in, step-up).
func (s *Server) factorRoutes() []route {
	return []route{
		{"GET /api/v1/auth/factors", s.enrolling(s.listFactors)},
		{"POST /api/v1/auth/factors/totp", s.enrolling(s.enrolTOTP)},
		{"POST /api/v1/auth/factors/totp/{id}/confirm", s.enrolling(s.confirmTOTP)},
		{"DELETE /api/v1/auth/factors/{id}", s.authenticated(s.deleteFactor)},
		{"POST /api/v1/auth/recovery-codes", s.authenticated(s.newRecoveryCodes)},
		{"POST /api/v1/auth/passkeys/register/begin", s.enrolling(s.passkeyRegisterBegin)},
		{"POST /api/v1/auth/passkeys/register/finish", s.enrolling(s.passkeyRegisterFinish)},
		{"DELETE /api/v1/auth/passkeys/{id}", s.authenticated(s.deletePasskey)},
		{"POST /api/v1/auth/passkeys/login/begin", s.passkeyLoginBegin},
		{"POST /api/v1/auth/passkeys/login/finish", s.passkeyLoginFinish},
		{"POST /api/v1/auth/step-up/passkey/begin", s.authenticated(s.stepUpPasskeyBegin)},
		{"POST /api/v1/auth/step-up/passkey/finish", s.authenticated(s.stepUpPasskeyFinish)},
	}
}

// Security events of this file (OWASP logging vocabulary style). Passkey
// registration and deletion record passkey.EventRegistered and
// passkey.EventDeleted themselves.
const (
	evFactorEnrolled   = "authn_factor_enrolled"
	evFactorEnrolFail  = "authn_factor_enrol_fail"
	evFactorDeleted    = "authn_factor_deleted"
	evRecoveryCodesNew = "authn_recovery_codes_generated"
	evSessionRevoked   = "authn_session_revoked"
	evStepUpFail       = "authn_step_up_fail"
)

type totpFactorView struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Confirmed  bool       `json:"confirmed"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

type passkeyView struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	AAGUID         string     `json:"aaguid,omitempty"`
	BackupEligible bool       `json:"backup_eligible"`
	BackedUp       bool       `json:"backed_up"`
	CreatedAt      time.Time  `json:"created_at"`
	LastUsedAt     *time.Time `json:"last_used_at"`
}

type factorList struct {
	TOTP              []totpFactorView `json:"totp"`
	Passkeys          []passkeyView    `json:"passkeys"`
	RecoveryCodesLeft int              `json:"recovery_codes_left"`
}

type totpEnrolRequest struct {
	Name string `json:"name"`
}

type totpEnrolment struct {
	ID         string `json:"id"`
	Secret     string `json:"secret"`
	OTPAuthURI string `json:"otpauth_uri"`
	QRPNG      string `json:"qr_png"`
}

type totpConfirmRequest struct {
	Code string `json:"code"`
}

// enrolmentResult answers a completed enrolment. RecoveryCodes are shown
// this once; Session is the full session a forced enrolment ends in.
type enrolmentResult struct {
	Factor          any            `json:"factor"`
	RecoveryCodes   []string       `json:"recovery_codes,omitempty"`
	SessionsRevoked int64          `json:"sessions_revoked"`
	Session         *tokenResponse `json:"session,omitempty"`
}

type recoveryCodeSet struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

// passkeyCeremony is the start of a WebAuthn ceremony: the options for
// navigator.credentials.create/get, passed on untouched, and the id of the
// server-side challenge the client sends back.
type passkeyCeremony struct {
	ChallengeID string          `json:"challenge_id"`
	Options     json.RawMessage `json:"options"`
}

type passkeyRegisterRequest struct {
	ChallengeID string          `json:"challenge_id"`
	Credential  json.RawMessage `json:"credential"`
	Name        string          `json:"name"`
}

type passkeyLoginBeginRequest struct {
	Tenant string `json:"tenant"`
	Email  string `json:"email"`
}

type passkeyLoginRequest struct {
	Tenant      string          `json:"tenant"`
	ChallengeID string          `json:"challenge_id"`
	Credential  json.RawMessage `json:"credential"`
	Session     string          `json:"session"`
}

type passkeyAssertionRequest struct {
	ChallengeID string          `json:"challenge_id"`
	Credential  json.RawMessage `json:"credential"`
}

// passkeyStepUpResult documents what finishStepUp answers.
type passkeyStepUpResult struct {
	AuthTime   time.Time `json:"auth_time"`
	ValidUntil time.Time `json:"valid_until"`
}

func errFactorNotAllowed(factor string) error {
	return &mcrm.Error{Code: mcrm.EForbidden, Message: "this tenant does not allow " + factor,
		Fields: []mcrm.FieldError{{Field: "factor", Code: "factor_not_allowed", Message: "the tenant's policy does not allow " + factor}}}
}

// errPasskeyLogin is every failed passwordless sign-in: unknown tenant,
// unknown or used challenge, a bad assertion, a policy or risk refusal.
// One answer for all (the event says which), so the answer does not tell
// whether a tenant exists, as the password login does not.
var errPasskeyLogin = mcrm.Errorf(mcrm.EUnauthorized, "passkey sign-in failed")

var errOtherUsersPasskey = &mcrm.Error{Code: mcrm.EUnauthorized, Message: "authentication failed",
	Fields: []mcrm.FieldError{{Field: "credential", Code: passkey.CodeFailed, Message: "this passkey is not one of the signed-in user's"}}}

var errPasskeyUVRequired = &mcrm.Error{Code: mcrm.EUnauthorized, Message: "authentication failed",
	Fields: []mcrm.FieldError{{Field: "credential", Code: passkey.CodeUserVerification, Message: "the tenant requires the authenticator to verify the user"}}}

func factorTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func totpView(f sqlstore.Factor) totpFactorView {
	return totpFactorView{ID: f.ID, Name: f.Name, Confirmed: f.Confirmed, CreatedAt: f.CreatedAt.UTC(), LastUsedAt: factorTime(f.LastUsedAt)}
}

func passkeyViewOf(c passkey.Credential) passkeyView {
	return passkeyView{ID: c.ID, Name: c.Name, AAGUID: c.AAGUID, BackupEligible: c.BackupEligible, BackedUp: c.BackupState,
		CreatedAt: c.CreatedAt.UTC(), LastUsedAt: factorTime(c.LastUsedAt)}
}

// passkeyMethod is the RFC 8176 amr value of a passkey: "swk" for a synced
// one (its key leaves the device), "hwk" for a device-bound one.
func passkeyMethod(backupEligible bool) string {
	if backupEligible {
		return "swk"
	}
	return "hwk"
}

// factorLabel checks a user-given factor name; empty means def. Names are
// shown in factor lists, so they are kept short and printable.
func factorLabel(name, def string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return def, nil
	}
	if len(name) > 100 || !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
		return "", mcrm.FieldErr("name", "invalid", "at most 100 printable characters")
	}
	return name, nil
}

// rawCredential checks that a WebAuthn response was sent as a JSON object;
// its content is the passkey package's to verify.
func rawCredential(v json.RawMessage) error {
	if b := bytes.TrimSpace(v); len(b) == 0 || b[0] != '{' {
		return mcrm.FieldErr("credential", "required", "the PublicKeyCredential as JSON")
	}
	return nil
}

// ceremonyAnswer checks the two parts every finish step needs: the
// challenge id its begin step handed out, and the credential JSON.
func ceremonyAnswer(challengeID string, cred json.RawMessage, begin string) error {
	if challengeID == "" {
		return mcrm.FieldErr("challenge_id", "required", "the challenge_id of "+begin)
	}
	return rawCredential(cred)
}

// decodeFactorBody is decodeJSON for a body the client may leave out.
func (s *Server) decodeFactorBody(w http.ResponseWriter, r *http.Request, dst any) error {
	if r.ContentLength == 0 {
		return nil
	}
	return s.decodeJSON(w, r, dst)
}

// userHasFactor tells whether the user has a confirmed TOTP factor or a
// passkey: then adding or removing one is a factor change.
func (s *Server) userHasFactor(ctx context.Context, tenantID, userID string) (bool, error) {
	has, err := s.db.HasSecondFactor(ctx, tenantID, userID)
	if err != nil || has {
		return has, err
	}
	creds, err := s.db.WebAuthnCredentials(ctx, tenantID, userID)
	return len(creds) > 0, err
}

// factorChangeStepUp requires a recent step-up of a user who already has a
// factor. A user without one has nothing stronger than the password to
// prove, so enrolling the first factor (the forced enrolment included)
// needs none.
func (s *Server) factorChangeStepUp(r *http.Request) error {
	p := principal(r.Context())
	has, err := s.userHasFactor(r.Context(), p.TenantID, p.UserID)
	if err != nil {
		return err
	}
	if has {
		return s.stepUp(r)
	}
	return nil
}

// factorPolicy returns the tenant's policy, or errFactorNotAllowed when
// it does not allow factor.
func (s *Server) factorPolicy(ctx context.Context, tenantID, factor string) (mcrm.AuthPolicy, error) {
	pol, err := s.db.AuthPolicy(ctx, tenantID)
	if err != nil {
		return pol, err
	}
	if !pol.Allows(factor) {
		return pol, errFactorNotAllowed(factor)
	}
	return pol, nil
}

// factorUser is the principal's user as the authenticator shows it.
func (s *Server) factorUser(ctx context.Context, p *mcrm.Principal) (passkey.User, error) {
	u := passkey.User{TenantID: p.TenantID, ID: p.UserID}
	v, err := s.db.Get(ctx, &mcrm.Principal{TenantID: p.TenantID, UserID: p.UserID, System: true}, mcrm.EntityByName("users"), p.UserID)
	if err != nil {
		return u, err
	}
	u.Name, _ = v["email"].(string)
	u.DisplayName, _ = v["name"].(string)
	return u, nil
}

func (s *Server) passkeyRequest(r *http.Request, name string) passkey.Request {
	req := passkey.Request{IP: clientIP(r), RequestID: requestID(r.Context()), Name: name}
	if p := principal(r.Context()); p != nil {
		req.SessionID = p.SessionID
	}
	return req
}

// listFactors is the user's factors; a session at stage enrol may read it
// to show what it is enrolling.
func (s *Server) listFactors(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := principal(ctx)
	fs, err := s.db.ListFactors(ctx, p.TenantID, p.UserID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	creds, err := s.passkeys.Credentials(ctx, passkey.User{TenantID: p.TenantID, ID: p.UserID})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	n, err := s.db.RecoveryCodesLeft(ctx, p.TenantID, p.UserID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := factorList{TOTP: []totpFactorView{}, Passkeys: []passkeyView{}, RecoveryCodesLeft: n}
	for _, f := range fs {
		if f.Kind == sqlstore.FactorTOTP {
			out.TOTP = append(out.TOTP, totpView(f))
		}
	}
	for _, c := range creds {
		out.Passkeys = append(out.Passkeys, passkeyViewOf(c))
	}
	writeJSON(w, http.StatusOK, out)
}

// enrolTOTP starts a TOTP enrolment: a fresh secret, stored sealed and
// unconfirmed, shown this once (as text, URI and QR code). It counts for
// nothing until confirmTOTP sees a code from it.
func (s *Server) enrolTOTP(w http.ResponseWriter, r *http.Request) {
	var req totpEnrolRequest
	if err := s.decodeFactorBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	name, err := factorLabel(req.Name, "Authenticator app")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	p := principal(ctx)
	if _, err := s.factorPolicy(ctx, p.TenantID, mcrm.FactorTOTP); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.factorChangeStepUp(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := s.factorUser(ctx, p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := s.tenant(ctx, p.TenantID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	seed := totp.NewSecret()
	defer clear(seed)
	id, err := s.db.EnrolTOTP(ctx, p.TenantID, p.UserID, name, seed, time.Now())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// The tenant in the issuer tells apart the accounts of a user of two
	// tenants in the authenticator app; ':' separates issuer and account
	// in the URI label, so it cannot appear in either.
	issuer := "mcrm " + strings.ReplaceAll(t.Name, ":", "")
	uri, err := totp.URI(issuer, strings.ReplaceAll(u.Name, ":", ""), seed)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	png, err := totp.QRPNG(uri)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, totpEnrolment{ID: id, Secret: base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(seed),
		OTPAuthURI: uri, QRPNG: base64.StdEncoding.EncodeToString(png)})
}

// confirmTOTP completes a TOTP enrolment with a code from the app.
func (s *Server) confirmTOTP(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req totpConfirmRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Code == "" {
		s.writeError(w, r, mcrm.FieldErr("code", "required", "the code the authenticator app shows"))
		return
	}
	if !record.ValidID(id) {
		s.writeError(w, r, mcrm.ErrNotFound)
		return
	}
	ctx := r.Context()
	p := principal(ctx)
	pol, err := s.factorPolicy(ctx, p.TenantID, mcrm.FactorTOTP)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Checked again here, not only when the enrolment began: the change
	// happens now, and the secret of a begun enrolment may have been seen
	// by someone else (a photographed QR code).
	if err := s.factorChangeStepUp(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	ev := s.event(r, evFactorEnrolled, "success")
	ev.Object, ev.Detail = "auth_factors/"+id, "kind=totp"
	if err := s.db.ConfirmTOTP(ctx, p.TenantID, p.UserID, id, req.Code, time.Now(), ev); err != nil {
		if c := mcrm.ErrorCode(err); c == mcrm.EUnauthorized || c == mcrm.ERateLimited {
			fail := s.event(r, evFactorEnrolFail, "failure")
			fail.Object, fail.Detail = "auth_factors/"+id, "kind=totp reason="+fieldCodeOr(err, "second_factor")
			_ = s.db.RecordEvent(ctx, fail)
		}
		s.writeError(w, r, err)
		return
	}
	fs, err := s.db.ListFactors(ctx, p.TenantID, p.UserID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	view := totpFactorView{ID: id, Confirmed: true}
	for _, f := range fs {
		if f.ID == id {
			view = totpView(f)
		}
	}
	s.finishEnrolment(w, r, pol, view, "otp")
}

// finishEnrolment is what every new factor is followed by: recovery codes
// if the user has none left, the end of the user's other sessions, and
// for a session at stage enrol its upgrade to a full session (the
// enrolment proved the factor, so it counts as this sign-in's second).
// method is the amr value the new factor adds.
func (s *Server) finishEnrolment(w http.ResponseWriter, r *http.Request, pol mcrm.AuthPolicy, factor any, method string) {
	ctx := r.Context()
	p := principal(ctx)
	out := enrolmentResult{Factor: factor}
	if pol.Allows(mcrm.FactorRecoveryCode) {
		n, err := s.db.RecoveryCodesLeft(ctx, p.TenantID, p.UserID)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		// Unused codes are kept: the user may have written them down
		// already, and a new factor does not make them less safe.
		if n == 0 {
			ev := s.event(r, evRecoveryCodesNew, "success")
			ev.Object = "auth_factors"
			if out.RecoveryCodes, err = s.db.ReplaceRecoveryCodes(ctx, p.TenantID, p.UserID, time.Now(), ev); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
	}
	ev := s.event(r, evSessionRevoked, "success")
	ev.Detail = "reason=" + sqlstore.RevokedFactor
	n, err := s.db.RevokeUserSessions(ctx, p.TenantID, p.UserID, p.SessionID, sqlstore.RevokedFactor, ev)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out.SessionsRevoked = n
	if sessionOf(ctx).Stage == sqlstore.StageEnrol {
		ev := s.event(r, evLoginSuccess, "success")
		ev.Detail = "stage=full method=" + method + " enrolled=true"
		issued, err := s.db.FinishEnrolment(ctx, p.TenantID, p.SessionID, []string{method}, ev)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		tr := s.sessionAnswer(w, r, p.TenantID, p.UserID, issued, tokenResponse{})
		out.Session = &tr
	}
	writeJSON(w, http.StatusOK, out)
}

// afterFactorRemoval ends the user's other sessions: a factor was removed.
func (s *Server) afterFactorRemoval(r *http.Request) error {
	p := principal(r.Context())
	ev := s.event(r, evSessionRevoked, "success")
	ev.Detail = "reason=" + sqlstore.RevokedFactor
	_, err := s.db.RevokeUserSessions(r.Context(), p.TenantID, p.UserID, p.SessionID, sqlstore.RevokedFactor, ev)
	return err
}

// deleteFactor removes one of the user's factors by the id the factor
// list shows: a TOTP factor or a passkey. Another user's id is 404.
func (s *Server) deleteFactor(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !record.ValidID(id) {
		s.writeError(w, r, mcrm.ErrNotFound)
		return
	}
	if err := s.stepUp(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	p := principal(ctx)
	ev := s.event(r, evFactorDeleted, "success")
	ev.Object = "auth_factors/" + id
	err := s.db.DeleteFactor(ctx, p.TenantID, p.UserID, id, ev)
	if mcrm.ErrorCode(err) == mcrm.ENotFound {
		err = s.passkeys.DeleteCredential(ctx, passkey.User{TenantID: p.TenantID, ID: p.UserID}, id, s.passkeyRequest(r, ""))
	}
	if err == nil {
		err = s.afterFactorRemoval(r)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// deletePasskey removes one of the user's passkeys.
func (s *Server) deletePasskey(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !record.ValidID(id) {
		s.writeError(w, r, mcrm.ErrNotFound)
		return
	}
	if err := s.stepUp(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	p := principal(r.Context())
	err := s.passkeys.DeleteCredential(r.Context(), passkey.User{TenantID: p.TenantID, ID: p.UserID}, id, s.passkeyRequest(r, ""))
	if err == nil {
		err = s.afterFactorRemoval(r)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

var errNoSecondFactor = &mcrm.Error{Code: mcrm.EConflict, Message: "recovery codes back up a second factor: enrol one first",
	Fields: []mcrm.FieldError{{Field: "factor", Code: "no_second_factor", Message: "enrol TOTP or a passkey first"}}}

// newRecoveryCodes replaces all of the user's recovery codes (used or
// not) with a fresh set, shown this once.
func (s *Server) newRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := principal(ctx)
	if _, err := s.factorPolicy(ctx, p.TenantID, mcrm.FactorRecoveryCode); err != nil {
		s.writeError(w, r, err)
		return
	}
	// Before the step-up check: a user without a factor cannot step up,
	// so 409 is the answer that says what to do.
	has, err := s.userHasFactor(ctx, p.TenantID, p.UserID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !has {
		s.writeError(w, r, errNoSecondFactor)
		return
	}
	if err := s.stepUp(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	ev := s.event(r, evRecoveryCodesNew, "success")
	ev.Object = "auth_factors"
	codes, err := s.db.ReplaceRecoveryCodes(ctx, p.TenantID, p.UserID, time.Now(), ev)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, recoveryCodeSet{RecoveryCodes: codes})
}

// passkeyRegisterBegin starts adding a passkey for the user.
func (s *Server) passkeyRegisterBegin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := principal(ctx)
	if _, err := s.factorPolicy(ctx, p.TenantID, mcrm.FactorPasskey); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.factorChangeStepUp(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := s.factorUser(ctx, p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	opts, id, err := s.passkeys.BeginRegistration(ctx, u)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, passkeyCeremony{ChallengeID: id, Options: opts})
}

// passkeyRegisterFinish verifies and stores the new passkey, then does
// what follows every enrolment.
func (s *Server) passkeyRegisterFinish(w http.ResponseWriter, r *http.Request) {
	var req passkeyRegisterRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := ceremonyAnswer(req.ChallengeID, req.Credential, "register/begin"); err != nil {
		s.writeError(w, r, err)
		return
	}
	name, err := factorLabel(req.Name, "Passkey")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	p := principal(ctx)
	pol, err := s.factorPolicy(ctx, p.TenantID, mcrm.FactorPasskey)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.factorChangeStepUp(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := s.factorUser(ctx, p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	preq := s.passkeyRequest(r, name)
	preq.RequireUV = pol.PasskeyUserVerification == "required"
	cred, err := s.passkeys.FinishRegistration(ctx, u, req.ChallengeID, req.Credential, preq)
	if err != nil {
		if c := mcrm.ErrorCode(err); c == mcrm.EUnauthorized || c == mcrm.EForbidden || c == mcrm.EConflict {
			fail := s.event(r, evFactorEnrolFail, "failure")
			fail.Object, fail.Detail = "webauthn_credentials", "kind=passkey reason="+fieldCodeOr(err, "webauthn_failed")
			_ = s.db.RecordEvent(ctx, fail)
		}
		s.writeError(w, r, err)
		return
	}
	s.finishEnrolment(w, r, pol, passkeyViewOf(cred), passkeyMethod(cred.BackupEligible))
}

// passkeyLoginBegin starts a passwordless sign-in. The options are the
// discoverable-credential ones whatever the request names: every passkey
// registered here is discoverable (registration requires a resident key),
// so listing the user's credentials would add nothing but an answer that
// tells whether the email has an account with a passkey. The email is
// accepted for clients that send it and otherwise ignored. An unknown
// tenant gets decoy options of the same shape.
func (s *Server) passkeyLoginBegin(w http.ResponseWriter, r *http.Request) {
	var req passkeyLoginBeginRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Tenant == "" {
		s.writeError(w, r, mcrm.FieldErr("tenant", "required", "the tenant to sign in to"))
		return
	}
	ctx := r.Context()
	var opts []byte
	var id string
	t, err := s.db.TenantByName(ctx, req.Tenant)
	switch {
	case err == nil:
		opts, id, err = s.passkeys.BeginLogin(ctx, t.ID, nil)
	case mcrm.ErrorCode(err) == mcrm.ENotFound:
		opts, id, err = s.passkeys.DecoyLogin()
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, passkeyCeremony{ChallengeID: id, Options: opts})
}

// passkeyLoginFinish signs in with a passkey alone: possession of the key
// and the user verification (PIN, biometric) that unlocked it are both
// factors, so the session starts full and strong.
func (s *Server) passkeyLoginFinish(w http.ResponseWriter, r *http.Request) {
	var req passkeyLoginRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Tenant == "" || req.ChallengeID == "" {
		s.writeError(w, r, mcrm.Errorf(mcrm.EInvalid, "tenant, challenge_id and credential are required"))
		return
	}
	if err := rawCredential(req.Credential); err != nil {
		s.writeError(w, r, err)
		return
	}
	kind, jkt, err := s.signInKind(r, req.Session)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	ev := s.event(r, evLoginFail, "failure")
	fail := func(reason string) {
		ev.Detail = "method=passkey reason=" + reason
		_ = s.db.RecordEvent(ctx, ev)
		s.writeError(w, r, errPasskeyLogin)
	}
	t, err := s.db.TenantByName(ctx, req.Tenant)
	if err != nil && mcrm.ErrorCode(err) != mcrm.ENotFound {
		s.writeError(w, r, err)
		return
	}
	// Failed assertions are throttled per tenant and address like
	// passwords (the account part is the address itself, so a flood from
	// elsewhere cannot lock anyone out of passkey sign-in).
	tenantKey := s.throttle.UnknownTenant(req.Tenant)
	if t.ID != "" {
		tenantKey = t.ID
	}
	key := s.throttle.Key(tenantKey, s.throttle.Account(tenantKey, "", "passkey@"+clientIP(r)), clientAddr(r))
	dec, err := s.throttle.Check(ctx, key)
	if err != nil {
		s.writeError(w, r, mcrm.Errorf(mcrm.EUnavailable, "sign-in is unavailable, try again shortly"))
		return
	}
	if !dec.Allowed {
		w.Header().Set("Retry-After", dec.RetryAfterHeader())
		s.writeError(w, r, mcrm.Errorf(mcrm.ERateLimited, "too many sign-in attempts, try again later"))
		return
	}
	ok := false
	defer func() {
		if ok {
			_ = s.throttle.RecordSuccess(context.WithoutCancel(ctx), key)
		} else {
			_ = s.throttle.RecordFailure(context.WithoutCancel(ctx), key, ev)
		}
	}()
	if t.ID == "" {
		fail("unknown_tenant")
		return
	}
	ev.TenantID = t.ID
	pol, err := s.db.AuthPolicy(ctx, t.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !pol.Allows(mcrm.FactorPasskey) {
		fail("factor_not_allowed")
		return
	}
	res, err := s.passkeys.FinishLogin(ctx, t.ID, req.ChallengeID, req.Credential, s.passkeyRequest(r, ""))
	if err != nil {
		if c := mcrm.ErrorCode(err); c == mcrm.EUnauthorized || c == mcrm.EForbidden {
			fail(fieldCodeOr(err, passkey.CodeFailed))
			return
		}
		s.writeError(w, r, err)
		return
	}
	ev.Actor = res.UserID
	sys := &mcrm.Principal{TenantID: t.ID, UserID: res.UserID, System: true}
	u, err := s.db.Get(ctx, sys, mcrm.EntityByName("users"), res.UserID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	role, _ := u["role"].(string)
	if pol.RequireDPoP && kind == sqlstore.SessionToken && jkt == "" {
		s.writeError(w, r, errDPoPRequired)
		return
	}
	login, assessment, err := s.assess(ctx, t.ID, res.UserID, clientAddr(r), jkt)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if res.CounterRegression {
		assessment = assessment.With(risk.Signal{Name: risk.SignalPasskeyCounter, Detail: "the passkey's sign count did not increase"})
	}
	riskDetail := " risk=" + string(assessment.Level) + " signals=" + strings.Join(assessment.Names(), ",")
	// require_mfa needs nothing more: the passkey was verified with user
	// verification (passwordless login always demands it), which is
	// already two factors.
	if pol.RiskAction(string(assessment.Level)) == mcrm.RiskDeny {
		login.Outcome = risk.OutcomeDenied
		_, _ = s.db.RecordLogin(ctx, t.ID, res.UserID, login, assessment)
		fail("risk_denied" + riskDetail)
		return
	}
	idle, absolute := pol.SessionLimitsFor(role)
	amr := res.AMR()
	ev.Action, ev.Outcome = evLoginSuccess, "success"
	ev.Detail = "stage=full method=passkey amr=" + strings.Join(amr, ",") + riskDetail
	issued, err := s.db.StartSession(ctx, sqlstore.NewSession{
		TenantID: t.ID, UserID: res.UserID, Kind: kind, Stage: sqlstore.StageFull, JKT: jkt, AMR: amr, Strong: true,
		Idle: idle, Absolute: absolute, IP: clientIP(r), UserAgent: r.UserAgent(),
	}, ev)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ok = true
	login.Outcome = risk.OutcomeSuccess
	if _, err := s.db.RecordLogin(ctx, t.ID, res.UserID, login, assessment); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeSession(w, r, t.ID, res.UserID, issued, tokenResponse{Risk: &riskView{Level: string(assessment.Level), Signals: assessment.Names()}})
}

// stepUpPasskeyBegin starts a step-up with one of the user's passkeys.
func (s *Server) stepUpPasskeyBegin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := principal(ctx)
	if _, err := s.factorPolicy(ctx, p.TenantID, mcrm.FactorPasskey); err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := s.factorUser(ctx, p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	opts, id, err := s.passkeys.BeginLogin(ctx, p.TenantID, &u)
	if err != nil {
		if fieldCodeOr(err, "") == passkey.CodeNoCredentials {
			// The session is fine; the user has nothing to step up with.
			err = &mcrm.Error{Code: mcrm.EConflict, Message: "no passkey is registered",
				Fields: []mcrm.FieldError{{Field: "credential", Code: passkey.CodeNoCredentials, Message: "register a passkey first"}}}
		}
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, passkeyCeremony{ChallengeID: id, Options: opts})
}

// stepUpPasskeyFinish restarts the session's step-up clock with a passkey
// assertion of the session's own user.
func (s *Server) stepUpPasskeyFinish(w http.ResponseWriter, r *http.Request) {
	var req passkeyAssertionRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := ceremonyAnswer(req.ChallengeID, req.Credential, "step-up/passkey/begin"); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	p := principal(ctx)
	pol, err := s.factorPolicy(ctx, p.TenantID, mcrm.FactorPasskey)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ev := s.event(r, evStepUpFail, "failure")
	refuse := func(reason string, err error) {
		ev.Detail = "method=passkey reason=" + reason
		_ = s.db.RecordEvent(ctx, ev)
		s.writeError(w, r, err)
	}
	res, err := s.passkeys.FinishLogin(ctx, p.TenantID, req.ChallengeID, req.Credential, s.passkeyRequest(r, ""))
	if err != nil {
		if c := mcrm.ErrorCode(err); c == mcrm.EUnauthorized || c == mcrm.EForbidden {
			refuse(fieldCodeOr(err, passkey.CodeFailed), err)
			return
		}
		s.writeError(w, r, err)
		return
	}
	// The challenge id alone does not bind the user: one of a
	// passwordless begin accepts any user's passkey. The session's user
	// must be the one who answered.
	if res.UserID != p.UserID {
		refuse("other_user", errOtherUsersPasskey)
		return
	}
	if pol.PasskeyUserVerification == "required" && !res.UserVerified {
		refuse(passkey.CodeUserVerification, errPasskeyUVRequired)
		return
	}
	s.finishStepUp(w, r, passkeyMethod(res.Credential.BackupEligible))
}

// factorSchema derives a schema from a Go type with typeSchema and fixes
// what the reflection cannot know: times are RFC 3339 text (a pointer one
// null when unset) and raw WebAuthn JSON is an object.
func factorSchema(t reflect.Type, forInput bool) obj {
	s := typeSchema(t, forInput)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch f.Type {
		case reflect.TypeFor[time.Time]():
			props(s)[name] = obj{"type": "string", "format": "date-time"}
		case reflect.TypeFor[*time.Time]():
			props(s)[name] = obj{"type": []any{"string", "null"}, "format": "date-time"}
		case reflect.TypeFor[json.RawMessage]():
			props(s)[name] = obj{"type": "object"}
		}
	}
	return s
}

func factorDocs(s obj, descs map[string]string) obj {
	for name, d := range descs {
		props(s)[name].(obj)["description"] = d
	}
	return s
}

// require marks request members the handler refuses to do without.
func factorRequired(s obj, names ...string) obj {
	s["required"] = stringList(names)
	for _, n := range names {
		if p := props(s)[n].(obj); p["type"] == "string" {
			p["minLength"] = 1
		}
	}
	return s
}

// factorPaths documents factorRoutes in the OpenAPI document.
func factorPaths(paths, schemas obj) {
	schemas["TOTPFactor"] = factorDocs(factorSchema(reflect.TypeFor[totpFactorView](), false), map[string]string{
		"confirmed":    "false until a code from the app confirmed the enrolment; an unconfirmed factor counts for nothing",
		"last_used_at": "null when never used",
	})
	props(schemas["TOTPFactor"].(obj))["id"] = obj{"type": "string", "pattern": idPattern}
	schemas["Passkey"] = factorDocs(factorSchema(reflect.TypeFor[passkeyView](), false), map[string]string{
		"aaguid":          "the authenticator model, when it says",
		"backup_eligible": "a synced (multi-device) passkey",
		"backed_up":       "currently backed up by its provider",
		"last_used_at":    "null when never used",
	})
	props(schemas["Passkey"].(obj))["id"] = obj{"type": "string", "pattern": idPattern}
	fl := factorSchema(reflect.TypeFor[factorList](), false)
	props(fl)["totp"] = obj{"type": "array", "items": ref("TOTPFactor"), "maxItems": 2,
		"description": "at most one confirmed factor, and one enrolment in progress"}
	props(fl)["passkeys"] = obj{"type": "array", "items": ref("Passkey")}
	props(fl)["recovery_codes_left"] = obj{"type": "integer", "minimum": 0, "maximum": totp.RecoveryCount, "description": "unused recovery codes"}
	schemas["FactorList"] = fl

	schemas["TOTPEnrolRequest"] = factorDocs(factorSchema(reflect.TypeFor[totpEnrolRequest](), true), map[string]string{
		"name": "a label for the factor, at most 100 characters; default \"Authenticator app\""})
	props(schemas["TOTPEnrolRequest"].(obj))["name"].(obj)["maxLength"] = 100
	en := factorDocs(factorSchema(reflect.TypeFor[totpEnrolment](), false), map[string]string{
		"id":          "the factor to confirm at /api/v1/auth/factors/totp/{id}/confirm",
		"secret":      "the seed, base32 without padding, for typing into the app; shown this once",
		"otpauth_uri": "otpauth://totp/ key URI with the secret; shown this once",
		"qr_png":      "the URI as a QR code: a 256×256 PNG, base64",
	})
	props(en)["id"].(obj)["pattern"] = idPattern
	props(en)["secret"].(obj)["pattern"] = "^[A-Z2-7]+$"
	props(en)["otpauth_uri"].(obj)["pattern"] = "^otpauth://totp/"
	props(en)["qr_png"].(obj)["contentEncoding"] = "base64"
	props(en)["qr_png"].(obj)["contentMediaType"] = "image/png"
	schemas["TOTPEnrolment"] = en
	schemas["TOTPConfirmRequest"] = factorRequired(factorDocs(factorSchema(reflect.TypeFor[totpConfirmRequest](), true), map[string]string{
		"code": "the current code of the authenticator app"}), "code")

	er := factorDocs(factorSchema(reflect.TypeFor[enrolmentResult](), false), map[string]string{
		"recovery_codes":   "present when the user had no unused recovery codes: a fresh set, shown this once",
		"sessions_revoked": "how many other sessions of the user the factor change ended",
	})
	props(er)["factor"] = obj{"anyOf": []any{ref("TOTPFactor"), ref("Passkey")}, "description": "the new factor"}
	props(er)["recovery_codes"].(obj)["minItems"] = totp.RecoveryCount
	props(er)["recovery_codes"].(obj)["maxItems"] = totp.RecoveryCount
	props(er)["session"] = obj{"$ref": schemaPrefix + "LoginResponse",
		"description": "present when the session was at stage enrol: it is now a full session with these new tokens (the old access token no longer works)"}
	schemas["EnrolmentResult"] = er
	rc := factorSchema(reflect.TypeFor[recoveryCodeSet](), false)
	props(rc)["recovery_codes"] = obj{"type": "array", "minItems": totp.RecoveryCount, "maxItems": totp.RecoveryCount,
		"items": obj{"type": "string"}, "description": "the new codes, shown this once; every earlier code no longer works"}
	schemas["RecoveryCodes"] = rc

	schemas["PasskeyCeremony"] = factorDocs(factorSchema(reflect.TypeFor[passkeyCeremony](), false), map[string]string{
		"challenge_id": "send it back with the authenticator's answer within 5 minutes; it works once",
		"options":      "pass to navigator.credentials.create or .get as is ({\"publicKey\": ...})",
	})
	schemas["PasskeyRegistration"] = factorRequired(factorDocs(factorSchema(reflect.TypeFor[passkeyRegisterRequest](), true), map[string]string{
		"credential": "the PublicKeyCredential of navigator.credentials.create, as JSON (toJSON())",
		"name":       "a label for the passkey, at most 100 characters; default \"Passkey\"",
	}), "challenge_id", "credential")
	props(schemas["PasskeyRegistration"].(obj))["name"].(obj)["maxLength"] = 100
	schemas["PasskeyLoginBegin"] = factorRequired(factorDocs(factorSchema(reflect.TypeFor[passkeyLoginBeginRequest](), true), map[string]string{
		"email": "optional; it does not change the options (every passkey here is discoverable), so the answer says nothing about the account",
	}), "tenant")
	pl := factorRequired(factorDocs(factorSchema(reflect.TypeFor[passkeyLoginRequest](), true), map[string]string{
		"credential": "the PublicKeyCredential of navigator.credentials.get, as JSON (toJSON())",
		"session":    "token (default) or cookie, as for the password login",
	}), "tenant", "challenge_id", "credential")
	props(pl)["session"] = obj{"enum": []any{sqlstore.SessionToken, sqlstore.SessionCookie}, "description": "token (default) or cookie, as for the password login"}
	schemas["PasskeyLogin"] = pl
	schemas["PasskeyAssertion"] = factorRequired(factorDocs(factorSchema(reflect.TypeFor[passkeyAssertionRequest](), true), map[string]string{
		"credential": "the PublicKeyCredential of navigator.credentials.get, as JSON (toJSON())",
	}), "challenge_id", "credential")
	schemas["PasskeyStepUp"] = factorDocs(factorSchema(reflect.TypeFor[passkeyStepUpResult](), false), map[string]string{
		"valid_until": "sensitive operations are allowed until then without another step-up",
	})

	idp := pathParam("id", "factor id", obj{"type": "string", "pattern": idPattern})
	dpopHeader := obj{"name": "DPoP", "in": "header", "required": false,
		"description": "a DPoP proof (RFC 9449) binds the new session's tokens to the device key", "schema": obj{"type": "string"}}
	optionalBody := func(schema obj) obj {
		b := jsonBody(schema)
		b["required"] = false
		return b
	}
	stepUpNote := " When the user already has a factor this is a factor change: it needs a step-up in the last 5 minutes (401 insufficient_user_authentication)."
	const (
		bad, unauth, forbidden, notFound, conflict = http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusConflict
		tooLarge, media                            = http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType
	)

	paths["/api/v1/auth/factors"] = obj{"get": op{id: "listFactors", tag: "auth", auth: true, summary: "The user's second factors",
		desc:      "Also for a session at stage enrol. Secrets are never listed.",
		responses: obj{"200": jsonResponse("TOTP factors, passkeys and the number of unused recovery codes", ref("FactorList"), nil)}}.build()}
	paths["/api/v1/auth/factors/totp"] = obj{"post": op{id: "enrolTOTP", tag: "auth", auth: true, summary: "Start a TOTP enrolment",
		desc: "Makes a new secret for an authenticator app; it counts once confirmed. Also for a session at stage enrol. " +
			"403 factor_not_allowed when the tenant's policy does not allow TOTP." + stepUpNote,
		body:      optionalBody(ref("TOTPEnrolRequest")),
		responses: obj{"201": jsonResponse("the secret, shown this once", ref("TOTPEnrolment"), nil)},
		errs:      []int{bad, forbidden, tooLarge, media}}.build()}
	paths["/api/v1/auth/factors/totp/{id}/confirm"] = obj{"post": op{id: "confirmTOTP", tag: "auth", auth: true, summary: "Confirm a TOTP enrolment with a code",
		desc: "A wrong code is 401 with field code otp_invalid (otp_replay for a code already used); too many wrong codes are 429 otp_throttled. " +
			"The new factor replaces the user's earlier TOTP factor and ends the user's other sessions. A session at stage enrol becomes a full session." + stepUpNote,
		params: []any{idp}, body: jsonBody(ref("TOTPConfirmRequest")),
		responses: obj{"200": jsonResponse("the confirmed factor", ref("EnrolmentResult"), nil)},
		errs:      []int{bad, forbidden, notFound, conflict, tooLarge, media}}.build()}
	paths["/api/v1/auth/factors/{id}"] = obj{"delete": op{id: "deleteFactor", tag: "auth", auth: true, summary: "Remove a TOTP factor or a passkey",
		desc:      "Needs a step-up in the last 5 minutes. Ends the user's other sessions. Another user's factor is 404.",
		params:    []any{idp},
		responses: obj{"204": emptyResponse("removed")},
		errs:      []int{forbidden, notFound}}.build()}
	paths["/api/v1/auth/recovery-codes"] = obj{"post": op{id: "newRecoveryCodes", tag: "auth", auth: true, summary: "Replace the recovery codes",
		desc:      "Needs a step-up in the last 5 minutes; 409 when the user has no TOTP factor or passkey for the codes to back up.",
		responses: obj{"200": jsonResponse("the new codes", ref("RecoveryCodes"), nil)},
		errs:      []int{forbidden, conflict}}.build()}
	paths["/api/v1/auth/passkeys/register/begin"] = obj{"post": op{id: "beginPasskeyRegistration", tag: "auth", auth: true, summary: "Start adding a passkey",
		desc:      "Also for a session at stage enrol. 403 factor_not_allowed when the tenant's policy does not allow passkeys." + stepUpNote,
		responses: obj{"200": jsonResponse("creation options", ref("PasskeyCeremony"), nil)},
		errs:      []int{forbidden}}.build()}
	paths["/api/v1/auth/passkeys/register/finish"] = obj{"post": op{id: "finishPasskeyRegistration", tag: "auth", auth: true, summary: "Store the new passkey",
		desc: "A response that does not verify is 401 with a field code (webauthn_failed, challenge_invalid, user_presence_required, user_verification_required); " +
			"an authenticator already registered is 409 credential_exists. Ends the user's other sessions; a session at stage enrol becomes a full session." + stepUpNote,
		body:      jsonBody(ref("PasskeyRegistration")),
		responses: obj{"200": jsonResponse("the new passkey", ref("EnrolmentResult"), nil)},
		errs:      []int{bad, forbidden, conflict, tooLarge, media}}.build()}
	paths["/api/v1/auth/passkeys/{id}"] = obj{"delete": op{id: "deletePasskey", tag: "auth", auth: true, summary: "Remove a passkey",
		desc:      "Needs a step-up in the last 5 minutes. Ends the user's other sessions. Another user's passkey is 404.",
		params:    []any{pathParam("id", "passkey id", obj{"type": "string", "pattern": idPattern})},
		responses: obj{"204": emptyResponse("removed")},
		errs:      []int{forbidden, notFound}}.build()}
	paths["/api/v1/auth/passkeys/login/begin"] = obj{"post": op{id: "beginPasskeyLogin", tag: "auth", summary: "Start a passwordless sign-in",
		desc:      "The same answer for every tenant and email, known or not.",
		body:      jsonBody(ref("PasskeyLoginBegin")),
		responses: obj{"200": jsonResponse("request options for a discoverable passkey", ref("PasskeyCeremony"), nil)},
		errs:      []int{bad, tooLarge, media}}.build()}
	paths["/api/v1/auth/passkeys/login/finish"] = obj{"post": op{id: "finishPasskeyLogin", tag: "auth", summary: "Sign in with a passkey",
		desc: "A passkey verified with user verification is both factors: the session starts full. " +
			"Every failure (unknown tenant or challenge, a response that does not verify, passkeys not allowed, login refused for its risk) is the same 401.",
		params:    []any{dpopHeader},
		body:      jsonBody(ref("PasskeyLogin")),
		responses: obj{"200": jsonResponse("a new session", ref("LoginResponse"), nil)},
		errs:      []int{bad, unauth, tooLarge, media}}.build()}
	paths["/api/v1/auth/step-up/passkey/begin"] = obj{"post": op{id: "beginPasskeyStepUp", tag: "auth", auth: true, summary: "Start a step-up with a passkey",
		desc:      "409 no_passkey when the user has none; 403 factor_not_allowed when the tenant's policy does not allow passkeys.",
		responses: obj{"200": jsonResponse("request options listing the user's passkeys", ref("PasskeyCeremony"), nil)},
		errs:      []int{forbidden, conflict}}.build()}
	paths["/api/v1/auth/step-up/passkey/finish"] = obj{"post": op{id: "finishPasskeyStepUp", tag: "auth", auth: true, summary: "Step up with a passkey",
		desc: "The passkey must be the signed-in user's; 401 with a field code when the response does not verify, " +
			"or when the tenant requires user verification and the authenticator did not verify the user.",
		body:      jsonBody(ref("PasskeyAssertion")),
		responses: obj{"200": jsonResponse("the step-up clock restarted", ref("PasskeyStepUp"), nil)},
		errs:      []int{bad, forbidden, tooLarge, media}}.build()}
}
