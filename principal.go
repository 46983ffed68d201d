package mcrm

import (
	"net/netip"
	"time"
)

// Roles shipped with every tenant. The access-control layer gives each its
// permissions; the foundation only distinguishes admin (everything in the
// tenant), auditor (reads everything, writes nothing) and everyone else
// (their own records and those of the people below them).
const (
	RoleAdmin        = "admin"
	RoleSalesManager = "sales_manager"
	RoleSalesRep     = "sales_rep"
	RoleSupportAgent = "support_agent"
	RoleMarketing    = "marketing"
	RoleAuditor      = "auditor"
)

// Roles lists every role in a stable order.
var Roles = []string{RoleAdmin, RoleSalesManager, RoleSalesRep, RoleSupportAgent, RoleMarketing, RoleAuditor}

// Principal is the authenticated actor of a request or command. It is built
// by the authentication step only; handlers never construct one from input.
type Principal struct {
	TenantID  string
	UserID    string
	Role      string
	SessionID string // hash-derived session id, empty for CLI actors
	Location  *time.Location
	System    bool // CLI or background job acting with tenant-wide rights

	// Facts the server derived about this request, never taken from
	// request input. Authentication fills AuthTime, AMR and DeviceKey; the
	// device step fills DeviceID and DeviceTrust; the request step fills IP.
	// Context rules (access control) read only these.
	IP          netip.Addr
	AuthTime    time.Time // last strong authentication of the session (step-up)
	AMR         []string  // methods behind AuthTime: "pwd", "otp", "hwk", "swk"
	DeviceKey   string    // RFC 7638 thumbprint of the key the token is bound to (DPoP jkt)
	DeviceID    string    // registered device using that key, empty when none
	DeviceTrust string    // DeviceTrust* value; empty means unknown

	// Access is the principal's role as the store needs it, resolved by
	// the authentication step from Role (package authz implements it).
	// Nil for CLI actors (System) and for principals built before access
	// control, which fall back to the role-name rules below.
	Access Access
}

// Access is what the store needs of a role: which records of an object
// it reaches. Package authz decides; the store pushes the answer into
// SQL so lists never filter in memory.
type Access interface {
	// RecordScope is "none", "own", "team", "territory" or "all" for
	// reading (write false) or changing (write true) records of object.
	RecordScope(object string, write bool) string
}

// Device trust levels, lowest first. The device step derives them from
// attestation and posture; a client report can lower trust, never raise it.
const (
	DeviceTrustUnknown    = ""           // no registered device on this request
	DeviceTrustBlocked    = "blocked"    // policy blocks the device
	DeviceTrustUnverified = "unverified" // registered, no attestation
	DeviceTrustVerified   = "verified"   // attested, posture within policy
	DeviceTrustManaged    = "managed"    // attested and enrolled under a managed profile
)

// StrongAuthWithin reports whether the session authenticated strongly
// (a second factor or a passkey) no longer than d ago: the step-up check.
func (p *Principal) StrongAuthWithin(now time.Time, d time.Duration) bool {
	if p.System {
		return true
	}
	return !p.AuthTime.IsZero() && now.Sub(p.AuthTime) <= d
}

// SeesAll reports whether the principal may read every record of its tenant.
func (p *Principal) SeesAll() bool {
	return p.System || p.Role == RoleAdmin || p.Role == RoleAuditor
}

// WritesAll reports whether the principal may write every record of its tenant.
func (p *Principal) WritesAll() bool { return p.System || p.Role == RoleAdmin }

// ReadOnly reports whether the principal may not write at all.
func (p *Principal) ReadOnly() bool { return !p.System && p.Role == RoleAuditor }

// Actor is the value recorded in created_by / updated_by.
func (p *Principal) Actor() string {
	if p.UserID != "" {
		return p.UserID
	}
	return "system"
}

// Loc returns the principal's time zone, UTC when unset.
func (p *Principal) Loc() *time.Location {
	if p.Location == nil {
		return time.UTC
	}
	return p.Location
}
