package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"mcrm"
	"mcrm/apitest"
	"mcrm/dbtest"
	"mcrm/record"
	"mcrm/sqlstore"
)

// benchEnv is an API with 1,000 contacts owned by one rep, the rep's token
// and the ids, shared by the read benchmarks of one backend.
type benchEnv struct {
	e     *apitest.Env
	token string
	ids   []string
	rep   *mcrm.Principal
}

func newBenchEnv(b *testing.B, backend string) *benchEnv {
	e := apitest.New(b, backend)
	team := e.AddTeam(e.Tenant.ID, "bench", "", "")
	repID := e.AddUser(e.Tenant.ID, "rep@bench.example", "Bench Rep", mcrm.RoleSalesRep, team)
	rep := &mcrm.Principal{TenantID: e.Tenant.ID, UserID: repID, Role: mcrm.RoleSalesRep}
	var ids []string
	err := e.DB.InTx(context.Background(), func(tx *sqlstore.Tx) error {
		for i := 0; i < 1000; i++ {
			v, err := tx.Create(context.Background(), rep, mcrm.EntityByName("contacts"), record.Values{
				"first_name": fmt.Sprintf("First%04d", i), "last_name": fmt.Sprintf("Last%04d", i), "company": "Bench Co", "city": "Berlin",
				"emails": []map[string]any{{"type": "work", "value": fmt.Sprintf("c%04d@bench.example", i)}},
				"phones": []map[string]any{{"type": "mobile", "value": "+4915112345678", "original": "+49 151 12345678"}},
			})
			if err != nil {
				return err
			}
			ids = append(ids, v["id"].(string))
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return &benchEnv{e: e, token: e.Login(e.Tenant.Name, "rep@bench.example"), ids: ids, rep: rep}
}

// measure runs fn from 4 goroutines for b.N calls in total and reports
// requests per second and the 99th percentile latency.
func measure(b *testing.B, fn func(i int) error) {
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	var next int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, b.N/4+1)
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if int(i) >= b.N {
					break
				}
				t0 := time.Now()
				if err := fn(int(i)); err != nil {
					b.Error(err)
					return
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
}

func get(be *benchEnv, path string) error {
	req, _ := http.NewRequest("GET", be.e.Server.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+be.token)
	resp, err := be.e.Client.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return err
}

// BenchmarkRead compares an authenticated GET of one contact and a list of
// 50 through the whole HTTPS stack with a bare database/sql read of the
// same rows, in the same run: the ratio is what the stack costs.
func BenchmarkRead(b *testing.B) {
	for _, backend := range dbtest.Backends {
		// Built on the parent benchmark so that its cleanup (server, database)
		// runs once at the end, not after each sub-benchmark round.
		be := newBenchEnv(b, backend)
		setup := func(*testing.B) *benchEnv { return be }
		b.Run(backend+"/api-get-one", func(b *testing.B) {
			be := setup(b)
			measure(b, func(i int) error { return get(be, "/api/v1/contacts/"+be.ids[i%len(be.ids)]) })
		})
		b.Run(backend+"/api-list-50", func(b *testing.B) {
			be := setup(b)
			measure(b, func(i int) error { return get(be, "/api/v1/contacts?limit=50") })
		})
		// The baseline: the same rows read with plain SQL and scanned, no
		// scope, no auth, no JSON, no TLS.
		cols := "id, version, created_at, updated_at, created_by, updated_by, owner_id, first_name, last_name, account_id, company, title, emails, phones, street, city, region, postal_code, country, website, birthday, subscribed_on, external_id, notes, deleted_at"
		scan := func(rows interface{ Scan(...any) error }) error {
			h := make([]any, 25)
			for i := range h {
				h[i] = new(any)
			}
			return rows.Scan(h...)
		}
		b.Run(backend+"/sql-get-one", func(b *testing.B) {
			be := setup(b)
			db := be.e.DB.SQL()
			measure(b, func(i int) error {
				return scan(db.QueryRow("SELECT "+cols+" FROM contacts WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL", be.rep.TenantID, be.ids[i%len(be.ids)]))
			})
		})
		b.Run(backend+"/sql-list-50", func(b *testing.B) {
			be := setup(b)
			db := be.e.DB.SQL()
			measure(b, func(i int) error {
				rows, err := db.Query("SELECT "+cols+" FROM contacts WHERE tenant_id = $1 AND owner_id = $2 AND deleted_at IS NULL ORDER BY id LIMIT 50", be.rep.TenantID, be.rep.UserID)
				if err != nil {
					return err
				}
				defer rows.Close()
				n := 0
				for rows.Next() {
					if err := scan(rows); err != nil {
						return err
					}
					n++
				}
				if n != 50 {
					return fmt.Errorf("rows %d", n)
				}
				return rows.Err()
			})
		})
	}
}
