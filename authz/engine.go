package authz

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	// Time windows name IANA zones. Embedding the database makes a rule
	// evaluate the same on every host; without it a host lacking
	// /usr/share/zoneinfo would deny every windowed action (fail closed,
	// but silently different from the machine that validated the rule).
	_ "time/tzdata"

	"mcrm"
)

// Every method below is safe on a nil *Role and answers as for a role
// that grants nothing: a failed role lookup must deny, never panic into a
// handler's recover path or, worse, skip the check.

// Can decides a function-level question: may the role perform action a
// on object (or, with object "", use capability a) in context c? The
// action must be granted, and every context rule of the role that covers
// (a, object) must pass. It looks at no record and no field: ScopeFor says
// which records, FieldAccess which fields.
func (r *Role) Can(a Action, object string, c Context) Decision {
	d := r.permit(a, object)
	if !d.Allowed {
		return d
	}
	if cd := r.contextDecision(a, object, c); !cd.Allowed {
		return cd
	}
	return d
}

// Decide answers the whole question of one request: Can, then, when field
// is not empty, the field check that fits the action: reads, exports and
// unmasking need the field visible (a masked field is allowed with Detail
// "masked", so the caller masks it); writes (create, update, import, mass
// update) need it editable. Delete acts on whole records, so a field adds
// nothing to it. The API calls Decide before any write, so a denied write
// changes nothing.
func (r *Role) Decide(a Action, object, field string, c Context) Decision {
	d := r.Can(a, object, c)
	if !d.Allowed || field == "" {
		return d
	}
	return r.fieldDecision(a, object, field)
}

// Explain returns the chain of checks behind Decide, in the order Decide
// makes them: the grant of the action, the blocked-device check, each
// context rule that covers the action, then the field. Unlike Decide it
// goes on after a denial, so one answer names every missing grant and
// every failing condition. Decide allows iff every step allows, and when
// it denies its answer is the first denying step.
func (r *Role) Explain(a Action, object, field string, c Context) []Decision {
	p := r.permit(a, object)
	steps := []Decision{p}
	if r == nil {
		return steps
	}
	steps = append(steps, r.contextSteps(a, object, c)...)
	if field != "" {
		steps = append(steps, r.fieldDecision(a, object, field))
	}
	return steps
}

// permit is the grant check: role known, object and action known, action
// granted.
func (r *Role) permit(a Action, object string) Decision {
	if r == nil {
		return Decision{Reason: ReasonUnknownRole}
	}
	if object == "" {
		path := r.Name + ".capabilities"
		switch {
		case !slices.Contains(Capabilities, a):
			return deny(ReasonNoPermission, path, DetailUnknownAction)
		case !slices.Contains(r.Capabilities, a):
			return deny(ReasonNoPermission, path, DetailCapabilityNotGranted)
		}
		return Decision{Allowed: true, Reason: ReasonGranted, Rule: path}
	}
	if mcrm.EntityByName(object) == nil {
		// No Rule: the object string came from the caller and is not ours
		// to echo into logs.
		return deny(ReasonNoPermission, "", DetailUnknownObject)
	}
	path := r.Name + ".objects." + object
	if !slices.Contains(ObjectActions, a) {
		return deny(ReasonNoPermission, path, DetailUnknownAction)
	}
	g, ok := r.Objects[object]
	if !ok {
		return deny(ReasonNoPermission, path, DetailObjectNotGranted)
	}
	if !slices.Contains(g.Actions, a) {
		return deny(ReasonNoPermission, path+".actions", DetailActionNotGranted)
	}
	return Decision{Allowed: true, Reason: ReasonGranted, Rule: path}
}

func deny(reason, rule, detail string) Decision {
	return Decision{Reason: reason, Rule: rule, Detail: detail}
}

// ruleBlockedDevice names the check that refuses a blocked device whatever
// the role's rules say.
const ruleBlockedDevice = "device_blocked"

// contextDecision returns the first failing context step, or an allowing
// Decision.
func (r *Role) contextDecision(a Action, object string, c Context) Decision {
	for _, d := range r.contextSteps(a, object, c) {
		if !d.Allowed {
			return d
		}
	}
	return Decision{Allowed: true, Reason: ReasonGranted}
}

