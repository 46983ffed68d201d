package authz

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"mcrm"
)

// The golden decision table (AZ-12): a file of (role, action, object,
// field, context) → decision cases that every change of the engine, the
// roles or a Go upgrade must reproduce exactly. The cases are generated
// systematically below; the file is what CI compares against, so a
// change of any decision shows up as a reviewable diff of
// testdata/golden.json. Regenerate after an intended change with
//
//	go test ./authz -run Golden -update
var update = flag.Bool("update", false, "rewrite testdata/golden.json from the engine")

const goldenFile = "testdata/golden.json"

type goldenContext struct {
	DeviceTrust string `json:"device_trust"`
	IP          string `json:"ip,omitempty"`
	Now         string `json:"now"`
}

type goldenCase struct {
	Role    string        `json:"role"`
	Action  Action        `json:"action"`
	Object  string        `json:"object"`
	Field   string        `json:"field,omitempty"`
	Context goldenContext `json:"context"`
	Want    Decision      `json:"want"`
}

func (gc goldenContext) context(t testing.TB) Context {
	c := Context{DeviceTrust: gc.DeviceTrust}
	if gc.IP != "" {
		ip, err := netip.ParseAddr(gc.IP)
		if err != nil {
			t.Fatalf("golden ip %q: %v", gc.IP, err)
		}
		c.IP = ip
	}
	now, err := time.Parse(time.RFC3339, gc.Now)
	if err != nil {
		t.Fatalf("golden now %q: %v", gc.Now, err)
	}
	c.Now = now
	return c
}

// customRoles loads the tenant roles of testdata/custom_roles.json, which
// must pass Validate like any tenant role.
func customRoles(t testing.TB) []*Role {
	data, err := os.ReadFile("testdata/custom_roles.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var rs []*Role
	if err := dec.Decode(&rs); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if err := r.Validate(); err != nil {
			t.Fatalf("custom role %s: %v", r.Name, err)
		}
	}
	return rs
}

// roleSet resolves role names as the API will: built-in, then the
// tenant's own; an unknown name resolves to nil, which every method
// treats as a role that grants nothing.
func roleSet(t testing.TB) map[string]*Role {
	m := map[string]*Role{}
	for _, r := range BuiltinRoles() {
		m[r.Name] = r
	}
	for _, r := range customRoles(t) {
		m[r.Name] = r
	}
	return m
}

// Contexts of the generated cases. Times are UTC instants chosen for
// their wall-clock time in Europe/Berlin (CET = UTC+1 until 29 March
// 2026, CEST = UTC+2 until 25 October 2026).
var (
	tue1000 = "2026-03-10T09:00:00Z" // Tuesday 10:00 CET
	officeC = goldenContext{DeviceTrust: mcrm.DeviceTrustManaged, IP: "10.20.1.5", Now: tue1000}
)

func at(trust, ip, now string) goldenContext {
	return goldenContext{DeviceTrust: trust, IP: ip, Now: now}
}

