package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"mcrm"
	"mcrm/apitest"
	"mcrm/authz"
	"mcrm/dbtest"
	"mcrm/record"
)

// Tests of the access-control API (issue 4): roles, field-level security
// as a custom role sees it, shares, account teams, explain and the field
// readers report. Each runs on every backend; statuses, codes and counts
// are exact.

// axWorld is one tenant with named users, each signed in and stepped up.
type axWorld struct {
	t     *testing.T
	e     *apitest.Env
	admin string            // the admin's token
	id    map[string]string // user ids by key
	tok   map[string]string // tokens by key
}

func axEach(t *testing.T, fn func(t *testing.T, w *axWorld)) {
	for _, backend := range dbtest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apitest.New(t, backend)
			w := &axWorld{t: t, e: e, id: map[string]string{"admin": e.AdminID}, tok: map[string]string{}}
			w.admin = e.LoginStrong(e.Tenant.Name, "admin@"+e.Tenant.Name+".example")
			w.tok["admin"] = w.admin
			fn(t, w)
		})
	}
}

func (w *axWorld) email(key string) string { return key + "@" + w.e.Tenant.Name + ".example" }

// user adds a user with a role (and team), signs them in strongly and
// returns their token.
func (w *axWorld) user(key, role, teamID string) string {
	w.t.Helper()
	w.id[key] = w.e.AddUser(w.e.Tenant.ID, w.email(key), strings.ToUpper(key[:1])+key[1:], role, teamID)
	w.tok[key] = w.e.LoginStrong(w.e.Tenant.Name, w.email(key))
	return w.tok[key]
}

// do sends a request and fails the test unless it answers want.
func (w *axWorld) do(token, method, path string, body any, want int) *apitest.Response {
	w.t.Helper()
	r := w.e.Do(token, method, path, body, nil)
	if r.Status != want {
		w.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	return r
}

// patch sends a PATCH with If-Match.
func (w *axWorld) patch(token, path string, version int, body any, want int) *apitest.Response {
	w.t.Helper()
	r := w.e.Do(token, "PATCH", path, body, map[string]string{"If-Match": `"` + strconv.Itoa(version) + `"`})
	if r.Status != want {
		w.t.Fatalf("PATCH %s: status %d, want %d: %s", path, r.Status, want, r.Body)
	}
	return r
}

// create makes a record as token and returns its id.
func (w *axWorld) create(token, entity string, body map[string]any) string {
	w.t.Helper()
	return w.do(token, "POST", "/api/v1/"+entity, body, http.StatusCreated).JSON["id"].(string)
}

// ids lists the ids of a list answer.
func axIDs(r *apitest.Response) []string {
	var out []string
	data, _ := r.JSON["data"].([]any)
	for _, d := range data {
		out = append(out, d.(map[string]any)["id"].(string))
	}
	slices.Sort(out)
	return out
}

func axSorted(ids ...string) []string { return slices.Sorted(slices.Values(ids)) }

// axProblem checks the problem code and, when field is not empty, that
// the first field error is {field, fieldCode}.
func axProblem(t *testing.T, r *apitest.Response, code mcrm.Code, field, fieldCode string) {
	t.Helper()
	if r.JSON["code"] != string(code) || r.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("problem code %v, want %s: %s", r.JSON["code"], code, r.Body)
	}
	if field == "" && fieldCode == "" {
		return
	}
	errs, _ := r.JSON["errors"].([]any)
	if len(errs) == 0 {
		t.Fatalf("no field errors, want {%s %s}: %s", field, fieldCode, r.Body)
	}
	fe := errs[0].(map[string]any)
	if f, _ := fe["field"].(string); f != field || fe["code"] != fieldCode {
		t.Fatalf("field error %v %v, want {%s %s}: %s", fe["field"], fe["code"], field, fieldCode, r.Body)
	}
}

