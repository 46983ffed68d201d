package authz

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"mcrm"
)

// validRole is a small tenant role that passes Validate; each case below
// breaks one thing in a copy.
func validRole() *Role {
	return &Role{
		Name: "field_sales",
		Objects: map[string]Grant{
			"contacts": {Actions: []Action{Read, Update, Export}, Scope: ScopeOwn,
				Fields: map[string]Access{"id": ReadOnly, "last_name": Edit, "emails": Masked}},
			"products": {Actions: []Action{Read}, Scope: ScopeAll, Fields: map[string]Access{"name": ReadOnly}},
		},
		Capabilities: []Action{},
		Context: []ContextRule{{Name: "export_hours", Actions: []Action{Export}, Objects: []string{"*"},
			MinDeviceTrust: mcrm.DeviceTrustManaged, Networks: []string{"10.20.0.0/16", "2001:db8:1::/48"},
			Hours: &Hours{From: "08:00", To: "18:00", Days: []string{"mon", "fri"}, TimeZone: "Europe/Berlin"}}},
	}
}

func TestValidate(t *testing.T) {
	if err := validRole().Validate(); err != nil {
		t.Fatalf("valid role: %v", err)
	}
	for _, c := range []struct {
		name   string
		change func(r *Role)
		field  string
		code   string
	}{
		{"short name", func(r *Role) { r.Name = "ab" }, "name", "invalid_name"},
		{"long name", func(r *Role) { r.Name = strings.Repeat("a", 41) }, "name", "invalid_name"},
		{"upper case", func(r *Role) { r.Name = "Field_sales" }, "name", "invalid_name"},
		{"leading digit", func(r *Role) { r.Name = "1sales" }, "name", "invalid_name"},
		{"dot", func(r *Role) { r.Name = "sales.rep" }, "name", "invalid_name"},
		{"builtin name", func(r *Role) { r.Name = mcrm.RoleAdmin }, "name", "reserved_name"},
		{"builtin flag", func(r *Role) { r.Builtin = true }, "builtin", "invalid"},
		{"long description", func(r *Role) { r.Description = strings.Repeat("x", 1001) }, "description", "too_long"},
		{"unknown object", func(r *Role) { r.Objects["secrets"] = Grant{Actions: []Action{Read}, Scope: ScopeAll} }, "objects.secrets", "unknown_object"},
		{"unknown field", func(r *Role) { r.Objects["contacts"].Fields["foo"] = ReadOnly }, "objects.contacts.fields.foo", "unknown_field"},
		{"item field", func(r *Role) { r.Objects["contacts"].Fields["emails[].value"] = ReadOnly }, "objects.contacts.fields.emails[].value", "unknown_field"},
		{"wildcard field", func(r *Role) { r.Objects["contacts"].Fields["*"] = ReadOnly }, "objects.contacts.fields.*", "unknown_field"},
		{"unknown access", func(r *Role) { r.Objects["contacts"].Fields["title"] = "write" }, "objects.contacts.fields.title", "invalid_access"},
		{"edit server field", func(r *Role) { r.Objects["contacts"].Fields["owner_id"] = Edit }, "objects.contacts.fields.owner_id", "server_maintained"},
		{"edit without write", func(r *Role) { r.Objects["products"].Fields["name"] = Edit }, "objects.products.fields.name", "edit_without_write"},
		{"unknown action", func(r *Role) { setGrant(r, "contacts", func(g *Grant) { g.Actions = append(g.Actions, "approve") }) }, "objects.contacts.actions[3]", "unknown_action"},
		{"capability as action", func(r *Role) { setGrant(r, "contacts", func(g *Grant) { g.Actions = append(g.Actions, ManageUsers) }) }, "objects.contacts.actions[3]", "unknown_action"},
		{"duplicate action", func(r *Role) { setGrant(r, "contacts", func(g *Grant) { g.Actions = append(g.Actions, Read) }) }, "objects.contacts.actions[3]", "duplicate"},
		{"no actions", func(r *Role) { setGrant(r, "contacts", func(g *Grant) { g.Actions = nil }) }, "objects.contacts.actions", "required"},
		{"no read", func(r *Role) { setGrant(r, "contacts", func(g *Grant) { g.Actions = []Action{Update} }) }, "objects.contacts.actions", "read_required"},
		{"admin-only object", func(r *Role) { setGrant(r, "products", func(g *Grant) { g.Actions = []Action{Read, Update} }) }, "objects.products.actions[1]", "admin_only"},
		{"unknown scope", func(r *Role) { setGrant(r, "contacts", func(g *Grant) { g.Scope = "galaxy" }) }, "objects.contacts.scope", "invalid_scope"},
		{"empty scope", func(r *Role) { setGrant(r, "contacts", func(g *Grant) { g.Scope = "" }) }, "objects.contacts.scope", "invalid_scope"},
		{"scope none", func(r *Role) { setGrant(r, "contacts", func(g *Grant) { g.Scope = ScopeNone }) }, "objects.contacts.scope", "invalid_scope"},
		{"own on reference data", func(r *Role) { setGrant(r, "products", func(g *Grant) { g.Scope = ScopeOwn }) }, "objects.products.scope", "invalid_scope"},
		{"write wider than read", func(r *Role) { setGrant(r, "contacts", func(g *Grant) { g.Write = ScopeAll }) }, "objects.contacts.write_scope", "exceeds_read_scope"},
		{"write team vs territory", func(r *Role) {
			setGrant(r, "contacts", func(g *Grant) { g.Scope, g.Write = ScopeTeam, ScopeTerritory })
		}, "objects.contacts.write_scope", "exceeds_read_scope"},
		{"unknown capability", func(r *Role) { r.Capabilities = []Action{"root"} }, "capabilities[0]", "unknown_capability"},
		{"duplicate capability", func(r *Role) { r.Capabilities = []Action{ViewAudit, ViewAudit} }, "capabilities[1]", "duplicate"},
		{"rule name", func(r *Role) { r.Context[0].Name = "Export Hours" }, "context[0].name", "invalid_name"},
		{"duplicate rule", func(r *Role) { r.Context = append(r.Context, r.Context[0]) }, "context[1].name", "duplicate"},
		{"rule no actions", func(r *Role) { r.Context[0].Actions = nil }, "context[0].actions", "required"},
		{"rule unknown action", func(r *Role) { r.Context[0].Actions = []Action{"fly"} }, "context[0].actions[0]", "unknown_action"},
		{"rule no objects", func(r *Role) { r.Context[0].Objects = nil }, "context[0].objects", "required"},
		{"rule unknown object", func(r *Role) { r.Context[0].Objects = []string{"secrets"} }, "context[0].objects[0]", "unknown_object"},
		{"rule no condition", func(r *Role) { r.Context[0].MinDeviceTrust, r.Context[0].Networks, r.Context[0].Hours = "", nil, nil }, "context[0]", "no_condition"},
		{"device blocked", func(r *Role) { r.Context[0].MinDeviceTrust = mcrm.DeviceTrustBlocked }, "context[0].min_device_trust", "invalid_device_trust"},
		{"device unknown", func(r *Role) { r.Context[0].MinDeviceTrust = "trusted" }, "context[0].min_device_trust", "invalid_device_trust"},
		{"bad cidr", func(r *Role) { r.Context[0].Networks = []string{"10.20.0.0/16", "10.0.0.0/33"} }, "context[0].networks[1]", "invalid_cidr"},
		{"host bits", func(r *Role) { r.Context[0].Networks = []string{"10.20.1.5/16"} }, "context[0].networks[0]", "invalid_cidr"},
		{"bare ip", func(r *Role) { r.Context[0].Networks = []string{"10.20.1.5"} }, "context[0].networks[0]", "invalid_cidr"},
		{"bad from", func(r *Role) { r.Context[0].Hours.From = "8:00" }, "context[0].hours.from", "invalid_time"},
		{"from 24:00", func(r *Role) { r.Context[0].Hours.From = "24:00" }, "context[0].hours.from", "invalid_time"},
		{"bad to", func(r *Role) { r.Context[0].Hours.To = "18:60" }, "context[0].hours.to", "invalid_time"},
		{"empty window", func(r *Role) { r.Context[0].Hours.To = "08:00" }, "context[0].hours.to", "empty_window"},
		{"no days", func(r *Role) { r.Context[0].Hours.Days = nil }, "context[0].hours.days", "required"},
		{"bad day", func(r *Role) { r.Context[0].Hours.Days = []string{"monday"} }, "context[0].hours.days[0]", "invalid_day"},
		{"duplicate day", func(r *Role) { r.Context[0].Hours.Days = []string{"mon", "mon"} }, "context[0].hours.days[1]", "duplicate"},
		{"bad zone", func(r *Role) { r.Context[0].Hours.TimeZone = "Mars/Olympus" }, "context[0].hours.time_zone", "invalid_time_zone"},
		{"no zone", func(r *Role) { r.Context[0].Hours.TimeZone = "" }, "context[0].hours.time_zone", "invalid_time_zone"},
		{"local zone", func(r *Role) { r.Context[0].Hours.TimeZone = "Local" }, "context[0].hours.time_zone", "invalid_time_zone"},
		{"path zone", func(r *Role) { r.Context[0].Hours.TimeZone = "../../etc/passwd" }, "context[0].hours.time_zone", "invalid_time_zone"},
	} {
		r := validRole().Clone()
		c.change(r)
		err := r.Validate()
		var e *mcrm.Error
		if !errors.As(err, &e) || e.Code != mcrm.EInvalid {
			t.Errorf("%s: %v, want an EInvalid *mcrm.Error", c.name, err)
			continue
		}
		found := slices.ContainsFunc(e.Fields, func(f mcrm.FieldError) bool { return f.Field == c.field && f.Code == c.code })
		if !found {
			t.Errorf("%s: %+v, want %s %s", c.name, e.Fields, c.field, c.code)
		}
	}
	var nobody *Role
	if nobody.Validate() == nil {
		t.Error("nil role valid")
	}
	// Every problem is reported at once.
	r := validRole()
	r.Name = "X"
	r.Objects["contacts"].Fields["foo"] = Edit
	r.Context[0].Hours.TimeZone = "Nowhere"
	var e *mcrm.Error
	if err := r.Validate(); !errors.As(err, &e) || len(e.Fields) != 3 {
		t.Errorf("three problems: %v", err)
	}
	// A capability-only rule needs no objects.
	r = validRole()
	r.Capabilities = []Action{ManageDevices}
	r.Context = append(r.Context, ContextRule{Name: "devices", Actions: []Action{ManageDevices}, MinDeviceTrust: mcrm.DeviceTrustManaged})
	if err := r.Validate(); err != nil {
		t.Errorf("capability rule: %v", err)
	}
}

