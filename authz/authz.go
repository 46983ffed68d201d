// Package authz is mcrm's one policy decision point (AZ-01): roles with
// per-object permissions, record scopes and field access, and context
// rules built only from facts the server derived. It is pure: no database,
// no HTTP. The store pushes ScopeFor into SQL; the API asks Decide before
// any write and filters fields with FieldAccess on the way out.
package authz

import (
	"net/netip"
	"time"
)

// Action is something a role may do to an object, or a capability.
type Action string

// Object actions.
const (
	Read       Action = "read"
	Create     Action = "create"
	Update     Action = "update"
	Delete     Action = "delete"
	Import     Action = "import"
	Export     Action = "export"
	MassUpdate Action = "mass_update"
	Unmask     Action = "unmask"
)

// Capabilities: tenant-wide actions, not tied to an object.
const (
	ManageUsers   Action = "manage_users"
	ManageDevices Action = "manage_devices"
	ViewAudit     Action = "view_audit"
)

// ObjectActions and Capabilities list the actions in a stable order.
var (
	ObjectActions = []Action{Read, Create, Update, Delete, Import, Export, MassUpdate, Unmask}
	Capabilities  = []Action{ManageUsers, ManageDevices, ViewAudit}
)

// Scope is which records of an object an action reaches.
type Scope string

const (
	ScopeNone      Scope = "none"      // no record
	ScopeOwn       Scope = "own"       // records the user owns
	ScopeTeam      Scope = "team"      // the user's and those of everyone in the teams they manage, and below
	ScopeTerritory Scope = "territory" // records owned by users of the user's region
	ScopeAll       Scope = "all"       // every record of the tenant
)

// Access is what a role may do with one field.
type Access string

const (
	Hidden   Access = "hidden"    // absent from every answer; cannot filter or sort on it
	Masked   Access = "masked"    // shown masked (a***@example.com); unmask needs the unmask action
	ReadOnly Access = "read_only" // shown, not writable
	Edit     Access = "edit"      // shown and writable
)

// Grant is a role's rights on one object. Fields is an allow-list: a field
// not named is Hidden, so a field added to the schema later stays hidden
// until a role grants it.
type Grant struct {
	// Description says why the role holds this grant; policy reviews and
	// the explain endpoint show it. It grants nothing.
	Description string            `json:"description,omitempty"`
	Actions     []Action          `json:"actions"`
	Scope       Scope             `json:"scope"`                 // read scope
	Write       Scope             `json:"write_scope,omitempty"` // update/delete scope; empty means Scope
	Fields      map[string]Access `json:"fields"`
}

// Role is a named set of grants.
type Role struct {
	Name         string           `json:"name"`
	Description  string           `json:"description,omitempty"`
	Builtin      bool             `json:"builtin"`
	Objects      map[string]Grant `json:"objects"`
	Capabilities []Action         `json:"capabilities"`
	Context      []ContextRule    `json:"context,omitempty"`
}

// ContextRule restricts actions on objects to requests whose
// server-derived context matches every condition it sets.
type ContextRule struct {
	Name           string   `json:"name"`
	Actions        []Action `json:"actions"`
	Objects        []string `json:"objects"` // "*" for all
	MinDeviceTrust string   `json:"min_device_trust,omitempty"`
	Networks       []string `json:"networks,omitempty"` // CIDR prefixes
	Hours          *Hours   `json:"hours,omitempty"`
}

// Hours is a weekly time window in a time zone.
type Hours struct {
	From     string   `json:"from"` // "08:00"
	To       string   `json:"to"`   // "18:00" (exclusive)
	Days     []string `json:"days"` // "mon".."sun"
	TimeZone string   `json:"time_zone"`
}

// Context is what the server knows about a request: filled from the
// authenticated Principal and the clock, never from request input.
type Context struct {
	DeviceTrust string // mcrm.DeviceTrust* value; "" unknown
	IP          netip.Addr
	Now         time.Time
}

// Decision is the answer to one question, with the reason behind it.
type Decision struct {
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason"`         // a Reason* code
	Rule    string `json:"rule,omitempty"` // the grant or context rule that decided
	Detail  string `json:"detail,omitempty"`
}

// Reasons.
const (
	ReasonGranted       = "granted"
	ReasonNoPermission  = "no_permission"   // the role lacks the action on the object
	ReasonFieldHidden   = "field_hidden"    // the field is hidden from the role
	ReasonFieldReadOnly = "field_read_only" // the role may read, not write, the field
	ReasonContextDenied = "context_denied"  // a context rule refused (Detail says which condition)
	ReasonUnknownRole   = "unknown_role"
)

// Details of a context_denied decision: the condition that failed.
const (
	DetailDeviceTrust = "device_trust"
	DetailNetwork     = "network"
	DetailTimeWindow  = "time_window"
)

// Details of a no_permission decision: what is missing.
const (
	DetailUnknownObject        = "unknown_object"         // not an entity of the schema
	DetailUnknownAction        = "unknown_action"         // not an action, or a capability asked on an object (or the reverse)
	DetailObjectNotGranted     = "object_not_granted"     // the role has no grant on the object
	DetailActionNotGranted     = "action_not_granted"     // the grant lacks the action
	DetailCapabilityNotGranted = "capability_not_granted" // the role lacks the capability
)
