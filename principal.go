package mcrm

import "time"

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
