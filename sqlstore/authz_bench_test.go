package sqlstore_test

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"mcrm"
	"mcrm/authz"
	"mcrm/dbtest"
	"mcrm/importer"
	"mcrm/record"
	"mcrm/sqlstore"
)

// The cost of record scope (issue 4): one page of 50 opportunities and of
// 50 contacts listed through db.List for a sales rep and for a sales
// manager, with their role's scope pushed into SQL, against the same List
// for the same user with the scope turned off (an Access answering "all").
// The data: the Maven sales data set imported as the product imports it
// (users with their managers and teams, accounts, products, the 8,800
// opportunities, through importer.Import and examples/maven), and 100,000
// contacts, customers-10000.csv ten times over with distinct names, emails
// and external ids, owned in turn by the 35 sales agents, one in five linked
// to an account; plus record shares and account-team memberships, so the
// share and account-team branches of the scope have rows to look at.
//
// Loading takes tens of seconds, so it lives inside the benchmark: plain
// `go test` never runs it (benchmarks run only under -bench).
//
//	MCRM_TEST_DATABASE_URL=... go test -run '^$' -bench AccessList -benchtime 2000x ./sqlstore/

const azContacts = 100_000

// azData is the shared data directory (../shared/data of the repository).
const azData = "../../shared/data"

// allScope is a role with the record scope turned off: every record of
// the tenant, for reading and writing.
type allScope struct{}

func (allScope) RecordScope(string, bool) string { return "all" }

type azEnv struct {
	db      *sqlstore.DB
	tenant  string
	users   map[string]string // name → id
	rep     string            // the sales agent measured (median number of deals)
	manager string            // the sales manager measured (median team size in deals)
}

func azSetup(b *testing.B, backend string) *azEnv {
	data := filepath.Join(azData, "maven-crm-sales-opportunities")
	if _, err := os.Stat(data); err != nil {
		b.Skip("shared data not present")
	}
	start := time.Now()
	db := dbtest.Open(b, backend)
	t, adminID, err := db.CreateTenant(ctx, sqlstore.NewTenant{Name: dbtest.Name("maven"), AdminEmail: "admin@maven.example", AdminName: "Admin", PasswordHash: "x"})
	if err != nil {
		b.Fatal(err)
	}
	sys := &mcrm.Principal{TenantID: t.ID, UserID: adminID, Role: mcrm.RoleAdmin, System: true}
	for _, f := range []struct{ entity, file string }{{"users", "sales_teams.csv"}, {"accounts", "accounts.csv"}, {"products", "products.csv"}, {"opportunities", "sales_pipeline.csv"}} {
		m, err := importer.LoadMapping("../examples/maven/" + f.entity + ".json")
		if err != nil {
			b.Fatal(err)
		}
		in, err := os.Open(filepath.Join(data, f.file))
		if err != nil {
			b.Fatal(err)
		}
		rep, err := importer.Import(ctx, db, sys, in, importer.Options{Entity: mcrm.EntityByName(f.entity), Mapping: m, Region: "US"})
		in.Close()
		if err != nil || rep.Failed != 0 || !rep.Committed {
			b.Fatalf("import %s: %v %+v", f.entity, err, rep)
		}
	}
	env := &azEnv{db: db, tenant: t.ID, users: map[string]string{}}
	teams := azReadCSV(b, filepath.Join(data, "sales_teams.csv"))
	var agents []string
	for _, r := range teams {
		agents = append(agents, r["sales_agent"])
	}
	rows, err := db.SQL().Query(`SELECT id, name FROM users WHERE tenant_id = $1`, t.ID)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			b.Fatal(err)
		}
		env.users[name] = id
	}
	rows.Close()
	var accounts []string
	rows, err = db.SQL().Query(`SELECT id FROM accounts WHERE tenant_id = $1 ORDER BY name`, t.ID)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		accounts = append(accounts, id)
	}
	rows.Close()

	// The rep and the manager measured: the median ones by number of deals.
	deals := map[string]int{}
	team := map[string]int{}
	for _, r := range azReadCSV(b, filepath.Join(data, "sales_pipeline.csv")) {
		deals[r["sales_agent"]]++
	}
	for _, r := range teams {
		team[r["manager"]] += deals[r["sales_agent"]]
	}
	env.rep = env.users[azMedian(deals)]
	env.manager = env.users[azMedian(team)]
	if env.rep == "" || env.manager == "" {
		b.Fatalf("rep %q manager %q not imported", azMedian(deals), azMedian(team))
	}

	azLoadContacts(b, db, t.ID, adminID, agents, env.users, accounts)
	azLoadShares(b, db, t.ID, adminID, agents, env.users, accounts)
	if _, err := db.RawWriter().Exec("ANALYZE"); err != nil {
		b.Fatal(err)
	}
	var nc, no int
	db.SQL().QueryRow(`SELECT COUNT(*) FROM contacts WHERE tenant_id = $1`, t.ID).Scan(&nc)
	db.SQL().QueryRow(`SELECT COUNT(*) FROM opportunities WHERE tenant_id = $1`, t.ID).Scan(&no)
	b.Logf("%s: %d contacts, %d opportunities loaded in %s; rep %s (%d deals), manager %s (%d deals in the team)",
		backend, nc, no, time.Since(start).Round(time.Second), azMedian(deals), deals[azMedian(deals)], azMedian(team), team[azMedian(team)])
	return env
}

