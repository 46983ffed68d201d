package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"mcrm/dbtest"
)

// mavenFacts are the expectations derived from the Maven CSV files
// themselves, so the test checks the product against the data rather than
// against numbers copied from a previous run.
type mavenFacts struct {
	agents          []string          // sales_teams.csv order
	managerOf       map[string]string // agent → manager
	managers        []string          // distinct, first-seen order
	oppsByAgent     map[string]int    // sales_pipeline.csv rows per agent
	opportunities   int
	emptyAccount    int // pipeline rows without an account
	gtxPro          int // pipeline rows spelling the product "GTXPro"
	accounts        int
	technolgy       int // accounts with the misspelt sector
	noParent        int // accounts without subsidiary_of
	products        int
	agentsWithout   []string // agents with no opportunity at all
	agentsWithOpps  []string
	regionalOffices int
}

func loadMavenFacts(t *testing.T) mavenFacts {
	t.Helper()
	dir := filepath.Join(dataRoot, "maven-crm-sales-opportunities")
	f := mavenFacts{managerOf: map[string]string{}, oppsByAgent: map[string]int{}}
	offices := map[string]bool{}
	for _, r := range readCSV(t, filepath.Join(dir, "sales_teams.csv")) {
		f.agents = append(f.agents, r["sales_agent"])
		if !contains(f.managers, r["manager"]) {
			f.managers = append(f.managers, r["manager"])
		}
		f.managerOf[r["sales_agent"]] = r["manager"]
		offices[r["regional_office"]] = true
	}
	f.regionalOffices = len(offices)
	for _, r := range readCSV(t, filepath.Join(dir, "sales_pipeline.csv")) {
		f.opportunities++
		f.oppsByAgent[r["sales_agent"]]++
		if r["account"] == "" {
			f.emptyAccount++
		}
		if r["product"] == "GTXPro" {
			f.gtxPro++
		}
	}
	for _, a := range f.agents {
		if f.oppsByAgent[a] == 0 {
			f.agentsWithout = append(f.agentsWithout, a)
		} else {
			f.agentsWithOpps = append(f.agentsWithOpps, a)
		}
	}
	for _, r := range readCSV(t, filepath.Join(dir, "accounts.csv")) {
		f.accounts++
		if r["sector"] == "technolgy" {
			f.technolgy++
		}
		if r["subsidiary_of"] == "" {
			f.noParent++
		}
	}
	f.products = len(readCSV(t, filepath.Join(dir, "products.csv")))

	// The data README documents these; if the files ever change, the
	// expectations below must be revisited rather than silently follow.
	for _, c := range []struct {
		what      string
		got, want int
	}{
		{"agents", len(f.agents), 35},
		{"managers", len(f.managers), 6},
		{"regional offices", f.regionalOffices, 3},
		{"opportunities", f.opportunities, 8800},
		{"opportunities without account", f.emptyAccount, 1425},
		{"agents without opportunities", len(f.agentsWithout), 5},
		{"accounts", f.accounts, 85},
		{"products", f.products, 7},
	} {
		if c.got != c.want {
			t.Fatalf("data set changed: %d %s, the data README says %d", c.got, c.what, c.want)
		}
	}
	if f.technolgy == 0 || f.gtxPro == 0 {
		t.Fatalf("data set changed: %d technolgy sectors, %d GTXPro rows; the quirks under test are gone", f.technolgy, f.gtxPro)
	}
	return f
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// mavenEmail is the address the users mapping derives from a name
// (transform email_from_name, domain maven.example).
func mavenEmail(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@maven.example"
}

// TestRealDataEndToEnd loads every real data set through the real binary,
// serves it over HTTPS and checks what each role sees, then exports and
// re-imports, on both database backends.
func TestRealDataEndToEnd(t *testing.T) {
	facts := loadMavenFacts(t)
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		realDataEndToEnd(t, facts, backend{dataDir: t.TempDir()})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		realDataEndToEnd(t, facts, backend{dataDir: t.TempDir(), dbURL: dbtest.PostgresURL(t)})
	})
}

