package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"mcrm"
	"mcrm/apitest"
	"mcrm/authz"
	"mcrm/dbtest"
	"mcrm/record"
	"mcrm/sqlstore"
)

// The scenario matrix: every entity of the registry × every endpoint the
// router registers for it × every kind of caller × every position a record
// can have relative to that caller. The expected status of each cell is
// computed by expect() from the permission model (package authz), not
// listed by hand, so a new entity or endpoint is covered as soon as it is
// in the registry, and a change of rules is one edit here.

// Actors: the callers of the matrix. xadmin is the admin of a second
// tenant; to it the first tenant must not exist.
const (
	actAdmin   = "admin"
	actManager = "sales_manager"
	actRep     = "sales_rep"
	actAuditor = "auditor"
	actXAdmin  = "admin-of-another-tenant"
)

var actors = []string{actAdmin, actManager, actRep, actAuditor, actXAdmin}

// Owners that never call the API: teammate is a rep in the team the
// manager manages (and the rep's colleague); outsider is a rep in a team
// nobody in the test manages.
const (
	ownTeammate = "teammate"
	ownOutsider = "outsider"
)

// Record positions relative to the caller. Owned entities use the first
// four; reference data (not owned) is either in the caller's tenant or not.
const (
	posOwn         = "own"
	posTeam        = "team"
	posOtherTeam   = "other-team"
	posOtherTenant = "other-tenant"
	posTenant      = "tenant"
)

// Endpoints, as routes.go registers them per entity.
const (
	epList     = "list"
	epGet      = "get"
	epCreate   = "create"
	epPatch    = "patch"
	epDelete   = "delete"
	epRestore  = "restore"
	epTransfer = "transfer"
)

func endpointsOf(e *mcrm.Entity) []string {
	eps := []string{epList, epGet, epCreate, epPatch, epDelete, epRestore}
	if e.Owned {
		eps = append(eps, epTransfer)
	}
	return eps
}

// positionsOf lists the positions a case of ep on e is run for. A list
// has no target record (its expected content is checked instead); a
// create of an owned record uses the position as the owner it assigns;
// reference data has no owner to assign.
func positionsOf(e *mcrm.Entity, ep string) []string {
	switch {
	case ep == epList:
		return []string{""}
	case !e.Owned && ep == epCreate:
		return []string{posTenant}
	case !e.Owned:
		return []string{posTenant, posOtherTenant}
	}
	return []string{posOwn, posTeam, posOtherTeam, posOtherTenant}
}

// roleOf is the builtin role an actor signs in with.
func roleOfActor(actor string) *authz.Role {
	name := actor
	if actor == actXAdmin {
		name = mcrm.RoleAdmin
	}
	r, ok := authz.Builtin(name)
	if !ok {
		panic("no builtin role " + name)
	}
	return r
}

// actionOf is the permission each endpoint needs (as httpapi checks it).
func actionOf(ep string) authz.Action {
	switch ep {
	case epList, epGet:
		return authz.Read
	case epCreate:
		return authz.Create
	case epDelete, epRestore:
		return authz.Delete
	}
	return authz.Update
}

// reaches is the record scope of the permission model applied to the
// fixture: whether a record at pos is inside scope for actor. Nobody
// reaches another tenant; reference data has no owner, so any scope but
// none reaches it; nobody in the fixture has a region, so territory
// reaches nothing but what the caller could see anyway... nothing.
func reaches(e *mcrm.Entity, scope authz.Scope, actor, pos string) bool {
	switch {
	case pos == posOtherTenant || scope == authz.ScopeNone:
		return false
	case actor == actXAdmin:
		// Only its "own" records are in its tenant: the team and
		// other-team records belong to the first tenant.
		return pos == posOwn || pos == posTenant
	case !e.Owned || pos == posTenant:
		return true
	}
	switch scope {
	case authz.ScopeAll:
		return true
	case authz.ScopeTeam:
		return pos == posOwn || (actor == actManager && pos == posTeam)
	case authz.ScopeOwn:
		return pos == posOwn
	}
	return false
}

// editable reports whether the role may write every field of body.
func editable(role *authz.Role, e *mcrm.Entity, body map[string]any) bool {
	for k := range body {
		if k == "owner_id" {
			continue
		}
		if role.FieldAccess(e.Name, k) != authz.Edit {
			return false
		}
	}
	return true
}

