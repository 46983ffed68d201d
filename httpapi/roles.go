package httpapi

import (
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"mcrm"
	"mcrm/authz"
	"mcrm/sqlstore"
)

// Roles, shares, account teams and the explain endpoints (issue 4). Role
// and share changes are recorded as security events in the transaction
// that makes them and apply to the next request.

func (s *Server) accessRoutes() []route {
	rs := []route{
		{"GET /api/v1/roles", s.authenticated(s.listRoles)},
		{"PUT /api/v1/roles/{name}", s.authenticated(s.putRole)},
		{"DELETE /api/v1/roles/{name}", s.authenticated(s.deleteRole)},
		{"GET /api/v1/authz/explain", s.authenticated(s.explain)},
		{"GET /api/v1/authz/field-readers", s.authenticated(s.fieldReaders)},
		{"PUT /api/v1/accounts/{id}/team/{user_id}", s.authenticated(s.putAccountMember)},
		{"DELETE /api/v1/accounts/{id}/team/{user_id}", s.authenticated(s.deleteAccountMember)},
	}
	for _, e := range mcrm.Entities {
		if !e.Owned {
			continue
		}
		base := "/api/v1/" + e.Name + "/{id}/shares"
		rs = append(rs,
			route{"GET " + base, s.authenticated(s.listShares(e))},
			route{"POST " + base, s.authenticated(s.addShare(e))},
			route{"DELETE " + base + "/{share_id}", s.authenticated(s.deleteShare(e))},
		)
	}
	return rs
}

// manageUsers is the gate of role administration: the capability, and a
// recent strong authentication (AUTH-09: role and permission changes).
func (s *Server) manageUsers(r *http.Request, write bool) error {
	if err := s.allow(r, authz.ManageUsers, ""); err != nil {
		return err
	}
	if write {
		return s.stepUp(r)
	}
	return nil
}

// reviewAccess gates the read-only reviews of access: the role
// definitions, the explain answer about another user and the field
// readers report. Role administrators (manage_users) and auditors
// (view_audit, AZ-10) may; nobody else, since a role's context rules name
// the tenant's networks and working hours.
func (s *Server) reviewAccess(r *http.Request) error {
	p := principal(r.Context())
	if role := roleOf(p); role != nil && role.Can(authz.ViewAudit, "", s.authzContext(p)).Allowed {
		return nil
	}
	return s.allow(r, authz.ManageUsers, "")
}

// refuseGrant records an attempt to hand out or reshape more than the
// actor holds (AZ-08) as a security event and returns the refusal.
func (s *Server) refuseGrant(r *http.Request, name string, err error) error {
	if mcrm.ErrorCode(err) == mcrm.EForbidden {
		ev := s.event(r, "authz_fail", "failure")
		ev.Object, ev.Detail = "roles/"+name, "action=grant reason=exceeds_granter"
		_ = s.db.RecordEvent(r.Context(), ev)
	}
	return err
}

// mayReplace refuses changing or deleting a tenant role that holds more
// than the actor's own: an administrator with a narrower role must not
// strip or reshape a wider one (nor delete and recreate it).
func (s *Server) mayReplace(r *http.Request, name string) error {
	p := principal(r.Context())
	if authz.IsBuiltinName(name) {
		return nil // the store refuses builtin names
	}
	existing, err := s.db.Role(r.Context(), p.TenantID, name)
	switch {
	case err == sqlstore.ErrUnknownRole:
		return nil
	case err != nil:
		return err
	}
	if err := authz.CanGrant(roleOf(p), existing); err != nil {
		return s.refuseGrant(r, name, &mcrm.Error{Code: mcrm.EForbidden, Message: "role " + strconv.Quote(name) + " holds more than yours: only someone holding all of it may change it",
			Fields: []mcrm.FieldError{{Field: "name", Code: "exceeds_granter", Message: "the role holds more than yours"}}})
	}
	return nil
}