func setGrant(r *Role, object string, change func(g *Grant)) {
	g := r.Objects[object]
	change(&g)
	r.Objects[object] = g
}

func TestCanGrantBuiltins(t *testing.T) {
	roles := map[string]*Role{}
	for _, r := range BuiltinRoles() {
		roles[r.Name] = r
	}
	// Which built-in role may assign which: a role may assign itself and
	// any role within its own rights. Admin may not assign auditor (it
	// would hand out view_audit, which admin lacks by design); a manager
	// may assign a rep, whose rights are a subset of the manager's.
	want := map[string][]string{
		mcrm.RoleAdmin:        {mcrm.RoleAdmin, mcrm.RoleSalesManager, mcrm.RoleSalesRep, mcrm.RoleSupportAgent, mcrm.RoleMarketing},
		mcrm.RoleSalesManager: {mcrm.RoleSalesManager, mcrm.RoleSalesRep},
		mcrm.RoleSalesRep:     {mcrm.RoleSalesRep},
		mcrm.RoleSupportAgent: {mcrm.RoleSupportAgent},
		mcrm.RoleMarketing:    {mcrm.RoleMarketing},
		mcrm.RoleAuditor:      {mcrm.RoleAuditor},
	}
	for _, g := range mcrm.Roles {
		for _, r := range mcrm.Roles {
			err := CanGrant(roles[g], roles[r])
			if ok := slices.Contains(want[g], r); ok != (err == nil) {
				t.Errorf("CanGrant(%s, %s) = %v, want ok=%v", g, r, err, ok)
			}
			if err != nil && mcrm.ErrorCode(err) != mcrm.EForbidden {
				t.Errorf("CanGrant(%s, %s): code %s", g, r, mcrm.ErrorCode(err))
			}
		}
	}
	err := CanGrant(roles[mcrm.RoleSalesManager], roles[mcrm.RoleAdmin])
	var e *mcrm.Error
	if !errors.As(err, &e) || e.Fields[0].Field != "objects.accounts.actions" || !strings.Contains(e.Message, "unmask") {
		t.Errorf("manager granting admin: %v %+v", err, e)
	}
	if err := CanGrant(roles[mcrm.RoleAdmin], roles[mcrm.RoleAuditor]); !errors.As(err, &e) || e.Fields[0].Field != "capabilities" {
		t.Errorf("admin granting auditor: %v", err)
	}
	if CanGrant(nil, roles[mcrm.RoleSalesRep]) == nil || CanGrant(roles[mcrm.RoleAdmin], nil) == nil {
		t.Error("a nil role granted or was granted")
	}
}