// contextSteps evaluates the context: first the device block, then every
// rule covering (a, object), in the role's order. A device the policy has
// blocked gets nothing from any role, with or without rules: the devices
// layer should already have refused its token, and the decision point
// must not depend on that (defence in depth).
func (r *Role) contextSteps(a Action, object string, c Context) []Decision {
	var steps []Decision
	if c.DeviceTrust == mcrm.DeviceTrustBlocked {
		steps = append(steps, deny(ReasonContextDenied, ruleBlockedDevice, DetailDeviceTrust))
	}
	for i := range r.Context {
		cr := &r.Context[i]
		if !cr.covers(a, object) {
			continue
		}
		rule := r.Name + ".context." + cr.Name
		if cond := cr.failing(c); cond != "" {
			steps = append(steps, deny(ReasonContextDenied, rule, cond))
		} else {
			steps = append(steps, Decision{Allowed: true, Reason: ReasonGranted, Rule: rule})
		}
	}
	return steps
}

// covers reports whether the rule applies to (a, object). A capability is
// asked with object "", so a rule naming the capability applies whatever
// its objects say.
func (cr *ContextRule) covers(a Action, object string) bool {
	if !slices.Contains(cr.Actions, a) {
		return false
	}
	return object == "" || slices.Contains(cr.Objects, "*") || slices.Contains(cr.Objects, object)
}

// failing returns the first condition of the rule that c does not meet
// (device trust, then network, then time window), or "" when all hold. A
// condition that cannot be evaluated (an unparsable value in a role that
// skipped validation, a missing IP or clock) fails.
func (cr *ContextRule) failing(c Context) string {
	if cr.MinDeviceTrust != "" && !trustAtLeast(c.DeviceTrust, cr.MinDeviceTrust) {
		return DetailDeviceTrust
	}
	if len(cr.Networks) > 0 && !inNetworks(c.IP, cr.Networks) {
		return DetailNetwork
	}
	if cr.Hours != nil && !cr.Hours.Contains(c.Now) {
		return DetailTimeWindow
	}
	return ""
}

// trustRank orders device trust as principal.go lists it: unknown <
// blocked < unverified < verified < managed. Values not listed rank with
// unknown.
func trustRank(t string) int {
	switch t {
	case mcrm.DeviceTrustBlocked:
		return 1
	case mcrm.DeviceTrustUnverified:
		return 2
	case mcrm.DeviceTrustVerified:
		return 3
	case mcrm.DeviceTrustManaged:
		return 4
	}
	return 0
}

// trustAtLeast reports whether have meets the minimum min. Blocked never
// passes, and a minimum below unverified (unknown, blocked, misspelt) is
// no valid condition, so it fails rather than letting everything through.
func trustAtLeast(have, min string) bool {
	if have == mcrm.DeviceTrustBlocked || trustRank(min) < trustRank(mcrm.DeviceTrustUnverified) {
		return false
	}
	return trustRank(have) >= trustRank(min)
}

// inNetworks reports whether ip lies in one of the CIDR prefixes. An
// IPv4-mapped IPv6 address (::ffff:10.0.0.1, as a dual-stack listener
// reports IPv4 clients) is compared as the IPv4 address, so an IPv4 rule
// works on either kind of socket. An invalid IP or prefix matches nothing.
func inNetworks(ip netip.Addr, networks []string) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, n := range networks {
		p, err := netip.ParsePrefix(n)
		if err == nil && p.Contains(ip) {
			return true
		}
	}
	return false
}

// Contains reports whether t falls in the window. The window is read on
// the wall clock of its time zone: "08:00" means 08:00 local time on
// either side of a daylight-saving change, and days are local days. From
// is inclusive, To exclusive ("24:00" ends at midnight). When To is not
// after From the window runs overnight, and the hours after midnight
// belong to the day the window started: 22:00–06:00 on "mon" covers
// Monday 22:00 to Tuesday 05:59. A zero t, an unknown zone or a malformed
// time is outside every window.
func (h *Hours) Contains(t time.Time) bool {
	if h == nil || t.IsZero() {
		return false
	}
	from, ok1 := parseClock(h.From, false)
	to, ok2 := parseClock(h.To, true)
	loc, err := location(h.TimeZone)
	if !ok1 || !ok2 || err != nil || from == to {
		return false
	}
	lt := t.In(loc)
	m := lt.Hour()*60 + lt.Minute()
	day := lt.Weekday()
	if from < to {
		return m >= from && m < to && h.hasDay(day)
	}
	return (m >= from && h.hasDay(day)) || (m < to && h.hasDay((day+6)%7))
}

