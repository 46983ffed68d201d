package importer_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"mcrm"
	"mcrm/dbtest"
	"mcrm/importer"
	"mcrm/sqlstore"
)

const sharedData = "../../shared/data"

func benchImport(b *testing.B, backend, entity, file, mapping string, prep func(*testing.B, *sqlstore.DB, *mcrm.Principal)) {
	path := filepath.Join(sharedData, file)
	if _, err := os.Stat(path); err != nil {
		b.Skip("shared data not present")
	}
	m, err := importer.LoadMapping(mapping)
	if err != nil {
		b.Fatal(err)
	}
	rows := 0
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db := dbtest.Open(b, backend)
		t, adminID, err := db.CreateTenant(context.Background(), sqlstore.NewTenant{Name: "bench", AdminEmail: "a@example.com", AdminName: "A", PasswordHash: "x"})
		if err != nil {
			b.Fatal(err)
		}
		p := &mcrm.Principal{TenantID: t.ID, UserID: adminID, Role: mcrm.RoleAdmin, System: true}
		if prep != nil {
			prep(b, db, p)
		}
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rep, err := importer.Import(context.Background(), db, p, f, importer.Options{Entity: mcrm.EntityByName(entity), Mapping: m, Region: "US"})
		b.StopTimer()
		f.Close()
		if err != nil || !rep.Committed || rep.Failed != 0 {
			b.Fatalf("import: %v %+v", err, rep)
		}
		rows += rep.Rows
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkImportContacts(b *testing.B) {
	for _, backend := range dbtest.Backends {
		b.Run(backend, func(b *testing.B) {
			benchImport(b, backend, "contacts", "datablist-customers/customers-10000.csv", "../examples/datablist/contacts.json", nil)
		})
	}
}

func importFile(b *testing.B, db *sqlstore.DB, p *mcrm.Principal, entity, file string) {
	m, err := importer.LoadMapping("../examples/maven/" + entity + ".json")
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(filepath.Join(sharedData, "maven-crm-sales-opportunities", file))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rep, err := importer.Import(context.Background(), db, p, f, importer.Options{Entity: mcrm.EntityByName(entity), Mapping: m, Region: "US"})
	if err != nil || rep.Failed != 0 {
		b.Fatalf("%s: %v %+v", entity, err, rep)
	}
}

func BenchmarkImportOpportunities(b *testing.B) {
	for _, backend := range dbtest.Backends {
		b.Run(backend, func(b *testing.B) {
			benchImport(b, backend, "opportunities", "maven-crm-sales-opportunities/sales_pipeline.csv", "../examples/maven/opportunities.json",
				func(b *testing.B, db *sqlstore.DB, p *mcrm.Principal) {
					importFile(b, db, p, "users", "sales_teams.csv")
					importFile(b, db, p, "accounts", "accounts.csv")
					importFile(b, db, p, "products", "products.csv")
				})
		})
	}
}
