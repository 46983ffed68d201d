package httpapi

import (
	"net/http"
	"reflect"
	"slices"

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

func (s *Server) listRoles(w http.ResponseWriter, r *http.Request) {
	p := principal(r.Context())
	roles, err := s.db.Roles(r.Context(), p.TenantID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": roles})
}

// putRole creates or replaces a tenant role. The actor may only grant what
// their own role holds (AZ-08: no escalation through a role definition).
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
	writeJSON(w, status, role)
}

func (s *Server) deleteRole(w http.ResponseWriter, r *http.Request) {
	if err := s.manageUsers(r, true); err != nil {
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

// explain answers why a user may or may not do an action on an object, a
// record or a field: the decision chain of their role, and for a record
// whether their scope (or a share) reaches it. Admins ask about anyone;
// everyone may ask about themselves.
func (s *Server) explain(w http.ResponseWriter, r *http.Request) {
	q, err := queryParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for k := range q {
		if !slices.Contains([]string{"user_id", "action", "object", "record_id", "field"}, k) {
			s.writeError(w, r, mcrm.FieldErr(k, "unknown_parameter", "not a parameter of explain"))
			return
		}
	}
	p := principal(r.Context())
	subject := p
	if uid := q.Get("user_id"); uid != "" && uid != p.UserID {
		if err := s.manageUsers(r, false); err != nil {
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
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		subject.Access = role
	}
	action, object := authz.Action(q.Get("action")), q.Get("object")
	if action == "" {
		s.writeError(w, r, mcrm.FieldErr("action", "required", "name the action"))
		return
	}
	e := mcrm.EntityByName(object)
	if object != "" && e == nil {
		s.writeError(w, r, mcrm.FieldErr("object", "unknown_object", "no such object"))
		return
	}
	role := roleOf(subject)
	steps := role.Explain(action, object, q.Get("field"), s.authzContext(subject))
	allowed := len(steps) > 0 && steps[len(steps)-1].Allowed
	for _, st := range steps {
		allowed = allowed && st.Allowed
	}
	out := map[string]any{"user_id": subject.UserID, "role": subject.Role, "action": action, "object": object, "steps": steps}
	if id := q.Get("record_id"); id != "" && e != nil {
		write := action != authz.Read && action != authz.Export
		reach := authz.Decision{Allowed: true, Reason: authz.ReasonGranted, Rule: "scope:" + subject.Access.RecordScope(object, write)}
		var err error
		if write {
			err = s.db.Writable(r.Context(), subject, e, id)
		} else {
			_, err = s.db.Get(r.Context(), subject, e, id)
		}
		if err != nil {
			if mcrm.ErrorCode(err) != mcrm.ENotFound {
				s.writeError(w, r, err)
				return
			}
			reach = authz.Decision{Allowed: false, Reason: "out_of_scope", Rule: reach.Rule, Detail: "the record is outside the user's scope and not shared with them (or does not exist)"}
		}
		out["record"] = reach
		allowed = allowed && reach.Allowed
	}
	out["allowed"] = allowed
	writeJSON(w, http.StatusOK, out)
}

// fieldReaders lists who can read a field of an object, and through which
// role (AZ-10 audit of access). Shares widen records, never fields, so
// the role alone decides.
func (s *Server) fieldReaders(w http.ResponseWriter, r *http.Request) {
	if err := s.manageUsers(r, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	q, err := queryParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	e := mcrm.EntityByName(q.Get("object"))
	if e == nil || e.Field(q.Get("field")) == nil {
		s.writeError(w, r, mcrm.FieldErr("field", "unknown_field", "name an object and one of its fields"))
		return
	}
	p := principal(r.Context())
	roles, err := s.db.Roles(r.Context(), p.TenantID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	access := map[string]authz.Access{}
	for _, role := range roles {
		if role.Can(authz.Read, e.Name, authz.Context{Now: s.now(), DeviceTrust: mcrm.DeviceTrustManaged}).Allowed {
			access[role.Name] = role.FieldAccess(e.Name, q.Get("field"))
		}
	}
	users, err := s.db.UsersByRole(r.Context(), p.TenantID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	type reader struct {
		UserID string       `json:"user_id"`
		Name   string       `json:"name"`
		Role   string       `json:"role"`
		Access authz.Access `json:"access"`
	}
	out := []reader{}
	for _, u := range users {
		if a, ok := access[u.Role]; ok && a != authz.Hidden {
			out = append(out, reader{UserID: u.ID, Name: u.Name, Role: u.Role, Access: a})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": e.Name, "field": q.Get("field"), "data": out})
}

// accessPaths documents accessRoutes in the OpenAPI document.
func accessPaths(paths, schemas obj) {}

var _ = reflect.TypeFor[shareRequest]
