package httpapi

import (
	"context"
	"net/http"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"

	"mcrm"
	"mcrm/password"
	"mcrm/risk"
	"mcrm/sqlstore"
	"mcrm/throttle"
	"mcrm/totp"
)

// This file is the sign-in: password, second factor, token refresh,
// logout, step-up and the user's own sessions. Each step writes its
// security event (OWASP logging vocabulary) in the transaction of its
// change.

type loginRequest struct {
	Tenant   string `json:"tenant"`
	Email    string `json:"email"`
	Password string `json:"password"`
	// Session is "token" (default: access and refresh tokens, for the
	// mobile client and API callers) or "cookie" (browser).
	Session string `json:"session"`
}

// Login statuses: what the client does next.
const (
	statusOK             = "ok"                  // signed in
	statusMFARequired    = "mfa_required"        // POST /auth/login/mfa with the mfa_token
	statusEnrolmentFirst = "enrolment_required"  // the access token reaches only factor enrolment
	evLoginSuccess       = "authn_login_success" // OWASP names
	evLoginFail          = "authn_login_fail"
)

type tokenResponse struct {
	Status           string    `json:"status"`
	SessionID        string    `json:"session_id,omitempty"`
	AccessToken      string    `json:"access_token,omitempty"`
	TokenType        string    `json:"token_type,omitempty"`
	ExpiresIn        int64     `json:"expires_in,omitempty"`
	RefreshToken     string    `json:"refresh_token,omitempty"`
	MFAToken         string    `json:"mfa_token,omitempty"`
	CSRFToken        string    `json:"csrf_token,omitempty"`
	SessionExpiresAt time.Time `json:"session_expires_at"`
	Factors          []string  `json:"factors,omitempty"`
	Risk             *riskView `json:"risk,omitempty"`
	User             *object   `json:"user,omitempty"`
}

type riskView struct {
	Level   string   `json:"level"`
	Signals []string `json:"signals"`
}

var errBadLogin = mcrm.Errorf(mcrm.EUnauthorized, "invalid tenant, email or password")

func (s *Server) event(r *http.Request, action, outcome string) sqlstore.Event {
	ev := sqlstore.Event{Action: action, Object: "session", Outcome: outcome, IP: clientIP(r), RequestID: requestID(r.Context()), Actor: "unknown"}
	if p := principal(r.Context()); p != nil {
		ev.TenantID, ev.Actor, ev.SessionID = p.TenantID, p.UserID, p.SessionID
	}
	return ev
}

func clientAddr(r *http.Request) netip.Addr {
	ip, _ := netip.ParseAddr(clientIP(r))
	return ip
}

// loginProof checks the DPoP proof a client may send with a sign-in (the
// token endpoint: no access token yet) and returns its key thumbprint,
// "" without one.
func (s *Server) loginProof(r *http.Request) (string, error) {
	if len(r.Header.Values("DPoP")) == 0 {
		return "", nil
	}
	proof, err := s.proofHeader(r)
	if err != nil {
		return "", err
	}
	return s.dpop.VerifyContext(r.Context(), proof, r.Method, s.requestURL(r), "")
}