// expect is the status of ep on e by actor on a record at pos, computed
// from the permission model (package authz): an action the role lacks is
// 403 before any record is looked at; a write naming a field the role may
// not change is 403; a record outside the role's scope does not exist
// (404); an owner outside the write scope cannot be assigned (400).
func (w *world) expect(e *mcrm.Entity, ep, actor, pos string) int {
	role := roleOfActor(actor)
	a := actionOf(ep)
	if !role.Can(a, e.Name, authz.Context{Now: time.Now()}).Allowed {
		return 403
	}
	switch ep {
	case epList:
		return 200
	case epGet:
		if reaches(e, role.ScopeFor(e.Name, authz.Read), actor, pos) {
			return 200
		}
		return 404
	case epCreate:
		if !editable(role, e, w.sample(e, actor)) {
			return 403
		}
		if !e.Owned || reaches(e, role.ScopeFor(e.Name, authz.Create), actor, pos) {
			return 201
		}
		return 400
	case epPatch:
		if !editable(role, e, map[string]any{patchField(e): ""}) {
			return 403
		}
	}
	if !reaches(e, role.ScopeFor(e.Name, a), actor, pos) {
		return 404
	}
	switch ep {
	case epDelete:
		return 204
	case epTransfer:
		// The new owner (the caller) must be in the write scope too:
		// always true, the caller reaches their own records.
		return 200
	}
	return 200
}

// world is the fixture of one backend: two tenants, the callers, and one
// record per owner (owned entities) or per tenant (reference data).
type world struct {
	e      *apitest.Env
	tenant map[string]string            // actor or owner → tenant id
	user   map[string]string            // actor or owner → user id
	token  map[string]string            // actor → bearer token
	fix    map[string]map[string]string // entity → owner (owned) or tenant id (reference) → record id
	seq    int
}

func (w *world) next() int { w.seq++; return w.seq }

// owners are the users that own one fixture record of every owned entity.
func (w *world) owners() []string {
	return append(slices.Clone(actors), ownTeammate, ownOutsider)
}

func newWorld(t *testing.T, backend string) *world {
	e := apitest.New(t, backend)
	w := &world{e: e, tenant: map[string]string{}, user: map[string]string{}, token: map[string]string{}, fix: map[string]map[string]string{}}
	a := e.Tenant.ID
	tb, xadmin := e.NewTenant(dbtest.Name("globex"))
	w.user[actAdmin], w.tenant[actAdmin] = e.AdminID, a
	w.user[actXAdmin], w.tenant[actXAdmin] = xadmin, tb.ID
	w.user[actManager] = e.AddUser(a, "manager@acme.example", "Margaret Peacock", mcrm.RoleSalesManager, "")
	field := e.AddTeam(a, "Field Sales", "", w.user[actManager])
	inside := e.AddTeam(a, "Inside Sales", "", "")
	w.user[actRep] = e.AddUser(a, "rep@acme.example", "Robert King", mcrm.RoleSalesRep, field)
	w.user[ownTeammate] = e.AddUser(a, "teammate@acme.example", "Janet Leverling", mcrm.RoleSalesRep, field)
	w.user[ownOutsider] = e.AddUser(a, "outsider@acme.example", "Steven Buchanan", mcrm.RoleSalesRep, inside)
	w.user[actAuditor] = e.AddUser(a, "auditor@acme.example", "Laura Callahan", mcrm.RoleAuditor, "")
	for _, n := range []string{actManager, actRep, ownTeammate, ownOutsider, actAuditor} {
		w.tenant[n] = a
	}
	w.token[actAdmin] = e.LoginStrong(e.Tenant.Name, "admin@"+e.Tenant.Name+".example")
	w.token[actXAdmin] = e.LoginStrong(tb.Name, "admin@"+tb.Name+".example")
	w.token[actManager] = e.LoginStrong(e.Tenant.Name, "manager@acme.example")
	w.token[actRep] = e.LoginStrong(e.Tenant.Name, "rep@acme.example")
	w.token[actAuditor] = e.LoginStrong(e.Tenant.Name, "auditor@acme.example")

	// Fixtures in registry order, which is dependency order: contacts
	// link to the accounts made before them.
	w.inTx(func(tx *sqlstore.Tx) {
		for _, ent := range mcrm.Entities {
			w.fix[ent.Name] = map[string]string{}
			if ent.Owned {
				for _, o := range w.owners() {
					w.fix[ent.Name][o] = w.storeOwned(tx, ent, o)
				}
				continue
			}
			for _, tenant := range []string{a, tb.ID} {
				w.fix[ent.Name][tenant] = w.storeRef(tx, ent, tenant)
			}
		}
	})
	return w
}

