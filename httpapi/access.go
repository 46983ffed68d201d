package httpapi

import (
	"net/http"

	"mcrm"
	"mcrm/authz"
	"mcrm/sqlstore"
)

// This file is the API's side of access control (issue 4): the role of
// the request resolved once at authentication, function-level decisions
// before any write, and field-level security on the way in and out. The
// record scope itself is pushed into SQL by the store.

// roleOf is the principal's resolved role; nil for principals without one
// (none reach the API: authentication always resolves it).
func roleOf(p *mcrm.Principal) *authz.Role {
	r, _ := p.Access.(*authz.Role)
	return r
}

// resolveRole gives the principal its role from the store (builtin or the
// tenant's own, cached and evicted on change).
func (s *Server) resolveRole(r *http.Request, p *mcrm.Principal) error {
	role, err := s.db.Role(r.Context(), p.TenantID, p.Role)
	if err != nil {
		if err == sqlstore.ErrUnknownRole {
			// A user whose role no longer exists may do nothing.
			return mcrm.Errorf(mcrm.EForbidden, "your role no longer exists; ask an administrator")
		}
		return err
	}
	p.Access = role
	return nil
}

// authzContext is what context rules may look at: only facts the server
// derived (AZ-06).
func (s *Server) authzContext(p *mcrm.Principal) authz.Context {
	return authz.Context{DeviceTrust: p.DeviceTrust, IP: p.IP, Now: s.now()}
}

// allow is the function-level decision (AZ-01, AZ-02, AZ-06): may the
// principal do action on object at all, here and now. A refusal is 403
// naming the reason (no_permission, or context_denied with the condition)
// and is recorded as authz_fail.
func (s *Server) allow(r *http.Request, action authz.Action, object string) error {
	p := principal(r.Context())
	role := roleOf(p)
	if role == nil {
		return nil
	}
	d := role.Can(action, object, s.authzContext(p))
	if d.Allowed {
		return nil
	}
	ev := s.event(r, "authz_fail", "failure")
	ev.Object = object
	ev.Detail = "action=" + string(action) + " reason=" + d.Reason
	if d.Detail != "" {
		ev.Detail += " condition=" + d.Detail
	}
	_ = s.db.RecordEvent(r.Context(), ev)
	msg := "your role may not " + string(action) + " " + object
	if d.Reason == authz.ReasonContextDenied {
		msg = "not allowed from here or now (" + d.Detail + ")"
	}
	return &mcrm.Error{Code: mcrm.EForbidden, Message: msg,
		Fields: []mcrm.FieldError{{Field: object, Code: d.Reason, Message: d.Detail}}}
}

// fieldAccess is what the principal may do with one field of e.
func fieldAccess(p *mcrm.Principal, e *mcrm.Entity, field string) authz.Access {
	role := roleOf(p)
	if role == nil {
		return authz.Edit
	}
	return role.FieldAccess(e.Name, field)
}

// readable reports whether the field may appear at all: a hidden field
// behaves like one that does not exist (no value, no filter, no sort), so
// nothing, not even the order of a list, tells its value.
func readable(p *mcrm.Principal, e *mcrm.Entity, field string) bool {
	return fieldAccess(p, e, field) != authz.Hidden
}

// checkWritable refuses a write that names a field the role may not
// change, before anything is written: a hidden field is unknown (400,
// as if it did not exist), a read-only one is 403.
func checkWritable(p *mcrm.Principal, e *mcrm.Entity, body map[string]any) error {
	for name := range body {
		if f := e.Field(name); f == nil || f.System || name == "owner_id" {
			// record.Decode answers unknown and server-set fields; a new
			// record's owner is checked by the store (a rep may only
			// give it to themselves), a PATCH of it is refused before.
			continue
		}
		switch fieldAccess(p, e, name) {
		case authz.Hidden:
			return mcrm.FieldErr(name, "unknown_field", "no such field")
		case authz.Masked, authz.ReadOnly:
			return &mcrm.Error{Code: mcrm.EForbidden, Message: "your role may not change this field",
				Fields: []mcrm.FieldError{{Field: name, Code: authz.ReasonFieldReadOnly, Message: "read only for your role"}}}
		}
	}
	return nil
}
