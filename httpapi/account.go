package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"mcrm"
	"mcrm/outbox"
	"mcrm/password"
	"mcrm/sqlstore"
	"mcrm/throttle"
)

// This file is the user's own password (change, forgotten, reset) and the
// tenant's authentication policy. Passwords are normalised (NFKC) before
// they are hashed or verified, as package password asks, so the same
// passphrase typed on another keyboard is the same password.

// Security events of this file (OWASP logging vocabulary). A reset's
// success is authn_password_change too: the store writes it.
const (
	evPasswordChange     = "authn_password_change"
	evPasswordChangeFail = "authn_password_change_fail"
	evResetRequested     = "authn_password_reset_requested"
	evPolicyChange       = "authn_policy_change"
)

// resetPagePath is where the web app's reset page lives when the server
// is not told otherwise (cmd/mcrm serve uses the same path).
const resetPagePath = "/reset-password"

// accountRoutes are password change and reset, and the tenant's
// authentication policy.
func (s *Server) accountRoutes() []route {
	return []route{
		{"POST /api/v1/auth/password", s.authenticated(s.changePassword)},
		{"POST /api/v1/auth/password/forgot", s.forgotPassword},
		{"POST /api/v1/auth/password/reset", s.resetPassword},
		{"GET /api/v1/auth/policy", s.authenticated(s.getAuthPolicy)},
		{"PUT /api/v1/auth/policy", s.authenticated(s.putAuthPolicy)},
	}
}

type passwordChangeRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

type forgotRequest struct {
	Tenant string `json:"tenant"`
	Email  string `json:"email"`
}

type resetRequest struct {
	Token       string `json:"token"`
	NewPassword string `json:"new_password"`
}

// forgotResponse is the one answer of /auth/password/forgot. It is a
// constant, so the bodies for a known and an unknown account are the same
// bytes.
type forgotResponse struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

var forgotAccepted = forgotResponse{Status: "accepted",
	Message: fmt.Sprintf("if the account exists and can sign in, a reset link is on its way; it works once, within %d minutes",
		int(sqlstore.ResetTokenLifetime.Minutes()))}

var (
	errBadCurrentPassword = &mcrm.Error{Code: mcrm.EUnauthorized, Message: "the current password is wrong",
		Fields: []mcrm.FieldError{{Field: "current_password", Code: "invalid", Message: "the current password is wrong"}}}
	errResetUnconfigured = mcrm.Errorf(mcrm.EUnavailable, "password reset is not configured on this server")
)

// requireMembers reports the first empty member of a request as a field error.
func requireMembers(fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i+1] == "" {
			return mcrm.FieldErr(fields[i], "required", fields[i]+" is required")
		}
	}
	return nil
}