// goldenInputs generates the case list (without expectations).
func goldenInputs() []goldenCase {
	var cs []goldenCase
	add := func(role string, a Action, object, field string, c goldenContext) {
		cs = append(cs, goldenCase{Role: role, Action: a, Object: object, Field: field, Context: c})
	}
	const (
		managed    = mcrm.DeviceTrustManaged
		verified   = mcrm.DeviceTrustVerified
		unverified = mcrm.DeviceTrustUnverified
		blocked    = mcrm.DeviceTrustBlocked
		unknown    = mcrm.DeviceTrustUnknown
	)

	// 1. Function level: every built-in role × object × object action,
	// and every capability, from a managed device in the office.
	for _, role := range mcrm.Roles {
		for _, e := range mcrm.Entities {
			for _, a := range ObjectActions {
				add(role, a, e.Name, "", officeC)
			}
		}
		for _, a := range Capabilities {
			add(role, a, "", "", officeC)
		}
	}

	// 2. Fail closed: unknown roles, objects and actions, capabilities
	// asked on an object and object actions asked as capabilities.
	for _, role := range append(slicesClone(mcrm.Roles), "ghost", "Admin") {
		add(role, Read, "secrets", "", officeC)
		add(role, "approve", "contacts", "", officeC)
		add(role, Read, "", "", officeC)
		add(role, ManageUsers, "users", "", officeC)
	}

	// 3. Field level: a representative field set, read and update, for
	// every built-in role: list items, masked and hidden personal data,
	// server-maintained fields, a field no role names (loyalty_score), a
	// misspelt item path and a derived _local field.
	fields := []struct{ object, field string }{
		{"contacts", "emails"}, {"contacts", "emails[].value"}, {"contacts", "emails.value"},
		{"contacts", "phones[].value"}, {"contacts", "phones[].original"}, {"contacts", "birthday"},
		{"contacts", "notes"}, {"contacts", "street"}, {"contacts", "subscribed_on"},
		{"contacts", "owner_id"}, {"contacts", "id"}, {"contacts", "loyalty_score"},
		{"accounts", "annual_revenue"}, {"accounts", "phones"}, {"accounts", "external_id"}, {"accounts", "name"},
		{"opportunities", "amount"}, {"leads", "emails"}, {"leads", "converted_at"},
		{"users", "email"}, {"users", "role"}, {"users", "time_zone"},
		{"products", "price"}, {"cases", "description"}, {"cases", "status"},
		{"activities", "due_at_local"}, {"notes", "body"},
	}
	for _, role := range mcrm.Roles {
		for _, f := range fields {
			add(role, Read, f.object, f.field, officeC)
			add(role, Update, f.object, f.field, officeC)
		}
		add(role, Export, "contacts", "phones", officeC)
		add(role, Export, "leads", "emails", officeC)
		add(role, Unmask, "contacts", "street", officeC)
		add(role, Create, "users", "email", officeC)
	}

	// 4. Device trust without rules: a blocked device gets nothing from
	// any role; an unknown or unverified one is not refused by roles
	// without context rules.
	for _, role := range mcrm.Roles {
		add(role, Read, "contacts", "", at(blocked, "10.20.1.5", tue1000))
		add(role, ManageUsers, "", "", at(blocked, "10.20.1.5", tue1000))
		add(role, Read, "products", "", at(unknown, "", tue1000))
		add(role, Read, "contacts", "", at(unverified, "203.0.113.7", "2026-03-15T02:00:00Z"))
	}

	// 5. "Export only from a managed device during working hours
	// (08:00–18:00 Mon–Fri, Europe/Berlin)" on field_sales.
	for _, c := range []goldenContext{
		at(managed, "10.20.1.5", tue1000),                 // allowed
		at(verified, "10.20.1.5", tue1000),                // BYOD: device_trust
		at(managed, "10.20.1.5", "2026-03-10T22:00:00Z"),  // 23:00: time_window
		at(verified, "10.20.1.5", "2026-03-10T22:00:00Z"), // BYOD at 23:00: device first
		at(managed, "10.20.1.5", "2026-03-14T09:00:00Z"),  // Saturday
		at(unverified, "10.20.1.5", tue1000),
		at(unknown, "10.20.1.5", tue1000),
		at(blocked, "10.20.1.5", tue1000),
		at(managed, "10.20.1.5", "2026-03-10T07:00:00Z"), // 08:00 CET, start included
		at(managed, "10.20.1.5", "2026-03-10T06:59:59Z"), // 07:59:59
		at(managed, "10.20.1.5", "2026-03-10T16:59:59Z"), // 17:59:59
		at(managed, "10.20.1.5", "2026-03-10T17:00:00Z"), // 18:00, end excluded
		at(managed, "10.20.1.5", "2026-03-27T06:30:00Z"), // Fri 07:30 CET: before
		at(managed, "10.20.1.5", "2026-03-30T06:30:00Z"), // Mon 08:30 CEST (07:30 CET would be out)
		at(managed, "10.20.1.5", "2026-03-30T16:30:00Z"), // Mon 18:30 CEST (17:30 CET would be in)
		at(managed, "10.20.1.5", "2026-10-23T06:30:00Z"), // Fri 08:30 CEST
		at(managed, "10.20.1.5", "2026-10-26T06:30:00Z"), // Mon 07:30 CET (08:30 CEST would be in)
		at(managed, "10.20.1.5", "2026-10-26T07:30:00Z"), // Mon 08:30 CET
		at(managed, "", tue1000),                         // no IP: the export rule has no network condition
		at(managed, "10.20.1.5", "0001-01-01T00:00:00Z"), // no clock: outside every window
	} {
		add("field_sales", Export, "contacts", "", c)
	}
	add("field_sales", Export, "accounts", "", at(managed, "10.20.1.5", tue1000))
	add("field_sales", Export, "accounts", "", at(verified, "10.20.1.5", tue1000))
	add("field_sales", Read, "contacts", "", at(verified, "10.20.1.5", "2026-03-10T22:00:00Z"))
	add("field_sales", Update, "contacts", "emails", at(verified, "203.0.113.7", "2026-03-14T09:00:00Z"))
	add("field_sales", Export, "contacts", "emails[].value", at(managed, "10.20.1.5", tue1000))
	add("field_sales", Export, "contacts", "birthday", at(managed, "10.20.1.5", tue1000))
	add("field_sales", Export, "contacts", "notes", at(managed, "10.20.1.5", tue1000))
	add("field_sales", Export, "contacts", "notes", at(verified, "10.20.1.5", tue1000))
	add("field_sales", Read, "accounts", "annual_revenue", officeC)
	add("field_sales", Delete, "contacts", "", officeC)
	add("field_sales", Read, "opportunities", "", officeC)

	// 6. A network rule: mass update of contacts only from the office
	// networks (IPv4 and IPv6).
	for _, c := range []goldenContext{
		at(managed, "10.20.1.5", tue1000),                   // office IPv4
		at(managed, "10.20.255.255", tue1000),               // last address of the /16
		at(managed, "10.21.0.1", tue1000),                   // next /16
		at(managed, "203.0.113.7", tue1000),                 // home
		at(managed, "2001:db8:1::42", tue1000),              // office IPv6
		at(managed, "2001:db8:1:ffff::1", tue1000),          // still in the /48
		at(managed, "2001:db8:2::1", tue1000),               // other IPv6
		at(managed, "::ffff:10.20.1.5", tue1000),            // IPv4-mapped office address
		at(managed, "", tue1000),                            // no IP known
		at(unverified, "10.20.1.5", "2026-03-15T03:00:00Z"), // no device or hours condition
	} {
		add("field_sales", MassUpdate, "contacts", "", c)
	}
	add("field_sales", MassUpdate, "contacts", "emails", at(managed, "203.0.113.7", tue1000))
	add("field_sales", MassUpdate, "contacts", "city", at(managed, "10.20.1.5", tue1000))
	add("field_sales", MassUpdate, "accounts", "", at(managed, "10.20.1.5", tue1000))

	// 7. An overnight window: 22:00–06:00 on Monday to Friday nights.
	for _, now := range []string{
		"2026-03-10T21:00:00Z", // Tue 22:00: start included
		"2026-03-10T20:59:00Z", // Tue 21:59
		"2026-03-10T22:00:00Z", // Tue 23:00
		"2026-03-11T04:59:00Z", // Wed 05:59, the Tuesday night
		"2026-03-11T05:00:00Z", // Wed 06:00: end excluded
		"2026-03-10T11:00:00Z", // Tue 12:00
		"2026-03-14T01:00:00Z", // Sat 02:00, the Friday night
		"2026-03-14T21:30:00Z", // Sat 22:30: no Saturday night
		"2026-03-15T01:00:00Z", // Sun 02:00, the Saturday night
		"2026-03-16T01:00:00Z", // Mon 02:00, the Sunday night
		"2026-03-16T21:30:00Z", // Mon 22:30
		"2026-03-29T00:30:00Z", // Sun 01:30 CET on the spring DST day (Saturday night)
		"2026-03-31T03:30:00Z", // Tue 05:30 CEST, the Monday night
		"2026-03-31T04:30:00Z", // Tue 06:30 CEST (05:30 CET would be in)
	} {
		add("night_support", Read, "cases", "", at(verified, "198.51.100.20", now))
	}
	add("night_support", Update, "cases", "status", at(verified, "198.51.100.20", "2026-03-10T22:00:00Z"))
	add("night_support", Update, "cases", "subject", at(verified, "198.51.100.20", "2026-03-10T22:00:00Z"))
	add("night_support", Update, "cases", "status", at(unverified, "198.51.100.20", "2026-03-10T22:00:00Z"))
	add("night_support", Update, "cases", "status", at(verified, "198.51.100.20", "2026-03-10T11:00:00Z"))
	add("night_support", Create, "cases", "", at(verified, "198.51.100.20", "2026-03-10T22:00:00Z"))
	add("night_support", Read, "contacts", "", at(verified, "198.51.100.20", "2026-03-10T22:00:00Z"))

	// 8. A context rule on a capability.
	for _, c := range []goldenContext{
		at(managed, "10.20.1.5", tue1000),
		at(managed, "2001:db8:1::7", tue1000),
		at(managed, "203.0.113.7", tue1000),
		at(verified, "10.20.1.5", tue1000),
		at(verified, "203.0.113.7", tue1000),
		at(managed, "", tue1000),
	} {
		add("device_admin", ManageDevices, "", "", c)
	}
	add("device_admin", ManageUsers, "", "", officeC)
	add("device_admin", ViewAudit, "", "", officeC)
	add("device_admin", Read, "users", "email", officeC)
	add("device_admin", Read, "users", "name", at(verified, "203.0.113.7", tue1000))
	return cs
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

func decideGolden(t testing.TB, roles map[string]*Role, c goldenCase) Decision {
	return roles[c.Role].Decide(c.Action, c.Object, c.Field, c.Context.context(t))
}

func TestGolden(t *testing.T) {
	roles := roleSet(t)
	if *update {
		cs := goldenInputs()
		for i := range cs {
			cs[i].Want = decideGolden(t, roles, cs[i])
		}
		if err := writeGolden(cs); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d cases to %s", len(cs), goldenFile)
	}
	cs := readGolden(t)
	if len(cs) < 250 {
		t.Fatalf("%d golden cases, want at least 250", len(cs))
	}
	// The file must hold exactly the generated inputs, so a change to the
	// generator cannot pass without the file being regenerated and
	// reviewed.
	in := goldenInputs()
	if len(in) != len(cs) {
		t.Fatalf("golden file has %d cases, the generator %d: run go test ./authz -run Golden -update and review the diff", len(cs), len(in))
	}
	for i, c := range cs {
		want := c.Want
		c.Want = Decision{}
		if c != in[i] {
			t.Fatalf("case %d: file %+v, generator %+v: run -update and review", i, c, in[i])
		}
		if got := decideGolden(t, roles, c); got != want {
			t.Errorf("case %d %s %s %s %q %+v:\n got %+v\nwant %+v", i, c.Role, c.Action, c.Object, c.Field, c.Context, got, want)
		}
	}
}

// TestGoldenAZ06 checks by hand the example the issue names, in the file
// itself: "export only from a managed device during working hours".
func TestGoldenAZ06(t *testing.T) {
	want := map[goldenContext]Decision{
		at(mcrm.DeviceTrustVerified, "10.20.1.5", tue1000): {Reason: ReasonContextDenied,
			Rule: "field_sales.context.export_managed_office_hours", Detail: DetailDeviceTrust},
		at(mcrm.DeviceTrustManaged, "10.20.1.5", "2026-03-10T22:00:00Z"): {Reason: ReasonContextDenied,
			Rule: "field_sales.context.export_managed_office_hours", Detail: DetailTimeWindow},
		at(mcrm.DeviceTrustManaged, "10.20.1.5", tue1000): {Allowed: true, Reason: ReasonGranted,
			Rule: "field_sales.objects.contacts"},
	}
	found := 0
	for _, c := range readGolden(t) {
		if c.Role != "field_sales" || c.Action != Export || c.Object != "contacts" || c.Field != "" {
			continue
		}
		if w, ok := want[c.Context]; ok {
			found++
			if c.Want != w {
				t.Errorf("%+v: file says %+v, want %+v", c.Context, c.Want, w)
			}
		}
	}
	if found != len(want) {
		t.Errorf("found %d of the %d AZ-06 cases in the golden file", found, len(want))
	}
}

// TestExplainMatchesDecide runs every golden input through Explain: Decide
// allows iff every step allows, and a denial is the first denying step.
func TestExplainMatchesDecide(t *testing.T) {
	roles := roleSet(t)
	for _, c := range goldenInputs() {
		r := roles[c.Role]
		ctx := c.Context.context(t)
		d := r.Decide(c.Action, c.Object, c.Field, ctx)
		steps := r.Explain(c.Action, c.Object, c.Field, ctx)
		var firstDeny *Decision
		for i := range steps {
			if !steps[i].Allowed {
				firstDeny = &steps[i]
				break
			}
		}
		switch {
		case d.Allowed && firstDeny != nil:
			t.Errorf("%+v: Decide allows, Explain denies at %+v", c, *firstDeny)
		case !d.Allowed && (firstDeny == nil || *firstDeny != d):
			t.Errorf("%+v: Decide %+v, Explain %+v", c, d, steps)
		}
	}
}

func readGolden(t testing.TB) []goldenCase {
	data, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatalf("%v (create it with go test ./authz -run Golden -update)", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var cs []goldenCase
	if err := dec.Decode(&cs); err != nil {
		t.Fatal(err)
	}
	return cs
}

// writeGolden writes one case per line, so a changed decision is a
// one-line diff.
func writeGolden(cs []goldenCase) error {
	var b bytes.Buffer
	b.WriteString("[\n")
	for i, c := range cs {
		line, err := json.Marshal(c)
		if err != nil {
			return err
		}
		b.WriteString("  ")
		b.Write(line)
		if i < len(cs)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("]\n")
	if err := os.MkdirAll(filepath.Dir(goldenFile), 0o755); err != nil {
		return err
	}
	return os.WriteFile(goldenFile, b.Bytes(), 0o644)
}
