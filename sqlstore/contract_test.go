package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"mcrm"
	"mcrm/dbtest"
	"mcrm/record"
	"mcrm/sqlstore"
)

// The contract suite: every test here runs on SQLite and PostgreSQL.

var ctx = context.Background()

type fixture struct {
	db      *sqlstore.DB
	tenant  sqlstore.Tenant
	admin   *mcrm.Principal
	manager *mcrm.Principal
	rep1    *mcrm.Principal
	rep2    *mcrm.Principal // in another manager's team
}

func ent(name string) *mcrm.Entity { return mcrm.EntityByName(name) }

func mustCreate(t *testing.T, db *sqlstore.DB, p *mcrm.Principal, e string, v record.Values) record.Values {
	t.Helper()
	var out record.Values
	err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
		var err error
		out, err = tx.Create(ctx, p, ent(e), v)
		return err
	})
	if err != nil {
		t.Fatalf("create %s: %v", e, err)
	}
	return out
}

func setup(t *testing.T, db *sqlstore.DB) *fixture {
	t.Helper()
	ten, adminID, err := db.CreateTenant(ctx, sqlstore.NewTenant{Name: dbtest.Name("acme"), AdminEmail: "Admin@Example.com", AdminName: "Ada Admin", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, tenant: ten, admin: &mcrm.Principal{TenantID: ten.ID, UserID: adminID, Role: mcrm.RoleAdmin}}
	region := mustCreate(t, db, f.admin, "teams", record.Values{"name": "West"})
	mgr := mustCreate(t, db, f.admin, "users", record.Values{"email": "m@example.com", "name": "Mia Manager", "role": mcrm.RoleSalesManager, "team_id": region["id"]})
	team := mustCreate(t, db, f.admin, "teams", record.Values{"name": "Mia's team", "parent_team_id": region["id"], "manager_id": mgr["id"]})
	other := mustCreate(t, db, f.admin, "teams", record.Values{"name": "Other team"})
	r1 := mustCreate(t, db, f.admin, "users", record.Values{"email": "r1@example.com", "name": "Rex Rep", "role": mcrm.RoleSalesRep, "team_id": team["id"]})
	r2 := mustCreate(t, db, f.admin, "users", record.Values{"email": "r2@example.com", "name": "Ray Rep", "role": mcrm.RoleSalesRep, "team_id": other["id"]})
	f.manager = &mcrm.Principal{TenantID: ten.ID, UserID: mgr["id"].(string), Role: mcrm.RoleSalesManager}
	f.rep1 = &mcrm.Principal{TenantID: ten.ID, UserID: r1["id"].(string), Role: mcrm.RoleSalesRep}
	f.rep2 = &mcrm.Principal{TenantID: ten.ID, UserID: r2["id"].(string), Role: mcrm.RoleSalesRep}
	return f
}

func code(err error) mcrm.Code { return mcrm.ErrorCode(err) }

func TestContractSchemaMatchesRegistry(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		for _, e := range mcrm.Entities {
			cols := "tenant_id, deleted_at"
			for _, f := range e.Fields {
				cols += ", " + f.Name
			}
			if _, err := db.SQL().Exec("SELECT " + cols + " FROM " + e.Name + " WHERE 1 = 0"); err != nil {
				t.Errorf("%s: registry and migration disagree: %v", e.Name, err)
			}
		}
	})
}

