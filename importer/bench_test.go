package importer_test

import (
	"context"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"mcrm"
	"mcrm/dbtest"
	"mcrm/importer"
	"mcrm/record"
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

// BenchmarkImportContactsBaseline is the floor the import is compared with
// in the same run: the same CSV read with encoding/csv and written with one
// prepared INSERT per row in one transaction, with no validation, no
// normalisation, no lookups and no report.
func BenchmarkImportContactsBaseline(b *testing.B) {
	path := filepath.Join(sharedData, "datablist-customers/customers-10000.csv")
	if _, err := os.Stat(path); err != nil {
		b.Skip("shared data not present")
	}
	rows := 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db := dbtest.Open(b, "sqlite")
		t, adminID, err := db.CreateTenant(context.Background(), sqlstore.NewTenant{Name: "bench", AdminEmail: "a@example.com", AdminName: "A", PasswordHash: "x"})
		if err != nil {
			b.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		tx, err := db.RawWriter().Begin()
		if err != nil {
			b.Fatal(err)
		}
		st, err := tx.Prepare(`INSERT INTO contacts (tenant_id, id, version, created_at, updated_at, created_by, updated_by, owner_id, first_name, last_name, company, city, country, phones, emails, subscribed_on, website, external_id)
			VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			b.Fatal(err)
		}
		r := csv.NewReader(f)
		r.Read()
		now := time.Now().UTC().Format(record.TimeLayout)
		for {
			rec, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			phones := `[{"type":"work","value":"` + rec[7] + `"},{"type":"other","value":"` + rec[8] + `"}]`
			emails := `[{"type":"work","value":"` + rec[9] + `"}]`
			if _, err := st.Exec(t.ID, record.NewID(), now, now, adminID, adminID, adminID, rec[2], rec[3], rec[4], rec[5], rec[6], phones, emails, rec[10], rec[11], rec[1]); err != nil {
				b.Fatal(err)
			}
			rows++
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		f.Close()
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}