// login checks a password (AUTH-01..AUTH-04, AUTH-12, AUTH-15). Unknown
// tenant, unknown user, deactivated user, locked account and wrong
// password give the same status and body, and each path runs one argon2id
// verification, so neither the answer nor its timing tells which.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Tenant == "" || req.Email == "" || req.Password == "" {
		s.writeError(w, r, mcrm.Errorf(mcrm.EInvalid, "tenant, email and password are required"))
		return
	}
	if len(req.Password) > 4*password.MaxLength {
		s.writeError(w, r, mcrm.FieldErr("password", "too_long", "longer than any accepted password"))
		return
	}
	kind, jkt, err := s.signInKind(r, req.Session)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	ev := s.event(r, evLoginFail, "failure")

	// Who is asking: the throttle key exists for unknown tenants and
	// users too, so guessing names is throttled like guessing passwords.
	var u sqlstore.LoginUser
	t, err := s.db.TenantByName(ctx, req.Tenant)
	tenantKey := s.throttle.UnknownTenant(req.Tenant)
	if err == nil {
		tenantKey, ev.TenantID = t.ID, t.ID
		u, err = s.db.UserForLogin(ctx, t.ID, req.Email)
	}
	if err != nil && mcrm.ErrorCode(err) != mcrm.ENotFound {
		s.writeError(w, r, err)
		return
	}
	if u.ID != "" {
		ev.Actor = u.ID
	}
	key := s.throttle.Key(tenantKey, s.throttle.Account(tenantKey, u.ID, req.Email), clientAddr(r))
	dec, err := s.throttle.Check(ctx, key)
	if err != nil {
		// Fail closed: no password check without the counters.
		s.writeError(w, r, mcrm.Errorf(mcrm.EUnavailable, "sign-in is unavailable, try again shortly"))
		return
	}
	if !dec.Allowed {
		if dec.Reason == throttle.ReasonAccount {
			// The hourly cap: the account is locked, and says so to
			// no one. Same answer and the same work as a wrong password.
			password.VerifyDummy(ctx)
			ev.Detail = "reason=locked"
			_ = s.db.RecordEvent(ctx, ev)
			s.writeError(w, r, errBadLogin)
			return
		}
		ev.Action, ev.Detail = "authn_login_throttled", "reason="+dec.Reason
		_ = s.db.RecordEvent(ctx, ev)
		w.Header().Set("Retry-After", dec.RetryAfterHeader())
		s.writeError(w, r, mcrm.Errorf(mcrm.ERateLimited, "too many sign-in attempts, try again later"))
		return
	}
	fail := func(reason string) {
		ev.Detail = "reason=" + reason
		if err := s.throttle.RecordFailure(ctx, key, ev); err != nil {
			s.writeError(w, r, err)
			return
		}
		_ = s.db.RecordEvent(ctx, ev)
		s.writeError(w, r, errBadLogin)
	}
	if u.ID == "" || u.PasswordHash == "" {
		password.VerifyDummy(ctx)
		fail("unknown")
		return
	}
	rehash, err := password.Verify(ctx, password.Normalize(req.Password), u.PasswordHash, s.cfg.Argon2)
	if err != nil || !u.Active {
		if err == nil {
			fail("inactive")
		} else {
			fail("bad_password")
		}
		return
	}
	if err := s.throttle.RecordSuccess(ctx, key); err != nil {
		s.writeError(w, r, err)
		return
	}
	if rehash {
		if h, err := password.Hash(ctx, password.Normalize(req.Password), s.cfg.Argon2); err == nil {
			_ = s.db.RehashPassword(ctx, t.ID, u.ID, u.PasswordHash, h)
		}
	}

	pol, err := s.db.AuthPolicy(ctx, t.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if pol.RequireDPoP && kind == sqlstore.SessionToken && jkt == "" {
		s.writeError(w, r, errDPoPRequired)
		return
	}
	login, assessment, err := s.assess(ctx, t.ID, u.ID, clientAddr(r), jkt)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	factors, err := s.userFactors(ctx, t.ID, u.ID, pol)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	action := pol.RiskAction(string(assessment.Level))
	riskDetail := " risk=" + string(assessment.Level) + " signals=" + strings.Join(assessment.Names(), ",")
	if action == mcrm.RiskDeny {
		login.Outcome = risk.OutcomeDenied
		_, _ = s.db.RecordLogin(ctx, t.ID, u.ID, login, assessment)
		ev.Detail = "reason=risk_denied" + riskDetail
		_ = s.db.RecordEvent(ctx, ev)
		s.writeError(w, r, errBadLogin)
		return
	}
	// A user who enrolled a factor always uses it; the tenant's policy
	// or the login's risk can demand one of anybody.
	stage := sqlstore.StageFull
	switch {
	case len(factors) > 0:
		stage = sqlstore.StageMFA
	case pol.RequiresMFA(u.Role) || action == mcrm.RiskRequireMFA:
		stage = sqlstore.StageEnrol
	}
	login.Outcome = risk.OutcomeSuccess
	if stage != sqlstore.StageFull {
		login.Outcome = risk.OutcomeMFARequired
	}
	if _, err := s.db.RecordLogin(ctx, t.ID, u.ID, login, assessment); err != nil {
		s.writeError(w, r, err)
		return
	}
	idle, absolute := pol.SessionLimitsFor(u.Role)
	ev.Action, ev.Outcome = evLoginSuccess, "success"
	ev.Detail = "stage=" + stage + " method=pwd" + riskDetail
	if stage == sqlstore.StageMFA {
		ev.Action = "authn_login_mfa_required"
	}
	issued, err := s.db.StartSession(ctx, sqlstore.NewSession{
		TenantID: t.ID, UserID: u.ID, Kind: kind, Stage: stage, JKT: jkt, AMR: []string{"pwd"},
		Idle: idle, Absolute: absolute, IP: clientIP(r), UserAgent: r.UserAgent(),
	}, ev)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if stage == sqlstore.StageFull {
		s.notifyRisk(ctx, t.ID, u.ID, assessment, jkt)
	}
	out := tokenResponse{Risk: &riskView{Level: string(assessment.Level), Signals: assessment.Names()}}
	if stage == sqlstore.StageMFA {
		out.Factors = factors
	}
	s.writeSession(w, r, t.ID, u.ID, issued, out)
}