// roleView is a role as the API returns it: empty lists and maps rather
// than null, so clients (and the document) see one shape.
func roleView(r *authz.Role) *authz.Role {
	c := r.Clone()
	if c.Objects == nil {
		c.Objects = map[string]authz.Grant{}
	}
	for k, g := range c.Objects {
		if g.Actions == nil {
			g.Actions = []authz.Action{}
		}
		if g.Fields == nil {
			g.Fields = map[string]authz.Access{}
		}
		c.Objects[k] = g
	}
	if c.Capabilities == nil {
		c.Capabilities = []authz.Action{}
	}
	for i := range c.Context {
		if c.Context[i].Actions == nil {
			c.Context[i].Actions = []authz.Action{}
		}
		if c.Context[i].Objects == nil {
			c.Context[i].Objects = []string{}
		}
	}
	return c
}

func (s *Server) listRoles(w http.ResponseWriter, r *http.Request) {
	if err := s.reviewAccess(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	p := principal(r.Context())
	roles, err := s.db.Roles(r.Context(), p.TenantID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]*authz.Role, len(roles))
	for i, role := range roles {
		out[i] = roleView(role)
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}

// putRole creates or replaces a tenant role. The actor may only grant what
// their own role holds (AZ-08: no escalation through a role definition),
// and may only replace a role they could have granted.
func (s *Server) putRole(w http.ResponseWriter, r *http.Request) {
	if err := s.manageUsers(r, true); err != nil {
		s.writeError(w, r, err)
		return
	}
	var role authz.Role
	if err := s.decodeJSON(w, r, &role); err != nil {
		s.writeError(w, r, err)
		return
	}
	if role.Name == "" {
		role.Name = r.PathValue("name")
	}
	if role.Name != r.PathValue("name") {
		s.writeError(w, r, mcrm.FieldErr("name", "mismatch", "the name in the body differs from the path"))
		return
	}
	role.Builtin = false
	if err := role.Validate(); err != nil {
		s.writeError(w, r, err)
		return
	}
	p := principal(r.Context())
	if err := authz.CanGrant(roleOf(p), &role); err != nil {
		s.writeError(w, r, s.refuseGrant(r, role.Name, err))
		return
	}
	if err := s.mayReplace(r, role.Name); err != nil {
		s.writeError(w, r, err)
		return
	}
	ev := s.event(r, "authz_role_change", "success")
	ev.Object = "roles/" + role.Name
	created, err := s.db.SaveRole(r.Context(), p, &role, ev)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, roleView(&role))
}

func (s *Server) deleteRole(w http.ResponseWriter, r *http.Request) {
	if err := s.manageUsers(r, true); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.mayReplace(r, r.PathValue("name")); err != nil {
		s.writeError(w, r, err)
		return
	}
	ev := s.event(r, "authz_role_change", "success")
	ev.Object, ev.Detail = "roles/"+r.PathValue("name"), "deleted"
	if err := s.db.DeleteRole(r.Context(), principal(r.Context()), r.PathValue("name"), ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type shareRequest struct {
	UserID string `json:"user_id"`
	TeamID string `json:"team_id"`
	Access string `json:"access"`
}

func (s *Server) listShares(e *mcrm.Entity) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.allow(r, authz.Read, e.Name); err != nil {
			s.writeError(w, r, err)
			return
		}
		list, err := s.db.Shares(r.Context(), principal(r.Context()), e, r.PathValue("id"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"data": list})
	}
}

// addShare shares a record the caller may edit with a user or a team.
func (s *Server) addShare(e *mcrm.Entity) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.allow(r, authz.Update, e.Name); err != nil {
			s.writeError(w, r, err)
			return
		}
		var req shareRequest
		if err := s.decodeJSON(w, r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		ev := s.event(r, "authz_share_change", "success")
		ev.Object = e.Name + "/" + r.PathValue("id")
		ev.Detail = "granted access=" + req.Access
		sh, err := s.db.ShareRecord(r.Context(), principal(r.Context()), e, r.PathValue("id"),
			sqlstore.Share{UserID: req.UserID, TeamID: req.TeamID, Access: req.Access}, ev)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusCreated, sh)
	}
}

func (s *Server) deleteShare(e *mcrm.Entity) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.allow(r, authz.Update, e.Name); err != nil {
			s.writeError(w, r, err)
			return
		}
		ev := s.event(r, "authz_share_change", "success")
		ev.Object, ev.Detail = e.Name+"/"+r.PathValue("id"), "revoked share="+r.PathValue("share_id")
		if err := s.db.Unshare(r.Context(), principal(r.Context()), e, r.PathValue("id"), r.PathValue("share_id"), ev); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