func (w *world) inTx(fn func(tx *sqlstore.Tx)) {
	w.e.T.Helper()
	err := w.e.DB.InTx(context.Background(), func(tx *sqlstore.Tx) error { fn(tx); return nil })
	if err != nil {
		w.e.T.Fatal(err)
	}
}

// storeOwned writes a sample record owned by owner directly through the
// store (as the system), the way the harness creates users.
func (w *world) storeOwned(tx *sqlstore.Tx, e *mcrm.Entity, owner string) string {
	return w.storeValues(tx, e, w.tenant[owner], w.user[owner], w.sample(e, owner))
}

func (w *world) storeRef(tx *sqlstore.Tx, e *mcrm.Entity, tenant string) string {
	return w.storeValues(tx, e, tenant, "", w.sample(e, ""))
}

func (w *world) storeValues(tx *sqlstore.Tx, e *mcrm.Entity, tenant, owner string, body map[string]any) string {
	w.e.T.Helper()
	res, err := record.Decode(e, body, record.Options{Region: "US", Loc: time.UTC})
	if err != nil {
		w.e.T.Fatalf("sample %s: %v", e.Name, err)
	}
	if owner != "" {
		res.Values["owner_id"] = owner
	}
	v, err := tx.Create(context.Background(), &mcrm.Principal{TenantID: tenant, System: true}, e, res.Values)
	if err != nil {
		w.e.T.Fatalf("create %s: %v", e.Name, err)
	}
	return v["id"].(string)
}

// sample is a realistic new record of e. References point at the
// fixtures of refOwner, so that whoever owns those can also write them.
func (w *world) sample(e *mcrm.Entity, refOwner string) map[string]any {
	n := w.next()
	account := w.fix["accounts"][refOwner]
	contact := w.fix["contacts"][refOwner]
	switch e.Name {
	case "teams":
		return map[string]any{"name": fmt.Sprintf("Key Accounts %d", n)}
	case "users":
		return map[string]any{"email": fmt.Sprintf("user%d@acme.example", n), "name": fmt.Sprintf("Anne Dodsworth %d", n), "role": mcrm.RoleSalesRep, "time_zone": "Europe/London"}
	case "products":
		return map[string]any{"name": fmt.Sprintf("Chai %d", n), "code": fmt.Sprintf("BEV-%04d", n), "family": "Beverages", "price": "18.00", "currency": "USD", "active": true}
	case "pipelines":
		return map[string]any{"name": fmt.Sprintf("Renewals %d", n), "stages": []any{
			map[string]any{"name": "Due", "probability": 40},
			map[string]any{"name": "Renewed", "outcome": "won"},
			map[string]any{"name": "Churned", "outcome": "lost"},
		}}
	case "accounts":
		return map[string]any{"name": fmt.Sprintf("Northwind Traders %d", n), "industry": "Retail", "employees": 250, "website": "https://northwind.example",
			"phones": []any{map[string]any{"type": "work", "value": "(206) 555-0100"}}, "annual_revenue": "1250000.00", "city": "Seattle", "country": "US"}
	case "contacts":
		return map[string]any{"first_name": "Nancy", "last_name": fmt.Sprintf("Davolio %d", n), "account_id": account, "title": "Buyer",
			"emails": []any{map[string]any{"type": "work", "value": fmt.Sprintf("nancy.%d@northwind.example", n)}},
			"phones": []any{map[string]any{"type": "mobile", "value": "+1 206 555 0101"}}, "city": "Seattle"}
	case "opportunities":
		return map[string]any{"name": fmt.Sprintf("Northwind renewal %d", n), "account_id": account, "amount": "48000.00", "stage": "Proposal", "expected_close_date": "2026-09-30"}
	case "leads":
		return map[string]any{"first_name": "Andrew", "last_name": fmt.Sprintf("Fuller %d", n), "company": fmt.Sprintf("Fuller Imports %d", n), "source": "web",
			"emails": []any{map[string]any{"type": "work", "value": fmt.Sprintf("andrew.%d@fuller.example", n)}}}
	case "activities":
		return map[string]any{"type": "call", "subject": fmt.Sprintf("Follow-up call %d", n), "due_at": "2026-05-04T15:00:00Z", "account_id": account, "contact_id": contact}
	case "cases":
		return map[string]any{"subject": fmt.Sprintf("Damaged shipment %d", n), "priority": "high", "account_id": account, "contact_id": contact}
	case "notes":
		return map[string]any{"parent_type": "accounts", "parent_id": account, "body": fmt.Sprintf("Met at the trade fair (%d).", n)}
	}
	w.e.T.Fatalf("no sample record for entity %s: add one to sample()", e.Name)
	return nil
}