func TestContractCRUDVersionAndSoftDelete(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		acc := mustCreate(t, db, f.rep1, "accounts", record.Values{"name": "Initech", "annual_revenue": record.Money(123456)})
		id := acc["id"].(string)
		if acc["owner_id"] != f.rep1.UserID || acc["version"] != int64(1) || acc["currency"] != "USD" || acc["created_by"] != f.rep1.UserID {
			t.Fatalf("defaults: %+v", acc)
		}
		got, err := db.Get(ctx, f.rep1, ent("accounts"), id)
		if err != nil || got["name"] != "Initech" || got["annual_revenue"] != record.Money(123456) {
			t.Fatalf("get: %v %+v", err, got)
		}
		// A stale version changes nothing.
		err = db.InTx(ctx, func(tx *sqlstore.Tx) error {
			_, err := tx.Update(ctx, f.rep1, ent("accounts"), id, 7, record.Values{"name": "X"})
			return err
		})
		if code(err) != mcrm.EPreconditionFailed {
			t.Fatalf("stale update: %v", err)
		}
		var upd record.Values
		err = db.InTx(ctx, func(tx *sqlstore.Tx) error {
			upd, err = tx.Update(ctx, f.rep1, ent("accounts"), id, 1, record.Values{"name": "Initech Ltd"})
			return err
		})
		if err != nil || upd["version"] != int64(2) || upd["name"] != "Initech Ltd" {
			t.Fatalf("update: %v %+v", err, upd)
		}
		// owner_id cannot be changed through a generic update.
		err = db.InTx(ctx, func(tx *sqlstore.Tx) error {
			_, err := tx.Update(ctx, f.rep1, ent("accounts"), id, 2, record.Values{"owner_id": f.rep2.UserID})
			return err
		})
		if code(err) != mcrm.EInvalid {
			t.Fatalf("owner through update: %v", err)
		}
		if err := db.InTx(ctx, func(tx *sqlstore.Tx) error { return tx.Delete(ctx, f.rep1, ent("accounts"), id, 2) }); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Get(ctx, f.rep1, ent("accounts"), id); code(err) != mcrm.ENotFound {
			t.Fatalf("get deleted: %v", err)
		}
		trash, _, err := db.List(ctx, f.rep1, ent("accounts"), sqlstore.ListQuery{Deleted: true})
		if err != nil || len(trash) != 1 || trash[0]["id"] != id {
			t.Fatalf("trash: %v %d", err, len(trash))
		}
		// Another rep cannot restore it.
		err = db.InTx(ctx, func(tx *sqlstore.Tx) error { _, err := tx.Restore(ctx, f.rep2, ent("accounts"), id); return err })
		if code(err) != mcrm.ENotFound {
			t.Fatalf("foreign restore: %v", err)
		}
		var restored record.Values
		err = db.InTx(ctx, func(tx *sqlstore.Tx) error { restored, err = tx.Restore(ctx, f.rep1, ent("accounts"), id); return err })
		if err != nil || restored["version"] != int64(4) {
			t.Fatalf("restore: %v %+v", err, restored)
		}
	})
}

func TestContractConcurrentUpdatesOneWins(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		acc := mustCreate(t, db, f.admin, "accounts", record.Values{"name": "Race"})
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				errs[i] = db.InTx(ctx, func(tx *sqlstore.Tx) error {
					_, err := tx.Update(ctx, f.admin, ent("accounts"), acc["id"].(string), 1, record.Values{"name": fmt.Sprint("n", i)})
					return err
				})
			}(i)
		}
		wg.Wait()
		ok, stale := 0, 0
		for _, err := range errs {
			switch code(err) {
			case mcrm.EPreconditionFailed:
				stale++
			default:
				if err == nil {
					ok++
				} else if code(err) != mcrm.EUnavailable {
					t.Errorf("unexpected: %v", err)
				} else {
					stale++
				}
			}
		}
		if ok != 1 || stale != 7 {
			t.Fatalf("ok=%d stale=%d", ok, stale)
		}
	})
}