// median returns the key with the median count (ties broken by name), of
// the keys with a non-zero count.
func azMedian(counts map[string]int) string {
	var keys []string
	for k, n := range counts {
		if n > 0 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if counts[keys[i]] != counts[keys[j]] {
			return counts[keys[i]] < counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys[len(keys)/2]
}

func azReadCSV(b *testing.B, path string) []map[string]string {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	head, err := r.Read()
	if err != nil {
		b.Fatal(err)
	}
	var out []map[string]string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return out
		}
		if err != nil {
			b.Fatal(err)
		}
		m := map[string]string{}
		for i, h := range head {
			m[h] = rec[i]
		}
		out = append(out, m)
	}
}

// azLoadContacts writes 100,000 contacts in multi-row INSERTs in one
// transaction: the customers file ten times, copy k with "-k" on the last
// name and external id and "k." before the email. The API's import would
// take minutes on PostgreSQL (one savepoint per row); the rows are the
// same shape as what it stores.
func azLoadContacts(b *testing.B, db *sqlstore.DB, tenant, adminID string, agents []string, users map[string]string, accounts []string) {
	src := azReadCSV(b, filepath.Join(azData, "datablist-customers", "customers-10000.csv"))
	cols := []string{"tenant_id", "id", "version", "created_at", "updated_at", "created_by", "updated_by", "owner_id", "first_name", "last_name",
		"account_id", "company", "city", "country", "phones", "emails", "subscribed_on", "website", "external_id"}
	const batch = 500
	tx, err := db.RawWriter().Begin()
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC().Format(record.TimeLayout)
	var vals []any
	flush := func() {
		if len(vals) == 0 {
			return
		}
		n := len(vals) / len(cols)
		var sb strings.Builder
		sb.WriteString("INSERT INTO contacts (" + strings.Join(cols, ", ") + ") VALUES ")
		p := 0
		for i := 0; i < n; i++ {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteByte('(')
			for j := range cols {
				if j > 0 {
					sb.WriteString(", ")
				}
				p++
				if db.Dialect == sqlstore.Postgres {
					sb.WriteString("$" + strconv.Itoa(p))
				} else {
					sb.WriteByte('?')
				}
			}
			sb.WriteByte(')')
		}
		if _, err := tx.Exec(sb.String(), vals...); err != nil {
			b.Fatal(err)
		}
		vals = vals[:0]
	}
	i := 0
	for k := 0; k < azContacts/len(src); k++ {
		for _, r := range src {
			last, email, ext := r["Last Name"], r["Email"], r["Customer Id"]
			if k > 0 {
				last, email, ext = fmt.Sprintf("%s-%d", last, k), fmt.Sprintf("k%d.%s", k, email), fmt.Sprintf("%s-%d", ext, k)
			}
			var account any
			if i%5 == 0 {
				account = accounts[(i/5)%len(accounts)]
			}
			sub := r["Subscription Date"] // DD-MM-YYYY
			if len(sub) == 10 {
				sub = sub[6:] + "-" + sub[3:5] + "-" + sub[:2]
			}
			phones := fmt.Sprintf(`[{"type":"work","value":%q},{"type":"other","value":%q}]`, r["Phone 1"], r["Phone 2"])
			emails := fmt.Sprintf(`[{"type":"work","value":%q}]`, email)
			vals = append(vals, tenant, record.NewID(), 1, now, now, adminID, adminID, users[agents[i%len(agents)]], r["First Name"], last,
				account, r["Company"], r["City"], r["Country"], phones, emails, sub, r["Website"], ext)
			i++
			if len(vals) == batch*len(cols) {
				flush()
			}
		}
	}
	flush()
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// azLoadShares gives every agent a few shared contacts and deals and a
// seat on two account teams.
func azLoadShares(b *testing.B, db *sqlstore.DB, tenant, adminID string, agents []string, users map[string]string, accounts []string) {
	tx, err := db.RawWriter().Begin()
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC().Format(record.TimeLayout)
	for _, ent := range []string{"contacts", "opportunities"} {
		rows, err := tx.Query(`SELECT id FROM `+ent+` WHERE tenant_id = $1 ORDER BY external_id LIMIT 700`, tenant)
		if err != nil {
			b.Fatal(err)
		}
		var ids []string
		for rows.Next() {
			var id string
			rows.Scan(&id)
			ids = append(ids, id)
		}
		rows.Close()
		for i, id := range ids {
			access := "read"
			if i%3 == 0 {
				access = "edit"
			}
			if _, err := tx.Exec(`INSERT INTO record_shares (tenant_id, id, entity, record_id, user_id, access, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				tenant, record.NewID(), ent, id, users[agents[(i*7)%len(agents)]], access, now, adminID); err != nil {
				b.Fatal(err)
			}
		}
	}
	for i, a := range agents {
		for j := 0; j < 2; j++ {
			if _, err := tx.Exec(`INSERT INTO account_team (tenant_id, account_id, user_id, access, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6)`,
				tenant, accounts[(i*2+j*37)%len(accounts)], users[a], "read", now, adminID); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkAccessList(b *testing.B) {
	for _, backend := range dbtest.Backends {
		b.Run(backend, func(b *testing.B) {
			env := azSetup(b, backend)
			for _, ent := range []string{"opportunities", "contacts"} {
				for _, who := range []string{mcrm.RoleSalesRep, mcrm.RoleSalesManager} {
					b.Run(ent+"/"+who, func(b *testing.B) { azMeasure(b, env, mcrm.EntityByName(ent), who) })
				}
			}
		})
	}
}

// azMeasure lists the first page of e for the user playing role, with the
// scope on and off in turn (alternating which goes first), and reports
// both latencies and their ratio: the two are measured in the same run,
// interleaved, so load on the machine hits both alike.
func azMeasure(b *testing.B, env *azEnv, e *mcrm.Entity, role string) {
	user := env.rep
	if role == mcrm.RoleSalesManager {
		user = env.manager
	}
	r, _ := authz.Builtin(role)
	scoped := &mcrm.Principal{TenantID: env.tenant, UserID: user, Role: role, Access: r}
	off := &mcrm.Principal{TenantID: env.tenant, UserID: user, Role: role, Access: allScope{}}
	lq := sqlstore.ListQuery{Limit: 50, RawLists: true}
	list := func(p *mcrm.Principal) {
		rows, _, err := env.db.List(ctx, p, e, lq)
		if err != nil {
			b.Fatal(err)
		}
		if len(rows) != 50 {
			b.Fatalf("%d rows", len(rows))
		}
	}
	for i := 0; i < 20; i++ { // warm the statement caches
		list(scoped)
		list(off)
	}
	var on, plain time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		first, second, df, ds := scoped, off, &on, &plain
		if i%2 == 1 {
			first, second, df, ds = off, scoped, &plain, &on
		}
		t0 := time.Now()
		list(first)
		t1 := time.Now()
		list(second)
		*df += t1.Sub(t0)
		*ds += time.Since(t1)
	}
	b.ReportMetric(float64(on.Microseconds())/float64(b.N), "scoped-µs")
	b.ReportMetric(float64(plain.Microseconds())/float64(b.N), "off-µs")
	b.ReportMetric(float64(on)/float64(plain), "ratio")
}
