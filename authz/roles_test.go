package authz

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"mcrm"
)

func builtin(t testing.TB, name string) *Role {
	t.Helper()
	r, ok := Builtin(name)
	if !ok {
		t.Fatalf("no built-in role %s", name)
	}
	return r
}

func TestBuiltinRolesLoad(t *testing.T) {
	rs := BuiltinRoles()
	var names []string
	for _, r := range rs {
		names = append(names, r.Name)
		if !r.Builtin {
			t.Errorf("%s: Builtin is false", r.Name)
		}
		if r.Description == "" {
			t.Errorf("%s: no description saying why", r.Name)
		}
		if err := r.validate(true); err != nil {
			t.Errorf("%s: %v", r.Name, err)
		}
		// As a tenant role the name is reserved ...
		var e *mcrm.Error
		if err := r.Validate(); !errors.As(err, &e) || e.Fields[0].Field != "name" || e.Fields[0].Code != "reserved_name" {
			t.Errorf("%s: Validate = %v, want the name refused as reserved", r.Name, err)
		}
		// ... and a tenant may start from a copy of any built-in role,
		// except for admin's writes on admin-only reference data.
		c := r.Clone()
		c.Name, c.Builtin = "copy_of_"+r.Name, false
		err := c.Validate()
		if r.Name != mcrm.RoleAdmin && err != nil {
			t.Errorf("copy of %s: %v", r.Name, err)
		}
		if r.Name == mcrm.RoleAdmin {
			if !errors.As(err, &e) {
				t.Fatalf("copy of admin: %v", err)
			}
			for _, f := range e.Fields {
				if f.Code != "admin_only" {
					t.Errorf("copy of admin: %+v", f)
				}
			}
		}
	}
	if !slices.Equal(names, mcrm.Roles) {
		t.Fatalf("built-in roles %v, want %v", names, mcrm.Roles)
	}
	if _, ok := Builtin("ghost"); ok {
		t.Error("Builtin(ghost) found a role")
	}
}

// TestBuiltinCopies: a caller changing the role it got must not change
// the role the next request gets.
func TestBuiltinCopies(t *testing.T) {
	r := builtin(t, mcrm.RoleSalesRep)
	g := r.Objects["contacts"]
	g.Fields["loyalty_score"] = Edit
	g.Actions[0] = Export
	r.Objects["contacts"] = g
	r.Capabilities = append(r.Capabilities, ManageUsers)
	r.Objects["opportunities"] = Grant{Actions: []Action{Read}, Scope: ScopeAll}

	fresh := builtin(t, mcrm.RoleSalesRep)
	if fresh.FieldAccess("contacts", "loyalty_score") != Hidden || fresh.ScopeFor("opportunities", Read) != ScopeOwn ||
		fresh.Can(Export, "contacts", officeCtx()).Allowed || fresh.Can(ManageUsers, "", officeCtx()).Allowed {
		t.Fatal("changing a copy changed the built-in role")
	}
}