func TestContractTenantIsolation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a := setup(t, db)
		b := setup(t, db)
		acc := mustCreate(t, db, a.admin, "accounts", record.Values{"name": "A only"})
		if _, err := db.Get(ctx, b.admin, ent("accounts"), acc["id"].(string)); code(err) != mcrm.ENotFound {
			t.Fatalf("cross-tenant get: %v", err)
		}
		rows, _, err := db.List(ctx, b.admin, ent("accounts"), sqlstore.ListQuery{})
		if err != nil || len(rows) != 0 {
			t.Fatalf("cross-tenant list: %v %d", err, len(rows))
		}
		err = db.InTx(ctx, func(tx *sqlstore.Tx) error {
			_, err := tx.Create(ctx, b.admin, ent("contacts"), record.Values{"last_name": "X", "account_id": acc["id"]})
			return err
		})
		var me *mcrm.Error
		if !errors.As(err, &me) || me.Code != mcrm.EInvalid || me.Fields[0].Code != "unknown_reference" {
			t.Fatalf("cross-tenant reference: %v", err)
		}
		err = db.InTx(ctx, func(tx *sqlstore.Tx) error {
			_, err := tx.Update(ctx, b.admin, ent("accounts"), acc["id"].(string), 1, record.Values{"name": "stolen"})
			return err
		})
		if code(err) != mcrm.ENotFound {
			t.Fatalf("cross-tenant update: %v", err)
		}
		// Even an owner id from the other tenant is refused.
		err = db.InTx(ctx, func(tx *sqlstore.Tx) error {
			_, err := tx.Create(ctx, b.admin, ent("accounts"), record.Values{"name": "x", "owner_id": a.rep1.UserID})
			return err
		})
		if code(err) != mcrm.EInvalid {
			t.Fatalf("cross-tenant owner: %v", err)
		}
	})
}

func TestContractHierarchyScope(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		mustCreate(t, db, f.rep1, "accounts", record.Values{"name": "r1-a"})
		mustCreate(t, db, f.rep1, "accounts", record.Values{"name": "r1-b"})
		r2 := mustCreate(t, db, f.rep2, "accounts", record.Values{"name": "r2-a"})
		mustCreate(t, db, f.manager, "accounts", record.Values{"name": "m-a"})
		count := func(p *mcrm.Principal) int {
			rows, _, err := db.List(ctx, p, ent("accounts"), sqlstore.ListQuery{Limit: 500})
			if err != nil {
				t.Fatal(err)
			}
			return len(rows)
		}
		if n := count(f.rep1); n != 2 {
			t.Errorf("rep1 sees %d, want 2", n)
		}
		if n := count(f.rep2); n != 1 {
			t.Errorf("rep2 sees %d, want 1", n)
		}
		if n := count(f.manager); n != 3 {
			t.Errorf("manager sees %d, want 3 (own + rep1's)", n)
		}
		if n := count(f.admin); n != 4 {
			t.Errorf("admin sees %d, want 4", n)
		}
		if _, err := db.Get(ctx, f.rep1, ent("accounts"), r2["id"].(string)); code(err) != mcrm.ENotFound {
			t.Errorf("rep1 reads rep2's account: %v", err)
		}
		if _, err := db.Get(ctx, f.manager, ent("accounts"), r2["id"].(string)); code(err) != mcrm.ENotFound {
			t.Errorf("manager reads other team's account: %v", err)
		}
		// A manager may hand a record to their rep, a rep may not hand one to another rep.
		mine := mustCreate(t, db, f.manager, "accounts", record.Values{"name": "handover"})
		err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
			_, err := tx.Transfer(ctx, f.manager, ent("accounts"), mine["id"].(string), 1, f.rep1.UserID)
			return err
		})
		if err != nil {
			t.Fatalf("manager transfer: %v", err)
		}
		r1acc := mustCreate(t, db, f.rep1, "accounts", record.Values{"name": "keep"})
		err = db.InTx(ctx, func(tx *sqlstore.Tx) error {
			_, err := tx.Transfer(ctx, f.rep1, ent("accounts"), r1acc["id"].(string), 1, f.rep2.UserID)
			return err
		})
		if code(err) != mcrm.EInvalid {
			t.Fatalf("rep transfer to other team: %v", err)
		}
		// Notes follow their parent's visibility.
		note := mustCreate(t, db, f.admin, "notes", record.Values{"parent_type": "accounts", "parent_id": r1acc["id"], "body": "call back"})
		if _, err := db.Get(ctx, f.rep1, ent("notes"), note["id"].(string)); err != nil {
			t.Errorf("rep cannot read a note on their account: %v", err)
		}
		if _, err := db.Get(ctx, f.rep2, ent("notes"), note["id"].(string)); code(err) != mcrm.ENotFound {
			t.Errorf("other rep reads the note: %v", err)
		}
	})
}

