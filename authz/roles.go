package authz

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"mcrm"
)

// The built-in roles live in roles.json, not in Go literals, so a policy
// review reads one file with the reason for every grant beside it, and the
// same file is what the explain endpoint and a tenant's custom roles are
// compared against.
//
//go:embed roles.json
var rolesJSON []byte

// roleFile is the layout of roles.json.
type roleFile struct {
	Description string  `json:"description"`
	Roles       []*Role `json:"roles"`
}

// builtins holds the parsed roles in mcrm.Roles order. It is loaded once at
// start-up and never handed out: callers get copies, so no handler can
// widen a built-in role for every later request by mutating a map.
var builtins = mustLoadBuiltins(rolesJSON)

func mustLoadBuiltins(data []byte) []*Role {
	rs, err := loadBuiltins(data)
	if err != nil {
		// roles.json is compiled in and covered by the tests: a broken file
		// is a build defect, and starting without roles would deny
		// everything in a way that is harder to notice than a crash.
		panic("authz: roles.json: " + err.Error())
	}
	return rs
}

// loadBuiltins parses and checks the built-in roles: unknown JSON keys are
// errors (a misspelt "feilds" must not silently grant nothing, or worse be
// read as a default), the role names must be exactly mcrm.Roles, and every
// role passes the same validation a tenant role does, bar the reserved
// name.
func loadBuiltins(data []byte) ([]*Role, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f roleFile
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("data after the roles object")
	}
	var names []string
	for _, r := range f.Roles {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, mcrm.Roles) {
		return nil, fmt.Errorf("roles %v, want exactly %v in that order", names, mcrm.Roles)
	}
	for _, r := range f.Roles {
		r.Builtin = true
		if err := r.validate(true); err != nil {
			return nil, fmt.Errorf("role %s: %w", r.Name, err)
		}
	}
	return f.Roles, nil
}

// Builtin returns a copy of the built-in role with that name.
func Builtin(name string) (*Role, bool) {
	for _, r := range builtins {
		if r.Name == name {
			return r.Clone(), true
		}
	}
	return nil, false
}

// BuiltinRoles returns copies of every built-in role in mcrm.Roles order.
func BuiltinRoles() []*Role {
	out := make([]*Role, len(builtins))
	for i, r := range builtins {
		out[i] = r.Clone()
	}
	return out
}

// IsBuiltinName reports whether name is reserved for a built-in role.
func IsBuiltinName(name string) bool { return slices.Contains(mcrm.Roles, name) }

// Clone returns a deep copy of r: grants, field maps, capability and
// context-rule slices are all new, so changing the copy never changes r.
func (r *Role) Clone() *Role {
	if r == nil {
		return nil
	}
	c := *r
	if r.Objects != nil {
		c.Objects = make(map[string]Grant, len(r.Objects))
		for k, g := range r.Objects {
			g.Actions = slices.Clone(g.Actions)
			g.Fields = maps.Clone(g.Fields)
			c.Objects[k] = g
		}
	}
	c.Capabilities = slices.Clone(r.Capabilities)
	if r.Context != nil {
		c.Context = make([]ContextRule, len(r.Context))
		for i, cr := range r.Context {
			cr.Actions = slices.Clone(cr.Actions)
			cr.Objects = slices.Clone(cr.Objects)
			cr.Networks = slices.Clone(cr.Networks)
			if cr.Hours != nil {
				h := *cr.Hours
				h.Days = slices.Clone(h.Days)
				cr.Hours = &h
			}
			c.Context[i] = cr
		}
	}
	return &c
}
