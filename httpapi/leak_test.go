package httpapi_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"mcrm"
	"mcrm/apitest"
	"mcrm/authz"
	"mcrm/dbtest"
	"mcrm/record"
	"mcrm/sqlstore"
)

// The leak test: a seeded random walk over the record endpoints, by every
// kind of caller of two tenants, aimed at ids of either tenant and of any
// entity, that checks after every step invariants computed from the
// fixture by an oracle of its own (below), not by asking the store:
//
//	(a) an id of the other tenant answers exactly what a random id answers
//	    (404, or 403 when the role lacks the action), never 200, 403 or 412
//	    where a random id gets 404;
//	(b) every record in a GET, LIST or export answer is one the caller's
//	    read scope reaches (owner within own/team/territory/all, a share
//	    with the user or their team, membership of the account's team, a
//	    note through a parent the caller can read), and a successful write
//	    hits only a record the write scope reaches;
//	(c) no answer carries a field the role hides (JSON keys, CSV header
//	    columns), nor the raw value of a field the role hides or masks, nor
//	    any value of a record the caller cannot read: every string of the
//	    fixture carries a unique marker (zqNNNNN) or is a unique phone
//	    number, so a value found in a body is traced back to its record and
//	    field;
//	(d) a refused write (403, 404, 400, 412, ...) leaves the record's
//	    version and deletion state as they were.
//
// MCRM_LEAK_SEED replays a walk; MCRM_LEAK_STEPS changes its length.

const lkDefaultSteps = 3000

// lkUser is one user of the fixture; the callers are users too.
type lkUser struct {
	key    string // "t0/rep1"
	id     string
	tenant string
	role   *authz.Role
	email  string
	token  string
}

// lkRec is one record as the database holds it (read as the system, so
// the oracle never asks the code under test what a caller may see).
type lkRec struct {
	ent     *mcrm.Entity
	id      string
	tenant  string
	v       record.Values
	deleted bool
}

type lkShare struct{ entity, record, user, team, access string }
type lkMember struct{ account, user, access string }

// lkSecret is one string of the fixture a body may not show unless the
// caller may read that field of that record.
type lkSecret struct {
	rec   *lkRec
	field string // top-level field (a list field for its items)
	value string
}

type lkWorld struct {
	t        *testing.T
	e        *apitest.Env
	tenants  []string
	tnames   []string
	users    map[string]*lkUser // by id
	callers  []*lkUser
	recs     map[string]*lkRec // by id
	byEnt    map[string][]*lkRec
	shares   []lkShare
	members  []lkMember
	rng      *rand.Rand
	seq      int
	tokens   map[string][]lkSecret // marker → secrets holding it
	phones   map[string][]lkSecret // E.164 → secrets holding it
	stats    map[string]int
	seed     uint64
	step     int
	stepDesc string
}

var (
	lkTokenRe = regexp.MustCompile(`zq[0-9]{5}`)
	lkPhoneRe = regexp.MustCompile(`\+1[0-9]{10}`)
)

// tok returns a new unique marker.
func (w *lkWorld) tok() string { w.seq++; return fmt.Sprintf("zq%05d", w.seq) }

// phone returns a new unique, valid North American number in E.164.
func (w *lkWorld) phone() string {
	w.seq++
	return fmt.Sprintf("+1206%03d%04d", 200+w.seq/10000, w.seq%10000)
}

func (w *lkWorld) fail(format string, args ...any) {
	w.t.Helper()
	w.t.Fatalf("seed %d step %d (%s): %s\nreplay: MCRM_LEAK_SEED=%d go test ./httpapi/ -run Leak", w.seed, w.step, w.stepDesc, fmt.Sprintf(format, args...), w.seed)
}

func TestLeakRandomWalk(t *testing.T) {
	steps := lkDefaultSteps
	if s := os.Getenv("MCRM_LEAK_STEPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		steps = n
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("MCRM_LEAK_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seed = n
	}
	for _, backend := range dbtest.Backends {
		t.Run(backend, func(t *testing.T) {
			w := newLeakWorld(t, backend, seed)
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("seed %d (replay with MCRM_LEAK_SEED=%d)", seed, seed)
				}
			})
			for w.step = 1; w.step <= steps; w.step++ {
				w.randomStep()
			}
			t.Logf("seed %d, %d steps: %v", seed, steps, w.stats)
		})
	}
}