func TestCanGrantContextRules(t *testing.T) {
	granter := validRole()
	// The same role without its export rule would shed the restriction.
	loose := validRole()
	loose.Name = "loose"
	loose.Context = nil
	var e *mcrm.Error
	if err := CanGrant(granter, loose); !errors.As(err, &e) || e.Fields[0].Field != "context.export_hours" {
		t.Errorf("granting without the rule: %v", err)
	}
	// The rule under another name, on more actions, still restricts.
	renamed := validRole()
	renamed.Context[0].Name = "copied"
	renamed.Context[0].Actions = append(renamed.Context[0].Actions, Read)
	slices.Reverse(renamed.Context[0].Networks)
	if err := CanGrant(granter, renamed); err != nil {
		t.Errorf("renamed rule: %v", err)
	}
	// A weaker condition does not.
	weaker := validRole()
	weaker.Context[0].MinDeviceTrust = mcrm.DeviceTrustVerified
	if CanGrant(granter, weaker) == nil {
		t.Error("a weaker device condition was accepted")
	}
	narrower := validRole()
	narrower.Context[0].Objects = []string{"contacts"}
	if CanGrant(granter, narrower) == nil {
		t.Error("a rule on fewer objects was accepted")
	}
	// Extra rules on the granted role only restrict it.
	extra := validRole()
	extra.Context = append(extra.Context, ContextRule{Name: "reads", Actions: []Action{Read}, Objects: []string{"*"}, Networks: []string{"10.0.0.0/8"}})
	if err := CanGrant(granter, extra); err != nil {
		t.Errorf("extra rule: %v", err)
	}
}