func (h *Hours) hasDay(d time.Weekday) bool {
	return slices.Contains(h.Days, dayNames[d])
}

// dayNames maps time.Weekday to the names Hours.Days uses.
var dayNames = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// parseClock reads "HH:MM" (00:00–23:59) as minutes after midnight;
// "24:00" is accepted only as an end.
func parseClock(s string, end bool) (int, bool) {
	if end && s == "24:00" {
		return 24 * 60, true
	}
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	hh := int(s[0]-'0')*10 + int(s[1]-'0')
	mm := int(s[3]-'0')*10 + int(s[4]-'0')
	if hh > 23 || mm > 59 {
		return 0, false
	}
	return hh*60 + mm, true
}

// locations caches loaded time zones: LoadLocation parses a file on every
// call, and a context rule is evaluated on every request it covers. Only
// zones that loaded are kept, so the cache is bounded by the tz database.
var locations sync.Map // name → *time.Location

// location loads an IANA zone. "" and "Local" are refused: a policy must
// not depend on the server's own zone.
func location(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, errZone
	}
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locations.Store(name, l)
	return l, nil
}

var errZone = mcrm.Errorf(mcrm.EInvalid, "time zone must be an IANA name")

// ScopeFor returns which records action a on object reaches: the read
// scope for read, export and unmask (one unmasks only what one can read),
// the write scope for update, delete and mass update, and for create and
// import too (a new record is owned by its creator; an import's upserts
// touch existing records). ScopeNone when the role lacks the action. The
// write scope never exceeds the read scope, whatever the grant says. It
// does not look at context rules: the caller asks Can first.
func (r *Role) ScopeFor(object string, a Action) Scope {
	if r == nil || mcrm.EntityByName(object) == nil {
		return ScopeNone
	}
	g, ok := r.Objects[object]
	if !ok || !slices.Contains(g.Actions, a) {
		return ScopeNone
	}
	read := knownScope(g.Scope)
	switch a {
	case Read, Export, Unmask:
		return read
	case Create, Update, Delete, Import, MassUpdate:
		return g.effectiveWrite()
	}
	return ScopeNone
}

// writeScope is the grant's update/delete scope: Write, or Scope when
// Write is empty.
func (g Grant) writeScope() Scope {
	if g.Write == "" {
		return g.Scope
	}
	return g.Write
}

// effectiveWrite is the write scope as it applies: the write scope, cut
// down to the read scope.
func (g Grant) effectiveWrite() Scope { return narrower(g.writeScope(), knownScope(g.Scope)) }

func knownScope(s Scope) Scope {
	if scopeRank(s) < 0 {
		return ScopeNone
	}
	return s
}

// narrower returns the smaller of two scopes, or ScopeNone when they do
// not compare (team and territory) or either is unknown.
func narrower(a, b Scope) Scope {
	switch {
	case scopeLE(a, b):
		return knownScope(a)
	case scopeLE(b, a):
		return knownScope(b)
	}
	return ScopeNone
}