// patchField is the field a PATCH case changes: the first long text, else
// the first sortable (human-readable) string.
func patchField(e *mcrm.Entity) string {
	for _, f := range e.Fields {
		if !f.System && f.Type == mcrm.TText {
			return f.Name
		}
	}
	for _, f := range e.Fields {
		if !f.System && f.Type == mcrm.TString && f.Sort {
			return f.Name
		}
	}
	panic("no patchable field on " + e.Name)
}

// ownerAt names the owner of the record at pos for actor.
func ownerAt(actor, pos string) string {
	switch pos {
	case posOwn:
		return actor
	case posTeam:
		return ownTeammate
	case posOtherTeam:
		return ownOutsider
	}
	if actor == actXAdmin {
		return ownTeammate
	}
	return actXAdmin
}

// positionOf classifies the fixture owned by owner as seen by actor. The
// rep and the teammate are the members of the team the manager manages;
// a colleague outside it (the outsider, the manager, the admin, the
// auditor) is in the other-team position.
func (w *world) positionOf(actor, owner string) string {
	switch {
	case owner == actor:
		return posOwn
	case w.tenant[owner] != w.tenant[actor]:
		return posOtherTenant
	case owner == ownTeammate, owner == actRep:
		return posTeam
	}
	return posOtherTeam
}

// tenantAt is the tenant of a reference record at pos for actor.
func (w *world) tenantAt(actor, pos string) string {
	if pos == posTenant {
		return w.tenant[actor]
	}
	for _, t := range w.tenant {
		if t != w.tenant[actor] {
			return t
		}
	}
	panic("one tenant only")
}

// target is the fixture a read or patch case addresses.
func (w *world) target(e *mcrm.Entity, actor, pos string) string {
	if e.Owned {
		return w.fix[e.Name][ownerAt(actor, pos)]
	}
	return w.fix[e.Name][w.tenantAt(actor, pos)]
}

// fresh writes a new record at pos for actor, for the cases that change
// a record for good; deleted says whether to soft-delete it at once.
func (w *world) fresh(tx *sqlstore.Tx, e *mcrm.Entity, actor, pos string, deleted bool) string {
	var id, tenant string
	if e.Owned {
		owner := ownerAt(actor, pos)
		id, tenant = w.storeOwned(tx, e, owner), w.tenant[owner]
	} else {
		tenant = w.tenantAt(actor, pos)
		id = w.storeRef(tx, e, tenant)
	}
	if deleted {
		if err := tx.Delete(context.Background(), &mcrm.Principal{TenantID: tenant, System: true}, e, id, -1); err != nil {
			w.e.T.Fatal(err)
		}
	}
	return id
}

// stored reads a record straight from the store, bypassing the API:
// nil when it is deleted or missing.
func (w *world) stored(t *testing.T, e *mcrm.Entity, id string) record.Values {
	t.Helper()
	for _, tenant := range []string{w.tenant[actAdmin], w.tenant[actXAdmin]} {
		v, err := w.e.DB.Get(context.Background(), &mcrm.Principal{TenantID: tenant, System: true}, e, id)
		if err == nil {
			return v
		}
		if mcrm.ErrorCode(err) != mcrm.ENotFound {
			t.Fatal(err)
		}
	}
	return nil
}

// liveIDs lists every live record of e in tenant, from the database.
func (w *world) liveIDs(t *testing.T, e *mcrm.Entity, tenant string) []string {
	t.Helper()
	rows, err := w.e.DB.SQL().Query("SELECT id FROM "+e.Name+" WHERE tenant_id = $1 AND deleted_at IS NULL", tenant)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(ids)
	return ids
}