// randomSubRole draws a role whose every grant is within from: a random
// subset of objects, actions and fields, each scope and access at or below
// from's, a random subset of capabilities.
func randomSubRole(rng *rand.Rand, from *Role, name string) *Role {
	r := &Role{Name: name, Objects: map[string]Grant{}}
	for _, object := range sortedKeys(from.Objects) {
		g := from.Objects[object]
		if rng.IntN(3) == 0 {
			continue
		}
		var ng Grant
		for _, a := range g.Actions {
			if rng.IntN(2) == 0 {
				ng.Actions = append(ng.Actions, a)
			}
		}
		ng.Scope = randomScopeAtMost(rng, g.Scope)
		// Write defaults to Scope, so leave it empty only when that stays
		// within the source's write scope.
		if rng.IntN(2) == 0 || !scopeLE(ng.Scope, g.effectiveWrite()) {
			ng.Write = randomScopeAtMost(rng, g.effectiveWrite())
		}
		ng.Fields = map[string]Access{}
		for _, f := range sortedKeys(g.Fields) {
			if rng.IntN(3) > 0 {
				ng.Fields[f] = randomAccessAtMost(rng, g.Fields[f])
			}
		}
		r.Objects[object] = ng
	}
	for _, c := range from.Capabilities {
		if rng.IntN(2) == 0 {
			r.Capabilities = append(r.Capabilities, c)
		}
	}
	return r
}

var allScopes = []Scope{ScopeNone, ScopeOwn, ScopeTeam, ScopeTerritory, ScopeAll}

func randomScopeAtMost(rng *rand.Rand, max Scope) Scope {
	var ok []Scope
	for _, s := range allScopes {
		if scopeLE(s, max) {
			ok = append(ok, s)
		}
	}
	return ok[rng.IntN(len(ok))]
}

func randomAccessAtMost(rng *rand.Rand, max Access) Access {
	return []Access{Hidden, Masked, ReadOnly, Edit}[rng.IntN(accessRank(max)+1)]
}