// changePassword replaces the signed-in user's password. The current
// password is verified through the login throttle, on the same account
// counters as a sign-in, so a stolen session cannot be used to guess it
// faster than the login would allow. The other sessions of the user end;
// this one stays.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	var req passwordChangeRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := requireMembers("current_password", req.CurrentPassword, "new_password", req.NewPassword); err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(req.CurrentPassword) > 4*password.MaxLength {
		s.writeError(w, r, mcrm.FieldErr("current_password", "too_long", "longer than any accepted password"))
		return
	}
	ctx := r.Context()
	p := principal(ctx)
	email, name, err := s.userNames(ctx, p.TenantID, p.UserID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// The new password is checked first: it costs no hash and no
	// throttle attempt, and its answer says nothing about the current one.
	if err := s.checkNewPassword(ctx, p.TenantID, p.UserID, email, name, req.NewPassword); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.verifyCurrentPassword(w, r, p, email, req.CurrentPassword); err != nil {
		s.writeError(w, r, err)
		return
	}
	hash, err := password.Hash(ctx, password.Normalize(req.NewPassword), s.cfg.Argon2)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ev := s.event(r, evPasswordChange, "success")
	ev.Object, ev.Detail = "users/"+p.UserID, "via=self reason="+sqlstore.RevokedPassword
	if err := s.db.SetPassword(ctx, p.TenantID, p.UserID, hash, p.SessionID, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// verifyCurrentPassword checks the signed-in user's password against the
// login throttle. Every failure, including the account's hourly lock, is
// the same 401 on current_password, as at login.
func (s *Server) verifyCurrentPassword(w http.ResponseWriter, r *http.Request, p *mcrm.Principal, email, current string) error {
	ctx := r.Context()
	ev := s.event(r, evPasswordChangeFail, "failure")
	ev.Object = "users/" + p.UserID
	u, err := s.db.UserForLogin(ctx, p.TenantID, email)
	if err != nil {
		return err
	}
	key := s.throttle.Key(p.TenantID, s.throttle.Account(p.TenantID, p.UserID, ""), clientAddr(r))
	dec, err := s.throttle.Check(ctx, key)
	if err != nil {
		// Fail closed, as at login: no password check without counters.
		return mcrm.Errorf(mcrm.EUnavailable, "password change is unavailable, try again shortly")
	}
	if !dec.Allowed {
		if dec.Reason == throttle.ReasonAccount {
			password.VerifyDummy(ctx)
			ev.Detail = "reason=locked"
			_ = s.db.RecordEvent(ctx, ev)
			return errBadCurrentPassword
		}
		ev.Action, ev.Detail = "authn_login_throttled", "reason="+dec.Reason+" via=password_change"
		_ = s.db.RecordEvent(ctx, ev)
		w.Header().Set("Retry-After", dec.RetryAfterHeader())
		return mcrm.Errorf(mcrm.ERateLimited, "too many attempts, try again later")
	}
	if u.ID == p.UserID && u.PasswordHash != "" {
		if _, err := password.Verify(ctx, password.Normalize(current), u.PasswordHash, s.cfg.Argon2); err == nil {
			return s.throttle.RecordSuccess(ctx, key)
		}
	} else {
		// No password to verify against (a passkey-only user): the same
		// work and answer as a wrong one.
		password.VerifyDummy(ctx)
	}
	ev.Detail = "reason=bad_password"
	if err := s.throttle.RecordFailure(ctx, key, ev); err != nil {
		return err
	}
	_ = s.db.RecordEvent(ctx, ev)
	return errBadCurrentPassword
}

// userNames reads the live user's email and name.
func (s *Server) userNames(ctx context.Context, tenantID, userID string) (email, name string, err error) {
	v, err := s.db.Get(ctx, &mcrm.Principal{TenantID: tenantID, UserID: userID, System: true}, mcrm.EntityByName("users"), userID)
	if err != nil {
		return "", "", err
	}
	email, _ = v["email"].(string)
	name, _ = v["name"].(string)
	return email, name, nil
}

// checkNewPassword applies the password policy for the user: NIST SP
// 800-63B lengths (8 characters when the password is used with a second
// factor, else 15) and the blocklist with the account's own words. The
// field error names new_password, the member of both request bodies.
func (s *Server) checkNewPassword(ctx context.Context, tenantID, userID, email, name, pw string) error {
	pc, err := s.policyContext(ctx, tenantID, userID, email, name)
	if err != nil {
		return err
	}
	if err := password.CheckPolicy(pw, pc); err != nil {
		var me *mcrm.Error
		if errors.As(err, &me) {
			fields := slices.Clone(me.Fields)
			for i := range fields {
				if fields[i].Field == "password" {
					fields[i].Field = "new_password"
				}
			}
			return &mcrm.Error{Code: me.Code, Message: me.Message, Fields: fields}
		}
		return err
	}
	return nil
}

// policyContext is what the policy needs to know about the account: the
// words an attacker who knows the account would try first, and whether
// the password is backed by a second factor. The factor counts only when
// the tenant's policy lets it be used at sign-in (userFactors, as login
// decides): a TOTP the tenant disallowed leaves the password alone.
func (s *Server) policyContext(ctx context.Context, tenantID, userID, email, name string) (password.PolicyContext, error) {
	var pc password.PolicyContext
	t, err := s.tenant(ctx, tenantID)
	if err != nil {
		return pc, err
	}
	local, _, _ := strings.Cut(email, "@")
	pc.ContextWords = []string{t.Name, email, local, name, "mcrm"}
	pol, err := s.db.AuthPolicy(ctx, tenantID)
	if err != nil {
		return pc, err
	}
	factors, err := s.userFactors(ctx, tenantID, userID, pol)
	if err != nil {
		return pc, err
	}
	pc.HasSecondFactor = len(factors) > 0
	return pc, nil
}

// forgotPassword queues a reset mail for a live user and answers 202 with
// the same body whether or not the account exists. Both paths look the
// tenant and user up, run the store's reset transaction (which queues
// nothing for no one) and write one event, so the answer's timing says
// as little as its body; a mail's sealing and insert are what remains.
// The link's address comes from configuration only, never from the
// request's Host header, which would let anyone point a victim's reset
// link at their own site.
func (s *Server) forgotPassword(w http.ResponseWriter, r *http.Request) {
	var req forgotRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := requireMembers("tenant", req.Tenant, "email", req.Email); err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(req.Email) > 320 || len(req.Tenant) > 200 {
		s.writeError(w, r, mcrm.Errorf(mcrm.EInvalid, "tenant or email too long"))
		return
	}
	page := s.cfg.ResetPage
	if page == "" {
		if base := s.publicURL(); base != "" {
			page = strings.TrimSuffix(base, "/") + resetPagePath
		}
	}
	if page == "" {
		s.writeError(w, r, errResetUnconfigured)
		return
	}
	ctx := r.Context()
	email := strings.ToLower(strings.TrimSpace(req.Email))
	ev := s.event(r, evResetRequested, "success")
	ev.Actor, ev.Object = "", ""
	var tenantID, tenantName, userID string
	t, err := s.db.TenantByName(ctx, req.Tenant)
	if err == nil {
		tenantID, tenantName, ev.TenantID = t.ID, t.Name, t.ID
	}
	u, uerr := s.db.UserForLogin(ctx, tenantID, email)
	switch {
	case err != nil && mcrm.ErrorCode(err) != mcrm.ENotFound:
		s.writeError(w, r, err)
		return
	case uerr != nil && mcrm.ErrorCode(uerr) != mcrm.ENotFound:
		s.writeError(w, r, uerr)
		return
	case err == nil && uerr == nil:
		userID = u.ID
	}
	queued, err := s.db.CreatePasswordReset(ctx, sqlstore.PasswordReset{TenantID: tenantID, UserID: userID,
		Mail: outbox.PasswordResetMail(page, email, tenantName)}, time.Now(), ev)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !queued {
		// Unknown account, inactive user or the per-user cap: recorded
		// for the audit trail, answered like a sent mail.
		ev.Outcome, ev.Detail = "failure", "reason=not_sent"
		if userID == "" {
			ev.Actor, ev.Detail = "unknown", "reason=unknown"
		} else {
			ev.Actor = userID
		}
		_ = s.db.RecordEvent(ctx, ev)
	}
	writeJSON(w, http.StatusAccepted, forgotAccepted)
}

// resetPassword sets a new password with a reset token. The token is
// looked at first without being used, so a new password the policy
// refuses leaves the link working; it is used (once) in the transaction
// that sets the password and ends every session of the user. The answer
// carries no session: the user signs in afresh, second factor included.
func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request) {
	var req resetRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := requireMembers("token", req.Token, "new_password", req.NewPassword); err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(req.Token) > 100 {
		// Reset tokens are 43 characters; anything far longer is not one.
		s.writeError(w, r, sqlstore.ErrResetToken)
		return
	}
	ctx := r.Context()
	// Bad tokens write no event: the token carries 256 random bits, so
	// failures are mistakes or noise, and logging each would let anyone
	// fill the event log without an account.
	tenantID, userID, err := s.db.PeekPasswordReset(ctx, req.Token, time.Now())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	email, name, err := s.userNames(ctx, tenantID, userID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.checkNewPassword(ctx, tenantID, userID, email, name, req.NewPassword); err != nil {
		s.writeError(w, r, err)
		return
	}
	hash, err := password.Hash(ctx, password.Normalize(req.NewPassword), s.cfg.Argon2)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ev := s.event(r, evPasswordChange, "success")
	ev.Actor, ev.Object, ev.Detail = "", "", "via=reset reason="+sqlstore.RevokedReset
	if _, _, err := s.db.ConsumePasswordReset(ctx, req.Token, hash, time.Now(), ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

var errPolicyRead = mcrm.Errorf(mcrm.EForbidden, "only an admin or an auditor can read the authentication policy")

// getAuthPolicy is the tenant's authentication policy, for admins and
// auditors (who review it) only: it tells an attacker which roles sign in
// with a password alone.
func (s *Server) getAuthPolicy(w http.ResponseWriter, r *http.Request) {
	p := principal(r.Context())
	if p.Role != mcrm.RoleAdmin && p.Role != mcrm.RoleAuditor {
		s.writeError(w, r, errPolicyRead)
		return
	}
	pol, err := s.db.AuthPolicy(r.Context(), p.TenantID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, policyView(pol))
}

// putAuthPolicy replaces the tenant's policy. It is sensitive (it can
// drop the second factor for everyone): admin role and a recent step-up.
// The body is the full policy: a member left out is refused rather than
// taken as empty, since an empty mfa_required_roles would silently turn
// the second factor off.
func (s *Server) putAuthPolicy(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := principal(ctx)
	if p.Role != mcrm.RoleAdmin {
		s.writeError(w, r, mcrm.Errorf(mcrm.EForbidden, "only an admin can change the authentication policy"))
		return
	}
	if err := s.stepUp(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	var raw map[string]any
	if err := s.decodeJSON(w, r, &raw); err != nil {
		s.writeError(w, r, err)
		return
	}
	pol, err := decodePolicy(raw)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	old, err := s.db.AuthPolicy(ctx, p.TenantID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ev := s.event(r, evPolicyChange, "success")
	ev.Object, ev.Detail = "auth_policy", "changed="+strings.Join(policyChanges(old, pol), ",")
	if err := s.db.SetAuthPolicy(ctx, p, pol, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	stored, err := s.db.AuthPolicy(ctx, p.TenantID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, policyView(stored))
}

// policyMembers are the JSON members of mcrm.AuthPolicy and whether each
// is required (no omitempty), read from the type so a member added there
// is required here without a second list to keep in step.
func policyMembers() (names []string, req map[string]bool) {
	req = map[string]bool{}
	t := reflect.TypeFor[mcrm.AuthPolicy]()
	for i := 0; i < t.NumField(); i++ {
		name, opts, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		names = append(names, name)
		req[name] = !slices.Contains(strings.Split(opts, ","), "omitempty")
	}
	return names, req
}

// decodePolicy turns the decoded body into a policy strictly: unknown
// members (at any depth) and wrong types are 400 naming the member, and
// every required member must be present and not null.
func decodePolicy(raw map[string]any) (mcrm.AuthPolicy, error) {
	var pol mcrm.AuthPolicy
	buf, err := json.Marshal(raw)
	if err != nil {
		return pol, mcrm.Errorf(mcrm.EInvalid, "body is not valid JSON of the expected shape")
	}
	dec := json.NewDecoder(bytes.NewReader(buf))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pol); err != nil {
		var ute *json.UnmarshalTypeError
		switch {
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return pol, mcrm.FieldErr(name, "unknown_field", "no such field")
		case errors.As(err, &ute) && ute.Field != "":
			return pol, mcrm.FieldErr(ute.Field, "invalid_type", "expected "+jsonKind(ute.Type))
		}
		return pol, mcrm.Errorf(mcrm.EInvalid, "body is not valid JSON of the expected shape")
	}
	names, req := policyMembers()
	for _, name := range names {
		if v, ok := raw[name]; req[name] && (!ok || v == nil) {
			return pol, mcrm.FieldErr(name, "required", "send the full policy: "+name+" is missing")
		}
	}
	return pol, pol.Validate()
}

// jsonKind names a Go type as the JSON a client should send.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

// policyChanges lists the top-level members that differ, for the event:
// what changed, not the values (the policy is in the table).
func policyChanges(old, cur mcrm.AuthPolicy) []string {
	var a, b map[string]json.RawMessage
	ja, _ := json.Marshal(policyView(old))
	jb, _ := json.Marshal(policyView(cur))
	_ = json.Unmarshal(ja, &a)
	_ = json.Unmarshal(jb, &b)
	names, _ := policyMembers()
	var out []string
	for _, n := range names {
		if !bytes.Equal(a[n], b[n]) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		out = []string{"none"}
	}
	return out
}

// policyView is the policy as the API shows it: lists are [] rather than
// null when empty, so a client can send back what it read.
func policyView(p mcrm.AuthPolicy) mcrm.AuthPolicy {
	if p.MFARequiredRoles == nil {
		p.MFARequiredRoles = []string{}
	}
	if p.AllowedFactors == nil {
		p.AllowedFactors = []string{}
	}
	return p
}

// accountPaths documents accountRoutes in the OpenAPI document.
func accountPaths(paths, schemas obj) {
	secret := func(desc string) obj { return obj{"type": "string", "minLength": 1, "description": desc} }
	newPassword := secret("NIST SP 800-63B: at least 15 characters, or 8 when the user signs in with a second factor; at most 1024; " +
		"any characters; common passwords and words tied to the account (tenant, email, name) are refused")
	body := func(desc string, members obj) obj {
		names := make([]string, 0, len(members))
		for n := range members {
			names = append(names, n)
		}
		slices.Sort(names)
		return obj{"type": "object", "description": desc, "properties": members, "required": stringList(names), "additionalProperties": false}
	}
	schemas["PasswordChange"] = body("the signed-in user's current password and the new one", obj{
		"current_password": secret("the password the user signs in with now"),
		"new_password":     newPassword,
	})
	schemas["PasswordForgot"] = body("the account whose password is forgotten", obj{
		"tenant": obj{"type": "string", "minLength": 1, "maxLength": 200},
		"email":  obj{"type": "string", "minLength": 1, "maxLength": 320},
	})
	schemas["PasswordReset"] = body("the token of a reset link and the new password", obj{
		"token":        secret("from the fragment of the link in the reset mail (#token=...)"),
		"new_password": newPassword,
	})
	accepted := typeSchema(reflect.TypeFor[forgotResponse](), false)
	props(accepted)["status"] = obj{"const": forgotAccepted.Status}
	schemas["PasswordResetAccepted"] = accepted
	schemas["AuthPolicy"] = authPolicySchema(false)
	schemas["AuthPolicyInput"] = authPolicySchema(true)

	paths["/api/v1/auth/password"] = obj{"post": op{id: "changePassword", tag: "auth", auth: true, summary: "Change the signed-in user's password",
		desc: "A wrong current password is 401 with field current_password, counted by the same sign-in throttle as a login. " +
			"Every other session of the user ends; the calling session goes on.",
		body:      jsonBody(ref("PasswordChange")),
		responses: obj{"204": emptyResponse("changed")},
		errs:      []int{http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusServiceUnavailable}}.build()}
	paths["/api/v1/auth/password/forgot"] = obj{"post": op{id: "forgotPassword", tag: "auth", summary: "Ask for a password reset link",
		desc: "Always 202 with the same body, whether or not the account exists. A live user gets a mail with a link that works once, within 15 minutes; " +
			"the token is in the link's fragment, never its query.",
		body:      jsonBody(ref("PasswordForgot")),
		responses: obj{"202": jsonResponse("accepted; a mail is sent if the account exists", ref("PasswordResetAccepted"), nil)},
		errs:      []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusServiceUnavailable}}.build()}
	paths["/api/v1/auth/password/reset"] = obj{"post": op{id: "resetPassword", tag: "auth", summary: "Set a new password with a reset token",
		desc: "An unknown, used, superseded or expired token is 401 with field code invalid_reset_token. A reset ends every session of the user and signs no one in: " +
			"the next sign-in asks for the second factor as before.",
		body:      jsonBody(ref("PasswordReset")),
		responses: obj{"204": emptyResponse("the password is changed")},
		errs:      []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType}}.build()}
	paths["/api/v1/auth/policy"] = obj{
		"get": op{id: "getAuthPolicy", tag: "auth", auth: true, summary: "The tenant's authentication policy",
			desc:      "Admins and auditors only.",
			responses: obj{"200": jsonResponse("the policy", ref("AuthPolicy"), nil)},
			errs:      []int{http.StatusForbidden}}.build(),
		"put": op{id: "setAuthPolicy", tag: "auth", auth: true, summary: "Replace the tenant's authentication policy",
			desc: "Admins only, with a strong authentication in the last 5 minutes (else 401 insufficient_user_authentication). " +
				"The body is the whole policy; a member left out or unknown is refused.",
			body:      jsonBody(ref("AuthPolicyInput")),
			responses: obj{"200": jsonResponse("the stored policy", ref("AuthPolicy"), nil)},
			errs:      []int{http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType}}.build(),
	}
}

// authPolicySchema is mcrm.AuthPolicy as the API returns it (forInput
// false) or accepts it: the shape comes from the type, the allowed values
// from the same lists Validate checks.
func authPolicySchema(forInput bool) obj {
	s := typeSchema(reflect.TypeFor[mcrm.AuthPolicy](), forInput)
	ps := props(s)
	roles := stringList(mcrm.Roles)
	ps["mfa_required_roles"].(obj)["items"] = obj{"enum": append(stringList([]string{"*"}), roles...)}
	ps["mfa_required_roles"].(obj)["description"] = "roles that must use a second factor; * is every role"
	ps["allowed_factors"].(obj)["items"] = obj{"enum": stringList(mcrm.Factors)}
	ps["passkey_user_verification"] = obj{"enum": stringList([]string{"required", "preferred"})}
	risk := ps["risk"].(obj)
	for _, lv := range []string{"low", "medium", "high"} {
		props(risk)[lv] = obj{"enum": stringList([]string{mcrm.RiskAllow, mcrm.RiskRequireMFA, mcrm.RiskDeny})}
	}
	risk["required"] = stringList([]string{"low", "medium", "high"})
	limits := func(l obj) obj {
		props(l)["idle_minutes"] = obj{"type": "integer", "minimum": 0, "maximum": 24 * 60, "description": "0: the default (30)"}
		props(l)["max_hours"] = obj{"type": "integer", "minimum": 0, "maximum": 30 * 24, "description": "0: the default (12)"}
		return l
	}
	limits(ps["sessions"].(obj))
	rs := ps["role_sessions"].(obj)
	limits(rs["additionalProperties"].(obj))
	rs["propertyNames"] = obj{"enum": roles}
	rs["description"] = "per-role session limits over sessions"
	if forInput {
		names, req := policyMembers()
		var want []string
		for _, n := range names {
			if req[n] {
				want = append(want, n)
			}
		}
		s["required"] = stringList(want)
	}
	s["description"] = "how the tenant's users sign in; read at every sign-in"
	return s
}