type memberRequest struct {
	Access string `json:"access"`
}

func (s *Server) putAccountMember(w http.ResponseWriter, r *http.Request) {
	if err := s.allow(r, authz.Update, "accounts"); err != nil {
		s.writeError(w, r, err)
		return
	}
	var req memberRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	ev := s.event(r, "authz_share_change", "success")
	ev.Object, ev.Detail = "accounts/"+r.PathValue("id"), "account_team user="+r.PathValue("user_id")+" access="+req.Access
	if err := s.db.SetAccountMember(r.Context(), principal(r.Context()), r.PathValue("id"), r.PathValue("user_id"), req.Access, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) deleteAccountMember(w http.ResponseWriter, r *http.Request) {
	if err := s.allow(r, authz.Update, "accounts"); err != nil {
		s.writeError(w, r, err)
		return
	}
	ev := s.event(r, "authz_share_change", "success")
	ev.Object, ev.Detail = "accounts/"+r.PathValue("id"), "account_team removed user="+r.PathValue("user_id")
	if err := s.db.RemoveAccountMember(r.Context(), principal(r.Context()), r.PathValue("id"), r.PathValue("user_id"), ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// onlyParams refuses query parameters other than names, and repeated
// ones, so a typo never silently changes the question.
func onlyParams(r *http.Request, names ...string) (url.Values, error) {
	q, err := queryParams(r)
	if err != nil {
		return nil, err
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(names, k) {
			return nil, mcrm.FieldErr(k, "unknown_parameter", "parameters are "+strings.Join(names, ", "))
		}
		if len(q[k]) != 1 {
			return nil, mcrm.FieldErr(k, "repeated_parameter", "give each parameter once")
		}
	}
	return q, nil
}

// explain answers why a user may or may not do an action on an object, a
// record or a field: the decision chain of their role, and for a record
// whether their scope (or a share, or an account team) reaches it. Role
// administrators and auditors ask about anyone; everyone may ask about
// themselves. Context rules are evaluated with the asking request's
// context (device, network, time).
func (s *Server) explain(w http.ResponseWriter, r *http.Request) {
	q, err := onlyParams(r, "user_id", "action", "object", "record_id", "field")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	action, object, field, recordID := authz.Action(q.Get("action")), q.Get("object"), q.Get("field"), q.Get("record_id")
	e := mcrm.EntityByName(object)
	switch {
	case action == "":
		err = mcrm.FieldErr("action", "required", "name the action")
	case !slices.Contains(authz.ObjectActions, action) && !slices.Contains(authz.Capabilities, action):
		err = mcrm.FieldErr("action", "unknown_action", "an object action or a capability")
	case object != "" && e == nil:
		err = mcrm.FieldErr("object", "unknown_object", "no such object")
	case e == nil && (recordID != "" || field != ""):
		err = mcrm.FieldErr("object", "required", "a record or a field belongs to an object: name it")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p := principal(r.Context())
	subject := p
	if uid := q.Get("user_id"); uid != "" && uid != p.UserID {
		if err := s.reviewAccess(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		u, err := s.db.UserRole(r.Context(), p.TenantID, uid)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		subject = &mcrm.Principal{TenantID: p.TenantID, UserID: uid, Role: u.Role, IP: p.IP, DeviceTrust: p.DeviceTrust}
		role, err := s.db.Role(r.Context(), p.TenantID, u.Role)
		switch {
		case err == nil:
			subject.Access = role
		case err != sqlstore.ErrUnknownRole:
			s.writeError(w, r, err)
			return
		}
	}
	role := roleOf(subject)
	steps := role.Explain(action, object, field, s.authzContext(subject))
	allowed := true
	for _, st := range steps {
		allowed = allowed && st.Allowed
	}
	out := map[string]any{"user_id": subject.UserID, "role": subject.Role, "action": action, "object": object, "steps": steps}
	if recordID != "" {
		reach, err := s.reach(r, subject, e, action, recordID)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out["record"] = reach
		allowed = allowed && reach.Allowed
	}
	out["allowed"] = allowed
	writeJSON(w, http.StatusOK, out)
}

// reach is the record step of explain: whether the subject's record
// scope for the action (read scope for read, export and unmask, write
// scope otherwise), widened by shares and account teams, reaches the
// record.
func (s *Server) reach(r *http.Request, subject *mcrm.Principal, e *mcrm.Entity, action authz.Action, id string) (authz.Decision, error) {
	role := roleOf(subject)
	if role == nil {
		// Without a role the store would fall back to the legacy rules;
		// a user whose role is gone reaches nothing.
		return authz.Decision{Reason: authz.ReasonUnknownRole}, nil
	}
	write := !slices.Contains([]authz.Action{authz.Read, authz.Export, authz.Unmask}, action)
	rule := "scope:" + role.RecordScope(e.Name, write)
	var err error
	if write {
		err = s.db.Writable(r.Context(), subject, e, id)
	} else {
		_, err = s.db.Get(r.Context(), subject, e, id)
	}
	switch {
	case err == nil:
		return authz.Decision{Allowed: true, Reason: authz.ReasonGranted, Rule: rule}, nil
	case mcrm.ErrorCode(err) == mcrm.ENotFound:
		return authz.Decision{Reason: reasonOutOfScope, Rule: rule,
			Detail: "the record is outside the user's scope and not shared with them (or does not exist)"}, nil
	}
	return authz.Decision{}, err
}

// reasonOutOfScope is explain's answer for a record the scope misses.
const reasonOutOfScope = "out_of_scope"

// fieldReader is one line of the field readers report.
type fieldReader struct {
	UserID string       `json:"user_id"`
	Name   string       `json:"name"`
	Role   string       `json:"role"`
	Access authz.Access `json:"access"`
	// Conditions are the role's context rules that restrict reading the
	// object: the user reads the field only where and when they pass.
	Conditions []string `json:"conditions,omitempty"`
}

// fieldReaders lists who can read a field of an object, and through which
// role (AZ-10 audit of access). Shares and account teams widen records,
// never fields, so the role alone decides. A role whose context rules
// restrict reading still counts: it reads in the right context.
func (s *Server) fieldReaders(w http.ResponseWriter, r *http.Request) {
	if err := s.reviewAccess(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	q, err := onlyParams(r, "object", "field")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	e := mcrm.EntityByName(q.Get("object"))
	field := q.Get("field")
	switch {
	case e == nil:
		err = mcrm.FieldErr("object", "unknown_object", "name an object")
	case e.Field(field) == nil:
		err = mcrm.FieldErr("field", "unknown_field", "name one of the object's fields")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p := principal(r.Context())
	roles, err := s.db.Roles(r.Context(), p.TenantID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	type grant struct {
		access     authz.Access
		conditions []string
	}
	grants := map[string]grant{}
	for _, role := range roles {
		a := role.FieldAccess(e.Name, field)
		if a == authz.Hidden {
			continue
		}
		g := grant{access: a}
		for _, cr := range role.Context {
			if slices.Contains(cr.Actions, authz.Read) && (slices.Contains(cr.Objects, "*") || slices.Contains(cr.Objects, e.Name)) {
				g.conditions = append(g.conditions, cr.Name)
			}
		}
		grants[role.Name] = g
	}
	users, err := s.db.UsersByRole(r.Context(), p.TenantID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := []fieldReader{}
	for _, u := range users {
		if g, ok := grants[u.Role]; ok {
			out = append(out, fieldReader{UserID: u.ID, Name: u.Name, Role: u.Role, Access: g.access, Conditions: g.conditions})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": e.Name, "field": field, "data": out})
}

// rolePattern is the form authz.Validate demands of a role or context
// rule name.
const rolePattern = `^[a-z][a-z0-9_]{2,39}$`

func actionList(as ...[]authz.Action) []any {
	var out []any
	for _, list := range as {
		for _, a := range list {
			out = append(out, string(a))
		}
	}
	return out
}

// grantSchema is a role's grant on one object. On input it also says what
// authz.Validate refuses: writes to admin-only objects, scopes other than
// all on unowned ones, edit on server-maintained fields, unknown fields.
func grantSchema(e *mcrm.Entity, dir direction) obj {
	actions := actionList(authz.ObjectActions)
	if dir == input && e.AdminWrite {
		actions = actionList([]authz.Action{authz.Read, authz.Export, authz.Unmask})
	}
	scopes := []any{string(authz.ScopeOwn), string(authz.ScopeTeam), string(authz.ScopeTerritory), string(authz.ScopeAll)}
	if !e.Owned {
		scopes = []any{string(authz.ScopeAll)}
	}
	fields := obj{}
	for i := range e.Fields {
		f := &e.Fields[i]
		levels := []any{string(authz.Hidden), string(authz.Masked), string(authz.ReadOnly), string(authz.Edit)}
		if f.System || f.Name == "owner_id" || (dir == input && e.AdminWrite) {
			levels = levels[:3]
		}
		fields[f.Name] = obj{"enum": levels}
	}
	actionsSchema := obj{"type": "array", "uniqueItems": true, "items": obj{"enum": actions}}
	g := obj{"type": "object", "additionalProperties": false, "properties": obj{
		"description": obj{"type": "string", "maxLength": 1000, "description": "why the role holds the grant; grants nothing"},
		"actions":     actionsSchema,
		"scope":       obj{"enum": scopes, "description": "the records read, export and unmask reach"},
		"write_scope": obj{"enum": scopes, "description": "the records create, update, delete, import and mass update reach; at most scope; left out: scope"},
		"fields": obj{"type": "object", "additionalProperties": false, "properties": fields,
			"description": "allow-list: a field not named is hidden"},
	}}
	if dir == output {
		g["required"] = []any{"actions", "scope", "fields"}
	} else {
		g["required"] = []any{"actions", "scope"}
		actionsSchema["minItems"] = 1
		actionsSchema["contains"] = obj{"const": string(authz.Read)}
	}
	return g
}

func contextRuleSchema(dir direction) obj {
	objects := []any{"*"}
	for _, e := range mcrm.Entities {
		objects = append(objects, e.Name)
	}
	clock := `^([01][0-9]|2[0-3]):[0-5][0-9]$`
	s := obj{"type": "object", "additionalProperties": false,
		"description": "restricts its actions on its objects to requests whose server-derived context meets every condition it sets",
		"properties": obj{
			"name":             obj{"type": "string", "pattern": rolePattern},
			"actions":          obj{"type": "array", "minItems": 1, "uniqueItems": true, "items": obj{"enum": actionList(authz.ObjectActions, authz.Capabilities)}},
			"objects":          obj{"type": "array", "uniqueItems": true, "items": obj{"enum": objects}, "description": "* for every object"},
			"min_device_trust": obj{"enum": []any{mcrm.DeviceTrustUnverified, mcrm.DeviceTrustVerified, mcrm.DeviceTrustManaged}},
			"networks":         obj{"type": "array", "maxItems": 100, "items": obj{"type": "string", "description": "CIDR prefix, e.g. 10.20.0.0/16"}},
			"hours": obj{"type": "object", "additionalProperties": false, "required": []any{"from", "to", "days", "time_zone"},
				"description": "a weekly window on the wall clock of time_zone; to is exclusive, and a window whose to is not after from runs overnight",
				"properties": obj{
					"from":      obj{"type": "string", "pattern": clock},
					"to":        obj{"type": "string", "pattern": `^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$`},
					"days":      obj{"type": "array", "minItems": 1, "uniqueItems": true, "items": obj{"enum": []any{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}}},
					"time_zone": obj{"type": "string", "minLength": 1, "description": "IANA time zone, e.g. Europe/Berlin"},
				}},
		}}
	if dir == output {
		s["required"] = []any{"name", "actions", "objects"}
	} else {
		s["required"] = []any{"name", "actions"}
	}
	return s
}

// roleSchema is authz.Role as the API returns it (roleView) or accepts it.
func roleSchema(dir direction) obj {
	objects := obj{}
	for _, e := range mcrm.Entities {
		objects[e.Name] = grantSchema(e, dir)
	}
	name := obj{"type": "string", "pattern": rolePattern}
	builtin := obj{"type": "boolean"}
	if dir == input {
		name["not"] = obj{"enum": stringList(mcrm.Roles)}
		name["description"] = "left out: the name in the path; if given it must equal it"
		builtin["description"] = "ignored: a tenant role is never builtin"
	}
	s := obj{"type": "object", "additionalProperties": false, "properties": obj{
		"name":         name,
		"description":  obj{"type": "string", "maxLength": 1000},
		"builtin":      builtin,
		"objects":      obj{"type": "object", "additionalProperties": false, "properties": objects, "description": "grants per object; an object left out is not granted at all"},
		"capabilities": obj{"type": "array", "uniqueItems": true, "items": obj{"enum": actionList(authz.Capabilities)}},
		"context":      obj{"type": "array", "maxItems": 20, "items": contextRuleSchema(dir)},
	}}
	if dir == output {
		s["required"] = []any{"name", "builtin", "objects", "capabilities"}
		s["description"] = "a role: builtin (shipped, unchangeable) or the tenant's own"
	} else {
		s["description"] = "a tenant role; it may hold nothing the caller's own role lacks"
	}
	return s
}

// accessPaths documents accessRoutes in the OpenAPI document.
func accessPaths(paths, schemas obj) {
	var entityNames, ownedNames []any
	for _, e := range mcrm.Entities {
		entityNames = append(entityNames, e.Name)
		if e.Owned {
			ownedNames = append(ownedNames, e.Name)
		}
	}
	id := obj{"type": "string", "pattern": idPattern}
	schemas["Role"] = roleSchema(output)
	schemas["RoleInput"] = roleSchema(input)
	schemas["RoleList"] = obj{"type": "object", "additionalProperties": false, "required": []any{"data"},
		"properties": obj{"data": obj{"type": "array", "items": ref("Role"),
			"description": "the builtin roles in their shipped order, then the tenant's by name"}}}

	decision := typeSchema(reflect.TypeFor[authz.Decision](), false)
	props(decision)["reason"] = obj{"enum": []any{authz.ReasonGranted, authz.ReasonNoPermission, authz.ReasonFieldHidden,
		authz.ReasonFieldReadOnly, authz.ReasonContextDenied, authz.ReasonUnknownRole, reasonOutOfScope}}
	props(decision)["rule"].(obj)["description"] = "the grant, context rule or scope that decided, e.g. sales_rep.objects.contacts.actions"
	props(decision)["detail"].(obj)["description"] = "what is missing (action_not_granted, capability_not_granted, ...), the failing condition of a context rule (device_trust, network, time_window), or the field access"
	decision["description"] = "one check and its outcome"
	schemas["AccessDecision"] = decision
	schemas["AccessExplanation"] = obj{"type": "object", "additionalProperties": false,
		"required": []any{"user_id", "role", "action", "object", "steps", "allowed"},
		"properties": obj{
			"user_id": id,
			"role":    obj{"type": "string"},
			"action":  obj{"enum": actionList(authz.ObjectActions, authz.Capabilities)},
			"object":  obj{"enum": append([]any{""}, entityNames...), "description": "empty for a capability"},
			"steps": obj{"type": "array", "minItems": 1, "items": ref("AccessDecision"),
				"description": "the grant of the action, the device check and every context rule covering it, then the field; every step is evaluated, so all missing grants show"},
			"record":  ref("AccessDecision"),
			"allowed": obj{"type": "boolean", "description": "every step, and the record step when a record was named, allows"},
		}}

	reader := typeSchema(reflect.TypeFor[fieldReader](), false)
	props(reader)["user_id"] = id
	props(reader)["access"] = obj{"enum": []any{string(authz.Masked), string(authz.ReadOnly), string(authz.Edit)}}
	props(reader)["conditions"].(obj)["description"] = "names of the role's context rules that restrict reading the object"
	schemas["FieldReader"] = reader
	schemas["FieldReaders"] = obj{"type": "object", "additionalProperties": false, "required": []any{"object", "field", "data"},
		"properties": obj{
			"object": obj{"enum": entityNames},
			"field":  obj{"type": "string"},
			"data":   obj{"type": "array", "items": ref("FieldReader"), "description": "active users, by name"},
		}}

	share := typeSchema(reflect.TypeFor[sqlstore.Share](), false)
	for _, k := range []string{"id", "record_id", "user_id", "team_id"} {
		props(share)[k] = id
	}
	props(share)["entity"] = obj{"enum": ownedNames}
	props(share)["access"] = obj{"enum": []any{"read", "edit"}}
	props(share)["created_by"].(obj)["description"] = "who shared it"
	share["oneOf"] = []any{obj{"required": []any{"user_id"}}, obj{"required": []any{"team_id"}}}
	share["description"] = "a record shared with one user or with the members of one team"
	schemas["Share"] = share
	schemas["ShareList"] = obj{"type": "object", "additionalProperties": false, "required": []any{"data"},
		"properties": obj{"data": obj{"type": "array", "items": ref("Share"), "description": "oldest first"}}}
	req := typeSchema(reflect.TypeFor[shareRequest](), true)
	props(req)["user_id"] = obj{"type": "string", "pattern": idPattern, "description": "a user of the tenant"}
	props(req)["team_id"] = obj{"type": "string", "pattern": idPattern, "description": "a team of the tenant: its members (not sub-teams) get the access"}
	props(req)["access"] = obj{"enum": []any{"read", "edit"}}
	req["required"] = []any{"access"}
	req["oneOf"] = []any{obj{"required": []any{"user_id"}}, obj{"required": []any{"team_id"}}}
	req["description"] = "share with exactly one of a user and a team; sharing again with the same one replaces the share"
	schemas["ShareRequest"] = req
	member := typeSchema(reflect.TypeFor[memberRequest](), true)
	props(member)["access"] = obj{"enum": []any{"read", "edit"}}
	member["required"] = []any{"access"}
	member["description"] = "the access the member gets to the account and its contacts, opportunities and cases"
	schemas["AccountTeamMember"] = member

	nameParam := pathParam("name", "role name", obj{"type": "string", "pattern": rolePattern, "not": obj{"enum": stringList(mcrm.Roles)},
		"description": "builtin roles cannot be changed or deleted (400)"})
	stepUp := " Needs manage_users and a strong authentication in the last 5 minutes (else 401 insufficient_user_authentication)."
	paths["/api/v1/roles"] = obj{"get": op{id: "listRoles", tag: "auth", auth: true, summary: "The roles of the tenant",
		desc:      "Builtin roles and the tenant's own, with every grant. Role administrators (manage_users) and auditors (view_audit) only.",
		responses: obj{"200": jsonResponse("the roles", ref("RoleList"), nil)},
		errs:      []int{http.StatusForbidden}}.build()}
	paths["/api/v1/roles/{name}"] = obj{
		"put": op{id: "putRole", tag: "auth", auth: true, summary: "Create or replace a tenant role",
			desc: "The role may hold nothing the caller's role lacks, and a role holding more than the caller's cannot be replaced (403, recorded as authz_fail). " +
				"Every problem of the definition is reported at once, each naming its path (objects.contacts.fields.nickname). " +
				"Users holding the role get the new definition on their next request." + stepUp,
			params:    []any{nameParam},
			body:      jsonBody(ref("RoleInput")),
			responses: obj{"200": jsonResponse("the role, replaced", ref("Role"), nil), "201": jsonResponse("the role, created", ref("Role"), nil)},
			errs: []int{http.StatusBadRequest, http.StatusForbidden, http.StatusConflict, http.StatusRequestEntityTooLarge,
				http.StatusUnsupportedMediaType}}.build(),
		"delete": op{id: "deleteRole", tag: "auth", auth: true, summary: "Delete a tenant role",
			desc:      "409 while a user holds it: give them another role first." + stepUp,
			params:    []any{nameParam},
			responses: obj{"204": emptyResponse("deleted")},
			errs:      []int{http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusConflict}}.build(),
	}
	actionParam := queryParam("action", "an object action, or a capability (then without object)", obj{"enum": actionList(authz.ObjectActions, authz.Capabilities)})
	actionParam["required"] = true
	paths["/api/v1/authz/explain"] = obj{"get": op{id: "explainAccess", tag: "auth", auth: true, summary: "Why a user may or may not do something",
		desc: "Answers with every check behind the decision: the grant, the device check and context rules (evaluated with this request's device, network and time), " +
			"the field, and for a record whether the user's scope, a share or an account team reaches it (a record outside it, or missing, is out_of_scope). " +
			"Anyone may ask about themselves; about another user only role administrators and auditors. Unknown or repeated parameters are refused.",
		params: []any{
			queryParam("user_id", "the user asked about; left out: the caller", obj{"type": "string", "pattern": idPattern}),
			actionParam,
			queryParam("object", "the object; required with record_id or field", obj{"enum": entityNames}),
			queryParam("record_id", "a record of the object", obj{"type": "string", "pattern": idPattern}),
			queryParam("field", "a field of the object, e.g. birthday or emails[].value", obj{"type": "string", "minLength": 1}),
		},
		responses: obj{"200": jsonResponse("the decision and its steps", ref("AccessExplanation"), nil)},
		errs:      []int{http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound}}.build()}
	objectParam := queryParam("object", "", obj{"enum": entityNames})
	fieldParam := queryParam("field", "a field of the object", obj{"type": "string", "minLength": 1})
	objectParam["required"], fieldParam["required"] = true, true
	paths["/api/v1/authz/field-readers"] = obj{"get": op{id: "fieldReaders", tag: "auth", auth: true, summary: "Who can read a field",
		desc: "Every active user whose role shows the field (masked, read only or editable), with the role it comes through. Shares and account teams widen records, never fields. " +
			"Role administrators and auditors only.",
		params:    []any{objectParam, fieldParam},
		responses: obj{"200": jsonResponse("the readers", ref("FieldReaders"), nil)},
		errs:      []int{http.StatusBadRequest, http.StatusForbidden}}.build()}

	userParam := pathParam("user_id", "a user of the tenant", obj{"type": "string", "pattern": idPattern})
	paths["/api/v1/accounts/{id}/team/{user_id}"] = obj{
		"put": op{id: "putAccountTeamMember", tag: "accounts", auth: true, summary: "Add a user to an account's team, or change their access",
			desc:      "Members read (or edit) the account and its contacts, opportunities and cases. Needs update on accounts and an account the caller may change (else 404).",
			params:    []any{idParam, userParam},
			body:      jsonBody(ref("AccountTeamMember")),
			responses: obj{"204": emptyResponse("the user is a member")},
			errs: []int{http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusConflict,
				http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType}}.build(),
		"delete": op{id: "deleteAccountTeamMember", tag: "accounts", auth: true, summary: "Remove a user from an account's team",
			params:    []any{idParam, userParam},
			responses: obj{"204": emptyResponse("removed")},
			errs:      []int{http.StatusForbidden, http.StatusNotFound}}.build(),
	}
	shareParam := pathParam("share_id", "id of the share", obj{"type": "string", "pattern": idPattern})
	for _, e := range mcrm.Entities {
		if !e.Owned {
			continue
		}
		name := schemaName(e)
		base := "/api/v1/" + e.Name + "/{id}/shares"
		paths[base] = obj{
			"get": op{id: "list" + name + "Shares", tag: e.Name, auth: true, summary: "Who a " + e.Singular + " is shared with",
				params:    []any{idParam},
				responses: obj{"200": jsonResponse("the shares", ref("ShareList"), nil)},
				errs:      []int{http.StatusForbidden, http.StatusNotFound}}.build(),
			"post": op{id: "share" + name, tag: e.Name, auth: true, summary: "Share a " + e.Singular + " with a user or a team",
				desc:      "Sharing is a change of the record: the caller needs update on " + e.Name + " and a record they may change (else 404).",
				params:    []any{idParam},
				body:      jsonBody(ref("ShareRequest")),
				responses: obj{"201": jsonResponse("the share", ref("Share"), nil)},
				errs:      []int{http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType}}.build(),
		}
		paths[base+"/{share_id}"] = obj{"delete": op{id: "unshare" + name, tag: e.Name, auth: true, summary: "End a share of a " + e.Singular,
			params:    []any{idParam, shareParam},
			responses: obj{"204": emptyResponse("the share is gone; it no longer grants anything from the next request")},
			errs:      []int{http.StatusForbidden, http.StatusNotFound}}.build()}
	}
}