func TestContractPaginationStableUnderInserts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		want := map[string]bool{}
		for i := 0; i < 60; i++ {
			v := record.Values{"name": fmt.Sprintf("acc-%02d", i%17)}
			if i%5 != 0 {
				v["employees"] = int64(i % 9)
			}
			want[mustCreate(t, db, f.admin, "accounts", v)["id"].(string)] = true
		}
		for _, sortBy := range []struct {
			field string
			desc  bool
		}{{"", false}, {"name", false}, {"employees", false}, {"employees", true}, {"name", true}} {
			seen := map[string]bool{}
			cursor := ""
			pages := 0
			for {
				rows, next, err := db.List(ctx, f.admin, ent("accounts"), sqlstore.ListQuery{Sort: sortBy.field, Desc: sortBy.desc, Limit: 7, Cursor: cursor})
				if err != nil {
					t.Fatalf("%v: %v", sortBy, err)
				}
				for _, r := range rows {
					id := r["id"].(string)
					if seen[id] {
						t.Fatalf("%v: row %s repeated", sortBy, id)
					}
					seen[id] = true
				}
				// Someone inserts while we page.
				mustCreate(t, db, f.admin, "accounts", record.Values{"name": fmt.Sprintf("acc-%02d", pages%17), "employees": int64(pages % 9)})
				pages++
				if next == "" {
					break
				}
				cursor = next
			}
			for id := range want {
				if !seen[id] {
					t.Fatalf("%v: row %s skipped", sortBy, id)
				}
			}
		}
		// A cursor made for one sort is refused for another.
		_, next, _ := db.List(ctx, f.admin, ent("accounts"), sqlstore.ListQuery{Sort: "name", Limit: 2})
		if _, _, err := db.List(ctx, f.admin, ent("accounts"), sqlstore.ListQuery{Sort: "employees", Limit: 2, Cursor: next}); code(err) != mcrm.EInvalid {
			t.Fatalf("cursor reuse: %v", err)
		}
	})
}

func TestContractSortOrder(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		for _, n := range []int64{5, 1, 3} {
			mustCreate(t, db, f.admin, "accounts", record.Values{"name": fmt.Sprint("e", n), "employees": n})
		}
		mustCreate(t, db, f.admin, "accounts", record.Values{"name": "none"})
		rows, _, err := db.List(ctx, f.admin, ent("accounts"), sqlstore.ListQuery{Sort: "employees", Desc: true})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rows {
			got = append(got, r["name"].(string))
		}
		if fmt.Sprint(got) != "[e5 e3 e1 none]" {
			t.Fatalf("order %v", got)
		}
	})
}

func TestContractUniqueAndReferences(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		mustCreate(t, db, f.admin, "contacts", record.Values{"last_name": "One", "external_id": "C-1"})
		err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
			_, err := tx.Create(ctx, f.admin, ent("contacts"), record.Values{"last_name": "Two", "external_id": "C-1"})
			return err
		})
		var me *mcrm.Error
		if !errors.As(err, &me) || me.Code != mcrm.EConflict || len(me.Fields) != 1 || me.Fields[0].Field != "external_id" {
			t.Fatalf("duplicate external id: %v", err)
		}
		err = db.InTx(ctx, func(tx *sqlstore.Tx) error {
			_, err := tx.Create(ctx, f.admin, ent("users"), record.Values{"email": "R1@EXAMPLE.com", "name": "dup", "role": mcrm.RoleSalesRep})
			return err
		})
		if !errors.As(err, &me) || me.Code != mcrm.EConflict || me.Fields[0].Field != "email" {
			t.Fatalf("duplicate user email (case-insensitive): %v", err)
		}
		// A rep cannot link to an account they cannot see.
		acc := mustCreate(t, db, f.rep2, "accounts", record.Values{"name": "hidden"})
		err = db.InTx(ctx, func(tx *sqlstore.Tx) error {
			_, err := tx.Create(ctx, f.rep1, ent("contacts"), record.Values{"last_name": "x", "account_id": acc["id"]})
			return err
		})
		if !errors.As(err, &me) || me.Fields[0].Code != "unknown_reference" {
			t.Fatalf("invisible reference: %v", err)
		}
		// Account hierarchy cycles are refused.
		p := mustCreate(t, db, f.admin, "accounts", record.Values{"name": "parent"})
		c := mustCreate(t, db, f.admin, "accounts", record.Values{"name": "child", "parent_id": p["id"]})
		err = db.InTx(ctx, func(tx *sqlstore.Tx) error {
			_, err := tx.Update(ctx, f.admin, ent("accounts"), p["id"].(string), 1, record.Values{"parent_id": c["id"]})
			return err
		})
		if !errors.As(err, &me) || me.Fields[0].Code != "cycle" {
			t.Fatalf("cycle: %v", err)
		}
	})
}