var errDPoPRequired = &mcrm.Error{Code: mcrm.EUnauthorized, Message: "this tenant requires device-bound tokens: send a DPoP proof",
	Fields: []mcrm.FieldError{{Field: "DPoP", Code: "dpop_required", Message: "send a DPoP proof of the device key"}}}

// signInKind reads what a sign-in asks for: the kind of session and,
// with a DPoP proof, the device key to bind it to.
func (s *Server) signInKind(r *http.Request, session string) (kind, jkt string, err error) {
	if kind, err = sessionKind(session); err != nil {
		return "", "", err
	}
	jkt, err = s.loginProof(r)
	return kind, jkt, err
}

func sessionKind(v string) (string, error) {
	switch v {
	case "", sqlstore.SessionToken:
		return sqlstore.SessionToken, nil
	case sqlstore.SessionCookie:
		return sqlstore.SessionCookie, nil
	}
	return "", mcrm.FieldErr("session", "invalid", "token or cookie")
}

// notifyRisk mails the user about a completed sign-in of medium or high
// risk (AUTH-15), naming the signals. A sign-in whose only signal is that
// no device key was presented (every browser sign-in) is not worth a mail
// each time. Best effort: a failure to queue does not undo the sign-in.
func (s *Server) notifyRisk(ctx context.Context, tenantID, userID string, a risk.Assessment, jkt string) {
	if !a.NotifyUser() || (jkt == "" && len(a.Signals) == 1 && a.Signals[0].Name == risk.SignalNewDevice) {
		return
	}
	var lines []string
	for _, sig := range a.Signals {
		lines = append(lines, "  - "+sig.Name+": "+sig.Detail)
	}
	text := "Your mcrm account was just signed in to, and the sign-in looked unusual (" + string(a.Level) + " risk):\n\n" +
		strings.Join(lines, "\n") + "\n\nIf this was you, nothing needs doing. If not, change your password, end your other sessions\n" +
		"from your account page and tell your administrator.\n"
	if err := s.db.NotifyUser(ctx, tenantID, userID, "security_notice", "Unusual sign-in to your mcrm account", text); err != nil {
		s.log.WarnContext(ctx, "could not queue a sign-in notice", "error", errText(err))
	}
}

// assess observes the login and scores it against the user's history
// (AUTH-15).
func (s *Server) assess(ctx context.Context, tenantID, userID string, ip netip.Addr, jkt string) (risk.Login, risk.Assessment, error) {
	now := time.Now()
	cur := s.risk.Observe(tenantID, ip, jkt, now)
	history, err := s.db.LoginHistory(ctx, tenantID, userID, now.Add(-s.risk.Window()), 500)
	if err != nil {
		return cur, risk.Assessment{}, err
	}
	return cur, s.risk.Evaluate(history, cur), nil
}