// newLeakWorld builds two tenants alike: an admin, a sales manager who
// manages team A (team B below it), reps in A, B and an unmanaged team C,
// an auditor, a support agent and a marketing user; records of every owned
// entity owned by each of them; a few shares and account-team
// memberships.
func newLeakWorld(t *testing.T, backend string, seed uint64) *lkWorld {
	e := apitest.New(t, backend)
	w := &lkWorld{t: t, e: e, users: map[string]*lkUser{}, recs: map[string]*lkRec{}, byEnt: map[string][]*lkRec{},
		rng: rand.New(rand.NewPCG(seed, 0x1ea4)), stats: map[string]int{}, seed: seed}
	t2, admin2 := e.NewTenant(dbtest.Name("lkglobex"))
	w.tenants = []string{e.Tenant.ID, t2.ID}
	w.tnames = []string{e.Tenant.Name, t2.Name}
	admins := []string{e.AdminID, admin2}
	ctx := context.Background()
	for ti, tenant := range w.tenants {
		sys := &mcrm.Principal{TenantID: tenant, System: true}
		add := func(key, role, team, region string) *lkUser {
			email := fmt.Sprintf("%s.%s@lk.example", key, w.tok())
			id := e.AddUser(tenant, email, fmt.Sprintf("User %s %s", key, w.tok()), role, team)
			if region != "" {
				w.sysTx(func(tx *sqlstore.Tx) error {
					_, err := tx.Update(ctx, sys, mcrm.EntityByName("users"), id, -1, record.Values{"region": region})
					return err
				})
			}
			r, _ := authz.Builtin(role)
			u := &lkUser{key: fmt.Sprintf("t%d/%s", ti, key), id: id, tenant: tenant, role: r, email: email}
			w.users[id] = u
			return u
		}
		adm := &lkUser{key: fmt.Sprintf("t%d/admin", ti), id: admins[ti], tenant: tenant, email: "admin@" + w.tnames[ti] + ".example"}
		adm.role, _ = authz.Builtin(mcrm.RoleAdmin)
		w.users[adm.id] = adm
		mgr := add("manager", mcrm.RoleSalesManager, "", "south")
		teamA := e.AddTeam(tenant, "Team A "+w.tok(), "", mgr.id)
		teamB := e.AddTeam(tenant, "Team B "+w.tok(), teamA, "")
		teamC := e.AddTeam(tenant, "Team C "+w.tok(), "", "")
		rep1 := add("rep1", mcrm.RoleSalesRep, teamA, "north")
		rep2 := add("rep2", mcrm.RoleSalesRep, teamA, "south")
		rep3 := add("rep3", mcrm.RoleSalesRep, teamB, "south")
		rep4 := add("rep4", mcrm.RoleSalesRep, teamC, "north")
		aud := add("auditor", mcrm.RoleAuditor, "", "")
		sup := add("support", mcrm.RoleSupportAgent, teamC, "")
		mkt := add("marketing", mcrm.RoleMarketing, "", "")
		people := []*lkUser{adm, mgr, rep1, rep2, rep3, rep4, aud, sup, mkt}
		w.callers = append(w.callers, people...)

		// Reference data beside the default pipeline.
		var products []string
		w.sysTx(func(tx *sqlstore.Tx) error {
			for i := 0; i < 2; i++ {
				products = append(products, w.create(tx, sys, "products", map[string]any{"name": "Product " + w.tok(), "code": "C" + w.tok(),
					"family": "Fam " + w.tok(), "price": "18.00", "currency": "USD", "description": "Desc " + w.tok()}))
			}
			w.create(tx, sys, "pipelines", map[string]any{"name": "Renewals " + w.tok(), "stages": []any{
				map[string]any{"name": "Due", "probability": 40}, map[string]any{"name": "Renewed", "outcome": "won"}, map[string]any{"name": "Churned", "outcome": "lost"}}})
			return nil
		})

		// Owned records: one of each entity per user, in dependency
		// order; references point at records of other owners on purpose.
		own := map[string][]string{}
		w.sysTx(func(tx *sqlstore.Tx) error {
			pick := func(ent string, i int) string { l := own[ent]; return l[(i*5+3)%len(l)] }
			for _, ent := range []string{"accounts", "contacts", "opportunities", "leads", "activities", "cases", "notes"} {
				for i, u := range people {
					var body map[string]any
					switch ent {
					case "accounts":
						body = map[string]any{"name": "Account " + w.tok(), "industry": "Ind " + w.tok(), "website": "https://" + w.tok() + ".example",
							"phones": []any{map[string]any{"type": "work", "value": w.phone()}}, "annual_revenue": "1250000.00", "employees": 250,
							"city": "City " + w.tok(), "country": "Country " + w.tok(), "external_id": "X" + w.tok(), "description": "About " + w.tok()}
					case "contacts":
						body = map[string]any{"first_name": "First " + w.tok(), "last_name": "Last " + w.tok(), "account_id": pick("accounts", i),
							"company": "Company " + w.tok(), "title": "Title " + w.tok(),
							"emails": []any{map[string]any{"type": "work", "value": "c." + w.tok() + "@lk.example"}},
							"phones": []any{map[string]any{"type": "mobile", "value": w.phone()}},
							"street": "Street " + w.tok(), "city": "City " + w.tok(), "region": "Region " + w.tok(), "postal_code": "P" + w.tok(),
							"country": "Country " + w.tok(), "website": "https://" + w.tok() + ".example", "birthday": fmt.Sprintf("19%02d-0%d-1%d", 50+w.seq%40, 1+w.seq%9, w.seq%10),
							"subscribed_on": "2024-03-01", "external_id": "X" + w.tok(), "notes": "Private " + w.tok()}
					case "opportunities":
						body = map[string]any{"name": "Deal " + w.tok(), "account_id": pick("accounts", i+1), "amount": "48000.00",
							"expected_close_date": "2026-09-30", "line_items": []any{map[string]any{"product_id": products[i%2], "quantity": 2}},
							"external_id": "X" + w.tok(), "description": "Deal notes " + w.tok()}
					case "leads":
						body = map[string]any{"first_name": "Lead " + w.tok(), "last_name": "Last " + w.tok(), "company": "Co " + w.tok(), "title": "T " + w.tok(),
							"emails": []any{map[string]any{"type": "work", "value": "l." + w.tok() + "@lk.example"}},
							"phones": []any{map[string]any{"type": "work", "value": w.phone()}}, "source": "Src " + w.tok(), "external_id": "X" + w.tok()}
					case "activities":
						body = map[string]any{"type": "call", "subject": "Call " + w.tok(), "due_at": "2026-05-04T15:00:00Z", "account_id": pick("accounts", i+2),
							"contact_id": pick("contacts", i+2), "opportunity_id": pick("opportunities", i+2), "description": "Agenda " + w.tok()}
					case "cases":
						body = map[string]any{"subject": "Case " + w.tok(), "priority": "high", "account_id": pick("accounts", i+3), "contact_id": pick("contacts", i+3),
							"external_id": "X" + w.tok(), "description": "Problem " + w.tok()}
					case "notes":
						parent := mcrm.NoteParents[i%len(mcrm.NoteParents)]
						body = map[string]any{"parent_type": parent, "parent_id": pick(parent, i+4), "body": "Note " + w.tok()}
					}
					body["owner_id"] = u.id
					own[ent] = append(own[ent], w.create(tx, sys, ent, body))
				}
			}
			return nil
		})

		// Shares and account teams, written as the system.
		share := func(ent, rec, user, team, access string) {
			ev := sqlstore.Event{TenantID: tenant, Actor: "test", Action: "authz_share_change", Object: ent + "/" + rec, Outcome: "success"}
			if _, err := e.DB.ShareRecord(ctx, sys, mcrm.EntityByName(ent), rec, sqlstore.Share{UserID: user, TeamID: team, Access: access}, ev); err != nil {
				t.Fatal(err)
			}
			w.shares = append(w.shares, lkShare{ent, rec, user, team, access})
		}
		// own[ent][k] is owned by people[k]: 0 admin, 1 manager, 2..5 rep1..rep4, 6 auditor, 7 support, 8 marketing.
		share("contacts", own["contacts"][5], rep1.id, "", "read")
		share("opportunities", own["opportunities"][0], "", teamB, "edit")
		share("accounts", own["accounts"][3], rep4.id, "", "edit")
		share("leads", own["leads"][8], "", teamC, "read")
		share("notes", own["notes"][1], rep4.id, "", "read")
		share("cases", own["cases"][7], rep1.id, "", "edit")
		share("activities", own["activities"][1], rep2.id, "", "edit")
		member := func(account, user, access string) {
			ev := sqlstore.Event{TenantID: tenant, Actor: "test", Action: "authz_share_change", Object: "accounts/" + account, Outcome: "success"}
			if err := e.DB.SetAccountMember(ctx, sys, account, user, access, ev); err != nil {
				t.Fatal(err)
			}
			w.members = append(w.members, lkMember{account, user, access})
		}
		// The accounts the first contacts, deals and cases point at, so the
		// membership reaches something.
		member(w.sysGet("contacts", own["contacts"][0])["account_id"].(string), rep4.id, "read")
		member(w.sysGet("opportunities", own["opportunities"][0])["account_id"].(string), rep3.id, "edit")
		member(w.sysGet("cases", own["cases"][2])["account_id"].(string), rep1.id, "read")
	}

	// Every record of both tenants, from the database.
	for _, tenant := range w.tenants {
		for _, ent := range mcrm.Entities {
			rows, _, err := e.DB.List(ctx, &mcrm.Principal{TenantID: tenant, System: true}, ent, sqlstore.ListQuery{Limit: sqlstore.MaxLimit})
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range rows {
				r := &lkRec{ent: ent, id: v["id"].(string), tenant: tenant, v: v}
				w.recs[r.id] = r
				w.byEnt[ent.Name] = append(w.byEnt[ent.Name], r)
			}
		}
	}
	w.reindex()
	for _, u := range w.callers {
		name := w.tnames[slices.Index(w.tenants, u.tenant)]
		u.token = e.LoginStrong(name, u.email)
	}
	return w
}