func TestContractOpportunityStagesAndEmailLookup(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		o := mustCreate(t, db, f.rep1, "opportunities", record.Values{"name": "Deal", "amount": record.Money(500000)})
		if o["stage"] != "Prospecting" || o["probability"] != int64(10) || o["currency"] != "USD" {
			t.Fatalf("defaults %+v", o)
		}
		err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
			_, err := tx.Update(ctx, f.rep1, ent("opportunities"), o["id"].(string), 1, record.Values{"stage": "Nope"})
			return err
		})
		var me *mcrm.Error
		if !errors.As(err, &me) || me.Fields[0].Code != "unknown_stage" {
			t.Fatalf("bad stage: %v", err)
		}
		var upd record.Values
		err = db.InTx(ctx, func(tx *sqlstore.Tx) error {
			upd, err = tx.Update(ctx, f.rep1, ent("opportunities"), o["id"].(string), 1, record.Values{"stage": "closed won"})
			return err
		})
		if err != nil || upd["stage"] != "Closed Won" || upd["probability"] != int64(100) {
			t.Fatalf("stage move: %v %+v", err, upd)
		}
		c := mustCreate(t, db, f.rep1, "contacts", record.Values{"last_name": "Mail", "emails": []map[string]any{{"type": "work", "value": "Jane.Doe@Example.COM"}}})
		var ids []string
		err = db.InTx(ctx, func(tx *sqlstore.Tx) error {
			ids, err = tx.FindByContactPoint(ctx, f.rep1, ent("contacts"), "email", "jane.doe@example.com")
			return err
		})
		if err != nil || len(ids) != 1 || ids[0] != c["id"] {
			t.Fatalf("email lookup: %v %v", err, ids)
		}
		// Another rep's scope does not find it.
		err = db.InTx(ctx, func(tx *sqlstore.Tx) error {
			ids, err = tx.FindByContactPoint(ctx, f.rep2, ent("contacts"), "email", "jane.doe@example.com")
			return err
		})
		if err != nil || len(ids) != 0 {
			t.Fatalf("email lookup out of scope: %v %v", err, ids)
		}
	})
}