// TestBadRolesFileRefused: the loader refuses what it must not guess
// about.
func TestBadRolesFileRefused(t *testing.T) {
	good := string(rolesJSON)
	for name, data := range map[string]string{
		"misspelt key":  strings.Replace(good, `"fields"`, `"feilds"`, 1),
		"missing role":  strings.Replace(good, `"name": "auditor"`, `"name": "auditor2"`, 1),
		"trailing data": good + "{}",
		"unknown field": strings.Replace(good, `"manager_id": "edit"`, `"manager_id": "edit", "shoe_size": "edit"`, 1),
		"edit id":       strings.Replace(good, `"id": "read_only"`, `"id": "edit"`, 1),
		"wildcard":      strings.Replace(good, `"manager_id": "edit"`, `"manager_id": "edit", "*": "edit"`, 1),
	} {
		if _, err := loadBuiltins([]byte(data)); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	if _, err := loadBuiltins(rolesJSON); err != nil {
		t.Fatal(err)
	}
}

// TestAdminNamesEverySchemaField: admin's allow-list names every field of
// every entity, so adding a field to schema.go fails here until someone
// decides, in roles.json, who sees it. Server-maintained fields are
// read-only, the rest editable.
func TestAdminNamesEverySchemaField(t *testing.T) {
	admin := builtin(t, mcrm.RoleAdmin)
	for _, e := range mcrm.Entities {
		g, ok := admin.Objects[e.Name]
		if !ok {
			t.Errorf("admin has no grant on %s", e.Name)
			continue
		}
		if !slices.Equal(g.Actions, ObjectActions) || g.Scope != ScopeAll {
			t.Errorf("admin on %s: %v %s, want every action, scope all", e.Name, g.Actions, g.Scope)
		}
		for _, f := range e.Fields {
			want := Edit
			if serverSet(&f) {
				want = ReadOnly
			}
			if got, ok := g.Fields[f.Name]; !ok || got != want {
				t.Errorf("admin %s.%s = %q, want %q in roles.json", e.Name, f.Name, got, want)
			}
		}
		if len(g.Fields) != len(e.Fields) {
			t.Errorf("admin %s names %d fields, the schema has %d", e.Name, len(g.Fields), len(e.Fields))
		}
	}
}

// TestNewFieldHiddenEverywhere adds a field to every entity of the
// registry, as a later schema change would, and checks that no role sees
// or writes it until roles.json names it, whatever the role's other
// grants.
func TestNewFieldHiddenEverywhere(t *testing.T) {
	saved := make([][]mcrm.Field, len(mcrm.Entities))
	for i, e := range mcrm.Entities {
		saved[i] = e.Fields
		e.Fields = append(slices.Clone(e.Fields),
			mcrm.Field{Name: "loyalty_score", Type: mcrm.TInt, Class: mcrm.Internal},
			mcrm.Field{Name: "aliases", Type: mcrm.TList, Class: mcrm.Personal, Item: []mcrm.Field{{Name: "value", Type: mcrm.TString, Class: mcrm.Personal}}})
	}
	defer func() {
		for i, e := range mcrm.Entities {
			e.Fields = saved[i]
		}
	}()
	rs, err := loadBuiltins(rolesJSON) // the file still loads: a new field needs no edit to start hidden
	if err != nil {
		t.Fatal(err)
	}
	rs = append(rs, customRoles(t)...)
	for _, r := range rs {
		for _, e := range mcrm.Entities {
			for _, f := range []string{"loyalty_score", "aliases", "aliases[].value"} {
				if a := r.FieldAccess(e.Name, f); a != Hidden {
					t.Errorf("%s sees new field %s.%s as %s", r.Name, e.Name, f, a)
				}
				if d := r.CanWriteField(e.Name, f); d.Allowed || d.Reason != ReasonFieldHidden {
					t.Errorf("%s writing new field %s.%s: %+v", r.Name, e.Name, f, d)
				}
				for _, a := range ObjectActions {
					if d := r.Decide(a, e.Name, f, officeCtx()); d.Allowed && a != Delete {
						t.Errorf("%s %s new field %s.%s: %+v", r.Name, a, e.Name, f, d)
					}
				}
			}
		}
	}
}

// TestLeastPrivilege checks the properties the roles are designed around,
// independently of the golden file.
func TestLeastPrivilege(t *testing.T) {
	for _, r := range BuiltinRoles() {
		isAdmin := r.Name == mcrm.RoleAdmin
		if slices.Contains(r.Capabilities, ManageUsers) != isAdmin || slices.Contains(r.Capabilities, ManageDevices) != isAdmin {
			t.Errorf("%s capabilities %v: only admin manages users and devices", r.Name, r.Capabilities)
		}
		if slices.Contains(r.Capabilities, ViewAudit) != (r.Name == mcrm.RoleAuditor) {
			t.Errorf("%s capabilities %v: only the auditor reads the audit trail", r.Name, r.Capabilities)
		}
		for _, e := range mcrm.Entities {
			g, ok := r.Objects[e.Name]
			if !ok {
				continue
			}
			for name, acc := range g.Fields {
				f := e.Field(name)
				if acc == Edit && serverSet(f) {
					t.Errorf("%s may edit server-maintained %s.%s", r.Name, e.Name, name)
				}
			}
			if !isAdmin && e.AdminWrite && slices.ContainsFunc(g.Actions, func(a Action) bool { return slices.Contains(writeActions, a) }) {
				t.Errorf("%s writes admin-only %s", r.Name, e.Name)
			}
		}
	}

	auditor := builtin(t, mcrm.RoleAuditor)
	for _, e := range mcrm.Entities {
		g := auditor.Objects[e.Name]
		if !slices.Equal(g.Actions, []Action{Read}) || g.Scope != ScopeAll {
			t.Errorf("auditor on %s: %v %s, want read only, scope all", e.Name, g.Actions, g.Scope)
		}
		for _, a := range ObjectActions {
			if a != Read && auditor.Can(a, e.Name, officeCtx()).Allowed {
				t.Errorf("auditor may %s %s", a, e.Name)
			}
		}
		for _, f := range e.Fields {
			acc := auditor.FieldAccess(e.Name, f.Name)
			if acc == Edit || acc == Hidden {
				t.Errorf("auditor %s.%s = %s, want read_only or masked", e.Name, f.Name, acc)
			}
			// Customers' personal data is masked; employees (users) are
			// what the audit is about.
			if (f.Class == mcrm.Personal || f.Class == mcrm.Sensitive) && e.Name != "users" && acc != Masked {
				t.Errorf("auditor %s.%s (%s) = %s, want masked", e.Name, f.Name, f.Class, acc)
			}
		}
	}
	if auditor.FieldAccess("contacts", "emails[].value") != Masked || auditor.FieldAccess("contacts", "phones[].value") != Masked {
		t.Error("auditor sees contact emails or phones unmasked")
	}

	rep := builtin(t, mcrm.RoleSalesRep)
	for _, e := range mcrm.Entities {
		if _, ok := rep.Objects[e.Name]; !ok || !e.Owned {
			continue
		}
		for _, a := range ObjectActions {
			if s := rep.ScopeFor(e.Name, a); s != ScopeNone && s != ScopeOwn {
				t.Errorf("rep %s %s scope %s, want own", a, e.Name, s)
			}
		}
		for _, a := range []Action{Export, Import, MassUpdate, Unmask} {
			if rep.Can(a, e.Name, officeCtx()).Allowed {
				t.Errorf("rep may %s %s", a, e.Name)
			}
		}
	}
	if rep.ScopeFor("contacts", Read) != ScopeOwn || rep.ScopeFor("contacts", Update) != ScopeOwn {
		t.Error("rep contact scope is not own")
	}

	for _, name := range []string{mcrm.RoleSupportAgent, mcrm.RoleMarketing} {
		if builtin(t, name).Can(Read, "opportunities", officeCtx()).Allowed {
			t.Errorf("%s reads opportunities", name)
		}
	}
}

// TestRoleMatrix is the hand-written summary of roles.json: role ×
// object → actions and read scope. It is the table a reviewer reads; the
// golden file then pins every decision that follows from it.
func TestRoleMatrix(t *testing.T) {
	crud := "read create update delete import export mass_update"
	want := map[string]map[string]string{
		mcrm.RoleAdmin: {
			"*": "read create update delete import export mass_update unmask/all",
		},
		mcrm.RoleSalesManager: {
			"accounts": crud + "/team", "contacts": crud + "/team", "opportunities": crud + "/team",
			"leads": crud + "/team", "activities": crud + "/team", "notes": crud + "/team",
			"cases": "read/team", "products": "read/all", "pipelines": "read/all", "teams": "read/all", "users": "read/all",
		},
		mcrm.RoleSalesRep: {
			"accounts": "read create update/own", "contacts": "read create update/own",
			"opportunities": "read create update/own", "leads": "read create update/own",
			"activities": "read create update delete/own", "notes": "read create update delete/own",
			"cases": "read/own", "products": "read/all", "pipelines": "read/all", "teams": "read/all", "users": "read/all",
		},
		mcrm.RoleSupportAgent: {
			"cases": "read create update/all", "contacts": "read unmask/all", "accounts": "read/all",
			"notes": "read create update/own", "products": "read/all", "teams": "read/all", "users": "read/all",
		},
		mcrm.RoleMarketing: {
			"leads": crud + "/all", "contacts": "read update export/all", "accounts": "read/all",
			"notes": "read create update/own", "products": "read/all", "teams": "read/all", "users": "read/all",
		},
		mcrm.RoleAuditor: {"*": "read/all"},
	}
	for _, r := range BuiltinRoles() {
		for _, e := range mcrm.Entities {
			w, ok := want[r.Name][e.Name]
			if !ok {
				w = want[r.Name]["*"]
			}
			got := ""
			if g, ok := r.Objects[e.Name]; ok {
				var as []string
				for _, a := range g.Actions {
					as = append(as, string(a))
				}
				got = strings.Join(as, " ") + "/" + string(g.Scope)
				if g.Write != "" && g.Write != g.Scope {
					got += "," + string(g.Write)
				}
			}
			if got != w {
				t.Errorf("%s on %s: %q, want %q", r.Name, e.Name, got, w)
			}
		}
	}
}

// TestNotableFields pins the field decisions the role descriptions
// promise.
func TestNotableFields(t *testing.T) {
	for _, c := range []struct {
		role, object, field string
		want                Access
	}{
		{mcrm.RoleSalesRep, "accounts", "annual_revenue", ReadOnly},
		{mcrm.RoleSalesRep, "accounts", "external_id", ReadOnly},
		{mcrm.RoleSalesRep, "contacts", "emails[].value", Edit},
		{mcrm.RoleSalesRep, "contacts", "phones[].value", Edit},
		{mcrm.RoleSalesRep, "contacts", "owner_id", ReadOnly},
		{mcrm.RoleSalesRep, "users", "email", Hidden},
		{mcrm.RoleSalesRep, "users", "time_zone", Hidden},
		{mcrm.RoleSalesRep, "users", "name", ReadOnly},
		{mcrm.RoleSalesManager, "users", "email", ReadOnly},
		{mcrm.RoleSalesManager, "accounts", "annual_revenue", Edit},
		{mcrm.RoleSalesManager, "cases", "description", ReadOnly},
		{mcrm.RoleSupportAgent, "accounts", "annual_revenue", Hidden},
		{mcrm.RoleSupportAgent, "contacts", "street", Masked},
		{mcrm.RoleSupportAgent, "contacts", "birthday", Hidden},
		{mcrm.RoleSupportAgent, "contacts", "notes", Hidden},
		{mcrm.RoleSupportAgent, "contacts", "phones[].value", ReadOnly},
		{mcrm.RoleSupportAgent, "products", "price", Hidden},
		{mcrm.RoleMarketing, "contacts", "phones[].value", Masked},
		{mcrm.RoleMarketing, "contacts", "emails[].value", ReadOnly},
		{mcrm.RoleMarketing, "contacts", "subscribed_on", Edit},
		{mcrm.RoleMarketing, "contacts", "street", Hidden},
		{mcrm.RoleMarketing, "accounts", "annual_revenue", Hidden},
		{mcrm.RoleAuditor, "contacts", "birthday", Masked},
		{mcrm.RoleAuditor, "users", "email", ReadOnly},
		{mcrm.RoleAuditor, "accounts", "annual_revenue", ReadOnly},
		{mcrm.RoleAdmin, "users", "email", Edit},
		{mcrm.RoleAdmin, "leads", "converted_at", ReadOnly},
	} {
		if got := builtin(t, c.role).FieldAccess(c.object, c.field); got != c.want {
			t.Errorf("%s %s.%s = %s, want %s", c.role, c.object, c.field, got, c.want)
		}
	}
}