func (w *lkWorld) sysTx(fn func(tx *sqlstore.Tx) error) {
	w.t.Helper()
	if err := w.e.DB.InTx(context.Background(), fn); err != nil {
		w.t.Fatal(err)
	}
}

func (w *lkWorld) create(tx *sqlstore.Tx, sys *mcrm.Principal, ent string, body map[string]any) string {
	w.t.Helper()
	e := mcrm.EntityByName(ent)
	owner, _ := body["owner_id"].(string)
	delete(body, "owner_id")
	res, err := record.Decode(e, body, record.Options{Region: "US", Loc: time.UTC})
	if err != nil {
		w.t.Fatalf("fixture %s: %v", ent, err)
	}
	if owner != "" {
		res.Values["owner_id"] = owner
	}
	v, err := tx.Create(context.Background(), sys, e, res.Values)
	if err != nil {
		w.t.Fatalf("create %s: %v", ent, err)
	}
	return v["id"].(string)
}

func (w *lkWorld) sysGet(ent, id string) record.Values {
	w.t.Helper()
	for _, tenant := range w.tenants {
		v, err := w.e.DB.Get(context.Background(), &mcrm.Principal{TenantID: tenant, System: true}, mcrm.EntityByName(ent), id)
		if err == nil {
			return v
		}
	}
	w.t.Fatalf("no %s %s", ent, id)
	return nil
}

// refresh reloads one record from the database (live or in the trash).
func (w *lkWorld) refresh(r *lkRec) {
	w.t.Helper()
	ctx := context.Background()
	sys := &mcrm.Principal{TenantID: r.tenant, System: true}
	v, err := w.e.DB.Get(ctx, sys, r.ent, r.id)
	if err == nil {
		r.v, r.deleted = v, false
		w.reindex()
		return
	}
	if mcrm.ErrorCode(err) != mcrm.ENotFound {
		w.fail("refresh: %v", err)
	}
	rows, _, err := w.e.DB.List(ctx, sys, r.ent, sqlstore.ListQuery{Deleted: true, Limit: 1, Filters: []sqlstore.Filter{{Field: "id", Op: "eq", Value: r.id}}})
	if err != nil || len(rows) != 1 {
		w.fail("refresh %s %s: %v (%d rows)", r.ent.Name, r.id, err, len(rows))
	}
	r.v, r.deleted = rows[0], true
	w.reindex()
}

// stored reads the version and deletion state of a record straight from
// the database.
func (w *lkWorld) stored(r *lkRec) (int64, bool) {
	var version int64
	var deleted *string
	err := w.e.DB.SQL().QueryRow("SELECT version, deleted_at FROM "+r.ent.Name+" WHERE tenant_id = $1 AND id = $2", r.tenant, r.id).Scan(&version, &deleted)
	if err != nil {
		w.fail("stored %s %s: %v", r.ent.Name, r.id, err)
	}
	return version, deleted != nil
}