// userFactors lists the second factors the user can answer with now:
// enrolled, and allowed by the tenant's policy.
func (s *Server) userFactors(ctx context.Context, tenantID, userID string, pol mcrm.AuthPolicy) ([]string, error) {
	var out []string
	has, err := s.db.HasSecondFactor(ctx, tenantID, userID)
	if err != nil {
		return nil, err
	}
	if has {
		fs, err := s.db.ListFactors(ctx, tenantID, userID)
		if err != nil {
			return nil, err
		}
		for _, f := range fs {
			if f.Kind == "totp" && f.Confirmed && pol.Allows(mcrm.FactorTOTP) && !slices.Contains(out, mcrm.FactorTOTP) {
				out = append(out, mcrm.FactorTOTP)
			}
		}
	}
	creds, err := s.db.WebAuthnCredentials(ctx, tenantID, userID)
	if err != nil {
		return nil, err
	}
	if len(creds) > 0 && pol.Allows(mcrm.FactorPasskey) {
		out = append(out, mcrm.FactorPasskey)
	}
	if len(out) > 0 && pol.Allows(mcrm.FactorRecoveryCode) {
		if n, err := s.db.RecoveryCodesLeft(ctx, tenantID, userID); err == nil && n > 0 {
			out = append(out, mcrm.FactorRecoveryCode)
		}
	}
	return out, nil
}

// writeSession answers a sign-in step with what the session got: tokens,
// or for a cookie session the cookie and the CSRF token.
func (s *Server) writeSession(w http.ResponseWriter, r *http.Request, tenantID, userID string, is sqlstore.Issued, out tokenResponse) {
	writeJSON(w, http.StatusOK, s.sessionAnswer(w, r, tenantID, userID, is, out))
}

// sessionAnswer is the body of writeSession (it sets the cookie of a
// cookie session on w), for answers that carry a session inside another
// document, such as the end of a forced enrolment.
func (s *Server) sessionAnswer(w http.ResponseWriter, r *http.Request, tenantID, userID string, is sqlstore.Issued, out tokenResponse) tokenResponse {
	out.SessionID = is.SessionID
	out.SessionExpiresAt = is.SessionExpires
	switch is.Stage {
	case sqlstore.StageMFA:
		out.Status = statusMFARequired
		out.MFAToken = is.MFA
		out.ExpiresIn = int64(time.Until(is.AccessExpires).Round(time.Second) / time.Second)
	case sqlstore.StageEnrol:
		out.Status = statusEnrolmentFirst
	default:
		out.Status = statusOK
	}
	if is.Access != "" {
		if is.CSRF != "" {
			http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: is.Access, Path: "/", Secure: true, HttpOnly: true,
				SameSite: http.SameSiteStrictMode, Expires: is.SessionExpires})
			out.CSRFToken = is.CSRF
		} else {
			out.AccessToken, out.RefreshToken = is.Access, is.Refresh
			out.TokenType = "Bearer"
			if is.JKT != "" {
				out.TokenType = "DPoP"
			}
			out.ExpiresIn = int64(time.Until(is.AccessExpires).Round(time.Second) / time.Second)
		}
	}
	if is.Stage != sqlstore.StageMFA {
		p := &mcrm.Principal{TenantID: tenantID, UserID: userID, System: true}
		users := mcrm.EntityByName("users")
		if v, err := s.db.Get(r.Context(), p, users, userID); err == nil {
			o := present(p, users, v)
			o.Set("tenant_id", tenantID)
			out.User = o
		}
	}
	return out
}

type mfaRequest struct {
	MFAToken     string `json:"mfa_token"`
	Code         string `json:"code"`
	RecoveryCode string `json:"recovery_code"`
}