// FieldAccess returns what the role may do with one field of object. The
// grant is an allow-list: a field it does not name, a field the schema
// does not know, a field of an object the role cannot read, or any field
// of an unknown object is Hidden.
//
// Naming conventions (the API, export and history layers use the same):
//   - "emails" is the list field; "emails[].value" is a sub-field of each
//     item and has the access of its list field (the JSON grants lists
//     whole), except that server-set sub-fields (phones[].ext,
//     phones[].original) are at most read-only. Any other spelling
//     ("emails.value", "emails[0].value") is Hidden.
//   - "due_at_local", the viewer's-time-zone copy the API adds beside a
//     Local datetime, has the access of "due_at", at most read-only.
//
// Server-maintained fields (the System ones and owner_id) are at most
// read-only even if a grant says edit.
func (r *Role) FieldAccess(object, field string) Access {
	if r == nil {
		return Hidden
	}
	e := mcrm.EntityByName(object)
	if e == nil {
		return Hidden
	}
	g, ok := r.Objects[object]
	if !ok || !slices.Contains(g.Actions, Read) {
		return Hidden
	}
	name, item, isItem := strings.Cut(field, "[].")
	f := e.Field(name)
	if f == nil {
		if base, ok := strings.CutSuffix(field, "_local"); ok && !isItem {
			if bf := e.Field(base); bf != nil && bf.Local {
				return atMost(g.access(base), ReadOnly)
			}
		}
		return Hidden
	}
	acc := g.access(name)
	if isItem {
		if f.Type != mcrm.TList {
			return Hidden
		}
		it := f.ItemField(item)
		if it == nil {
			return Hidden
		}
		if it.System {
			acc = atMost(acc, ReadOnly)
		}
		return acc
	}
	if serverSet(f) {
		acc = atMost(acc, ReadOnly)
	}
	return acc
}

// access returns the granted access of a top-level field, Hidden when the
// grant does not name it (the zero value "" is not a level of its own) or
// names an unknown access.
func (g Grant) access(field string) Access {
	a := g.Fields[field]
	if accessRank(a) <= 0 {
		return Hidden
	}
	return a
}

// serverSet reports whether the server alone writes f: the System fields,
// and owner_id, which changes only through the transfer endpoint (never a
// generic update, or a rep could hand records to a colleague to hide them
// or take a colleague's).
func serverSet(f *mcrm.Field) bool { return f.System || f.Name == "owner_id" }

func atMost(a, max Access) Access {
	if accessRank(a) > accessRank(max) {
		return max
	}
	return a
}

// CanWriteField says whether the role may write the field: granted only
// for Edit. A masked field is refused as read-only too (Detail "masked"):
// overwriting a value one may not see is not editing it. It does not
// check the action: the caller asks Can (or Decide) for create or update.
func (r *Role) CanWriteField(object, field string) Decision {
	if r == nil {
		return Decision{Reason: ReasonUnknownRole}
	}
	path := r.fieldPath(object, field)
	switch acc := r.FieldAccess(object, field); acc {
	case Edit:
		return Decision{Allowed: true, Reason: ReasonGranted, Rule: path, Detail: string(Edit)}
	case Hidden:
		return deny(ReasonFieldHidden, path, "")
	default:
		return deny(ReasonFieldReadOnly, path, string(acc))
	}
}

// fieldDecision is the field step of Decide and Explain.
func (r *Role) fieldDecision(a Action, object, field string) Decision {
	if r == nil {
		return Decision{Reason: ReasonUnknownRole}
	}
	if object == "" {
		// A capability has no fields: an unknown field is hidden.
		return deny(ReasonFieldHidden, "", "")
	}
	switch a {
	case Create, Update, Import, MassUpdate:
		return r.CanWriteField(object, field)
	case Delete:
		if mcrm.EntityByName(object) == nil {
			return deny(ReasonNoPermission, "", DetailUnknownObject)
		}
		return Decision{Allowed: true, Reason: ReasonGranted, Rule: r.Name + ".objects." + object}
	}
	path := r.fieldPath(object, field)
	acc := r.FieldAccess(object, field)
	if acc == Hidden {
		return deny(ReasonFieldHidden, path, "")
	}
	return Decision{Allowed: true, Reason: ReasonGranted, Rule: path, Detail: string(acc)}
}

// fieldPath names the grant entry a field decision rests on, for the
// explain endpoint: "sales_rep.objects.contacts.fields.emails" (a list
// item is decided by its list field). It is "" when the object or field is
// not in the schema: those strings came from the caller and are not echoed.
func (r *Role) fieldPath(object, field string) string {
	e := mcrm.EntityByName(object)
	if e == nil {
		return ""
	}
	name, item, isItem := strings.Cut(field, "[].")
	f := e.Field(name)
	switch {
	case f == nil:
		base, ok := strings.CutSuffix(field, "_local")
		if bf := e.Field(base); !ok || isItem || bf == nil || !bf.Local {
			return ""
		}
		name = base
	case isItem && (f.Type != mcrm.TList || f.ItemField(item) == nil):
		return ""
	}
	return r.Name + ".objects." + object + ".fields." + name
}
