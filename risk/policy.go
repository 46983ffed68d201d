package risk

import (
	"bytes"
	"encoding/json"

	"mcrm"
)

// Action is what the login does at a risk level.
type Action string

const (
	Allow      Action = "allow"
	RequireMFA Action = "require_mfa"
	Deny       Action = "deny"
)

func (a Action) rank() int {
	switch a {
	case Allow:
		return 0
	case RequireMFA:
		return 1
	case Deny:
		return 2
	}
	return -1
}

// Policy is a tenant's mapping from risk level to action, stored as JSON
// ({"low":"allow","medium":"require_mfa","high":"require_mfa"}). An empty
// field takes the default.
//
// The default for high is require_mfa, not deny. The high signals
// (impossible_travel, untrusted_ip) have frequent innocent causes — a
// corporate VPN exit abroad, a phone on roaming data, a shared cloud
// range on a threat list — and deny leaves a real user with no way in
// and no self-service recovery, so tenants turn the whole feature off. A
// second factor stops the attacker these signals are about (someone
// holding only the password), and the user is notified of every medium
// and high login (Assessment.NotifyUser). Tenants that prefer to block
// set "high":"deny".
type Policy struct {
	Low    Action `json:"low,omitempty"`
	Medium Action `json:"medium,omitempty"`
	High   Action `json:"high,omitempty"`
}

// DefaultPolicy is low→allow, medium→require_mfa, high→require_mfa.
func DefaultPolicy() Policy { return Policy{Low: Allow, Medium: RequireMFA, High: RequireMFA} }

func (p Policy) filled() Policy {
	d := DefaultPolicy()
	if p.Low == "" {
		p.Low = d.Low
	}
	if p.Medium == "" {
		p.Medium = d.Medium
	}
	if p.High == "" {
		p.High = d.High
	}
	return p
}

// Validate refuses unknown actions, a policy that treats a higher level
// more leniently than a lower one, and high→allow: a login on an
// operator threat list or with impossible travel must at least prove a
// second factor.
func (p Policy) Validate() error {
	f := p.filled()
	for _, c := range []struct {
		field string
		a     Action
	}{{"low", f.Low}, {"medium", f.Medium}, {"high", f.High}} {
		if c.a.rank() < 0 {
			return mcrm.FieldErr(c.field, "invalid_risk_action", "must be allow, require_mfa or deny")
		}
	}
	if f.Medium.rank() < f.Low.rank() {
		return mcrm.FieldErr("medium", "risk_policy_not_monotonic", "medium must be at least as strict as low")
	}
	if f.High.rank() < f.Medium.rank() {
		return mcrm.FieldErr("high", "risk_policy_not_monotonic", "high must be at least as strict as medium")
	}
	if f.High == Allow {
		return mcrm.FieldErr("high", "risk_policy_too_weak", "high risk must require a second factor or deny")
	}
	return nil
}

// ParsePolicy decodes and validates a stored or submitted policy; unknown
// fields are refused so a misspelt level is not silently ignored. Empty
// input is the default policy.
func ParsePolicy(b []byte) (Policy, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return DefaultPolicy(), nil
	}
	var p Policy
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Policy{}, mcrm.Errorf(mcrm.EInvalid, "risk policy is not valid JSON of the form {\"low\":...,\"medium\":...,\"high\":...}")
	}
	if err := p.Validate(); err != nil {
		return Policy{}, err
	}
	return p.filled(), nil
}

// ActionFor is the action for a level. An invalid policy (which Validate
// would have refused) or unknown level falls back to deny: fail closed.
func (p Policy) ActionFor(l Level) Action {
	if p.Validate() != nil {
		return Deny
	}
	f := p.filled()
	switch l {
	case Low:
		return f.Low
	case Medium:
		return f.Medium
	case High:
		return f.High
	}
	return Deny
}

// Decide is the login decision. require_mfa for a user with no second
// factor becomes deny for medium and high: otherwise the risky login
// would be sent to enrolment, and whoever holds only the password would
// register their own authenticator. (At low risk the tenant's MFA rules,
// not this policy, decide about enrolment.)
func (p Policy) Decide(a Assessment, hasSecondFactor bool) Action {
	act := p.ActionFor(a.Level)
	if act == RequireMFA && !hasSecondFactor && a.Level != Low {
		return Deny
	}
	return act
}