// loginMFA completes a sign-in with the second factor: a TOTP code or a
// recovery code. A bound session must be continued by the same key.
func (s *Server) loginMFA(w http.ResponseWriter, r *http.Request) {
	var req mfaRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.MFAToken == "" || (req.Code == "") == (req.RecoveryCode == "") {
		s.writeError(w, r, mcrm.Errorf(mcrm.EInvalid, "mfa_token and exactly one of code and recovery_code are required"))
		return
	}
	ctx := r.Context()
	sess, err := s.db.PendingMFA(ctx, req.MFAToken)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.sameKey(r, sess.JKT); err != nil {
		s.writeError(w, r, err)
		return
	}
	p := sess.Principal
	pol, err := s.db.AuthPolicy(ctx, p.TenantID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ev := s.event(r, evLoginFail, "failure")
	ev.TenantID, ev.Actor, ev.SessionID = p.TenantID, p.UserID, p.SessionID
	method, factor, err := s.checkSecondFactor(ctx, p.TenantID, p.UserID, req.Code, req.RecoveryCode, pol, ev)
	if err != nil {
		ev.Detail = "reason=" + fieldCodeOr(err, "second_factor") + " factor=" + factor
		_ = s.db.RecordEvent(ctx, ev)
		s.writeError(w, r, err)
		return
	}
	ev.Action, ev.Outcome, ev.Detail = evLoginSuccess, "success", "stage=full method="+method
	issued, err := s.db.CompleteMFA(ctx, req.MFAToken, []string{method}, ev)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if login, a, err := s.assess(ctx, p.TenantID, p.UserID, clientAddr(r), sess.JKT); err == nil {
		login.Outcome = risk.OutcomeSuccess
		_, _ = s.db.RecordLogin(ctx, p.TenantID, p.UserID, login, a)
		s.notifyRisk(ctx, p.TenantID, p.UserID, a, sess.JKT)
	}
	s.writeSession(w, r, p.TenantID, p.UserID, issued, tokenResponse{})
}

// checkSecondFactor verifies a TOTP code or a recovery code of the user
// and returns the amr method ("otp", "rec") and the factor kind.
func (s *Server) checkSecondFactor(ctx context.Context, tenantID, userID, code, recovery string, pol mcrm.AuthPolicy, ev sqlstore.Event) (string, string, error) {
	if code != "" {
		if !pol.Allows(mcrm.FactorTOTP) {
			return "", mcrm.FactorTOTP, mcrm.FieldErr("code", "factor_not_allowed", "this tenant does not allow TOTP")
		}
		if _, err := s.db.VerifyTOTP(ctx, tenantID, userID, code, time.Now()); err != nil {
			if mcrm.ErrorCode(err) == mcrm.ENotFound {
				return "", mcrm.FactorTOTP, totp.Err(mcrm.CodeOTPInvalid)
			}
			return "", mcrm.FactorTOTP, err
		}
		return "otp", mcrm.FactorTOTP, nil
	}
	if !pol.Allows(mcrm.FactorRecoveryCode) {
		return "", mcrm.FactorRecoveryCode, mcrm.FieldErr("recovery_code", "factor_not_allowed", "this tenant does not allow recovery codes")
	}
	ev.Action, ev.Outcome, ev.Detail = "authn_recovery_code_used", "success", ""
	if err := s.db.ConsumeRecoveryCode(ctx, tenantID, userID, recovery, time.Now(), ev); err != nil {
		return "", mcrm.FactorRecoveryCode, err
	}
	return "rec", mcrm.FactorRecoveryCode, nil
}

func fieldCodeOr(err error, def string) string {
	if c := totp.FieldCode(err); c != "" {
		return c
	}
	return def
}

// sameKey requires, for a session bound to a key, a valid DPoP proof of
// that key on this request (the sign-in's later steps and refresh).
func (s *Server) sameKey(r *http.Request, jkt string) error {
	got, err := s.loginProof(r)
	if err != nil {
		return err
	}
	if got != jkt {
		return sqlstore.ErrKeyMismatch
	}
	return nil
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// refresh rotates a refresh token (AUTH-06). A used one revokes the
// session: authn_token_reuse.
func (s *Server) refresh(w http.ResponseWriter, r *http.Request) {
	var req refreshRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.RefreshToken == "" {
		s.writeError(w, r, mcrm.FieldErr("refresh_token", "required", "refresh_token is required"))
		return
	}
	jkt, err := s.loginProof(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ev := s.event(r, "authn_token_refresh", "success")
	reuse := s.event(r, "authn_token_reuse", "failure")
	reuse.Detail = "reason=" + sqlstore.RevokedReuse
	issued, err := s.db.Refresh(r.Context(), req.RefreshToken, jkt, ev, reuse)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeSession(w, r, "", "", issued, tokenResponse{})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	p := principal(r.Context())
	ev := s.event(r, "authn_logout", "success")
	if err := s.db.RevokeSession(r.Context(), p.TenantID, p.UserID, p.SessionID, sqlstore.RevokedLogout, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	if sessionOf(r.Context()).Kind == sqlstore.SessionCookie {
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	}
	w.WriteHeader(http.StatusNoContent)
}

type stepUpRequest struct {
	Code         string `json:"code"`
	RecoveryCode string `json:"recovery_code"`
}

// stepUpTOTP restarts the session's step-up clock with a TOTP or recovery
// code (AUTH-09). Passkeys step up through /auth/step-up/passkey.
func (s *Server) stepUpTOTP(w http.ResponseWriter, r *http.Request) {
	var req stepUpRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if (req.Code == "") == (req.RecoveryCode == "") {
		s.writeError(w, r, mcrm.Errorf(mcrm.EInvalid, "exactly one of code and recovery_code is required"))
		return
	}
	p := principal(r.Context())
	pol, err := s.db.AuthPolicy(r.Context(), p.TenantID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ev := s.event(r, "authn_step_up_fail", "failure")
	method, factor, err := s.checkSecondFactor(r.Context(), p.TenantID, p.UserID, req.Code, req.RecoveryCode, pol, ev)
	if err != nil {
		ev.Detail = "reason=" + fieldCodeOr(err, "second_factor") + " factor=" + factor
		_ = s.db.RecordEvent(r.Context(), ev)
		s.writeError(w, r, err)
		return
	}
	s.finishStepUp(w, r, method)
}

func (s *Server) finishStepUp(w http.ResponseWriter, r *http.Request, method string) {
	p := principal(r.Context())
	ev := s.event(r, "authn_step_up", "success")
	ev.Detail = "method=" + method
	now := s.now().UTC()
	if err := s.db.StepUpAt(r.Context(), p.TenantID, p.SessionID, []string{method}, now, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"auth_time": now, "valid_until": now.Add(mcrm.StepUpMaxAge)})
}

// listSessions is the user's own live sessions.
func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) {
	p := principal(r.Context())
	list, err := s.db.Sessions(r.Context(), p.TenantID, p.UserID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for i := range list {
		list[i].Current = list[i].ID == p.SessionID
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list})
}

// revokeOwnSession ends one of the user's own sessions; another user's
// session id is 404, like an unknown one.
func (s *Server) revokeOwnSession(w http.ResponseWriter, r *http.Request) {
	p := principal(r.Context())
	ev := s.event(r, "authn_session_revoked", "success")
	ev.Detail = "reason=" + sqlstore.RevokedUser
	if err := s.db.RevokeSession(r.Context(), p.TenantID, p.UserID, r.PathValue("id"), sqlstore.RevokedUser, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// revokeUserSessions is an admin ending all of a user's sessions (a lost
// phone, a leaver). Sensitive: admin role and a recent step-up.
func (s *Server) revokeUserSessions(w http.ResponseWriter, r *http.Request) {
	p := principal(r.Context())
	if !p.WritesAll() {
		s.writeError(w, r, mcrm.Errorf(mcrm.EForbidden, "only an admin can end another user's sessions"))
		return
	}
	if err := s.stepUp(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	users := mcrm.EntityByName("users")
	id := r.PathValue("id")
	if _, err := s.db.Get(r.Context(), p, users, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	ev := s.event(r, "authn_session_revoked", "success")
	ev.Detail = "reason=" + sqlstore.RevokedAdmin + " user=" + id
	n, err := s.db.RevokeUserSessions(r.Context(), p.TenantID, id, "", sqlstore.RevokedAdmin, ev)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"revoked": n})
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	p := principal(r.Context())
	users := mcrm.EntityByName("users")
	// Everyone may read their own user, whatever their role's scope on
	// users; its fields still pass through the role's field access.
	sys := &mcrm.Principal{TenantID: p.TenantID, UserID: p.UserID, System: true}
	v, err := s.db.Get(r.Context(), sys, users, p.UserID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := present(p, users, v)
	out.Set("tenant_id", p.TenantID)
	writeJSON(w, http.StatusOK, out)
}

// authPaths documents the sign-in routes of this file.
func authPaths(paths, schemas obj) {
	schemas["MFARequest"] = typeSchema(reflect.TypeFor[mfaRequest](), true)
	schemas["MFARequest"].(obj)["required"] = []any{"mfa_token"}
	schemas["RefreshRequest"] = typeSchema(reflect.TypeFor[refreshRequest](), true)
	schemas["RefreshRequest"].(obj)["required"] = []any{"refresh_token"}
	schemas["StepUpRequest"] = typeSchema(reflect.TypeFor[stepUpRequest](), true)
	schemas["StepUpResult"] = obj{"type": "object", "additionalProperties": false, "required": []any{"auth_time", "valid_until"},
		"properties": obj{"auth_time": obj{"type": "string", "format": "date-time"}, "valid_until": obj{"type": "string", "format": "date-time"}}}
	sess := typeSchema(reflect.TypeFor[sqlstore.SessionInfo](), false)
	props(sess)["created_at"] = obj{"type": "string", "format": "date-time"}
	props(sess)["last_seen_at"] = obj{"type": "string", "format": "date-time"}
	props(sess)["expires_at"] = obj{"type": "string", "format": "date-time"}
	props(sess)["amr"] = obj{"type": "array", "items": obj{"type": "string"}}
	schemas["Session"] = sess
	schemas["SessionList"] = obj{"type": "object", "additionalProperties": false, "required": []any{"data"},
		"properties": obj{"data": obj{"type": "array", "items": ref("Session")}}}
	dpopHeader := obj{"name": "DPoP", "in": "header", "required": false, "schema": obj{"type": "string"},
		"description": "RFC 9449 proof of the device key; binds the session (at sign-in) or proves the key it is bound to"}
	idParam := pathParam("id", "session id", obj{"type": "string"})
	userParam := pathParam("id", "user id", obj{"type": "string"})
	session := func(desc string) obj { return jsonResponse(desc, ref("LoginResponse"), nil) }

	paths["/api/v1/auth/login/mfa"] = obj{"post": op{id: "loginMFA", tag: "auth", summary: "Complete a sign-in with the second factor",
		desc:   "Send the mfa_token of a sign-in answered mfa_required with a TOTP code or a recovery code (each once). A code whose time step was used already is refused with field code otp_replay.",
		params: []any{dpopHeader}, body: jsonBody(ref("MFARequest")), responses: obj{"200": session("signed in")},
		errs: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType}}.build()}
	paths["/api/v1/auth/refresh"] = obj{"post": op{id: "refresh", tag: "auth", summary: "Exchange a refresh token for a new pair",
		desc:   "Refresh tokens are single use. A token presented a second time means it was copied: the whole session is revoked (event authn_token_reuse) and the answer is 401 with field code reused. A DPoP-bound session needs a proof of the same key.",
		params: []any{dpopHeader}, body: jsonBody(ref("RefreshRequest")), responses: obj{"200": session("new access and refresh tokens")},
		errs: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType}}.build()}
	paths["/api/v1/auth/step-up"] = obj{"post": op{id: "stepUp", tag: "auth", auth: true, summary: "Authenticate strongly again for sensitive operations",
		desc: "A TOTP or recovery code restarts the step-up clock: export, user administration, policy and factor changes are allowed for 5 minutes.",
		body: jsonBody(ref("StepUpRequest")), responses: obj{"200": jsonResponse("stepped up", ref("StepUpResult"), nil)},
		errs: []int{http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType}}.build()}
	paths["/api/v1/auth/sessions"] = obj{"get": op{id: "listSessions", tag: "auth", auth: true, summary: "The signed-in user's live sessions",
		responses: obj{"200": jsonResponse("newest first", ref("SessionList"), nil)}, errs: []int{http.StatusForbidden}}.build()}
	paths["/api/v1/auth/sessions/{id}"] = obj{"delete": op{id: "revokeSession", tag: "auth", auth: true, summary: "End one of your own sessions",
		params: []any{idParam}, responses: obj{"204": emptyResponse("ended; its tokens stop working on the next request")},
		errs: []int{http.StatusForbidden, http.StatusNotFound}}.build()}
	paths["/api/v1/users/{id}/sessions"] = obj{"delete": op{id: "revokeUserSessions", tag: "auth", auth: true, summary: "End all of a user's sessions (admin, step-up)",
		params: []any{userParam}, responses: obj{"200": jsonResponse("how many sessions ended", obj{"type": "object", "additionalProperties": false,
			"required": []any{"revoked"}, "properties": obj{"revoked": obj{"type": "integer", "minimum": 0}}}, nil)},
		errs: []int{http.StatusForbidden, http.StatusNotFound}}.build()}
}