func realDataEndToEnd(t *testing.T, facts mavenFacts, b backend) {
	maven := filepath.Join(dataRoot, "maven-crm-sales-opportunities")
	mappings := filepath.Join(moduleRoot, "examples")
	// The admin password goes through the environment only: arguments are
	// visible to every user of the machine.
	adminEnv := []string{"MCRM_ADMIN_PASSWORD=" + adminPassword}
	mustMcrm(t, adminEnv, "", b.args("tenant", "create", "--admin-email", "admin@maven.example", "maven")...)

	importMaven := func(entity, file string) importReport {
		t.Helper()
		r := mustMcrm(t, nil, "", b.args("import", "--tenant", "maven", "--entity", entity,
			"--mapping", filepath.Join(mappings, "maven", entity+".json"), filepath.Join(maven, file))...)
		rep := parseReport(t, r.stdout)
		if rep.Outcome != "committed" || !rep.Committed || rep.Failed != 0 || rep.Updated != 0 {
			t.Errorf("%s: outcome %q committed %v failed %d updated %d, want a clean committed import", entity, rep.Outcome, rep.Committed, rep.Failed, rep.Updated)
		}
		return rep
	}

	// Order matters: opportunities look up users, accounts and products.
	users := importMaven("users", "sales_teams.csv")
	wantCounts(t, "users rows/created", []int{users.Rows, users.Created}, []int{len(facts.agents), len(facts.agents)})
	// Managers only appear in the manager column: the mapping creates them
	// and the regional offices (as teams) on first sight, one
	// related_created note each. Each manager also gets a "<manager> team"
	// under the office for their reports (importer reportsTo); those teams
	// are counted in created_related but carry no per-row note.
	wantMap(t, "users created_related", users.CreatedRelated, map[string]int{"users": len(facts.managers), "teams": facts.regionalOffices + len(facts.managers)})
	wantMap(t, "users issue_counts", users.IssueCounts, map[string]int{"related_created": len(facts.managers) + facts.regionalOffices})

	accounts := importMaven("accounts", "accounts.csv")
	wantCounts(t, "accounts rows/created", []int{accounts.Rows, accounts.Created}, []int{facts.accounts, facts.accounts})
	if facts.noParent != 70 {
		t.Errorf("accounts.csv: %d accounts without subsidiary_of, expected 70", facts.noParent)
	}
	wantMap(t, "accounts issue_counts", accounts.IssueCounts, map[string]int{"empty_reference_set_null": facts.noParent, "value_mapped": facts.technolgy})

	products := importMaven("products", "products.csv")
	wantCounts(t, "products rows/created", []int{products.Rows, products.Created}, []int{facts.products, facts.products})
	wantMap(t, "products issue_counts", products.IssueCounts, map[string]int{})

	opps := importMaven("opportunities", "sales_pipeline.csv")
	wantCounts(t, "opportunities rows/created", []int{opps.Rows, opps.Created}, []int{facts.opportunities, facts.opportunities})
	// One note per row without an account and per GTXPro row, and the
	// pipeline the mapping creates on first use.
	wantMap(t, "opportunities issue_counts", opps.IssueCounts, map[string]int{
		"empty_reference_set_null": facts.emptyAccount, "value_mapped": facts.gtxPro, "related_created": 1})
	wantMap(t, "opportunities created_related", opps.CreatedRelated, map[string]int{"pipelines": 1})

	// 10,000 customers: DMY dates, messy phones, commas in quoted names.
	r := mustMcrm(t, nil, "", b.args("import", "--tenant", "maven", "--entity", "contacts",
		"--mapping", filepath.Join(mappings, "datablist", "contacts.json"),
		filepath.Join(dataRoot, "datablist-customers", "customers-10000.csv"))...)
	customers := parseReport(t, r.stdout)
	wantCounts(t, "customers rows/created/failed", []int{customers.Rows, customers.Created, customers.Failed}, []int{10000, 10000, 0})

	// vCards: no mapping, the format is detected from the content.
	vcfs, err := filepath.Glob(filepath.Join(dataRoot, "vcard", "*.vcf"))
	if err != nil || len(vcfs) != 17 {
		t.Fatalf("vcard files: %d (%v), want 17", len(vcfs), err)
	}
	vcardCreated := 0
	for _, f := range vcfs {
		r := mcrm(t, nil, "", b.args("import", "--tenant", "maven", "--entity", "contacts", f)...)
		if r.code != 0 {
			t.Errorf("import %s: exit %d: %s", filepath.Base(f), r.code, r.stderr)
			continue
		}
		rep := parseReport(t, r.stdout)
		if rep.Format != "vcard" || rep.Failed != 0 {
			t.Errorf("import %s: format %q failed %d, want vcard with 0 failed", filepath.Base(f), rep.Format, rep.Failed)
		}
		vcardCreated += rep.Created
	}
	if vcardCreated != 25 {
		t.Errorf("vCards created = %d, want 25", vcardCreated)
	}

	// One manager, one agent with opportunities (reporting to that
	// manager, so the manager view includes them) and one without.
	manager := facts.managers[0]
	var agent string
	for _, a := range facts.agentsWithOpps {
		if facts.managerOf[a] == manager {
			agent = a
			break
		}
	}
	idle := facts.agentsWithout[0]
	for _, name := range []string{manager, agent, idle} {
		// Password on stdin: never in argv.
		mustMcrm(t, nil, userPassword+"\n", b.args("user", "set-password", "--tenant", "maven", "--email", mavenEmail(name))...)
	}

	srv := startServer(t, b)
	adminTok, _ := srv.login("maven", "admin@maven.example", adminPassword)

	// The admin sees everything, and every agent's opportunities landed on
	// that agent (the owner lookup by name worked for all 8,800).
	userRecs := srv.listAll(adminTok, "users")
	if len(userRecs) != len(facts.agents)+len(facts.managers)+1 {
		t.Errorf("admin sees %d users, want %d agents + %d managers + 1 admin", len(userRecs), len(facts.agents), len(facts.managers))
	}
	idByName := map[string]string{}
	for _, u := range userRecs {
		idByName[fmt.Sprint(u["name"])] = fmt.Sprint(u["id"])
	}
	allOpps := srv.listAll(adminTok, "opportunities")
	if len(allOpps) != facts.opportunities {
		t.Errorf("admin sees %d opportunities, want %d", len(allOpps), facts.opportunities)
	}
	gotByAgent := ownerCounts(allOpps)
	for _, a := range facts.agents {
		if got, want := gotByAgent[idByName[a]], facts.oppsByAgent[a]; got != want {
			t.Errorf("admin view: %s owns %d opportunities, want %d", a, got, want)
		}
	}
	for _, c := range []struct {
		entity string
		want   int
	}{{"accounts", facts.accounts}, {"products", facts.products}, {"contacts", 10000 + 25}} {
		if got := len(srv.listAll(adminTok, c.entity)); got != c.want {
			t.Errorf("admin sees %d %s, want %d", got, c.entity, c.want)
		}
	}

	// An agent sees exactly their own opportunities.
	agentTok, agentID := srv.login("maven", mavenEmail(agent), userPassword)
	agentOpps := srv.listAll(agentTok, "opportunities")
	if len(agentOpps) != facts.oppsByAgent[agent] {
		t.Errorf("%s sees %d opportunities, want %d", agent, len(agentOpps), facts.oppsByAgent[agent])
	}
	if owners := ownerCounts(agentOpps); len(owners) > 1 || (len(agentOpps) > 0 && owners[agentID] != len(agentOpps)) {
		t.Errorf("%s sees opportunities of other owners: %v", agent, owners)
	}
	idleTok, _ := srv.login("maven", mavenEmail(idle), userPassword)
	if got := len(srv.listAll(idleTok, "opportunities")); got != 0 {
		t.Errorf("%s (no opportunities in the CSV) sees %d opportunities, want 0", idle, got)
	}

	// The manager sees the team's: the sum over the agents reporting to
	// them, plus their own (none in this data).
	wantTeam := facts.oppsByAgent[manager]
	team := map[string]bool{idByName[manager]: true}
	for _, a := range facts.agents {
		if facts.managerOf[a] == manager {
			wantTeam += facts.oppsByAgent[a]
			team[idByName[a]] = true
		}
	}
	mgrTok, _ := srv.login("maven", mavenEmail(manager), userPassword)
	mgrOpps := srv.listAll(mgrTok, "opportunities")
	if len(mgrOpps) != wantTeam {
		t.Errorf("manager %s sees %d opportunities, want %d (their team's)", manager, len(mgrOpps), wantTeam)
	}
	for owner, n := range ownerCounts(mgrOpps) {
		if !team[owner] {
			t.Errorf("manager %s sees %d opportunities of %s, who is not on their team", manager, n, owner)
		}
	}

	// Reading another agent's record by id is indistinguishable from a
	// missing one: 404, not 403, so ids cannot be probed.
	var foreign, own string
	for _, o := range allOpps {
		switch owner := fmt.Sprint(o["owner_id"]); {
		case owner == agentID && own == "":
			own = fmt.Sprint(o["id"])
		case owner != agentID && foreign == "":
			foreign = fmt.Sprint(o["id"])
		}
	}
	if status, body := srv.request("GET", "/api/v1/opportunities/"+own, agentTok, "", nil); status != http.StatusOK {
		t.Errorf("agent GET of own opportunity: status %d, want 200: %s", status, body)
	}
	if status, body := srv.request("GET", "/api/v1/opportunities/"+foreign, agentTok, "", nil); status != http.StatusNotFound {
		t.Errorf("agent GET of another agent's opportunity: status %d, want 404: %s", status, body)
	}

	// Export while the server runs (the CLI and server share the database).
	exportDir := t.TempDir()
	csvPath := filepath.Join(exportDir, "contacts.csv")
	r = mustMcrm(t, nil, "", b.args("export", "--tenant", "maven", "--entity", "contacts", "--format", "csv", "--output", csvPath)...)
	if want := "exported 10025 contacts\n"; r.stderr != want {
		t.Errorf("export csv stderr = %q, want %q", r.stderr, want)
	}
	if fi, err := os.Stat(csvPath); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("export --output file mode %v, want 0600 (it holds personal data)", fi.Mode().Perm())
	}
	csvData, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := countCSVRecords(t, csvData); got != 10026 {
		t.Errorf("exported CSV has %d records, want 10026 (header + 10025)", got)
	}
	r = mustMcrm(t, nil, "", b.args("export", "--tenant", "maven", "--entity", "contacts", "--format", "vcard")...)
	if got := strings.Count("\n"+strings.ReplaceAll(r.stdout, "\r\n", "\n"), "\nBEGIN:VCARD\n"); got != 10025 {
		t.Errorf("vCard export has %d cards, want 10025", got)
	}

	// What export writes, import reads back without a mapping, into a new
	// tenant (a migration between installations).
	mustMcrm(t, adminEnv, "", b.args("tenant", "create", "--admin-email", "admin@copy.example", "maven-copy")...)
	r = mcrm(t, nil, "", b.args("import", "--tenant", "maven-copy", "--entity", "contacts", csvPath)...)
	again := parseReport(t, r.stdout)
	if r.code != 0 || again.Created != 10025 || again.Failed != 0 {
		t.Errorf("re-import of the CSV export into a new tenant: exit %d, created %d, failed %d, issue_counts %v; want exit 0, 10025 created, 0 failed\nstderr: %s",
			r.code, again.Created, again.Failed, again.IssueCounts, r.stderr)
	}

	srv.stop()
}

func ownerCounts(recs []map[string]any) map[string]int {
	out := map[string]int{}
	for _, r := range recs {
		out[fmt.Sprint(r["owner_id"])]++
	}
	return out
}

func wantCounts(t *testing.T, what string, got, want []int) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// wantMap compares two count maps exactly; both are rendered sorted so the
// failure message is readable and stable.
func wantMap(t *testing.T, what string, got, want map[string]int) {
	t.Helper()
	render := func(m map[string]int) string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "%s=%d ", k, m[k])
		}
		return b.String()
	}
	if render(got) != render(want) {
		t.Errorf("%s = {%s}, want {%s}", what, render(got), render(want))
	}
}