// escalate adds to r one right that granter lacks, and returns the path
// CanGrant must name, or "" when granter already has everything of that
// kind.
func escalate(rng *rand.Rand, r, granter *Role) string {
	admin, _ := Builtin(mcrm.RoleAdmin)
	objects := sortedKeys(admin.Objects)
	for range 50 {
		object := objects[rng.IntN(len(objects))]
		mine, held := granter.Objects[object]
		g := r.Objects[object]
		g.Fields = cloneFields(g.Fields)
		switch rng.IntN(5) {
		case 0: // an object the granter lacks
			if held {
				continue
			}
			g.Actions = []Action{Read}
			g.Scope = ScopeOwn
			r.Objects[object] = g
			return "objects." + object
		case 1: // an action
			var missing []Action
			for _, a := range ObjectActions {
				if !slices.Contains(mine.Actions, a) {
					missing = append(missing, a)
				}
			}
			if !held || len(missing) == 0 {
				continue
			}
			g.Actions = append(slices.Clone(g.Actions), missing[rng.IntN(len(missing))])
			r.Objects[object] = g
			return "objects." + object + ".actions"
		case 2: // a wider read scope
			if !held || mine.Scope == ScopeAll {
				continue
			}
			g.Scope = ScopeAll
			r.Objects[object] = g
			return "objects." + object + ".scope"
		case 3: // more access to a field
			if !held {
				continue
			}
			fields := sortedKeys(admin.Objects[object].Fields)
			f := fields[rng.IntN(len(fields))]
			if mine.Fields[f] == Edit {
				continue
			}
			// One step above what the granter holds.
			g.Fields[f] = []Access{Masked, ReadOnly, Edit}[accessRank(mine.Fields[f])]
			r.Objects[object] = g
			return "objects." + object + ".fields." + f
		case 4: // a capability
			var missing []Action
			for _, c := range Capabilities {
				if !slices.Contains(granter.Capabilities, c) {
					missing = append(missing, c)
				}
			}
			if len(missing) == 0 {
				continue
			}
			r.Capabilities = append(r.Capabilities, missing[rng.IntN(len(missing))])
			return "capabilities"
		}
	}
	return ""
}

func cloneFields(m map[string]Access) map[string]Access {
	c := make(map[string]Access, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// TestCanGrantProperty: for roles drawn from subsets of admin (plus
// view_audit, so every capability occurs), a role is grantable iff it is
// a subset of the granter: every sub-role of a granter is grantable, any
// single right added beyond the granter's is refused and named, every
// role can grant itself, and grantability is transitive.
func TestCanGrantProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2026))
	universe := builtin(t, mcrm.RoleAdmin)
	universe.Capabilities = Capabilities
	escalations := 0
	defer func() {
		if escalations < 1500 {
			t.Errorf("only %d of 2000 draws tried an escalation", escalations)
		}
	}()
	for i := range 2000 {
		granter := randomSubRole(rng, universe, "granter")
		if err := CanGrant(granter, granter); err != nil {
			t.Fatalf("%d: a role cannot grant itself: %v", i, err)
		}
		sub := randomSubRole(rng, granter, "sub")
		if err := CanGrant(granter, sub); err != nil {
			t.Fatalf("%d: sub-role refused: %v", i, err)
		}
		subsub := randomSubRole(rng, sub, "subsub")
		if CanGrant(sub, subsub) != nil || CanGrant(granter, subsub) != nil {
			t.Fatalf("%d: not transitive", i)
		}
		over := sub.Clone()
		path := escalate(rng, over, granter)
		if path == "" {
			continue
		}
		escalations++
		err := CanGrant(granter, over)
		var e *mcrm.Error
		if !errors.As(err, &e) || e.Code != mcrm.EForbidden {
			t.Fatalf("%d: escalation at %s accepted: %v", i, path, err)
		}
		if e.Fields[0].Field != path {
			// Another excess may sort first only if it is the one added.
			t.Fatalf("%d: escalation at %s reported at %s", i, path, e.Fields[0].Field)
		}
		if CanGrant(over, granter) == nil && CanGrant(granter, over) == nil {
			t.Fatalf("%d: equivalent after escalation", i)
		}
	}
}