// reindex rebuilds the secret index from the records' current values.
func (w *lkWorld) reindex() {
	w.tokens, w.phones = map[string][]lkSecret{}, map[string][]lkSecret{}
	for _, r := range w.recs {
		for _, f := range r.ent.Fields {
			var strs []string
			switch x := r.v[f.Name].(type) {
			case string:
				if f.Type == mcrm.TRef || f.Name == "id" || f.Name == "parent_id" {
					continue
				}
				strs = []string{x}
			case []map[string]any:
				for _, it := range x {
					for k, s := range it {
						if str, ok := s.(string); ok && k != "type" && k != "product_id" {
							strs = append(strs, str)
						}
					}
				}
			}
			for _, s := range strs {
				sec := lkSecret{rec: r, field: f.Name, value: s}
				for _, m := range lkTokenRe.FindAllString(s, -1) {
					w.tokens[m] = append(w.tokens[m], sec)
				}
				for _, m := range lkPhoneRe.FindAllString(s, -1) {
					w.phones[m] = append(w.phones[m], sec)
				}
			}
		}
	}
}

// ---- the oracle ----

func lkCtx() authz.Context { return authz.Context{Now: time.Now()} }

func (u *lkUser) can(a authz.Action, ent string) bool { return u.role.Can(a, ent, lkCtx()).Allowed }

func (w *lkWorld) teamOf(uid string) string {
	if r := w.recs[uid]; r != nil {
		s, _ := r.v["team_id"].(string)
		return s
	}
	return ""
}

func (w *lkWorld) regionOf(uid string) string {
	if r := w.recs[uid]; r != nil {
		s, _ := r.v["region"].(string)
		return s
	}
	return ""
}

// teamOwners is "the manager hierarchy below u": u, the members of every
// live team u manages and of the live teams below those, and those teams'
// managers.
func (w *lkWorld) teamOwners(u *lkUser) map[string]bool {
	managed := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for _, t := range w.byEnt["teams"] {
			if t.tenant != u.tenant || t.deleted || managed[t.id] {
				continue
			}
			parent, _ := t.v["parent_team_id"].(string)
			if t.v["manager_id"] == u.id || managed[parent] {
				managed[t.id] = true
				changed = true
			}
		}
	}
	out := map[string]bool{u.id: true}
	for _, x := range w.byEnt["users"] {
		if x.tenant == u.tenant && managed[w.teamOf(x.id)] {
			out[x.id] = true
		}
	}
	for _, t := range w.byEnt["teams"] {
		if m, _ := t.v["manager_id"].(string); managed[t.id] && m != "" {
			out[m] = true
		}
	}
	return out
}

// reads reports whether u may read record r: the role grants read on its
// entity and the scope, a share, the account team or (notes) a readable
// parent reaches it. live requires the record (and a note's parent) not
// to be deleted.
func (w *lkWorld) reads(u *lkUser, r *lkRec, live bool) bool {
	if r.tenant != u.tenant || (live && r.deleted) || !u.can(authz.Read, r.ent.Name) {
		return false
	}
	if w.reach(u, r, u.role.ScopeFor(r.ent.Name, authz.Read), false) {
		return true
	}
	if r.ent.Name == "notes" {
		// "A note is attached to one record of any object; whoever can read
		// that record can read its notes" (schema.go).
		pid, _ := r.v["parent_id"].(string)
		if p := w.recs[pid]; p != nil && p.ent.Name == r.v["parent_type"] && w.reads(u, p, live) {
			return true
		}
	}
	return false
}

// writes reports whether action a (update or delete) by u reaches r.
func (w *lkWorld) writes(u *lkUser, r *lkRec, a authz.Action) bool {
	if r.tenant != u.tenant || r.deleted || !u.can(a, r.ent.Name) {
		return false
	}
	return w.reach(u, r, u.role.ScopeFor(r.ent.Name, a), true)
}

func (w *lkWorld) reach(u *lkUser, r *lkRec, scope authz.Scope, write bool) bool {
	e := r.ent
	if !e.Owned {
		switch scope {
		case authz.ScopeAll:
			return true
		case authz.ScopeOwn:
			return e.Name == "users" && r.id == u.id
		}
		return false
	}
	owner, _ := r.v["owner_id"].(string)
	switch scope {
	case authz.ScopeAll:
		return true
	case authz.ScopeTeam:
		if w.teamOwners(u)[owner] {
			return true
		}
	case authz.ScopeTerritory:
		if reg := w.regionOf(u.id); reg != "" && w.regionOf(owner) == reg {
			return true
		}
	case authz.ScopeOwn:
		if owner == u.id {
			return true
		}
	}
	myTeam := w.teamOf(u.id)
	for _, s := range w.shares {
		if s.entity == e.Name && s.record == r.id && (s.user == u.id || (s.team != "" && s.team == myTeam)) && (!write || s.access == "edit") {
			return true
		}
	}
	account := ""
	switch e.Name {
	case "accounts":
		account = r.id
	case "contacts", "opportunities", "cases":
		account, _ = r.v["account_id"].(string)
	}
	for _, m := range w.members {
		if account != "" && m.account == account && m.user == u.id && (!write || m.access == "edit") {
			return true
		}
	}
	return false
}

// visible lists the ids of e u may read, live or in the trash.
func (w *lkWorld) visible(u *lkUser, e *mcrm.Entity, trash bool) []string {
	var ids []string
	for _, r := range w.byEnt[e.Name] {
		if r.deleted == trash && w.reads(u, r, !trash) {
			ids = append(ids, r.id)
		}
	}
	sort.Strings(ids)
	return ids
}

