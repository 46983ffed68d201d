package mcrm

import (
	"slices"
	"time"
)

// Second factors a tenant may allow. A passkey with user verification is
// both factors at once (possession of the key plus the PIN or biometric
// that unlocked it), so it signs in without a password.
const (
	FactorTOTP         = "totp"
	FactorPasskey      = "passkey"
	FactorRecoveryCode = "recovery_code"
)

// Factors lists every second factor in a stable order.
var Factors = []string{FactorTOTP, FactorPasskey, FactorRecoveryCode}

// Risk actions a tenant maps each login risk level to.
const (
	RiskAllow      = "allow"
	RiskRequireMFA = "require_mfa"
	RiskDeny       = "deny"
)

// AuthPolicy is a tenant's authentication policy. It is read at every
// login (logins are rare next to API calls, so it is never cached and a
// change applies to the next login on every node).
type AuthPolicy struct {
	// MFARequiredRoles lists the roles that must use a second factor; "*"
	// means every role. A user of such a role who has no factor yet gets a
	// session that can only enrol one (enrolment forced at next login).
	MFARequiredRoles []string `json:"mfa_required_roles"`
	// AllowedFactors lists the second factors users may enrol and use.
	AllowedFactors []string `json:"allowed_factors"`
	// PasskeyUserVerification "required" refuses passkey assertions whose
	// authenticator did not verify the user (UV=0).
	PasskeyUserVerification string `json:"passkey_user_verification"`
	// RequireDPoP refuses bearer tokens that are not bound to a device key
	// (RFC 9449). Browser sessions use cookies and are not affected.
	RequireDPoP bool `json:"require_dpop"`
	// Risk maps the risk level of a login (low, medium, high) to an action.
	Risk RiskActions `json:"risk"`
	// Sessions bounds every session; RoleSessions overrides it per role
	// (a tenant may give admins shorter sessions than field reps).
	Sessions     SessionLimits            `json:"sessions"`
	RoleSessions map[string]SessionLimits `json:"role_sessions,omitempty"`
}

// SessionLimits bounds a session: it ends after IdleMinutes without a
// request and MaxHours after sign-in, whichever comes first.
type SessionLimits struct {
	IdleMinutes int `json:"idle_minutes"`
	MaxHours    int `json:"max_hours"`
}

// Session limits when a policy says nothing (NIST SP 800-63B AAL2).
const (
	DefaultSessionIdle = 30 * time.Minute
	DefaultSessionMax  = 12 * time.Hour
)

// SessionLimitsFor returns the idle timeout and absolute lifetime of a
// new session of role. Zero fields fall back to the tenant-wide value and
// then to the defaults, so a stored policy from before these fields
// existed keeps working.
func (p AuthPolicy) SessionLimitsFor(role string) (idle, absolute time.Duration) {
	idle, absolute = DefaultSessionIdle, DefaultSessionMax
	for _, l := range []SessionLimits{p.Sessions, p.RoleSessions[role]} {
		if l.IdleMinutes > 0 {
			idle = time.Duration(l.IdleMinutes) * time.Minute
		}
		if l.MaxHours > 0 {
			absolute = time.Duration(l.MaxHours) * time.Hour
		}
	}
	return idle, absolute
}

// RiskActions maps each login risk level to allow, require_mfa or deny.
type RiskActions struct {
	Low    string `json:"low"`
	Medium string `json:"medium"`
	High   string `json:"high"`
}

// DefaultAuthPolicy is what a new tenant starts with: every role needs a
// second factor (the product's promise is that every request comes from a
// verified person), all factors allowed, user verification required for
// passkeys, medium risk asks for the second factor again and high risk is
// refused.
func DefaultAuthPolicy() AuthPolicy {
	return AuthPolicy{
		MFARequiredRoles:        []string{"*"},
		AllowedFactors:          slices.Clone(Factors),
		PasskeyUserVerification: "required",
		Risk:                    RiskActions{Low: RiskAllow, Medium: RiskRequireMFA, High: RiskDeny},
	}
}

// StepUpMaxAge is how recent the last strong authentication must be for a
// sensitive operation (export, unmask, role and factor changes, wipe).
const StepUpMaxAge = 5 * time.Minute

// RequiresMFA reports whether role must use a second factor.
func (p AuthPolicy) RequiresMFA(role string) bool {
	return slices.Contains(p.MFARequiredRoles, "*") || slices.Contains(p.MFARequiredRoles, role)
}

// Allows reports whether factor may be used.
func (p AuthPolicy) Allows(factor string) bool { return slices.Contains(p.AllowedFactors, factor) }

// RiskAction returns the action for a risk level ("low", "medium", "high").
func (p AuthPolicy) RiskAction(level string) string {
	switch level {
	case "high":
		return p.Risk.High
	case "medium":
		return p.Risk.Medium
	default:
		return p.Risk.Low
	}
}

// Validate checks a policy an admin submits and names the offending field.
func (p AuthPolicy) Validate() error {
	for _, r := range p.MFARequiredRoles {
		if r != "*" && !slices.Contains(Roles, r) {
			return FieldErr("mfa_required_roles", "unknown_role", "not a role of this tenant")
		}
	}
	if len(p.AllowedFactors) == 0 && len(p.MFARequiredRoles) > 0 {
		return FieldErr("allowed_factors", "required", "a policy that requires a second factor must allow one")
	}
	for _, f := range p.AllowedFactors {
		if !slices.Contains(Factors, f) {
			return FieldErr("allowed_factors", "unknown_factor", "one of totp, passkey, recovery_code")
		}
	}
	if len(p.MFARequiredRoles) > 0 && !p.Allows(FactorTOTP) && !p.Allows(FactorPasskey) {
		return FieldErr("allowed_factors", "no_enrollable_factor", "recovery codes alone cannot be enrolled; allow totp or passkey")
	}
	switch p.PasskeyUserVerification {
	case "required", "preferred":
	default:
		return FieldErr("passkey_user_verification", "invalid", "required or preferred")
	}
	for _, lv := range [...]struct{ name, action string }{{"risk.low", p.Risk.Low}, {"risk.medium", p.Risk.Medium}, {"risk.high", p.Risk.High}} {
		switch lv.action {
		case RiskAllow, RiskRequireMFA, RiskDeny:
		default:
			return FieldErr(lv.name, "invalid", "allow, require_mfa or deny")
		}
	}
	if err := p.Sessions.validate("sessions"); err != nil {
		return err
	}
	for role, l := range p.RoleSessions {
		if !slices.Contains(Roles, role) {
			return FieldErr("role_sessions", "unknown_role", "not a role of this tenant")
		}
		if err := l.validate("role_sessions." + role); err != nil {
			return err
		}
	}
	return nil
}

// validate bounds the limits: at most a day idle and 30 days in all; 0
// means "inherit".
func (l SessionLimits) validate(field string) error {
	// Under 5 minutes the once-a-minute activity clock could end a
	// session that is in use.
	if l.IdleMinutes < 0 || l.IdleMinutes > 0 && l.IdleMinutes < 5 || l.IdleMinutes > 24*60 {
		return FieldErr(field+".idle_minutes", "out_of_range", "between 5 and 1440, or 0 for the default")
	}
	if l.MaxHours < 0 || l.MaxHours > 30*24 {
		return FieldErr(field+".max_hours", "out_of_range", "between 1 and 720, or 0 for the default")
	}
	return nil
}
