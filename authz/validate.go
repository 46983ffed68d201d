package authz

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"mcrm"
)

// namePattern is the form of role and context-rule names: they appear in
// URLs, audit records and Decision.Rule paths, so no dots, spaces or
// upper case.
var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{2,39}$`)

// Limits that keep a tenant-defined role small enough to evaluate on every
// request and to read in a review.
const (
	maxDescription  = 1000
	maxContextRules = 20
	maxNetworks     = 100
)

// writeActions change records; a field can be edited only through one.
var writeActions = []Action{Create, Update, Delete, Import, MassUpdate}

// Validate checks a tenant-defined role before it is stored: a valid name
// that is not a built-in one, objects, actions and fields known to the
// schema (schema.go's registry), valid scopes and accesses, and context
// rules whose device levels, CIDR prefixes, hours and time zones parse.
// It reports every problem at once as an *mcrm.Error (EInvalid) whose
// Fields name the paths, e.g. "objects.contacts.fields.foo".
func (r *Role) Validate() error { return r.validate(false) }

// validate is Validate; builtin relaxes the rules that only tenant roles
// follow (the reserved names, and writes to admin-only objects).
func (r *Role) validate(builtin bool) error {
	if r == nil {
		return mcrm.FieldErr("", "required", "no role given")
	}
	var v problems
	switch {
	case !namePattern.MatchString(r.Name):
		v.add("name", "invalid_name", "3 to 40 characters: lower-case letters, digits and underscores, starting with a letter")
	case !builtin && IsBuiltinName(r.Name):
		v.add("name", "reserved_name", "the name of a built-in role")
	}
	if !builtin && r.Builtin {
		v.add("builtin", "invalid", "a tenant role cannot be built-in")
	}
	if len(r.Description) > maxDescription {
		v.add("description", "too_long", "at most "+strconv.Itoa(maxDescription)+" characters")
	}
	for _, object := range sortedKeys(r.Objects) {
		validateGrant(&v, "objects."+object, object, r.Objects[object], builtin)
	}
	for i, c := range r.Capabilities {
		path := fmt.Sprintf("capabilities[%d]", i)
		switch {
		case !slices.Contains(Capabilities, c):
			v.add(path, "unknown_capability", "one of manage_users, manage_devices, view_audit")
		case slices.Index(r.Capabilities, c) < i:
			v.add(path, "duplicate", "listed twice")
		}
	}
	if len(r.Context) > maxContextRules {
		v.add("context", "too_many", "at most "+strconv.Itoa(maxContextRules)+" rules")
	}
	for i := range r.Context {
		validateRule(&v, fmt.Sprintf("context[%d]", i), &r.Context[i], r.Context[:i])
	}
	return v.err()
}

func validateGrant(v *problems, path, object string, g Grant, builtin bool) {
	e := mcrm.EntityByName(object)
	if e == nil {
		v.add(path, "unknown_object", "not an object of the schema")
		return
	}
	if len(g.Description) > maxDescription {
		v.add(path+".description", "too_long", "at most "+strconv.Itoa(maxDescription)+" characters")
	}
	if len(g.Actions) == 0 {
		// An empty grant grants nothing; leaving it in would make the role
		// look wider in a review than it is.
		v.add(path+".actions", "required", "grant at least read, or remove the object")
	}
	for i, a := range g.Actions {
		ap := fmt.Sprintf("%s.actions[%d]", path, i)
		switch {
		case !slices.Contains(ObjectActions, a):
			v.add(ap, "unknown_action", "one of read, create, update, delete, import, export, mass_update, unmask")
		case slices.Index(g.Actions, a) < i:
			v.add(ap, "duplicate", "listed twice")
		case !builtin && e.AdminWrite && slices.Contains(writeActions, a):
			// The schema reserves writes on reference data (teams, users,
			// products, pipelines) to administrators; user administration
			// goes through manage_users.
			v.add(ap, "admin_only", "only administrators change "+object)
		}
	}
	if len(g.Actions) > 0 && !slices.Contains(g.Actions, Read) {
		v.add(path+".actions", "read_required", "every action on an object needs read: one cannot change, export or unmask what one cannot see")
	}
	validScope := func(sp string, s Scope) bool {
		switch {
		case s == "":
			v.add(sp, "invalid_scope", "required: one of own, team, territory, all")
		case scopeRank(s) < 0:
			v.add(sp, "invalid_scope", "one of own, team, territory, all")
		case s == ScopeNone:
			v.add(sp, "invalid_scope", "scope none grants nothing: remove the object instead")
		case !e.Owned && s != ScopeAll:
			// Reference objects have no owner, so own, team and territory
			// would have nothing to filter on.
			v.add(sp, "invalid_scope", object+" has no owner: the only scope is all")
		default:
			return true
		}
		return false
	}
	readOK := validScope(path+".scope", g.Scope)
	if g.Write != "" && validScope(path+".write_scope", g.Write) && readOK && !scopeLE(g.Write, g.Scope) {
		v.add(path+".write_scope", "exceeds_read_scope", "one cannot change records one cannot read")
	}
	writes := slices.ContainsFunc(g.Actions, func(a Action) bool { return a != Delete && slices.Contains(writeActions, a) })
	for _, name := range sortedKeys(g.Fields) {
		fp := path + ".fields." + name
		acc := g.Fields[name]
		f := e.Field(name)
		switch {
		case f == nil:
			msg := "not a field of " + object
			if strings.Contains(name, "[") || strings.Contains(name, ".") {
				msg = "grant the list field: its items follow it"
			}
			v.add(fp, "unknown_field", msg)
		case accessRank(acc) < 0:
			v.add(fp, "invalid_access", "one of hidden, masked, read_only, edit")
		case acc == Edit && serverSet(f):
			v.add(fp, "server_maintained", "set by the server: at most read_only")
		case acc == Edit && !writes:
			v.add(fp, "edit_without_write", "edit needs create, update, import or mass_update on "+object)
		}
	}
}

func validateRule(v *problems, path string, cr *ContextRule, before []ContextRule) {
	switch {
	case !namePattern.MatchString(cr.Name):
		v.add(path+".name", "invalid_name", "3 to 40 characters: lower-case letters, digits and underscores, starting with a letter")
	case slices.ContainsFunc(before, func(o ContextRule) bool { return o.Name == cr.Name }):
		v.add(path+".name", "duplicate", "another rule has this name")
	}
	if len(cr.Actions) == 0 {
		v.add(path+".actions", "required", "name the actions the rule restricts")
	}
	objectActions := false
	for i, a := range cr.Actions {
		ap := fmt.Sprintf("%s.actions[%d]", path, i)
		switch {
		case slices.Contains(ObjectActions, a):
			objectActions = true
		case slices.Contains(Capabilities, a):
		default:
			v.add(ap, "unknown_action", "an object action or a capability")
			continue
		}
		if slices.Index(cr.Actions, a) < i {
			v.add(ap, "duplicate", "listed twice")
		}
	}
	if objectActions && len(cr.Objects) == 0 {
		v.add(path+".objects", "required", `name the objects, or "*" for all`)
	}
	for i, o := range cr.Objects {
		op := fmt.Sprintf("%s.objects[%d]", path, i)
		switch {
		case o != "*" && mcrm.EntityByName(o) == nil:
			v.add(op, "unknown_object", "not an object of the schema")
		case slices.Index(cr.Objects, o) < i:
			v.add(op, "duplicate", "listed twice")
		}
	}
	if cr.MinDeviceTrust == "" && len(cr.Networks) == 0 && cr.Hours == nil {
		v.add(path, "no_condition", "set min_device_trust, networks or hours")
	}
	if cr.MinDeviceTrust != "" && trustRank(cr.MinDeviceTrust) < trustRank(mcrm.DeviceTrustUnverified) {
		v.add(path+".min_device_trust", "invalid_device_trust", "one of unverified, verified, managed")
	}
	if len(cr.Networks) > maxNetworks {
		v.add(path+".networks", "too_many", "at most "+strconv.Itoa(maxNetworks)+" prefixes")
	}
	for i, n := range cr.Networks {
		np := fmt.Sprintf("%s.networks[%d]", path, i)
		p, err := netip.ParsePrefix(n)
		switch {
		case err != nil:
			v.add(np, "invalid_cidr", "a CIDR prefix such as 10.20.0.0/16 or 2001:db8::/32")
		case p != p.Masked():
			// 10.20.1.5/16 is almost always a typo for a host or for
			// 10.20.0.0/16; make the author say which.
			v.add(np, "invalid_cidr", "host bits set: did you mean "+p.Masked().String()+"?")
		}
	}
	if h := cr.Hours; h != nil {
		from, okFrom := parseClock(h.From, false)
		to, okTo := parseClock(h.To, true)
		if !okFrom {
			v.add(path+".hours.from", "invalid_time", "HH:MM, 00:00 to 23:59")
		}
		if !okTo {
			v.add(path+".hours.to", "invalid_time", "HH:MM, 00:00 to 24:00")
		}
		if okFrom && okTo && from == to {
			v.add(path+".hours.to", "empty_window", "from and to are equal")
		}
		if len(h.Days) == 0 {
			v.add(path+".hours.days", "required", "at least one of mon, tue, wed, thu, fri, sat, sun")
		}
		for i, d := range h.Days {
			dp := fmt.Sprintf("%s.hours.days[%d]", path, i)
			switch {
			case !slices.Contains(dayNames[:], d):
				v.add(dp, "invalid_day", "one of mon, tue, wed, thu, fri, sat, sun")
			case slices.Index(h.Days, d) < i:
				v.add(dp, "duplicate", "listed twice")
			}
		}
		if _, err := location(h.TimeZone); err != nil {
			v.add(path+".hours.time_zone", "invalid_time_zone", "an IANA time zone such as Europe/Berlin")
		}
	}
}

// problems collects validation errors in the order found.
type problems []mcrm.FieldError

func (p *problems) add(field, code, msg string) {
	*p = append(*p, mcrm.FieldError{Field: field, Code: code, Message: msg})
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	e := mcrm.FieldErr(p[0].Field, p[0].Code, p[0].Message)
	e.Fields = append(e.Fields, p[1:]...)
	return e
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// scopeRank orders scopes: none < own < team, territory < all. Team and
// territory share a rank but do not compare: the manager hierarchy and a
// region are different cuts of the users. "" counts as none (a grant
// without a scope reaches nothing); anything else is -1.
func scopeRank(s Scope) int {
	switch s {
	case ScopeNone, "":
		return 0
	case ScopeOwn:
		return 1
	case ScopeTeam, ScopeTerritory:
		return 2
	case ScopeAll:
		return 3
	}
	return -1
}

// scopeLE reports whether scope a reaches no record that b does not. An
// unknown a is never within anything (fail closed); an unknown b counts
// as none.
func scopeLE(a, b Scope) bool {
	ra, rb := scopeRank(a), scopeRank(b)
	switch {
	case ra < 0:
		return false
	case rb < 0:
		return ra == 0
	case ra == 2 && rb == 2:
		return a == b
	}
	return ra <= rb
}

// accessRank orders field access: hidden < masked < read_only < edit.
// "" counts as hidden (an unnamed field); anything else is -1.
func accessRank(a Access) int {
	switch a {
	case Hidden, "":
		return 0
	case Masked:
		return 1
	case ReadOnly:
		return 2
	case Edit:
		return 3
	}
	return -1
}

func accessLE(a, b Access) bool {
	ra, rb := accessRank(a), accessRank(b)
	if ra < 0 {
		return false
	}
	if rb < 0 {
		return ra == 0
	}
	return ra <= rb
}

// CanGrant is the privilege-escalation guard (AZ-08): granter may create,
// change or assign the role granted only if granted holds nothing granter
// lacks: every object, action, read and write scope, field access and
// capability of granted is within granter's, and every context rule that
// restricts granter also restricts granted (or handing the role on would
// shed the restriction). Context rules granted has beyond granter's only
// restrict it further and are fine. A valid role can always grant itself
// (an unknown scope or access level is within nothing, not even itself).
//
// The comparison is on the declared grants, so a role that lists a field
// without read still counts the field. It returns nil, or an *mcrm.Error
// (EForbidden) naming the first excess found, objects and fields in name
// order, actions in granted's order.
func CanGrant(granter, granted *Role) error {
	if granter == nil || granted == nil {
		return mcrm.Errorf(mcrm.EForbidden, "unknown role")
	}
	excess := func(path, what string) error {
		return &mcrm.Error{Code: mcrm.EForbidden,
			Message: fmt.Sprintf("role %q may not grant role %q: %s %s", granter.Name, granted.Name, path, what),
			Fields:  []mcrm.FieldError{{Field: path, Code: "exceeds_granter", Message: what}}}
	}
	for _, object := range sortedKeys(granted.Objects) {
		g := granted.Objects[object]
		path := "objects." + object
		mine, ok := granter.Objects[object]
		if !ok {
			return excess(path, "is not granted to you")
		}
		for _, a := range g.Actions {
			if !slices.Contains(mine.Actions, a) {
				return excess(path+".actions", string(a)+" is not granted to you")
			}
		}
		if !scopeLE(g.Scope, mine.Scope) {
			return excess(path+".scope", fmt.Sprintf("%s is wider than your %s", g.Scope, mine.Scope))
		}
		// Write scopes compare as ScopeFor applies them: never wider than
		// the read scope.
		if gw, mw := g.effectiveWrite(), mine.effectiveWrite(); !scopeLE(gw, mw) {
			return excess(path+".write_scope", fmt.Sprintf("%s is wider than your %s", gw, mw))
		}
		for _, f := range sortedKeys(g.Fields) {
			if !accessLE(g.Fields[f], mine.Fields[f]) {
				have := mine.Fields[f]
				if have == "" {
					have = Hidden
				}
				return excess(path+".fields."+f, fmt.Sprintf("%s is more than your %s", g.Fields[f], have))
			}
		}
	}
	for _, c := range granted.Capabilities {
		if !slices.Contains(granter.Capabilities, c) {
			return excess("capabilities", string(c)+" is not granted to you")
		}
	}
	for _, mine := range granter.Context {
		if !slices.ContainsFunc(granted.Context, func(cr ContextRule) bool { return restricts(cr, mine) }) {
			return excess("context."+mine.Name, "your context rule must apply to the role you grant")
		}
	}
	return nil
}

// restricts reports whether rule r imposes at least what rule mine does:
// the same conditions, on at least the same actions and objects. Equal
// conditions are asked for rather than "stricter" ones, which would need
// an order on networks and windows; a tenant copies the rule.
func restricts(r, mine ContextRule) bool {
	if r.MinDeviceTrust != mine.MinDeviceTrust || !sameSet(r.Networks, mine.Networks) {
		return false
	}
	switch {
	case (r.Hours == nil) != (mine.Hours == nil):
		return false
	case r.Hours != nil && (r.Hours.From != mine.Hours.From || r.Hours.To != mine.Hours.To ||
		r.Hours.TimeZone != mine.Hours.TimeZone || !sameSet(r.Hours.Days, mine.Hours.Days)):
		return false
	}
	for _, a := range mine.Actions {
		if !slices.Contains(r.Actions, a) {
			return false
		}
	}
	if slices.Contains(r.Objects, "*") {
		return true
	}
	for _, o := range mine.Objects {
		if !slices.Contains(r.Objects, o) {
			return false
		}
	}
	return true
}

func sameSet(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}
