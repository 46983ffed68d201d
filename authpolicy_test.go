package mcrm

import (
	"errors"
	"testing"
)

func TestAuthPolicyValidate(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*AuthPolicy)
		field string // "" = valid
	}{
		{"default", func(*AuthPolicy) {}, ""},
		{"no mfa, no factors", func(p *AuthPolicy) { p.MFARequiredRoles, p.AllowedFactors = nil, nil }, ""},
		{"unknown role", func(p *AuthPolicy) { p.MFARequiredRoles = []string{"root"} }, "mfa_required_roles"},
		{"unknown factor", func(p *AuthPolicy) { p.AllowedFactors = []string{"sms"} }, "allowed_factors"},
		{"mfa without factors", func(p *AuthPolicy) { p.AllowedFactors = nil }, "allowed_factors"},
		{"recovery codes alone", func(p *AuthPolicy) { p.AllowedFactors = []string{FactorRecoveryCode} }, "allowed_factors"},
		{"bad uv", func(p *AuthPolicy) { p.PasskeyUserVerification = "discouraged" }, "passkey_user_verification"},
		{"bad risk", func(p *AuthPolicy) { p.Risk.Medium = "maybe" }, "risk.medium"},
		{"empty risk", func(p *AuthPolicy) { p.Risk.High = "" }, "risk.high"},
	}
	for _, c := range cases {
		p := DefaultAuthPolicy()
		c.edit(&p)
		err := p.Validate()
		var e *Error
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%s: unexpected %v", c.name, err)
		case c.field != "" && (!errors.As(err, &e) || e.Code != EInvalid || e.Fields[0].Field != c.field):
			t.Errorf("%s: got %v, want invalid %s", c.name, err, c.field)
		}
	}
	p := DefaultAuthPolicy()
	if !p.RequiresMFA(RoleAuditor) || p.RiskAction("medium") != RiskRequireMFA || p.RiskAction("low") != RiskAllow {
		t.Fatalf("default policy: %+v", p)
	}
	p.MFARequiredRoles = []string{RoleAdmin}
	if p.RequiresMFA(RoleSalesRep) || !p.RequiresMFA(RoleAdmin) {
		t.Fatal("role list not honoured")
	}
}