// shown reports whether the role shows field f of e in clear.
func shown(u *lkUser, e *mcrm.Entity, f string) bool {
	a := u.role.FieldAccess(e.Name, f)
	return a == authz.ReadOnly || a == authz.Edit
}

// ---- checks on answers ----

// checkSecrets finds every fixture string in body and fails unless u may
// read that field of that record in clear, or u sent it in the request.
func (w *lkWorld) checkSecrets(u *lkUser, body []byte, sent map[string]bool) {
	w.t.Helper()
	var cands []lkSecret
	for _, m := range lkTokenRe.FindAll(body, -1) {
		cands = append(cands, w.tokens[string(m)]...)
	}
	for _, m := range lkPhoneRe.FindAll(body, -1) {
		cands = append(cands, w.phones[string(m)]...)
	}
	for _, s := range cands {
		if sent[s.value] || !bytes.Contains(body, []byte(s.value)) {
			continue
		}
		if !w.reads(u, s.rec, false) {
			w.fail("%s sees %s.%s %q of %s %s (tenant %s), which it may not read:\n%s", u.key, s.rec.ent.Name, s.field, s.value, s.rec.ent.Singular, s.rec.id, w.tenantName(s.rec.tenant), lkShort(body))
		}
		if !shown(u, s.rec.ent, s.field) {
			w.fail("%s (%s) sees the raw %s.%s %q (access %s):\n%s", u.key, u.role.Name, s.rec.ent.Name, s.field, s.value, u.role.FieldAccess(s.rec.ent.Name, s.field), lkShort(body))
		}
	}
}

func (w *lkWorld) tenantName(id string) string { return w.tnames[slices.Index(w.tenants, id)] }

func lkShort(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}

// checkKeys fails when a record object carries a key the role hides.
func (w *lkWorld) checkKeys(u *lkUser, e *mcrm.Entity, obj map[string]any) {
	w.t.Helper()
	for k := range obj {
		if k == "deleted_at" {
			continue
		}
		base := k
		if f := e.Field(k); f == nil {
			b, ok := strings.CutSuffix(k, "_local")
			if bf := e.Field(b); !ok || bf == nil || !bf.Local {
				w.fail("%s: unknown key %q in a %s", u.key, k, e.Singular)
			}
			base = b
		}
		if u.role.FieldAccess(e.Name, base) == authz.Hidden {
			w.fail("%s (%s): hidden field %s.%s in the answer", u.key, u.role.Name, e.Name, k)
		}
	}
}

// checkRecord checks one record of an answer: readable, no hidden key.
func (w *lkWorld) checkRecord(u *lkUser, e *mcrm.Entity, obj map[string]any, trash bool) string {
	w.t.Helper()
	id, _ := obj["id"].(string)
	r := w.recs[id]
	if r == nil || r.ent != e {
		w.fail("%s got a %s %q that is not in the fixture", u.key, e.Singular, id)
	}
	if r.deleted != trash || !w.reads(u, r, !trash) {
		w.fail("%s (%s) got %s %s (tenant %s, owner %v, deleted %v) outside its read scope", u.key, u.role.Name, e.Singular, id, w.tenantName(r.tenant), w.ownerKey(r), r.deleted)
	}
	w.checkKeys(u, e, obj)
	return id
}

func (w *lkWorld) ownerKey(r *lkRec) string {
	if o, ok := r.v["owner_id"].(string); ok && w.users[o] != nil {
		return w.users[o].key
	}
	return "-"
}

// ---- the walk ----

func (w *lkWorld) pickCaller() *lkUser { return w.callers[w.rng.IntN(len(w.callers))] }

func (w *lkWorld) pickEntity() *mcrm.Entity { return mcrm.Entities[w.rng.IntN(len(mcrm.Entities))] }

// pickTarget picks an id: mostly a record of e from either tenant, else a
// record of another entity, else a fresh id nobody has.
func (w *lkWorld) pickTarget(e *mcrm.Entity) string { return w.pickTargetFor(nil, e) }

// pickTargetFor is pickTarget favouring, when u is set, records of u's
// tenant (half the picks of a record of e).
func (w *lkWorld) pickTargetFor(u *lkUser, e *mcrm.Entity) string {
	if u != nil && w.rng.IntN(5) == 0 {
		// A record of e a share or an account team points at: rare in a
		// uniform pick, and where scope mistakes hide.
		var l []*lkRec
		for _, r := range w.byEnt[e.Name] {
			if w.related(r) {
				l = append(l, r)
			}
		}
		if len(l) > 0 {
			return l[w.rng.IntN(len(l))].id
		}
	}
	switch n := w.rng.IntN(10); {
	case n < 8 && len(w.byEnt[e.Name]) > 0:
		l := w.byEnt[e.Name]
		if u != nil && w.rng.IntN(2) == 0 {
			var mine []*lkRec
			for _, r := range l {
				if r.tenant == u.tenant {
					mine = append(mine, r)
				}
			}
			if len(mine) > 0 {
				l = mine
			}
		}
		return l[w.rng.IntN(len(l))].id
	case n < 9:
		o := w.pickEntity()
		if l := w.byEnt[o.Name]; len(l) > 0 {
			return l[w.rng.IntN(len(l))].id
		}
	}
	return record.NewID()
}

// related reports whether a share or an account-team membership reaches r.
func (w *lkWorld) related(r *lkRec) bool {
	for _, s := range w.shares {
		if s.record == r.id {
			return true
		}
	}
	account := r.id
	if a, ok := r.v["account_id"].(string); ok {
		account = a
	}
	for _, m := range w.members {
		if m.account == account {
			return true
		}
	}
	return false
}