func (w *axWorld) events(action string) int {
	w.t.Helper()
	n, err := w.e.DB.CountEvents(context.Background(), w.e.Tenant.ID, action)
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

func (w *axWorld) version(token, path string) int {
	w.t.Helper()
	r := w.do(token, "GET", path, nil, http.StatusOK)
	v, _ := r.JSON["version"].(json.Number).Int64()
	return int(v)
}

// fieldRep is a tenant role for reps in the field: their own contacts,
// names and contact points editable, title and company read only, and
// city, birthday and subscribed_on (among others) hidden.
func fieldRep(extra map[string]string) map[string]any {
	fields := map[string]any{"id": "read_only", "version": "read_only", "owner_id": "read_only",
		"first_name": "edit", "last_name": "edit", "emails": "edit", "phones": "edit",
		"title": "read_only", "company": "read_only"}
	for k, v := range extra {
		fields[k] = v
	}
	return map[string]any{
		"description": "Field reps: their own contacts, without addresses or personal dates.",
		"objects": map[string]any{"contacts": map[string]any{
			"actions": []string{"read", "create", "update"}, "scope": "own", "fields": fields}},
		"capabilities": []string{},
	}
}

func TestAccessRoles(t *testing.T) {
	axEach(t, func(t *testing.T, w *axWorld) {
		manager := w.user("mona", mcrm.RoleSalesManager, "")
		roleNames := func(token string) []string {
			var out []string
			for _, d := range w.do(token, "GET", "/api/v1/roles", nil, http.StatusOK).JSON["data"].([]any) {
				r := d.(map[string]any)
				out = append(out, r["name"].(string))
				if r["builtin"] != slices.Contains(mcrm.Roles, r["name"].(string)) {
					t.Errorf("role %v: builtin %v", r["name"], r["builtin"])
				}
			}
			return out
		}
		if got := roleNames(w.admin); !slices.Equal(got, mcrm.Roles) {
			t.Fatalf("roles %v, want the builtin ones %v", got, mcrm.Roles)
		}
		axProblem(t, w.do(manager, "GET", "/api/v1/roles", nil, http.StatusForbidden), mcrm.EForbidden, "", "no_permission")

		// Create, replace, refuse an invalid definition naming its path.
		r := w.do(w.admin, "PUT", "/api/v1/roles/field_rep", fieldRep(nil), http.StatusCreated)
		if r.JSON["name"] != "field_rep" || r.JSON["builtin"] != false || !sameJSON(r.JSON["capabilities"], []any{}) {
			t.Errorf("created role: %s", r.Body)
		}
		w.do(w.admin, "PUT", "/api/v1/roles/field_rep", fieldRep(nil), http.StatusOK)
		bad := w.do(w.admin, "PUT", "/api/v1/roles/field_rep", fieldRep(map[string]string{"nickname": "edit", "id": "edit"}), http.StatusBadRequest)
		axProblem(t, bad, mcrm.EInvalid, "objects.contacts.fields.id", "server_maintained")
		if errs := bad.JSON["errors"].([]any); len(errs) != 2 || errs[1].(map[string]any)["field"] != "objects.contacts.fields.nickname" ||
			errs[1].(map[string]any)["code"] != "unknown_field" {
			t.Errorf("every problem named: %s", bad.Body)
		}
		if got := roleNames(w.admin); !slices.Equal(got, append(slices.Clone(mcrm.Roles), "field_rep")) {
			t.Errorf("roles %v after one tenant role", got)
		}

		// Who may: manage_users, stepped up; never under a builtin name.
		axProblem(t, w.do(manager, "PUT", "/api/v1/roles/field_rep", fieldRep(nil), http.StatusForbidden), mcrm.EForbidden, "", "no_permission")
		weak := w.e.Login(w.e.Tenant.Name, w.email("admin"))
		axProblem(t, w.do(weak, "PUT", "/api/v1/roles/field_rep", fieldRep(nil), http.StatusUnauthorized), mcrm.EStepUpRequired, "", "")
		axProblem(t, w.do(weak, "DELETE", "/api/v1/roles/field_rep", nil, http.StatusUnauthorized), mcrm.EStepUpRequired, "", "")
		axProblem(t, w.do(w.admin, "PUT", "/api/v1/roles/sales_rep", fieldRep(nil), http.StatusBadRequest), mcrm.EInvalid, "name", "reserved_name")
		named := fieldRep(nil)
		named["name"] = "other_name"
		axProblem(t, w.do(w.admin, "PUT", "/api/v1/roles/field_rep", named, http.StatusBadRequest), mcrm.EInvalid, "name", "mismatch")

		// Escalation: nobody grants what they lack. An admin has no
		// view_audit; a tenant user administrator reaches only their own
		// contacts and cannot widen, replace or delete a wider role.
		auditing := fieldRep(nil)
		auditing["capabilities"] = []string{"view_audit"}
		fails := w.events("authz_fail")
		axProblem(t, w.do(w.admin, "PUT", "/api/v1/roles/self_auditor", auditing, http.StatusForbidden), mcrm.EForbidden, "capabilities", "exceeds_granter")
		w.do(w.admin, "PUT", "/api/v1/roles/user_admin", map[string]any{
			"capabilities": []string{"manage_users"},
			"objects": map[string]any{"contacts": map[string]any{"actions": []string{"read"}, "scope": "own",
				"fields": map[string]any{"id": "read_only", "last_name": "read_only"}}},
		}, http.StatusCreated)
		uma := w.user("uma", "user_admin", "")
		narrow := map[string]any{"objects": map[string]any{"contacts": map[string]any{"actions": []string{"read"}, "scope": "own",
			"fields": map[string]any{"last_name": "read_only"}}}}
		wider := map[string]any{"objects": map[string]any{"contacts": map[string]any{"actions": []string{"read"}, "scope": "all",
			"fields": map[string]any{"last_name": "read_only"}}}}
		axProblem(t, w.do(uma, "PUT", "/api/v1/roles/wider", wider, http.StatusForbidden), mcrm.EForbidden, "objects.contacts.scope", "exceeds_granter")
		w.do(uma, "PUT", "/api/v1/roles/narrow", narrow, http.StatusCreated)
		axProblem(t, w.do(uma, "PUT", "/api/v1/roles/field_rep", narrow, http.StatusForbidden), mcrm.EForbidden, "name", "exceeds_granter")
		axProblem(t, w.do(uma, "DELETE", "/api/v1/roles/field_rep", nil, http.StatusForbidden), mcrm.EForbidden, "name", "exceeds_granter")
		if fr, err := w.e.DB.Role(context.Background(), w.e.Tenant.ID, "field_rep"); err != nil || len(fr.Objects["contacts"].Actions) != 3 {
			t.Errorf("a refused replacement changed field_rep: %+v %v", fr, err)
		}
		if got := roleNames(uma); !slices.Equal(got, append(slices.Clone(mcrm.Roles), "field_rep", "narrow", "user_admin")) {
			t.Errorf("roles %v", got)
		}
		if n := w.events("authz_fail") - fails; n != 4 {
			t.Errorf("%d authz_fail events for 4 refused grants", n)
		}
		if _, err := w.e.DB.Role(context.Background(), w.e.Tenant.ID, "wider"); err == nil {
			t.Error("a refused role was stored")
		}

		// Delete: not while held, not a builtin, then gone.
		w.user("fiona", "field_rep", "")
		axProblem(t, w.do(w.admin, "DELETE", "/api/v1/roles/field_rep", nil, http.StatusConflict), mcrm.EConflict, "", "")
		axProblem(t, w.do(w.admin, "DELETE", "/api/v1/roles/admin", nil, http.StatusBadRequest), mcrm.EInvalid, "name", "builtin_role")
		w.do(uma, "DELETE", "/api/v1/roles/narrow", nil, http.StatusNoContent)
		axProblem(t, w.do(uma, "DELETE", "/api/v1/roles/narrow", nil, http.StatusNotFound), mcrm.ENotFound, "", "")
		if got := roleNames(w.admin); !slices.Equal(got, append(slices.Clone(mcrm.Roles), "field_rep", "user_admin")) {
			t.Errorf("roles %v after the delete", got)
		}
		// field_rep created and replaced, user_admin and narrow created,
		// narrow deleted.
		if n := w.events("authz_role_change"); n != 5 {
			t.Errorf("%d authz_role_change events, want 5", n)
		}
	})
}

func TestAccessFieldSecurity(t *testing.T) {
	axEach(t, func(t *testing.T, w *axWorld) {
		w.do(w.admin, "PUT", "/api/v1/roles/field_rep", fieldRep(nil), http.StatusCreated)
		fiona := w.user("fiona", "field_rep", "")
		id := w.create(w.admin, "contacts", map[string]any{"first_name": "Ada", "last_name": "Lovelace", "title": "CTO", "company": "Globex",
			"city": "Paris", "birthday": "1815-12-10", "subscribed_on": "2024-03-01", "owner_id": w.id["fiona"]})
		w.create(w.admin, "contacts", map[string]any{"last_name": "Someone Else's"})
		path := "/api/v1/contacts/" + id
		hidden := []string{"city", "birthday", "subscribed_on", "street", "notes", "created_at"}

		g := w.do(fiona, "GET", path, nil, http.StatusOK)
		l := w.do(fiona, "GET", "/api/v1/contacts", nil, http.StatusOK)
		data := l.JSON["data"].([]any)
		if len(data) != 1 {
			t.Fatalf("field rep lists %d contacts, want their 1", len(data))
		}
		for _, rec := range []map[string]any{g.JSON, data[0].(map[string]any)} {
			for _, f := range hidden {
				if _, ok := rec[f]; ok {
					t.Errorf("hidden field %s present: %v", f, rec)
				}
			}
			if rec["last_name"] != "Lovelace" || rec["title"] != "CTO" || rec["id"] != id {
				t.Errorf("visible fields: %v", rec)
			}
		}

		// A hidden field cannot be filtered or sorted on: the answer is
		// the one for a field that does not exist.
		for _, q := range []struct{ hidden, missing, field string }{
			{"city=Paris", "colour=red", "city"},
			{"subscribed_on%5Blt%5D=2025-01-01", "colour%5Blt%5D=2025-01-01", "subscribed_on"},
			{"sort=subscribed_on", "sort=colour", "sort"},
			{"sort=-city", "sort=-colour", "sort"},
		} {
			h := w.do(fiona, "GET", "/api/v1/contacts?"+q.hidden, nil, http.StatusBadRequest)
			m := w.do(fiona, "GET", "/api/v1/contacts?"+q.missing, nil, http.StatusBadRequest)
			axProblem(t, h, mcrm.EInvalid, q.field, "unknown_field")
			he, me := h.JSON["errors"].([]any)[0].(map[string]any), m.JSON["errors"].([]any)[0].(map[string]any)
			if len(h.JSON["errors"].([]any)) != 1 || he["code"] != me["code"] || he["message"] != me["message"] || h.JSON["detail"] != m.JSON["detail"] {
				t.Errorf("%s answers %s, a missing field %s", q.hidden, h.Body, m.Body)
			}
		}
		// The admin may filter on it.
		if ids := axIDs(w.do(w.admin, "GET", "/api/v1/contacts?city=Paris", nil, http.StatusOK)); !slices.Equal(ids, []string{id}) {
			t.Errorf("admin filter by city: %v", ids)
		}

		// Writing a hidden field is 400 unknown_field, a read-only one 403
		// field_read_only; neither changes anything.
		axProblem(t, w.patch(fiona, path, 1, map[string]any{"city": "Rome"}, http.StatusBadRequest), mcrm.EInvalid, "city", "unknown_field")
		axProblem(t, w.patch(fiona, path, 1, map[string]any{"first_name": "Augusta", "title": "CEO"}, http.StatusForbidden), mcrm.EForbidden, "title", "field_read_only")
		axProblem(t, w.do(fiona, "POST", "/api/v1/contacts", map[string]any{"last_name": "Babbage", "birthday": "1791-12-26"}, http.StatusBadRequest),
			mcrm.EInvalid, "birthday", "unknown_field")
		axProblem(t, w.do(fiona, "POST", "/api/v1/contacts", map[string]any{"last_name": "Babbage", "company": "Difference Engines"}, http.StatusForbidden),
			mcrm.EForbidden, "company", "field_read_only")
		a := w.do(w.admin, "GET", path, nil, http.StatusOK)
		if a.JSON["version"] != json.Number("1") || a.JSON["title"] != "CTO" || a.JSON["city"] != "Paris" || a.JSON["first_name"] != "Ada" {
			t.Errorf("refused writes changed the record: %s", a.Body)
		}
		if n := len(axIDs(w.do(w.admin, "GET", "/api/v1/contacts?last_name=Babbage", nil, http.StatusOK))); n != 0 {
			t.Errorf("refused creates wrote %d contacts", n)
		}
		p := w.patch(fiona, path, 1, map[string]any{"first_name": "Augusta"}, http.StatusOK)
		if p.JSON["version"] != json.Number("2") || p.JSON["first_name"] != "Augusta" {
			t.Errorf("allowed write: %s", p.Body)
		}

		// A role change applies to the next request.
		w.do(w.admin, "PUT", "/api/v1/roles/field_rep", fieldRep(map[string]string{"city": "read_only"}), http.StatusOK)
		if g := w.do(fiona, "GET", path, nil, http.StatusOK); g.JSON["city"] != "Paris" {
			t.Errorf("city after the grant: %s", g.Body)
		}
		if ids := axIDs(w.do(fiona, "GET", "/api/v1/contacts?city=Paris", nil, http.StatusOK)); !slices.Equal(ids, []string{id}) {
			t.Errorf("filter by a granted field: %v", ids)
		}
		axProblem(t, w.patch(fiona, path, 2, map[string]any{"city": "Rome"}, http.StatusForbidden), mcrm.EForbidden, "city", "field_read_only")
	})
}

func TestAccessUserChanges(t *testing.T) {
	axEach(t, func(t *testing.T, w *axWorld) {
		manager := w.user("mona", mcrm.RoleSalesManager, "")
		w.user("sam", mcrm.RoleSalesRep, "")
		w.do(w.admin, "PUT", "/api/v1/roles/field_rep", fieldRep(nil), http.StatusCreated)

		self := "/api/v1/users/" + w.id["admin"]
		r := w.patch(w.admin, self, w.version(w.admin, self), map[string]any{"role": "sales_rep"}, http.StatusForbidden)
		axProblem(t, r, mcrm.EForbidden, "role", "own_role")
		if u := w.do(w.admin, "GET", self, nil, http.StatusOK); u.JSON["role"] != mcrm.RoleAdmin || u.JSON["version"] != json.Number("1") {
			t.Errorf("own role changed: %s", u.Body)
		}

		sam := "/api/v1/users/" + w.id["sam"]
		axProblem(t, w.patch(manager, sam, 1, map[string]any{"name": "Samuel"}, http.StatusForbidden), mcrm.EForbidden, "users", "no_permission")
		axProblem(t, w.patch(manager, sam, 1, map[string]any{"role": "sales_manager"}, http.StatusForbidden), mcrm.EForbidden, "users", "no_permission")
		axProblem(t, w.patch(w.admin, sam, 1, map[string]any{"role": "pirate"}, http.StatusBadRequest), mcrm.EInvalid, "role", "unknown_role")
		if u := w.do(w.admin, "GET", sam, nil, http.StatusOK); u.JSON["name"] != "Sam" || u.JSON["role"] != mcrm.RoleSalesRep || u.JSON["version"] != json.Number("1") {
			t.Errorf("refused changes changed the user: %s", u.Body)
		}
		// The admin gives Sam the tenant role: his sessions end, and the
		// next one has the new role's rights.
		w.patch(w.admin, sam, 1, map[string]any{"role": "field_rep"}, http.StatusOK)
		axProblem(t, w.do(w.tok["sam"], "GET", "/api/v1/contacts", nil, http.StatusUnauthorized), mcrm.EUnauthorized, "Authorization", "reauth_required")
		again := w.e.Login(w.e.Tenant.Name, w.email("sam"))
		axProblem(t, w.do(again, "GET", "/api/v1/accounts", nil, http.StatusForbidden), mcrm.EForbidden, "accounts", "no_permission")
		w.do(again, "GET", "/api/v1/contacts", nil, http.StatusOK)
	})
}

func TestAccessShares(t *testing.T) {
	axEach(t, func(t *testing.T, w *axWorld) {
		east := w.e.AddTeam(w.e.Tenant.ID, "East", "", "")
		ann := w.user("ann", mcrm.RoleSalesRep, "")
		ben := w.user("ben", mcrm.RoleSalesRep, "")
		cat := w.user("cat", mcrm.RoleSalesRep, east)
		cA := w.create(ann, "contacts", map[string]any{"last_name": "Ann's contact"})
		cB := w.create(ben, "contacts", map[string]any{"last_name": "Ben's contact"})
		path, shares := "/api/v1/contacts/"+cA, "/api/v1/contacts/"+cA+"/shares"

		axProblem(t, w.do(ben, "GET", path, nil, http.StatusNotFound), mcrm.ENotFound, "", "")
		sh := w.do(ann, "POST", shares, map[string]any{"user_id": w.id["ben"], "access": "read"}, http.StatusCreated)
		if sh.JSON["user_id"] != w.id["ben"] || sh.JSON["access"] != "read" || sh.JSON["entity"] != "contacts" || sh.JSON["record_id"] != cA ||
			sh.JSON["created_by"] != w.id["ann"] || !record.ValidID(sh.JSON["id"].(string)) {
			t.Errorf("share: %s", sh.Body)
		}
		w.do(ben, "GET", path, nil, http.StatusOK)
		if ids := axIDs(w.do(ben, "GET", "/api/v1/contacts", nil, http.StatusOK)); !slices.Equal(ids, axSorted(cA, cB)) {
			t.Errorf("Ben lists %v, want his own and the shared one", ids)
		}
		axProblem(t, w.patch(ben, path, 1, map[string]any{"title": "Shared"}, http.StatusNotFound), mcrm.ENotFound, "", "")
		// A read share is no licence to share on.
		axProblem(t, w.do(ben, "POST", shares, map[string]any{"user_id": w.id["cat"], "access": "read"}, http.StatusNotFound), mcrm.ENotFound, "", "")

		// Sharing again with edit replaces the share.
		edit := w.do(ann, "POST", shares, map[string]any{"user_id": w.id["ben"], "access": "edit"}, http.StatusCreated)
		list := w.do(ann, "GET", shares, nil, http.StatusOK).JSON["data"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["access"] != "edit" || list[0].(map[string]any)["id"] != edit.JSON["id"] {
			t.Errorf("shares after re-sharing: %v", list)
		}
		if p := w.patch(ben, path, 1, map[string]any{"title": "Shared"}, http.StatusOK); p.JSON["version"] != json.Number("2") || p.JSON["owner_id"] != w.id["ann"] {
			t.Errorf("edit through a share: %s", p.Body)
		}
		w.do(ann, "DELETE", shares+"/"+edit.JSON["id"].(string), nil, http.StatusNoContent)
		axProblem(t, w.do(ben, "GET", path, nil, http.StatusNotFound), mcrm.ENotFound, "", "")
		axProblem(t, w.do(ann, "DELETE", shares+"/"+edit.JSON["id"].(string), nil, http.StatusNotFound), mcrm.ENotFound, "", "")
		if n := len(w.do(ann, "GET", shares, nil, http.StatusOK).JSON["data"].([]any)); n != 0 {
			t.Errorf("%d shares after unsharing", n)
		}

		// Someone else's record cannot be shared (or its shares listed).
		axProblem(t, w.do(ann, "POST", "/api/v1/contacts/"+cB+"/shares", map[string]any{"user_id": w.id["ann"], "access": "edit"}, http.StatusNotFound), mcrm.ENotFound, "", "")
		axProblem(t, w.do(ann, "GET", "/api/v1/contacts/"+cB+"/shares", nil, http.StatusNotFound), mcrm.ENotFound, "", "")
		axProblem(t, w.do(ann, "GET", "/api/v1/contacts/"+cB, nil, http.StatusNotFound), mcrm.ENotFound, "", "")

		// With a team: its members see the record, others do not.
		w.do(ann, "POST", shares, map[string]any{"team_id": east, "access": "read"}, http.StatusCreated)
		w.do(cat, "GET", path, nil, http.StatusOK)
		axProblem(t, w.do(ben, "GET", path, nil, http.StatusNotFound), mcrm.ENotFound, "", "")

		// Bad requests.
		axProblem(t, w.do(ann, "POST", shares, map[string]any{"user_id": w.id["ben"], "team_id": east, "access": "read"}, http.StatusBadRequest), mcrm.EInvalid, "", "")
		axProblem(t, w.do(ann, "POST", shares, map[string]any{"user_id": w.id["ben"], "access": "own"}, http.StatusBadRequest), mcrm.EInvalid, "access", "invalid")
		axProblem(t, w.do(ann, "POST", shares, map[string]any{"user_id": record.NewID(), "access": "read"}, http.StatusBadRequest), mcrm.EInvalid, "user_id", "unknown_reference")

		// Another tenant: its records are not found, its users unknown.
		other, otherAdmin := w.e.NewTenant(dbtest.Name("other"))
		ot := w.e.LoginStrong(other.Name, "admin@"+other.Name+".example")
		c2 := w.create(ot, "contacts", map[string]any{"last_name": "Other tenant's"})
		for _, tok := range []string{ann, w.admin} {
			axProblem(t, w.do(tok, "POST", "/api/v1/contacts/"+c2+"/shares", map[string]any{"user_id": w.id["ben"], "access": "read"}, http.StatusNotFound), mcrm.ENotFound, "", "")
			axProblem(t, w.do(tok, "GET", "/api/v1/contacts/"+c2+"/shares", nil, http.StatusNotFound), mcrm.ENotFound, "", "")
		}
		axProblem(t, w.do(ann, "POST", shares, map[string]any{"user_id": otherAdmin, "access": "read"}, http.StatusBadRequest), mcrm.EInvalid, "user_id", "unknown_reference")
		oshare := w.do(ot, "POST", "/api/v1/contacts/"+c2+"/shares", map[string]any{"user_id": otherAdmin, "access": "read"}, http.StatusCreated).JSON["id"].(string)
		axProblem(t, w.do(w.admin, "DELETE", "/api/v1/contacts/"+c2+"/shares/"+oshare, nil, http.StatusNotFound), mcrm.ENotFound, "", "")
		axProblem(t, w.do(w.admin, "DELETE", shares+"/"+oshare, nil, http.StatusNotFound), mcrm.ENotFound, "", "")

		// A role without update on the object cannot share at all.
		aud := w.user("aud", mcrm.RoleAuditor, "")
		axProblem(t, w.do(aud, "POST", shares, map[string]any{"user_id": w.id["aud"], "access": "read"}, http.StatusForbidden), mcrm.EForbidden, "contacts", "no_permission")

		// ann: ben read, ben edit, unshare, team east.
		if n := w.events("authz_share_change"); n != 4 {
			t.Errorf("%d authz_share_change events, want 4", n)
		}
	})
}

func TestAccessAccountTeam(t *testing.T) {
	axEach(t, func(t *testing.T, w *axWorld) {
		dan := w.user("dan", mcrm.RoleSalesRep, "")
		ann := w.user("ann", mcrm.RoleSalesRep, "")
		x := w.create(w.admin, "accounts", map[string]any{"name": "Globex"})
		y := w.create(w.admin, "accounts", map[string]any{"name": "Initech"})
		x1 := w.create(w.admin, "contacts", map[string]any{"last_name": "Scorpio", "account_id": x})
		x2 := w.create(w.admin, "contacts", map[string]any{"last_name": "Simpson", "account_id": x})
		y1 := w.create(w.admin, "contacts", map[string]any{"last_name": "Lumbergh", "account_id": y})
		member := "/api/v1/accounts/" + x + "/team/" + w.id["dan"]
		sees := func(accounts, contacts []string) {
			t.Helper()
			if got := axIDs(w.do(dan, "GET", "/api/v1/accounts", nil, http.StatusOK)); !slices.Equal(got, accounts) {
				t.Errorf("Dan lists accounts %v, want %v", got, accounts)
			}
			if got := axIDs(w.do(dan, "GET", "/api/v1/contacts", nil, http.StatusOK)); !slices.Equal(got, contacts) {
				t.Errorf("Dan lists contacts %v, want %v", got, contacts)
			}
		}
		sees(nil, nil)

		w.do(w.admin, "PUT", member, map[string]any{"access": "read"}, http.StatusNoContent)
		sees([]string{x}, axSorted(x1, x2))
		w.do(dan, "GET", "/api/v1/accounts/"+x, nil, http.StatusOK)
		w.do(dan, "GET", "/api/v1/contacts/"+x1, nil, http.StatusOK)
		axProblem(t, w.do(dan, "GET", "/api/v1/accounts/"+y, nil, http.StatusNotFound), mcrm.ENotFound, "", "")
		axProblem(t, w.do(dan, "GET", "/api/v1/contacts/"+y1, nil, http.StatusNotFound), mcrm.ENotFound, "", "")
		axProblem(t, w.patch(dan, "/api/v1/accounts/"+x, 1, map[string]any{"industry": "Energy"}, http.StatusNotFound), mcrm.ENotFound, "", "")
		axProblem(t, w.patch(dan, "/api/v1/contacts/"+x1, 1, map[string]any{"title": "CEO"}, http.StatusNotFound), mcrm.ENotFound, "", "")

		// Edit access lets him change them; a rep outside the account
		// cannot touch its team.
		w.do(w.admin, "PUT", member, map[string]any{"access": "edit"}, http.StatusNoContent)
		w.patch(dan, "/api/v1/contacts/"+x1, 1, map[string]any{"title": "CEO"}, http.StatusOK)
		axProblem(t, w.do(ann, "PUT", "/api/v1/accounts/"+x+"/team/"+w.id["ann"], map[string]any{"access": "edit"}, http.StatusNotFound), mcrm.ENotFound, "", "")
		axProblem(t, w.do(ann, "DELETE", member, nil, http.StatusNotFound), mcrm.ENotFound, "", "")
		axProblem(t, w.do(w.admin, "PUT", member, map[string]any{"access": "owner"}, http.StatusBadRequest), mcrm.EInvalid, "access", "invalid")
		axProblem(t, w.do(w.admin, "PUT", "/api/v1/accounts/"+x+"/team/"+record.NewID(), map[string]any{"access": "read"}, http.StatusBadRequest),
			mcrm.EInvalid, "user_id", "unknown_reference")
		axProblem(t, w.do(w.admin, "PUT", "/api/v1/accounts/"+record.NewID()+"/team/"+w.id["dan"], map[string]any{"access": "read"}, http.StatusNotFound),
			mcrm.ENotFound, "", "")

		w.do(w.admin, "DELETE", member, nil, http.StatusNoContent)
		sees(nil, nil)
		axProblem(t, w.do(dan, "GET", "/api/v1/contacts/"+x1, nil, http.StatusNotFound), mcrm.ENotFound, "", "")
		axProblem(t, w.do(w.admin, "DELETE", member, nil, http.StatusNotFound), mcrm.ENotFound, "", "")
		// read, edit, removed.
		if n := w.events("authz_share_change"); n != 3 {
			t.Errorf("%d authz_share_change events, want 3", n)
		}
	})
}

func TestAccessExplain(t *testing.T) {
	axEach(t, func(t *testing.T, w *axWorld) {
		ann := w.user("ann", mcrm.RoleSalesRep, "")
		ben := w.user("ben", mcrm.RoleSalesRep, "")
		w.do(w.admin, "PUT", "/api/v1/roles/field_rep", fieldRep(nil), http.StatusCreated)
		fiona := w.user("fiona", "field_rep", "")
		cA := w.create(ann, "contacts", map[string]any{"last_name": "Ann's"})
		cB := w.create(ben, "contacts", map[string]any{"last_name": "Ben's"})
		explain := func(token string, q url.Values, want int) *apitest.Response {
			t.Helper()
			return w.do(token, "GET", "/api/v1/authz/explain?"+q.Encode(), nil, want)
		}
		step := func(r *apitest.Response, i int) map[string]any {
			t.Helper()
			steps := r.JSON["steps"].([]any)
			if i < 0 {
				i += len(steps)
			}
			return steps[i].(map[string]any)
		}

		r := explain(ann, url.Values{"action": {"export"}, "object": {"contacts"}}, http.StatusOK)
		if r.JSON["allowed"] != false || r.JSON["user_id"] != w.id["ann"] || r.JSON["role"] != mcrm.RoleSalesRep ||
			step(r, 0)["allowed"] != false || step(r, 0)["reason"] != authz.ReasonNoPermission || step(r, 0)["detail"] != authz.DetailActionNotGranted {
			t.Errorf("rep export: %s", r.Body)
		}
		if r := explain(ann, url.Values{"action": {"read"}, "object": {"contacts"}, "user_id": {w.id["ann"]}}, http.StatusOK); r.JSON["allowed"] != true {
			t.Errorf("rep read, asking about herself by id: %s", r.Body)
		}

		q := url.Values{"user_id": {w.id["ann"]}, "action": {"read"}, "object": {"contacts"}, "record_id": {cB}}
		r = explain(w.admin, q, http.StatusOK)
		rec := r.JSON["record"].(map[string]any)
		if r.JSON["allowed"] != false || step(r, 0)["allowed"] != true || rec["allowed"] != false || rec["reason"] != "out_of_scope" || rec["rule"] != "scope:own" {
			t.Errorf("another rep's contact: %s", r.Body)
		}
		q.Set("record_id", cA)
		if r := explain(w.admin, q, http.StatusOK); r.JSON["allowed"] != true || r.JSON["record"].(map[string]any)["allowed"] != true {
			t.Errorf("her own contact: %s", r.Body)
		}
		// A share shows in the record step.
		w.do(ben, "POST", "/api/v1/contacts/"+cB+"/shares", map[string]any{"user_id": w.id["ann"], "access": "read"}, http.StatusCreated)
		q.Set("record_id", cB)
		if r := explain(w.admin, q, http.StatusOK); r.JSON["record"].(map[string]any)["allowed"] != true {
			t.Errorf("shared contact: %s", r.Body)
		}
		q.Set("action", "update")
		if r := explain(w.admin, q, http.StatusOK); r.JSON["allowed"] != false || r.JSON["record"].(map[string]any)["reason"] != "out_of_scope" {
			t.Errorf("update through a read share: %s", r.Body)
		}

		// Unmasking reaches what one can read: the read scope decides.
		w.user("sue", mcrm.RoleSupportAgent, "")
		r = explain(w.admin, url.Values{"user_id": {w.id["sue"]}, "action": {"unmask"}, "object": {"contacts"}, "record_id": {cA}}, http.StatusOK)
		if r.JSON["allowed"] != true || r.JSON["record"].(map[string]any)["rule"] != "scope:all" {
			t.Errorf("support agent unmasking: %s", r.Body)
		}

		// Fields.
		r = explain(fiona, url.Values{"action": {"read"}, "object": {"contacts"}, "field": {"birthday"}}, http.StatusOK)
		if r.JSON["allowed"] != false || step(r, -1)["reason"] != authz.ReasonFieldHidden || step(r, 0)["allowed"] != true {
			t.Errorf("hidden field: %s", r.Body)
		}
		r = explain(w.admin, url.Values{"user_id": {w.id["fiona"]}, "action": {"update"}, "object": {"contacts"}, "field": {"title"}}, http.StatusOK)
		if r.JSON["allowed"] != false || step(r, -1)["reason"] != authz.ReasonFieldReadOnly || r.JSON["role"] != "field_rep" {
			t.Errorf("read-only field: %s", r.Body)
		}
		if r := explain(ann, url.Values{"action": {"manage_users"}}, http.StatusOK); r.JSON["allowed"] != false || step(r, 0)["detail"] != authz.DetailCapabilityNotGranted {
			t.Errorf("capability: %s", r.Body)
		}

		// Only role administrators (and auditors) ask about others.
		axProblem(t, explain(ann, url.Values{"user_id": {w.id["ben"]}, "action": {"read"}, "object": {"contacts"}}, http.StatusForbidden), mcrm.EForbidden, "", "no_permission")
		aud := w.user("aud", mcrm.RoleAuditor, "")
		explain(aud, url.Values{"user_id": {w.id["ben"]}, "action": {"read"}, "object": {"contacts"}, "record_id": {cB}}, http.StatusOK)
		axProblem(t, explain(w.admin, url.Values{"user_id": {record.NewID()}, "action": {"read"}}, http.StatusNotFound), mcrm.ENotFound, "", "")

		for _, c := range []struct {
			q     url.Values
			field string
			code  string
		}{
			{url.Values{"object": {"contacts"}}, "action", "required"},
			{url.Values{"action": {"fly"}}, "action", "unknown_action"},
			{url.Values{"action": {"read"}, "object": {"gadgets"}}, "object", "unknown_object"},
			{url.Values{"action": {"read"}, "record_id": {cA}}, "object", "required"},
			{url.Values{"action": {"read"}, "object": {"contacts"}, "colour": {"red"}}, "colour", "unknown_parameter"},
			{url.Values{"action": {"read", "update"}, "object": {"contacts"}}, "action", "repeated_parameter"},
		} {
			axProblem(t, explain(ann, c.q, http.StatusBadRequest), mcrm.EInvalid, c.field, c.code)
		}
	})
}

func TestAccessFieldReaders(t *testing.T) {
	axEach(t, func(t *testing.T, w *axWorld) {
		roleOf := map[string]string{w.id["admin"]: mcrm.RoleAdmin}
		for _, role := range mcrm.Roles[1:] {
			key := strings.ReplaceAll(role, "_", "")
			w.user(key, role, "")
			roleOf[w.id[key]] = role
		}
		// Tenant roles: field_rep hides birthday; office_reader shows it
		// masked, but only from the office network. A role whose reads
		// are bound to a context still reads the field there: it is
		// listed, with the condition.
		officeReader := map[string]any{
			"objects": map[string]any{"contacts": map[string]any{"actions": []string{"read"}, "scope": "all",
				"fields": map[string]any{"last_name": "read_only", "birthday": "masked", "emails": "masked"}}},
			"context": []any{map[string]any{"name": "office_only", "actions": []string{"read", "export"}, "objects": []string{"contacts"}, "networks": []string{"10.0.0.0/8"}}},
		}
		custom := map[string]*authz.Role{}
		for name, def := range map[string]map[string]any{"field_rep": fieldRep(nil), "office_reader": officeReader} {
			w.do(w.admin, "PUT", "/api/v1/roles/"+name, def, http.StatusCreated)
			custom[name] = &authz.Role{Name: name}
			if b, err := json.Marshal(def); err != nil || json.Unmarshal(b, custom[name]) != nil {
				t.Fatalf("%s does not round-trip", name)
			}
		}
		w.user("fiona", "field_rep", "")
		w.user("otis", "office_reader", "")
		roleOf[w.id["fiona"]], roleOf[w.id["otis"]] = "field_rep", "office_reader"
		// Otis is not in the office now.
		axProblem(t, w.do(w.tok["otis"], "GET", "/api/v1/contacts", nil, http.StatusForbidden), mcrm.EForbidden, "contacts", authz.ReasonContextDenied)

		for _, field := range []string{"birthday", "street", "emails", "created_at"} {
			r := w.do(w.admin, "GET", "/api/v1/authz/field-readers?object=contacts&field="+field, nil, http.StatusOK)
			if r.JSON["object"] != "contacts" || r.JSON["field"] != field {
				t.Errorf("report header: %s", r.Body)
			}
			got := map[string]string{}
			for _, d := range r.JSON["data"].([]any) {
				m := d.(map[string]any)
				uid := m["user_id"].(string)
				got[uid] = m["access"].(string)
				if m["role"] != roleOf[uid] {
					t.Errorf("%s: reader %v through role %v", field, uid, m["role"])
				}
				if want := []any{"office_only"}; uid == w.id["otis"] && !sameJSON(m["conditions"], want) || uid != w.id["otis"] && m["conditions"] != nil {
					t.Errorf("%s: reader %v with conditions %v", field, uid, m["conditions"])
				}
			}
			want := map[string]string{}
			for uid, role := range roleOf {
				b, ok := authz.Builtin(role)
				if !ok {
					b = custom[role]
				}
				if acc := b.FieldAccess("contacts", field); acc != authz.Hidden {
					want[uid] = string(acc)
				}
			}
			if !sameJSON(got, want) {
				t.Errorf("readers of contacts.%s: %v, want %v", field, got, want)
			}
			if field == "birthday" && (got[w.id["admin"]] != "edit" || got[w.id["otis"]] != "masked" || got[w.id["fiona"]] != "" || len(got) < 4) {
				t.Errorf("birthday readers: %v", got)
			}
		}

		axProblem(t, w.do(w.tok["salesmanager"], "GET", "/api/v1/authz/field-readers?object=contacts&field=birthday", nil, http.StatusForbidden), mcrm.EForbidden, "", "no_permission")
		axProblem(t, w.do(w.tok["salesrep"], "GET", "/api/v1/authz/field-readers?object=contacts&field=birthday", nil, http.StatusForbidden), mcrm.EForbidden, "", "no_permission")
		w.do(w.tok["auditor"], "GET", "/api/v1/authz/field-readers?object=contacts&field=birthday", nil, http.StatusOK)
		axProblem(t, w.do(w.admin, "GET", "/api/v1/authz/field-readers?object=contacts&field=colour", nil, http.StatusBadRequest), mcrm.EInvalid, "field", "unknown_field")
		axProblem(t, w.do(w.admin, "GET", "/api/v1/authz/field-readers?object=gadgets&field=name", nil, http.StatusBadRequest), mcrm.EInvalid, "object", "unknown_object")
		axProblem(t, w.do(w.admin, "GET", "/api/v1/authz/field-readers?object=contacts&field=name&x=1", nil, http.StatusBadRequest), mcrm.EInvalid, "x", "unknown_parameter")
	})
}

// oaAccess is TestOpenAPI's pass over the access routes: every operation
// answered successfully at least once (shares for every owned object), and
// the refusals a client must expect, each checked against the document.
// ids holds a record of every object, made by the admin.
func oaAccess(s *oaSpec, admin string, ids map[string]string) {
	t, e := s.t, s.e
	tenant := e.Tenant.Name
	e.StepUp(admin)
	email := "otto.access@" + tenant + ".example"
	ottoID := e.AddUser(e.Tenant.ID, email, "Otto Access", mcrm.RoleSalesRep, "")
	otto := e.Login(tenant, email)

	// Roles.
	if n := len(s.do(oaCall{token: admin, method: "GET", path: "/api/v1/roles", status: http.StatusOK}).JSON["data"].([]any)); n != len(mcrm.Roles) {
		t.Errorf("%d roles, want the %d builtin ones", n, len(mcrm.Roles))
	}
	problemCode(t, s.do(oaCall{token: otto, method: "GET", path: "/api/v1/roles", status: http.StatusForbidden}), mcrm.EForbidden)
	role := map[string]any{
		"description": "Reads contacts in office hours.",
		"objects": map[string]any{"contacts": map[string]any{"actions": []string{"read", "update"}, "scope": "own", "write_scope": "own",
			"description": "their own contacts",
			"fields":      map[string]any{"id": "read_only", "last_name": "edit", "title": "read_only", "emails": "masked"}},
			"products": map[string]any{"actions": []string{"read"}, "scope": "all"}},
		"context": []any{map[string]any{"name": "office_hours", "actions": []string{"read"}, "objects": []string{"contacts"},
			"networks": []string{"10.20.0.0/16"},
			"hours":    map[string]any{"from": "08:00", "to": "18:00", "days": []string{"mon", "tue", "wed", "thu", "fri"}, "time_zone": "Europe/Berlin"}}},
	}
	s.do(oaCall{token: admin, method: "PUT", path: "/api/v1/roles/oa_reader", json: role, status: http.StatusCreated})
	s.do(oaCall{token: admin, method: "PUT", path: "/api/v1/roles/oa_reader", json: role, status: http.StatusOK})
	bad := map[string]any{"objects": map[string]any{"contacts": map[string]any{"actions": []string{"read"}, "scope": "own", "fields": map[string]any{"nickname": "edit"}}}}
	problemCode(t, s.do(oaCall{token: admin, method: "PUT", path: "/api/v1/roles/oa_reader", json: bad, status: http.StatusBadRequest, breaks: "body"}), mcrm.EInvalid)
	problemCode(t, s.do(oaCall{token: admin, method: "PUT", path: "/api/v1/roles/sales_rep", json: role, status: http.StatusBadRequest, breaks: "path name"}), mcrm.EInvalid)
	problemCode(t, s.do(oaCall{token: admin, method: "DELETE", path: "/api/v1/roles/admin", status: http.StatusBadRequest, breaks: "path name"}), mcrm.EInvalid)
	problemCode(t, s.do(oaCall{token: admin, method: "PUT", path: "/api/v1/roles/oa_auditor", json: map[string]any{"capabilities": []string{"view_audit"}}, status: http.StatusForbidden}), mcrm.EForbidden)
	problemCode(t, s.do(oaCall{token: otto, method: "PUT", path: "/api/v1/roles/oa_reader", json: role, status: http.StatusForbidden}), mcrm.EForbidden)
	weak := e.Login(tenant, "admin@"+tenant+".example")
	problemCode(t, s.do(oaCall{token: weak, method: "PUT", path: "/api/v1/roles/oa_reader", json: role, status: http.StatusUnauthorized}), mcrm.EStepUpRequired)
	listed := s.do(oaCall{token: admin, method: "GET", path: "/api/v1/roles", status: http.StatusOK}).JSON["data"].([]any)
	if last := listed[len(listed)-1].(map[string]any); last["name"] != "oa_reader" || len(last["context"].([]any)) != 1 {
		t.Errorf("the tenant role as listed: %v", last)
	}

	// Explain and the field readers report.
	s.do(oaCall{token: otto, method: "GET", path: "/api/v1/authz/explain?action=read&object=contacts&field=birthday", status: http.StatusOK})
	ex := s.do(oaCall{token: admin, method: "GET", path: "/api/v1/authz/explain?user_id=" + ottoID + "&action=update&object=contacts&record_id=" + ids["contacts"], status: http.StatusOK})
	if ex.JSON["allowed"] != false || ex.JSON["record"].(map[string]any)["reason"] != "out_of_scope" {
		t.Errorf("explain: %s", ex.Body)
	}
	problemCode(t, s.do(oaCall{token: otto, method: "GET", path: "/api/v1/authz/explain?user_id=" + e.AdminID + "&action=read", status: http.StatusForbidden}), mcrm.EForbidden)
	problemCode(t, s.do(oaCall{token: otto, method: "GET", path: "/api/v1/authz/explain?action=fly", status: http.StatusBadRequest, breaks: "query action"}), mcrm.EInvalid)
	problemCode(t, s.do(oaCall{token: otto, method: "GET", path: "/api/v1/authz/explain?action=read&colour=red", status: http.StatusBadRequest, breaks: "query colour"}), mcrm.EInvalid)
	problemCode(t, s.do(oaCall{token: admin, method: "GET", path: "/api/v1/authz/explain?user_id=" + record.NewID() + "&action=read", status: http.StatusNotFound}), mcrm.ENotFound)
	s.do(oaCall{token: admin, method: "GET", path: "/api/v1/authz/field-readers?object=contacts&field=birthday", status: http.StatusOK})
	problemCode(t, s.do(oaCall{token: otto, method: "GET", path: "/api/v1/authz/field-readers?object=contacts&field=birthday", status: http.StatusForbidden}), mcrm.EForbidden)
	problemCode(t, s.do(oaCall{token: admin, method: "GET", path: "/api/v1/authz/field-readers?object=contacts", status: http.StatusBadRequest, breaks: "query field"}), mcrm.EInvalid)

	// Account team.
	member := "/api/v1/accounts/" + ids["accounts"] + "/team/" + ottoID
	s.do(oaCall{token: admin, method: "PUT", path: member, json: map[string]any{"access": "read"}, status: http.StatusNoContent})
	s.do(oaCall{token: otto, method: "GET", path: "/api/v1/accounts/" + ids["accounts"], status: http.StatusOK})
	problemCode(t, s.do(oaCall{token: admin, method: "PUT", path: member, json: map[string]any{"access": "owner"}, status: http.StatusBadRequest, breaks: "body"}), mcrm.EInvalid)
	s.do(oaCall{token: admin, method: "DELETE", path: member, status: http.StatusNoContent})
	problemCode(t, s.do(oaCall{token: admin, method: "DELETE", path: member, status: http.StatusNotFound}), mcrm.ENotFound)
	problemCode(t, s.do(oaCall{token: otto, method: "GET", path: "/api/v1/accounts/" + ids["accounts"], status: http.StatusNotFound}), mcrm.ENotFound)

	// Shares of every owned object.
	for _, ent := range mcrm.Entities {
		if !ent.Owned {
			continue
		}
		base := "/api/v1/" + ent.Name + "/" + ids[ent.Name] + "/shares"
		sh := s.do(oaCall{token: admin, method: "POST", path: base, json: map[string]any{"user_id": ottoID, "access": "read"}, status: http.StatusCreated})
		if l := s.do(oaCall{token: admin, method: "GET", path: base, status: http.StatusOK}); len(l.JSON["data"].([]any)) != 1 {
			t.Errorf("%s shares: %s", ent.Name, l.Body)
		}
		s.do(oaCall{token: admin, method: "DELETE", path: base + "/" + sh.JSON["id"].(string), status: http.StatusNoContent})
	}
	shares := "/api/v1/contacts/" + ids["contacts"] + "/shares"
	problemCode(t, s.do(oaCall{token: admin, method: "POST", path: shares, json: map[string]any{"user_id": ottoID, "team_id": ids["teams"], "access": "read"},
		status: http.StatusBadRequest, breaks: "body"}), mcrm.EInvalid)
	problemCode(t, s.do(oaCall{token: otto, method: "POST", path: shares, json: map[string]any{"user_id": ottoID, "access": "edit"}, status: http.StatusNotFound}), mcrm.ENotFound)
	problemCode(t, s.do(oaCall{token: admin, method: "DELETE", path: shares + "/" + record.NewID(), status: http.StatusNotFound}), mcrm.ENotFound)

	// A role nobody holds is deleted; a deleted one is not found.
	s.do(oaCall{token: admin, method: "DELETE", path: "/api/v1/roles/oa_reader", status: http.StatusNoContent})
	problemCode(t, s.do(oaCall{token: admin, method: "DELETE", path: "/api/v1/roles/oa_reader", status: http.StatusNotFound}), mcrm.ENotFound)
}