// expectedList is what a list of e shows actor: the fixtures it sees
// (owned), or every live record of its tenant (reference data).
func (w *world) expectedList(t *testing.T, e *mcrm.Entity, actor string) []string {
	if !e.Owned {
		return w.liveIDs(t, e, w.tenant[actor])
	}
	var ids []string
	for owner, id := range w.fix[e.Name] {
		role := roleOfActor(actor)
		if role.Can(authz.Read, e.Name, authz.Context{Now: time.Now()}).Allowed && reaches(e, role.ScopeFor(e.Name, authz.Read), actor, w.positionOf(actor, owner)) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

func TestScenarioMatrix(t *testing.T) {
	for _, backend := range dbtest.Backends {
		t.Run(backend, func(t *testing.T) {
			w := newWorld(t, backend)
			for _, e := range mcrm.Entities {
				t.Run(e.Name, func(t *testing.T) { w.entityCases(t, e) })
			}
		})
	}
}

type scenario struct{ ep, actor, pos string }

func (w *world) entityCases(t *testing.T, e *mcrm.Entity) {
	var cases []scenario
	for _, ep := range endpointsOf(e) {
		for _, actor := range actors {
			for _, pos := range positionsOf(e, ep) {
				cases = append(cases, scenario{ep, actor, pos})
			}
		}
	}
	run := func(c scenario, freshID string) {
		name := c.ep + "/" + c.actor
		if c.pos != "" {
			name += "/" + c.pos
		}
		t.Run(name, func(t *testing.T) { w.check(t, e, c, w.expect(e, c.ep, c.actor, c.pos), freshID) })
	}
	// Lists run first, while the entity holds only its fixtures, so their
	// content can be checked exactly.
	for _, c := range cases {
		if c.ep == epList {
			run(c, "")
		}
	}
	// The cases that change a record for good each get a record of their
	// own, made in one transaction.
	fresh := map[scenario]string{}
	w.inTx(func(tx *sqlstore.Tx) {
		for _, c := range cases {
			switch c.ep {
			case epDelete, epTransfer:
				fresh[c] = w.fresh(tx, e, c.actor, c.pos, false)
			case epRestore:
				fresh[c] = w.fresh(tx, e, c.actor, c.pos, true)
			}
		}
	})
	for _, c := range cases {
		if c.ep != epList {
			run(c, fresh[c])
		}
	}
}

func (w *world) check(t *testing.T, e *mcrm.Entity, c scenario, want int, freshID string) {
	tok := w.token[c.actor]
	base := "/api/v1/" + e.Name
	switch c.ep {
	case epList:
		resp := w.e.Do(tok, "GET", base+"?limit=500", nil, nil)
		if resp.Status != want {
			t.Fatalf("status %d, want %d: %s", resp.Status, want, resp.Body)
		}
		got := dataIDs(t, resp)
		sort.Strings(got)
		if exp := w.expectedList(t, e, c.actor); !slices.Equal(got, exp) {
			t.Fatalf("list ids\n got %v\nwant %v", got, exp)
		}
	case epGet:
		id := w.target(e, c.actor, c.pos)
		resp := w.e.Do(tok, "GET", base+"/"+id, nil, nil)
		wantStatus(t, resp, want)
		if want == 200 && resp.JSON["id"] != id {
			t.Fatalf("got record %v, want %s", resp.JSON["id"], id)
		}
		if want == 200 {
			// Exactly the fields the role may see (AZ-04), no more.
			role := roleOfActor(c.actor)
			var exp, got []string
			for _, f := range e.Fields {
				if role.FieldAccess(e.Name, f.Name) != authz.Hidden {
					exp = append(exp, f.Name)
					if f.Local {
						exp = append(exp, f.Name+"_local")
					}
				}
			}
			for k := range resp.JSON {
				got = append(got, k)
			}
			sort.Strings(exp)
			sort.Strings(got)
			if !slices.Equal(got, exp) {
				t.Fatalf("visible fields for %s\n got %v\nwant %v", c.actor, got, exp)
			}
		}
	case epPatch:
		id := w.target(e, c.actor, c.pos)
		field := patchField(e)
		before := w.stored(t, e, id)
		val := fmt.Sprintf("Patched by %s %d", c.actor, w.next())
		resp := w.e.Do(tok, "PATCH", base+"/"+id, map[string]any{field: val}, map[string]string{"If-Match": "*"})
		wantStatus(t, resp, want)
		after := w.stored(t, e, id)
		if want == 200 {
			if resp.JSON[field] != val || after[field] != val {
				t.Fatalf("%s: response %v, stored %v, want %q", field, resp.JSON[field], after[field], val)
			}
		} else if after["version"] != before["version"] || after[field] != before[field] {
			t.Fatalf("refused patch changed the record: %v → %v", before[field], after[field])
		}
	case epCreate:
		body := w.sample(e, c.actor)
		if e.Owned && c.pos != posOwn {
			body["owner_id"] = w.user[ownerAt(c.actor, c.pos)]
		}
		resp := w.e.Do(tok, "POST", base, body, nil)
		wantStatus(t, resp, want)
		switch want {
		case 201:
			id, _ := resp.JSON["id"].(string)
			if resp.Header.Get("Location") != base+"/"+id || w.stored(t, e, id) == nil {
				t.Fatalf("created record %q not stored or Location %q wrong", id, resp.Header.Get("Location"))
			}
			if e.Owned && resp.JSON["owner_id"] != w.user[ownerAt(c.actor, c.pos)] {
				t.Fatalf("owner_id %v, want %s", resp.JSON["owner_id"], w.user[ownerAt(c.actor, c.pos)])
			}
		case 400:
			wantFieldError(t, resp, "owner_id", "unknown_reference")
		}
	case epDelete:
		resp := w.e.Do(tok, "DELETE", base+"/"+freshID, nil, nil)
		wantStatus(t, resp, want)
		if live := w.stored(t, e, freshID) != nil; live != (want != 204) {
			t.Fatalf("after DELETE answered %d the record is live=%v", resp.Status, live)
		}
	case epRestore:
		resp := w.e.Do(tok, "POST", base+"/"+freshID+"/restore", nil, nil)
		wantStatus(t, resp, want)
		if live := w.stored(t, e, freshID) != nil; live != (want == 200) {
			t.Fatalf("after restore answered %d the record is live=%v", resp.Status, live)
		}
	case epTransfer:
		me := w.user[c.actor]
		before := w.stored(t, e, freshID)
		resp := w.e.Do(tok, "POST", base+"/"+freshID+"/transfer", map[string]any{"owner_id": me}, nil)
		wantStatus(t, resp, want)
		after := w.stored(t, e, freshID)
		if want == 200 && (after["owner_id"] != me || resp.JSON["owner_id"] != me) || want != 200 && after["version"] != before["version"] {
			t.Fatalf("after transfer answered %d the record is %v (caller %s)", resp.Status, after, me)
		}
	default:
		t.Fatalf("no check for endpoint %s", c.ep)
	}
}

// dataIDs returns the ids of a list response's data array.
func dataIDs(t *testing.T, resp *apitest.Response) []string {
	t.Helper()
	data, ok := resp.JSON["data"].([]any)
	if !ok {
		t.Fatalf("no data array: %s", resp.Body)
	}
	ids := make([]string, 0, len(data))
	for _, d := range data {
		ids = append(ids, d.(map[string]any)["id"].(string))
	}
	return ids
}

// problemCodes maps the statuses the matrix expects to their error codes.
var problemCodes = map[int]string{400: "invalid", 403: "forbidden", 404: "not_found"}

// wantStatus checks the status and, for errors, that the body is a
// problem document with the matching status and code.
func wantStatus(t *testing.T, resp *apitest.Response, want int) {
	t.Helper()
	if resp.Status != want {
		t.Fatalf("status %d, want %d: %s", resp.Status, want, resp.Body)
	}
	if want < 400 {
		return
	}
	wantProblem(t, resp, want, problemCodes[want])
}

// wantProblem checks an RFC 9457 problem document: content type, status
// and code in the body, title, and the request id matching the header.
func wantProblem(t *testing.T, resp *apitest.Response, status int, code string) {
	t.Helper()
	if resp.Status != status {
		t.Fatalf("status %d, want %d: %s", resp.Status, status, resp.Body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	var p struct {
		Type      string `json:"type"`
		Title     string `json:"title"`
		Status    int    `json:"status"`
		Code      string `json:"code"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(resp.Body, &p); err != nil {
		t.Fatalf("problem body: %v: %s", err, resp.Body)
	}
	if p.Status != status || p.Code != code || p.Type != "about:blank" || p.Title == "" || p.RequestID == "" || p.RequestID != resp.Header.Get("X-Request-Id") {
		t.Fatalf("problem %+v, want status %d code %s and the X-Request-Id", p, status, code)
	}
}

// wantFieldError checks that the problem names field with code.
func wantFieldError(t *testing.T, resp *apitest.Response, field, code string) {
	t.Helper()
	errs, _ := resp.JSON["errors"].([]any)
	for _, x := range errs {
		fe := x.(map[string]any)
		if fe["field"] == field && fe["code"] == code {
			return
		}
	}
	t.Fatalf("no error {field %s, code %s} in %s", field, code, resp.Body)
}
