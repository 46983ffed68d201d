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
	return nil
}
