package authz

import (
	"net/netip"
	"testing"
	"time"

	"mcrm"
)

// FuzzDecide throws arbitrary roles names, actions, objects, fields and
// contexts at the engine: it never panics, an unknown object or action is
// denied, an unknown field is hidden, and a role never gets more from a
// field than its allow-list names.
func FuzzDecide(f *testing.F) {
	for _, s := range [][5]string{
		{"sales_rep", "read", "contacts", "emails[].value", "managed"},
		{"admin", "export", "users", "email", "blocked"},
		{"auditor", "view_audit", "", "", ""},
		{"marketing", "update", "contacts", "subscribed_on", "verified"},
		{"field_sales", "export", "contacts", "phones[].original", "verified"},
		{"ghost", "read", "secrets", "x", "managed"},
		{"admin", "read", "contacts", "emails[].value[].x", "unverified"},
		{"admin", "read", "activities", "due_at_local", "managed"},
		{"admin", "read", "contacts", "[].", "managed"},
		{"admin", "read", "contacts", "_local", "managed"},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4], "10.20.1.5", int64(1773133200))
	}
	roles := roleSet(f)
	f.Fuzz(func(t *testing.T, role, action, object, field, trust, ip string, unix int64) {
		r := roles[role]
		c := Context{DeviceTrust: trust, Now: time.Unix(unix, 0)}
		c.IP, _ = netip.ParseAddr(ip)
		a := Action(action)

		d := r.Decide(a, object, field, c)
		steps := r.Explain(a, object, field, c)
		_ = r.Can(a, object, c)
		_ = r.ScopeFor(object, a)
		acc := r.FieldAccess(object, field)
		w := r.CanWriteField(object, field)
		_ = MaskKindFor(object, field)

		if len(steps) == 0 {
			t.Fatal("Explain gave no step")
		}
		e := mcrm.EntityByName(object)
		if r == nil && (d.Allowed || d.Reason != ReasonUnknownRole || acc != Hidden || w.Allowed) {
			t.Fatalf("unknown role %q allowed: %+v %s %+v", role, d, acc, w)
		}
		if object != "" && e == nil && (d.Allowed || acc != Hidden || w.Allowed || r.ScopeFor(object, a) != ScopeNone) {
			t.Fatalf("unknown object %q: %+v %s %+v", object, d, acc, w)
		}
		known := false
		for _, k := range append(append([]Action{}, ObjectActions...), Capabilities...) {
			known = known || k == a
		}
		if !known && d.Allowed {
			t.Fatalf("unknown action %q allowed: %+v", action, d)
		}
		if d.Allowed && trust == mcrm.DeviceTrustBlocked {
			t.Fatalf("blocked device allowed: %+v", d)
		}
		if e != nil && r != nil && acc != Hidden {
			// A visible field is a schema field (or item, or _local copy)
			// that the role's grant names.
			g := r.Objects[object]
			name := field
			if i := indexOf(field, "[]."); i >= 0 {
				name = field[:i]
			} else if e.Field(field) == nil && len(field) > 6 && field[len(field)-6:] == "_local" {
				name = field[:len(field)-6]
			}
			if e.Field(name) == nil || g.Fields[name] == "" || g.Fields[name] == Hidden {
				t.Fatalf("%s sees %s.%s (%s) without a grant", role, object, field, acc)
			}
		}
		if w.Allowed && acc != Edit {
			t.Fatalf("write allowed on %s.%s with access %s", object, field, acc)
		}
	})
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