// target is the fixture record id names on entity e, or nil.
func (w *lkWorld) target(e *mcrm.Entity, id string) *lkRec {
	if r := w.recs[id]; r != nil && r.ent == e {
		return r
	}
	return nil
}

func (w *lkWorld) randomStep() {
	u := w.pickCaller()
	e := w.pickEntity()
	switch n := w.rng.IntN(100); {
	case n < 25:
		w.stepGet(u, e)
	case n < 55:
		w.stepList(u, e)
	case n < 80:
		w.stepPatch(u, e)
	case n < 92:
		w.stepDelete(u, e)
	default:
		w.stepExport(u, e)
	}
}

func (w *lkWorld) count(what string, status int) { w.stats[fmt.Sprintf("%s %d", what, status)]++ }

func (w *lkWorld) stepGet(u *lkUser, e *mcrm.Entity) {
	id := w.pickTargetFor(u, e)
	w.stepDesc = fmt.Sprintf("%s GET %s/%s", u.key, e.Name, id)
	resp := w.e.Do(u.token, "GET", "/api/v1/"+e.Name+"/"+id, nil, nil)
	w.count("get", resp.Status)
	r := w.target(e, id)
	want := 404
	switch {
	case !u.can(authz.Read, e.Name):
		want = 403
	case r != nil && w.reads(u, r, true):
		want = 200
	}
	if resp.Status != want {
		w.fail("status %d, want %d (target %s): %s", resp.Status, want, w.describe(r), resp.Body)
	}
	if want == 200 {
		if resp.JSON["id"] != id {
			w.fail("got record %v, want %s", resp.JSON["id"], id)
		}
		w.checkRecord(u, e, resp.JSON, false)
	}
	w.checkSecrets(u, resp.Body, nil)
}

func (w *lkWorld) describe(r *lkRec) string {
	if r == nil {
		return "no such record"
	}
	return fmt.Sprintf("%s %s of tenant %s owned by %s, deleted %v", r.ent.Singular, r.id, w.tenantName(r.tenant), w.ownerKey(r), r.deleted)
}

// filterText renders a stored value as a query-string value.
func filterText(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case record.Money:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	}
	return fmt.Sprint(v)
}

func (w *lkWorld) stepList(u *lkUser, e *mcrm.Entity) {
	q := url.Values{"limit": {"500"}}
	sent := map[string]bool{}
	filterField, sortField := "", ""
	if w.rng.IntN(10) < 7 {
		// A filter on a random field of e (hidden, masked, unfilterable and
		// unknown ones included), or on email/phone, with a value taken from
		// a random record of either tenant.
		names := columnsOf(e)
		if e.Field("emails") != nil {
			names = append(names, "email", "phone")
		}
		names = append(names, "no_such_field")
		if w.rng.IntN(2) == 0 {
			// Half the time a field the role may filter on.
			names = names[:0]
			for _, f := range e.Fields {
				if f.Filter && shown(u, e, f.Name) {
					names = append(names, f.Name)
				}
			}
			if len(names) == 0 {
				names = []string{"id"}
			}
		}
		filterField = names[w.rng.IntN(len(names))]
		val := ""
		if l := w.byEnt[e.Name]; len(l) > 0 {
			src := l[w.rng.IntN(len(l))]
			switch filterField {
			case "email", "phone":
				list, _ := src.v[filterField+"s"].([]map[string]any)
				if len(list) > 0 {
					val, _ = list[0]["value"].(string)
				}
			default:
				val = filterText(src.v[filterField])
			}
		}
		if val == "" {
			val = "null"
		}
		if w.rng.IntN(4) == 0 {
			// An id of any entity and either tenant.
			if f := e.Field(filterField); filterField == "id" {
				val = w.pickTarget(e)
			} else if f != nil && f.Type == mcrm.TRef {
				val = w.pickTarget(mcrm.EntityByName(f.Ref))
			}
		}
		key := filterField
		if op := []string{"", "", "", "[gt]", "[lte]"}[w.rng.IntN(5)]; op != "" {
			key += op
		}
		q.Set(key, val)
		sent[val] = true
	}
	if w.rng.IntN(10) < 3 {
		names := columnsOf(e)
		sortField = names[w.rng.IntN(len(names))]
		s := sortField
		if w.rng.IntN(2) == 0 {
			s = "-" + s
		}
		q.Set("sort", s)
	}
	trash := w.rng.IntN(10) == 0
	if trash {
		q.Set("deleted", "true")
	}
	w.stepDesc = fmt.Sprintf("%s GET %s?%s", u.key, e.Name, q.Encode())
	resp := w.e.Do(u.token, "GET", "/api/v1/"+e.Name+"?"+q.Encode(), nil, nil)
	w.count("list", resp.Status)
	if !u.can(authz.Read, e.Name) {
		if resp.Status != 403 {
			w.fail("status %d, want 403 (no read on %s): %s", resp.Status, e.Name, resp.Body)
		}
		return
	}
	// A field the role does not show in clear cannot filter (which records
	// match would tell its value); a hidden one cannot sort either (the
	// order would). Sorting on a masked field is allowed by design (masks
	// are deterministic so masked lists sort stably).
	target := filterField
	if target == "email" || target == "phone" {
		target += "s"
	}
	if e.Field(target) != nil && !shown(u, e, target) && resp.Status != 400 {
		w.fail("filter on %s.%s (access %s) answered %d, want 400: %s", e.Name, target, u.role.FieldAccess(e.Name, target), resp.Status, lkShort(resp.Body))
	}
	if e.Field(sortField) != nil && u.role.FieldAccess(e.Name, sortField) == authz.Hidden && resp.Status != 400 {
		w.fail("sort on the hidden %s.%s answered %d, want 400: %s", e.Name, sortField, resp.Status, lkShort(resp.Body))
	}
	switch resp.Status {
	case 200:
	case 400:
		w.checkSecrets(u, resp.Body, sent)
		return
	default:
		w.fail("status %d: %s", resp.Status, resp.Body)
	}
	data, ok := resp.JSON["data"].([]any)
	if !ok {
		w.fail("no data array: %s", lkShort(resp.Body))
	}
	var got []string
	for _, d := range data {
		got = append(got, w.checkRecord(u, e, d.(map[string]any), trash))
	}
	if filterField == "" && !trash {
		sort.Strings(got)
		if want := w.visible(u, e, false); !slices.Equal(got, want) {
			w.fail("%s (%s) list of %s:\n got %v\nwant %v", u.key, u.role.Name, e.Name, w.keys(got), w.keys(want))
		}
	}
	w.checkSecrets(u, resp.Body, sent)
}