func TestContractLeadConversionIsAtomic(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		lead := mustCreate(t, db, f.rep1, "leads", record.Values{"last_name": "Lee", "company": "Leeco", "emails": []map[string]any{{"value": "lee@leeco.example"}}})
		countAll := func(e string) int {
			rows, _, err := db.List(ctx, f.admin, ent(e), sqlstore.ListQuery{Limit: 500})
			if err != nil {
				t.Fatal(err)
			}
			return len(rows)
		}
		// An opportunity with a bad stage fails the whole conversion.
		err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
			_, err := tx.ConvertLead(ctx, f.rep1, lead["id"].(string), 1, sqlstore.ConvertOptions{CreateOpportunity: true, Opportunity: record.Values{"stage": "bogus"}})
			return err
		})
		if err == nil || countAll("accounts") != 0 || countAll("contacts") != 0 || countAll("opportunities") != 0 {
			t.Fatalf("partial conversion left rows: err=%v", err)
		}
		var conv sqlstore.Converted
		err = db.InTx(ctx, func(tx *sqlstore.Tx) error {
			conv, err = tx.ConvertLead(ctx, f.rep1, lead["id"].(string), 1, sqlstore.ConvertOptions{CreateOpportunity: true, Opportunity: record.Values{"amount": record.Money(1000)}})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if countAll("accounts") != 1 || countAll("contacts") != 1 || countAll("opportunities") != 1 || conv.Lead["status"] != "converted" || conv.Lead["converted_opportunity_id"] != conv.Opportunity {
			t.Fatalf("conversion %+v", conv)
		}
		c, err := db.Get(ctx, f.rep1, ent("contacts"), conv.ContactID)
		if err != nil || c["account_id"] != conv.AccountID || c["owner_id"] != f.rep1.UserID {
			t.Fatalf("contact %+v %v", c, err)
		}
		err = db.InTx(ctx, func(tx *sqlstore.Tx) error {
			_, err := tx.ConvertLead(ctx, f.rep1, lead["id"].(string), -1, sqlstore.ConvertOptions{})
			return err
		})
		if code(err) != mcrm.EConflict {
			t.Fatalf("double conversion: %v", err)
		}
	})
}

func TestContractPurgeAfterRetention(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		acc := mustCreate(t, db, f.admin, "accounts", record.Values{"name": "gone"})
		con := mustCreate(t, db, f.admin, "contacts", record.Values{"last_name": "stays", "account_id": acc["id"]})
		if err := db.InTx(ctx, func(tx *sqlstore.Tx) error { return tx.Delete(ctx, f.admin, ent("accounts"), acc["id"].(string), 1) }); err != nil {
			t.Fatal(err)
		}
		n, err := db.PurgeDeleted(ctx, timeNow().Add(31*24*3600e9))
		if err != nil || n != 1 {
			t.Fatalf("purge: %v %d", err, n)
		}
		c, err := db.Get(ctx, f.admin, ent("contacts"), con["id"].(string))
		if err != nil || c["account_id"] != nil {
			t.Fatalf("reference not cleared: %v %+v", err, c)
		}
	})
}

func TestContractEventsInSameTransaction(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		boom := errors.New("boom")
		err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
			if err := tx.Event(ctx, sqlstore.Event{TenantID: f.tenant.ID, Actor: "x", Action: "probe", Object: "o", Outcome: "success"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		n, _ := db.CountEvents(ctx, f.tenant.ID, "probe")
		if n != 0 {
			t.Fatalf("rolled back event persisted: %d", n)
		}
		n, _ = db.CountEvents(ctx, f.tenant.ID, "tenant_created")
		if n != 1 {
			t.Fatalf("tenant_created events: %d", n)
		}
	})
}

// Two concurrent moves that would close a loop (A under B, B under A):
// exactly one may succeed, on every database.
func TestContractConcurrentParentMovesCannotMakeACycle(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		for round := 0; round < 10; round++ {
			a := mustCreate(t, db, f.admin, "accounts", record.Values{"name": fmt.Sprint("A", round)})
			b := mustCreate(t, db, f.admin, "accounts", record.Values{"name": fmt.Sprint("B", round)})
			var wg sync.WaitGroup
			errs := make([]error, 2)
			move := func(i int, child, parent record.Values) {
				defer wg.Done()
				errs[i] = db.InTx(ctx, func(tx *sqlstore.Tx) error {
					_, err := tx.Update(ctx, f.admin, ent("accounts"), child["id"].(string), 1, record.Values{"parent_id": parent["id"]})
					return err
				})
			}
			wg.Add(2)
			go move(0, a, b)
			go move(1, b, a)
			wg.Wait()
			ok := 0
			for _, err := range errs {
				if err == nil {
					ok++
				} else if code(err) != mcrm.EInvalid && code(err) != mcrm.EUnavailable {
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if ok != 1 {
				t.Fatalf("round %d: %d moves succeeded: %v", round, ok, errs)
			}
		}
	})
}