func (w *lkWorld) keys(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id[len(id)-6:] + "(" + w.ownerKey(w.recs[id]) + ")"
	}
	return out
}

func columnsOf(e *mcrm.Entity) []string {
	var out []string
	for _, f := range e.Fields {
		out = append(out, f.Name)
	}
	return out
}

// structural fields would change who sees what (or who can sign in) when
// an administrator writes them; the walk keeps the hierarchy fixed and
// only sends them where the write is bound to be refused.
var lkStructural = map[string][]string{
	"users": {"role", "team_id", "active", "email", "region", "time_zone"},
	"teams": {"parent_team_id", "manager_id"},
}

// patchValue is a value for a PATCH of f: new unique strings, valid values
// of other types, references to records of either tenant.
func (w *lkWorld) patchValue(e *mcrm.Entity, f *mcrm.Field) any {
	switch f.Type {
	case mcrm.TString, mcrm.TText:
		return "Patched " + w.tok()
	case mcrm.TEmail:
		return "p." + w.tok() + "@lk.example"
	case mcrm.TURL:
		return "https://" + w.tok() + ".example"
	case mcrm.TInt:
		if f.Range != nil {
			return f.Range[0] + w.rng.Int64N(min(f.Range[1]-f.Range[0]+1, 1000))
		}
		return w.rng.IntN(1000)
	case mcrm.TMoney:
		return "123.45"
	case mcrm.TBool:
		return w.rng.IntN(2) == 0
	case mcrm.TDate:
		return "2027-03-14"
	case mcrm.TDateTime:
		return "2027-03-14T10:00:00Z"
	case mcrm.TEnum:
		return f.Enum[w.rng.IntN(len(f.Enum))]
	case mcrm.TCurrency:
		return "EUR"
	case mcrm.TRef:
		if w.rng.IntN(8) == 0 {
			return nil
		}
		return w.pickTarget(mcrm.EntityByName(f.Ref))
	case mcrm.TList:
		switch f.Name {
		case "emails":
			return []any{map[string]any{"type": "work", "value": "p." + w.tok() + "@lk.example"}}
		case "phones":
			return []any{map[string]any{"type": "mobile", "value": w.phone()}}
		case "line_items":
			return []any{map[string]any{"product_id": w.pickTarget(mcrm.EntityByName("products")), "quantity": 3}}
		case "stages":
			return []any{map[string]any{"name": "S " + w.tok(), "outcome": "open"}, map[string]any{"name": "W " + w.tok(), "outcome": "won"}}
		}
	}
	return "x"
}

func (w *lkWorld) stepPatch(u *lkUser, e *mcrm.Entity) {
	id := w.pickTargetFor(u, e)
	names := append(columnsOf(e), "no_such_field")
	if w.rng.IntN(2) == 0 {
		// Half the time a field the role may edit, if any.
		var editable []string
		for _, f := range e.Fields {
			if u.role.FieldAccess(e.Name, f.Name) == authz.Edit && !f.System && f.Name != "owner_id" && !slices.Contains(lkStructural[e.Name], f.Name) {
				editable = append(editable, f.Name)
			}
		}
		if len(editable) > 0 {
			names = editable
		}
	}
	field := names[w.rng.IntN(len(names))]
	if slices.Contains(lkStructural[e.Name], field) && u.can(authz.Update, e.Name) {
		field = "name"
	}
	var val any = "Patched " + w.tok()
	if f := e.Field(field); f != nil {
		val = w.patchValue(e, f)
	}
	body := map[string]any{field: val}
	r := w.target(e, id)
	ifMatch := "*"
	switch n := w.rng.IntN(10); {
	case n == 0 && r != nil:
		ifMatch = fmt.Sprintf(`"%d"`, r.v["version"].(int64))
	case n == 1:
		ifMatch = `"999"`
	}
	w.stepDesc = fmt.Sprintf("%s PATCH %s/%s %v If-Match %s", u.key, e.Name, id, body, ifMatch)
	w.write(u, e, id, r, "PATCH", body, map[string]string{"If-Match": ifMatch}, authz.Update, 200)
}

func (w *lkWorld) stepDelete(u *lkUser, e *mcrm.Entity) {
	if (e.Name == "users" || e.Name == "teams") && u.can(authz.Delete, e.Name) {
		// Deleting a caller or a team would change the hierarchy under the
		// walk; an administrator reads instead.
		w.stepGet(u, e)
		return
	}
	id := w.pickTargetFor(u, e)
	r := w.target(e, id)
	w.stepDesc = fmt.Sprintf("%s DELETE %s/%s", u.key, e.Name, id)
	w.write(u, e, id, r, "DELETE", nil, nil, authz.Delete, 204)
}

// write sends a PATCH or DELETE and checks it against the oracle: a
// record outside the write scope (another tenant's included) answers what
// a random id answers; a success is inside the write scope and, for a
// PATCH, on an editable field; a refusal changes nothing.
func (w *lkWorld) write(u *lkUser, e *mcrm.Entity, id string, r *lkRec, method string, body map[string]any, hdr map[string]string, a authz.Action, okStatus int) {
	var before int64
	var beforeDel bool
	if r != nil {
		before, beforeDel = w.stored(r)
	}
	sent := map[string]bool{}
	for _, v := range body {
		if s, ok := v.(string); ok {
			sent[s] = true
		}
	}
	resp := w.e.Do(u.token, method, "/api/v1/"+e.Name+"/"+id, body, hdr)
	w.count(strings.ToLower(method), resp.Status)
	reachable := r != nil && w.writes(u, r, a)
	if !reachable {
		// Exactly what a record that does not exist gets.
		twin := w.e.Do(u.token, method, "/api/v1/"+e.Name+"/"+record.NewID(), body, hdr)
		if twin.Status != resp.Status || lkProblemCode(twin) != lkProblemCode(resp) {
			w.fail("%s outside the write scope answered %d %s, a random id %d %s (target %s): %s", method, resp.Status, lkProblemCode(resp), twin.Status, lkProblemCode(twin), w.describe(r), lkShort(resp.Body))
		}
		if resp.Status < 400 || resp.Status == 412 || resp.Status == 409 {
			w.fail("%s outside the write scope answered %d (target %s): %s", method, resp.Status, w.describe(r), lkShort(resp.Body))
		}
	}
	if !u.can(a, e.Name) && resp.Status != 403 {
		w.fail("%s without the %s permission answered %d, want 403: %s", method, a, resp.Status, lkShort(resp.Body))
	}
	if resp.Status == okStatus {
		if method == "PATCH" {
			for k := range body {
				if u.role.FieldAccess(e.Name, k) != authz.Edit || e.Field(k) == nil || e.Field(k).System || k == "owner_id" {
					w.fail("PATCH of %s.%s (access %s) succeeded", e.Name, k, u.role.FieldAccess(e.Name, k))
				}
			}
			if resp.JSON["id"] != id {
				w.fail("PATCH answered record %v", resp.JSON["id"])
			}
			w.checkKeys(u, e, resp.JSON)
		}
		after, _ := w.stored(r)
		if after != before+1 {
			w.fail("%s answered %d but the version went %d → %d", method, resp.Status, before, after)
		}
		w.refresh(r)
		if method == "DELETE" && w.rng.IntN(2) == 0 {
			// Half the deleted records come back, so the walk does not run
			// out of targets.
			w.sysTx(func(tx *sqlstore.Tx) error {
				_, err := tx.Restore(context.Background(), &mcrm.Principal{TenantID: r.tenant, System: true}, e, id)
				return err
			})
			w.refresh(r)
		}
	} else {
		if resp.Status >= 500 || resp.Status < 400 {
			w.fail("%s answered %d: %s", method, resp.Status, lkShort(resp.Body))
		}
		if r != nil {
			// A refused write leaves no trace (AZ: checks before writes).
			if after, afterDel := w.stored(r); after != before || afterDel != beforeDel {
				w.fail("refused %s (%d) changed %s: version %d → %d, deleted %v → %v", method, resp.Status, w.describe(r), before, after, beforeDel, afterDel)
			}
		}
	}
	w.checkSecrets(u, resp.Body, sent)
}

func lkProblemCode(r *apitest.Response) string {
	if r.JSON == nil {
		return ""
	}
	c, _ := r.JSON["code"].(string)
	return c
}

func (w *lkWorld) stepExport(u *lkUser, e *mcrm.Entity) {
	format := "csv"
	if e.Field("emails") != nil && w.rng.IntN(3) == 0 {
		format = "vcard"
	}
	w.stepDesc = fmt.Sprintf("%s export %s as %s", u.key, e.Name, format)
	resp := w.e.Do(u.token, "GET", "/api/v1/exports/"+e.Name+"?format="+format, nil, nil)
	w.count("export", resp.Status)
	if !u.can(authz.Export, e.Name) {
		if resp.Status != 403 {
			w.fail("export without the permission answered %d: %s", resp.Status, lkShort(resp.Body))
		}
		return
	}
	if resp.Status != 200 {
		w.fail("export answered %d: %s", resp.Status, lkShort(resp.Body))
	}
	var got []string
	if format == "vcard" {
		body := bytes.ReplaceAll(resp.Body, []byte("\r\n "), nil)
		for _, m := range regexp.MustCompile(`UID:urn:mcrm:([0-9A-Z]{26})`).FindAllSubmatch(body, -1) {
			got = append(got, string(m[1]))
		}
		resp.Body = body
	} else {
		rows, err := csv.NewReader(bytes.NewReader(resp.Body)).ReadAll()
		if err != nil || len(rows) == 0 {
			w.fail("export is not CSV: %v", err)
		}
		for _, col := range rows[0] {
			base, _, _ := strings.Cut(col, ".")
			if base != "id" && u.role.FieldAccess(e.Name, base) == authz.Hidden {
				w.fail("%s (%s): export of %s has the hidden column %s", u.key, u.role.Name, e.Name, col)
			}
		}
		if rows[0][0] != "id" {
			w.fail("export's first column is %q", rows[0][0])
		}
		for _, row := range rows[1:] {
			got = append(got, row[0])
		}
	}
	for _, id := range got {
		if r := w.target(e, id); r == nil || !w.reads(u, r, true) {
			w.fail("%s (%s) exported %s (%s) outside its read scope", u.key, u.role.Name, id, w.describe(r))
		}
	}
	sort.Strings(got)
	if want := w.visible(u, e, false); !slices.Equal(got, want) {
		w.fail("%s (%s) export of %s:\n got %v\nwant %v", u.key, u.role.Name, e.Name, w.keys(got), w.keys(want))
	}
	w.checkSecrets(u, resp.Body, nil)
}
