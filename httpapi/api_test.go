package httpapi_test

import (
	"bytes"
	"crypto/tls"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"mcrm"
	"mcrm/apitest"
	"mcrm/dbtest"
	"mcrm/sqlstore"
)

// Behaviour tests of the API over real HTTPS, each on every backend.

// eachBackend runs fn on a fresh API per backend and returns the admin's
// token with it.
func eachBackend(t *testing.T, fn func(t *testing.T, e *apitest.Env, admin string)) {
	for _, backend := range dbtest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apitest.New(t, backend)
			fn(t, e, e.LoginStrong(e.Tenant.Name, adminEmail(e.Tenant)))
		})
	}
}

func adminEmail(t sqlstore.Tenant) string { return "admin@" + t.Name + ".example" }

// mustDo sends a request and fails unless it answers status.
func mustDo(t *testing.T, e *apitest.Env, token, method, path string, body any, headers map[string]string, status int) *apitest.Response {
	t.Helper()
	resp := e.Do(token, method, path, body, headers)
	if resp.Status != status {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.Status, status, resp.Body)
	}
	return resp
}

// wantOnlyFieldError checks a 400 problem naming exactly one field.
func wantOnlyFieldError(t *testing.T, resp *apitest.Response, field, code string) {
	t.Helper()
	wantProblem(t, resp, 400, "invalid")
	errs, _ := resp.JSON["errors"].([]any)
	if len(errs) != 1 {
		t.Fatalf("want exactly one field error, got %s", resp.Body)
	}
	wantFieldError(t, resp, field, code)
}

func TestAPIProblemShape(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, admin string) {
		acct := mustDo(t, e, admin, "POST", "/api/v1/accounts", map[string]any{"name": "Alfreds Futterkiste"}, nil, 201).JSON
		acctURL := "/api/v1/accounts/" + acct["id"].(string)

		t.Run("unknown field", func(t *testing.T) {
			resp := e.Do(admin, "POST", "/api/v1/accounts", map[string]any{"name": "A", "nmae": "B"}, nil)
			wantOnlyFieldError(t, resp, "nmae", "unknown_field")
		})
		for _, field := range []string{"id", "version", "created_at", "updated_by"} {
			t.Run("system field "+field, func(t *testing.T) {
				resp := e.Do(admin, "POST", "/api/v1/accounts", map[string]any{"name": "A", field: "01J00000000000000000000000"}, nil)
				wantOnlyFieldError(t, resp, field, "read_only")
			})
		}
		t.Run("owner_id in patch", func(t *testing.T) {
			// The owner changes only through .../transfer, which checks
			// whom the record may be given to.
			resp := e.Do(admin, "PATCH", acctURL, map[string]any{"owner_id": e.AdminID}, map[string]string{"If-Match": `"1"`})
			wantOnlyFieldError(t, resp, "owner_id", "read_only")
		})
		t.Run("wrong type", func(t *testing.T) {
			resp := e.Do(admin, "POST", "/api/v1/accounts", map[string]any{"name": "A", "employees": "many"}, nil)
			wantOnlyFieldError(t, resp, "employees", "type")
		})
		t.Run("missing required", func(t *testing.T) {
			resp := e.Do(admin, "POST", "/api/v1/accounts", map[string]any{"industry": "Retail"}, nil)
			wantOnlyFieldError(t, resp, "name", "required")
		})
		t.Run("unknown query parameter", func(t *testing.T) {
			resp := e.Do(admin, "GET", "/api/v1/accounts?indstry=Retail", nil, nil)
			wantOnlyFieldError(t, resp, "indstry", "unknown_field")
		})
		t.Run("filter value of the wrong type", func(t *testing.T) {
			resp := e.Do(admin, "GET", "/api/v1/accounts?employees=many", nil, nil)
			wantOnlyFieldError(t, resp, "employees", "type")
		})
		t.Run("sort by a non-sortable field", func(t *testing.T) {
			resp := e.Do(admin, "GET", "/api/v1/accounts?sort=website", nil, nil)
			wantOnlyFieldError(t, resp, "sort", "unknown_field")
		})
		for _, limit := range []string{"0", "501", "-1", "ten"} {
			t.Run("limit "+limit, func(t *testing.T) {
				resp := e.Do(admin, "GET", "/api/v1/accounts?limit="+limit, nil, nil)
				wantOnlyFieldError(t, resp, "limit", "out_of_range")
			})
		}
		t.Run("limits 1 and 500 are accepted", func(t *testing.T) {
			mustDo(t, e, admin, "GET", "/api/v1/accounts?limit=1", nil, nil, 200)
			mustDo(t, e, admin, "GET", "/api/v1/accounts?limit=500", nil, nil, 200)
		})
		t.Run("text/plain body", func(t *testing.T) {
			resp := e.Do(admin, "POST", "/api/v1/accounts", `{"name":"A"}`, map[string]string{"Content-Type": "text/plain"})
			wantProblem(t, resp, 415, "unsupported_media_type")
		})
		big := append(append([]byte(`{"name":"A","description":"`), bytes.Repeat([]byte("x"), 2<<20)...), `"}`...)
		t.Run("2 MiB body with Content-Length", func(t *testing.T) {
			resp := e.Do(admin, "POST", "/api/v1/accounts", big, map[string]string{"Content-Type": "application/json"})
			wantProblem(t, resp, 413, "too_large")
		})
		t.Run("2 MiB body chunked", func(t *testing.T) {
			// No Content-Length: the limit must hold while reading.
			resp := e.Do(admin, "POST", "/api/v1/accounts", io.MultiReader(bytes.NewReader(big)), map[string]string{"Content-Type": "application/json"})
			wantProblem(t, resp, 413, "too_large")
		})
		t.Run("unknown route", func(t *testing.T) {
			wantProblem(t, e.Do(admin, "GET", "/api/v1/acounts", nil, nil), 404, "not_found")
			wantProblem(t, e.Do("", "GET", "/nothing/here", nil, nil), 404, "not_found")
		})
		for name, body := range map[string]string{
			"trailing garbage":     `{"name":"A"} garbage`,
			"second JSON value":    `{"name":"A"}{"name":"B"}`,
			"not an object":        `["name"]`,
			"truncated JSON":       `{"name":"A"`,
			"trailing comma in it": `{"name":"A",}`,
		} {
			t.Run(name, func(t *testing.T) {
				resp := e.Do(admin, "POST", "/api/v1/accounts", body, map[string]string{"Content-Type": "application/json"})
				wantProblem(t, resp, 400, "invalid")
			})
		}
		t.Run("repeated member name", func(t *testing.T) {
			// encoding/json would keep the last one; a proxy or log reader
			// may take the first. The body must mean one thing.
			resp := e.Do(admin, "POST", "/api/v1/accounts", `{"name":"A","industry":"x","name":"B"}`, map[string]string{"Content-Type": "application/json"})
			wantOnlyFieldError(t, resp, "name", "duplicate_field")
			resp = e.Do(admin, "POST", "/api/v1/contacts", `{"last_name":"A","emails":[{"value":"a@x.example","value":"b@x.example"}]}`, map[string]string{"Content-Type": "application/json"})
			wantOnlyFieldError(t, resp, "value", "duplicate_field")
		})
		t.Run("unknown field in action bodies", func(t *testing.T) {
			resp := e.Do(admin, "POST", acctURL+"/transfer", map[string]any{"owner": e.AdminID}, nil)
			wantOnlyFieldError(t, resp, "owner", "unknown_field")
			resp = e.Do(admin, "POST", "/api/v1/auth/login", map[string]any{"tenant": e.Tenant.Name, "email": adminEmail(e.Tenant), "password": apitest.Password, "remember": true}, nil)
			wantOnlyFieldError(t, resp, "remember", "unknown_field")
		})
		// Nothing above may have created an account.
		list := mustDo(t, e, admin, "GET", "/api/v1/accounts", nil, nil, 200)
		if ids := dataIDs(t, list); !slices.Equal(ids, []string{acct["id"].(string)}) {
			t.Fatalf("refused requests created accounts: %v", ids)
		}
		t.Run("same key in sibling objects and trailing newline are fine", func(t *testing.T) {
			body := `{"name":"Blauer See Delikatessen","phones":[{"value":"+49 621 08460"},{"value":"+49 621 08924"}]}` + "\r\n\n"
			mustDo(t, e, admin, "POST", "/api/v1/accounts", body, map[string]string{"Content-Type": "application/json; charset=utf-8"}, 201)
		})
	})
}

func TestAPIETag(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, admin string) {
		created := mustDo(t, e, admin, "POST", "/api/v1/accounts", map[string]any{"name": "Bottom-Dollar Markets", "city": "Tsawassen"}, nil, 201)
		if created.Header.Get("ETag") != `"1"` {
			t.Fatalf("create ETag %q, want \"1\"", created.Header.Get("ETag"))
		}
		u := "/api/v1/accounts/" + created.JSON["id"].(string)
		got := mustDo(t, e, admin, "GET", u, nil, nil, 200)
		if got.Header.Get("ETag") != `"1"` {
			t.Fatalf("GET ETag %q, want \"1\"", got.Header.Get("ETag"))
		}
		patch := map[string]any{"city": "Vancouver"}
		wantProblem(t, e.Do(admin, "PATCH", u, patch, nil), 428, "precondition_required")
		wantOnlyFieldError(t, e.Do(admin, "PATCH", u, patch, map[string]string{"If-Match": "1"}), "If-Match", "invalid_etag")
		if again := mustDo(t, e, admin, "GET", u, nil, nil, 200); !bytes.Equal(again.Body, got.Body) {
			t.Fatalf("refused PATCH changed the record:\n%s\n%s", got.Body, again.Body)
		}

		ok := mustDo(t, e, admin, "PATCH", u, patch, map[string]string{"If-Match": `"1"`}, 200)
		if ok.Header.Get("ETag") != `"2"` || ok.JSON["version"] != json.Number("2") || ok.JSON["city"] != "Vancouver" {
			t.Fatalf("PATCH: ETag %q, body %s", ok.Header.Get("ETag"), ok.Body)
		}
		current := mustDo(t, e, admin, "GET", u, nil, nil, 200)

		// A second client still holding version 1 must not overwrite.
		stale := e.Do(admin, "PATCH", u, map[string]any{"city": "Tsawassen"}, map[string]string{"If-Match": `"1"`})
		wantProblem(t, stale, 412, "precondition_failed")
		after := mustDo(t, e, admin, "GET", u, nil, nil, 200)
		if !bytes.Equal(after.Body, current.Body) || after.Header.Get("ETag") != `"2"` {
			t.Fatalf("stale PATCH changed the record:\n%s\n%s", current.Body, after.Body)
		}
		// The same holds for DELETE with a stale version.
		wantProblem(t, e.Do(admin, "DELETE", u, nil, map[string]string{"If-Match": `"1"`}), 412, "precondition_failed")
		mustDo(t, e, admin, "GET", u, nil, nil, 200)
	})
}

func TestAPISoftDelete(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, admin string) {
		c := mustDo(t, e, admin, "POST", "/api/v1/contacts", map[string]any{"first_name": "Maria", "last_name": "Anders"}, nil, 201)
		id := c.JSON["id"].(string)
		u := "/api/v1/contacts/" + id
		del := mustDo(t, e, admin, "DELETE", u, nil, nil, 204)
		if len(del.Body) != 0 {
			t.Fatalf("204 with a body: %q", del.Body)
		}
		wantProblem(t, e.Do(admin, "GET", u, nil, nil), 404, "not_found")
		wantProblem(t, e.Do(admin, "DELETE", u, nil, nil), 404, "not_found")
		if ids := dataIDs(t, mustDo(t, e, admin, "GET", "/api/v1/contacts", nil, nil, 200)); len(ids) != 0 {
			t.Fatalf("deleted contact still listed: %v", ids)
		}
		trash := mustDo(t, e, admin, "GET", "/api/v1/contacts?deleted=true", nil, nil, 200)
		if ids := dataIDs(t, trash); !slices.Equal(ids, []string{id}) {
			t.Fatalf("trash %v, want [%s]", ids, id)
		}
		if d, _ := trash.JSON["data"].([]any)[0].(map[string]any)["deleted_at"].(string); d == "" {
			t.Fatalf("trash entry without deleted_at: %s", trash.Body)
		}
		restored := mustDo(t, e, admin, "POST", u+"/restore", nil, nil, 200)
		if restored.JSON["id"] != id || restored.JSON["last_name"] != "Anders" || restored.JSON["deleted_at"] != nil {
			t.Fatalf("restore answered %s", restored.Body)
		}
		mustDo(t, e, admin, "GET", u, nil, nil, 200)
		wantProblem(t, e.Do(admin, "POST", u+"/restore", nil, nil), 404, "not_found")
		if ids := dataIDs(t, mustDo(t, e, admin, "GET", "/api/v1/contacts?deleted=true", nil, nil, 200)); len(ids) != 0 {
			t.Fatalf("restored contact still in the trash: %v", ids)
		}
	})
}

// pageAll follows next_cursor from path (which has a query) and returns
// the records in order and the size of each page.
func pageAll(t *testing.T, e *apitest.Env, token, path string) ([]map[string]any, []int) {
	t.Helper()
	var out []map[string]any
	var sizes []int
	cursor := ""
	for pages := 1; ; pages++ {
		u := path
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		resp := mustDo(t, e, token, "GET", u, nil, nil, 200)
		data := resp.JSON["data"].([]any)
		for _, d := range data {
			out = append(out, d.(map[string]any))
		}
		sizes = append(sizes, len(data))
		next, has := resp.JSON["next_cursor"]
		if !has {
			return out, sizes
		}
		cursor = next.(string)
		if cursor == "" || pages > 100 {
			t.Fatalf("bad next_cursor %q after page %d", cursor, pages)
		}
	}
}

func TestAPIPagination(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, admin string) {
		// Created in shuffled order so that name order is not creation
		// order. Zero-padded names sort alike under every collation.
		var names []string
		for i := range 23 {
			names = append(names, fmt.Sprintf("Account %02d", i))
		}
		shuffled := slices.Clone(names)
		rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		var created []string // ids in creation order
		for i, n := range shuffled {
			r := mustDo(t, e, admin, "POST", "/api/v1/accounts", map[string]any{"name": n, "employees": i % 4}, nil, 201)
			created = append(created, r.JSON["id"].(string))
		}
		// 23 records in pages of 5: four full pages and a last one of 3
		// without next_cursor.
		wantSizes := []int{5, 5, 5, 5, 3}
		byName, sizes := pageAll(t, e, admin, "/api/v1/accounts?limit=5&sort=name")
		if !slices.Equal(sizes, wantSizes) {
			t.Fatalf("sort=name: page sizes %v, want %v", sizes, wantSizes)
		}
		for i, r := range byName {
			if r["name"] != names[i] {
				t.Fatalf("sort=name: position %d is %v, want %s", i, r["name"], names[i])
			}
		}
		newest, sizes := pageAll(t, e, admin, "/api/v1/accounts?limit=5&sort=-created_at")
		if !slices.Equal(sizes, wantSizes) {
			t.Fatalf("sort=-created_at: page sizes %v, want %v", sizes, wantSizes)
		}
		var ids []string
		for i, r := range newest {
			ids = append(ids, r["id"].(string))
			if i > 0 && r["created_at"].(string) > newest[i-1]["created_at"].(string) {
				t.Fatalf("sort=-created_at: %v after %v", r["created_at"], newest[i-1]["created_at"])
			}
		}
		// Every account exactly once: no repeats, no skips.
		sorted := slices.Sorted(slices.Values(ids))
		want := slices.Sorted(slices.Values(created))
		if !slices.Equal(sorted, want) {
			t.Fatalf("sort=-created_at returned %v, want each of %v once", ids, want)
		}
		// A cursor belongs to its sort order.
		first := mustDo(t, e, admin, "GET", "/api/v1/accounts?limit=5&sort=name", nil, nil, 200)
		cur := url.QueryEscape(first.JSON["next_cursor"].(string))
		wantOnlyFieldError(t, e.Do(admin, "GET", "/api/v1/accounts?limit=5&sort=employees&cursor="+cur, nil, nil), "cursor", "invalid_cursor")
		wantOnlyFieldError(t, e.Do(admin, "GET", "/api/v1/accounts?limit=5&sort=-name&cursor="+cur, nil, nil), "cursor", "invalid_cursor")
		wantOnlyFieldError(t, e.Do(admin, "GET", "/api/v1/accounts?limit=5&sort=name&cursor=not-a-cursor", nil, nil), "cursor", "invalid_cursor")
		// Paging by employees crosses runs of equal values (ties are
		// broken by id).
		byEmployees, sizes := pageAll(t, e, admin, "/api/v1/accounts?limit=5&sort=employees")
		if !slices.Equal(sizes, wantSizes) {
			t.Fatalf("sort=employees: page sizes %v, want %v", sizes, wantSizes)
		}
		for i := 1; i < len(byEmployees); i++ {
			a, _ := byEmployees[i-1]["employees"].(json.Number).Int64()
			b, _ := byEmployees[i]["employees"].(json.Number).Int64()
			if b < a || b == a && byEmployees[i]["id"].(string) < byEmployees[i-1]["id"].(string) {
				t.Fatalf("sort=employees out of order at %d", i)
			}
		}
	})
}

func TestAPIFilters(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, admin string) {
		mk := func(name, industry string, employees int) string {
			return mustDo(t, e, admin, "POST", "/api/v1/accounts", map[string]any{"name": name, "industry": industry, "employees": employees}, nil, 201).JSON["id"].(string)
		}
		small := mk("Centro comercial Moctezuma", "Retail", 5)
		ten := mk("Chop-suey Chinese", "Restaurants", 10)
		big := mk("Ernst Handel", "Retail", 400)
		ids := func(path string) []string {
			return slices.Sorted(slices.Values(dataIDs(t, mustDo(t, e, admin, "GET", path, nil, nil, 200))))
		}
		sorted := func(s ...string) []string { return slices.Sorted(slices.Values(s)) }
		for path, want := range map[string][]string{
			"/api/v1/accounts?industry=Retail":                   sorted(small, big),
			"/api/v1/accounts?industry=Restaurants":              {ten},
			"/api/v1/accounts?industry=Shipping":                 nil,
			"/api/v1/accounts?employees%5Bgte%5D=10":             sorted(ten, big),
			"/api/v1/accounts?employees[gte]=10":                 sorted(ten, big),
			"/api/v1/accounts?employees[gt]=10":                  {big},
			"/api/v1/accounts?employees[lt]=10":                  {small},
			"/api/v1/accounts?employees[lte]=10&industry=Retail": {small},
		} {
			if got := ids(path); !slices.Equal(got, want) {
				t.Errorf("%s: got %v, want %v", path, got, want)
			}
		}
		wantOnlyFieldError(t, e.Do(admin, "GET", "/api/v1/accounts?employees[like]=10", nil, nil), "employees", "invalid_operator")

		c := mustDo(t, e, admin, "POST", "/api/v1/contacts", map[string]any{"first_name": "Yang", "last_name": "Wang",
			"emails": []any{map[string]any{"type": "work", "value": "Mixed@CASE.example"}},
			"phones": []any{map[string]any{"type": "work", "value": "+14155550100"}}}, nil, 201).JSON
		id := c["id"].(string)
		mustDo(t, e, admin, "POST", "/api/v1/contacts", map[string]any{"last_name": "Other",
			"emails": []any{map[string]any{"value": "other@case.example"}}, "phones": []any{map[string]any{"value": "+14155550101"}}}, nil, 201)
		for _, q := range []string{
			"email=" + url.QueryEscape("MiXeD@Case.example"),
			"email=" + url.QueryEscape("mixed@case.example"),
			"phone=" + url.QueryEscape("(415) 555-0100"),
			"phone=" + url.QueryEscape("+1 415 555 0100"),
		} {
			if got := ids("/api/v1/contacts?" + q); !slices.Equal(got, []string{id}) {
				t.Errorf("contacts?%s: got %v, want [%s]", q, got, id)
			}
		}
		if got := ids("/api/v1/contacts?email=nobody%40case.example"); len(got) != 0 {
			t.Errorf("unknown email matched %v", got)
		}
		wantOnlyFieldError(t, e.Do(admin, "GET", "/api/v1/contacts?email=not-an-address", nil, nil), "email", "invalid_email")
		wantOnlyFieldError(t, e.Do(admin, "GET", "/api/v1/contacts?phone=12", nil, nil), "phone", "invalid_phone")
	})
}

var tokenRe = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

func TestAPILogin(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, admin string) {
		tn := e.Tenant.Name
		repID := e.AddUser(e.Tenant.ID, "rep@login.example", "Rep", mcrm.RoleSalesRep, "")
		goneID := e.AddUser(e.Tenant.ID, "gone@login.example", "Gone", mcrm.RoleSalesRep, "")
		mustDo(t, e, admin, "PATCH", "/api/v1/users/"+goneID, map[string]any{"active": false}, map[string]string{"If-Match": `"1"`}, 200)

		login := func(tenant, email, pw string) *apitest.Response {
			return e.Do("", "POST", "/api/v1/auth/login", map[string]any{"tenant": tenant, "email": email, "password": pw}, nil)
		}
		// A failed login must not tell which part was wrong.
		var first []byte
		for name, resp := range map[string]*apitest.Response{
			"unknown tenant": login("no-such-tenant", "rep@login.example", apitest.Password),
			"unknown email":  login(tn, "nobody@login.example", apitest.Password),
			"wrong password": login(tn, "rep@login.example", apitest.Password+"!"),
			"deactivated":    login(tn, "gone@login.example", apitest.Password),
		} {
			wantProblem(t, resp, 401, "unauthorized")
			rid := resp.JSON["request_id"].(string)
			body := bytes.Replace(resp.Body, []byte(rid), nil, 1)
			if first == nil {
				first = body
			} else if !bytes.Equal(body, first) {
				t.Fatalf("%s: body differs from the other failures:\n%s\n%s", name, body, first)
			}
		}

		ok := login(strings.ToUpper(tn), "REP@login.example", apitest.Password)
		if ok.Status != 200 {
			t.Fatalf("login: %d %s", ok.Status, ok.Body)
		}
		token, _ := ok.JSON["access_token"].(string)
		exp, _ := ok.JSON["expires_in"].(json.Number).Int64()
		if !tokenRe.MatchString(token) || ok.JSON["token_type"] != "Bearer" || exp <= 0 {
			t.Fatalf("login answered %s", ok.Body)
		}
		if user, _ := ok.JSON["user"].(map[string]any); user["id"] != repID || user["tenant_id"] != e.Tenant.ID {
			t.Fatalf("login user %v", ok.JSON["user"])
		}
		if ok.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("token response is cacheable: %q", ok.Header.Get("Cache-Control"))
		}

		// Only the token's hash is stored: no column of any session row
		// may hold the token.
		rows, err := e.DB.SQL().Query("SELECT * FROM sessions")
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		n := 0
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			n++
			for i, v := range vals {
				s := fmt.Sprint(v)
				if b, ok := v.([]byte); ok {
					s = string(b)
				}
				if strings.Contains(s, token) {
					t.Fatalf("sessions.%s holds the bearer token", cols[i])
				}
			}
		}
		rows.Close()
		if n != 2 { // the admin's session and the rep's
			t.Fatalf("%d sessions, want 2", n)
		}

		mustDo(t, e, token, "GET", "/api/v1/me", nil, nil, 200)
		mustDo(t, e, token, "POST", "/api/v1/auth/logout", nil, nil, 204)
		wantProblem(t, e.Do(token, "GET", "/api/v1/me", nil, nil), 401, "unauthorized")
		wantProblem(t, e.Do("", "GET", "/api/v1/me", nil, nil), 401, "unauthorized")
		wantProblem(t, e.Do("not-a-token", "GET", "/api/v1/me", nil, nil), 401, "unauthorized")

		// A change of role ends the user's sessions at once.
		token = e.Login(tn, "rep@login.example")
		mustDo(t, e, token, "GET", "/api/v1/me", nil, nil, 200)
		mustDo(t, e, admin, "PATCH", "/api/v1/users/"+repID, map[string]any{"role": mcrm.RoleSalesManager}, map[string]string{"If-Match": `"1"`}, 200)
		wantProblem(t, e.Do(token, "GET", "/api/v1/me", nil, nil), 401, "unauthorized")
		token = e.Login(tn, "rep@login.example")
		if me := mustDo(t, e, token, "GET", "/api/v1/me", nil, nil, 200); me.JSON["role"] != mcrm.RoleSalesManager {
			t.Fatalf("role after change: %v", me.JSON["role"])
		}

		// Nobody changes their own role, not even an admin.
		wantProblem(t, e.Do(admin, "PATCH", "/api/v1/users/"+e.AdminID, map[string]any{"role": mcrm.RoleSalesRep}, map[string]string{"If-Match": `"1"`}), 403, "forbidden")
		if me := mustDo(t, e, admin, "GET", "/api/v1/me", nil, nil, 200); me.JSON["role"] != mcrm.RoleAdmin {
			t.Fatalf("admin role became %v", me.JSON["role"])
		}
		// Only admins create users.
		wantProblem(t, e.Do(token, "POST", "/api/v1/users", map[string]any{"email": "new@login.example", "name": "New", "role": mcrm.RoleAdmin}, nil), 403, "forbidden")
		mustDo(t, e, admin, "POST", "/api/v1/users", map[string]any{"email": "new@login.example", "name": "New", "role": mcrm.RoleSalesRep}, nil, 201)
	})
}

func TestAPITimeZones(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, admin string) {
		ny := e.AddUser(e.Tenant.ID, "ny@tz.example", "New York", mcrm.RoleSalesRep, "")
		berlin := e.AddUser(e.Tenant.ID, "berlin@tz.example", "Berlin", mcrm.RoleAdmin, "")
		mustDo(t, e, admin, "PATCH", "/api/v1/users/"+ny, map[string]any{"time_zone": "America/New_York"}, map[string]string{"If-Match": `"1"`}, 200)
		mustDo(t, e, admin, "PATCH", "/api/v1/users/"+berlin, map[string]any{"time_zone": "Europe/Berlin"}, map[string]string{"If-Match": `"1"`}, 200)
		wantOnlyFieldError(t, e.Do(admin, "PATCH", "/api/v1/users/"+ny, map[string]any{"time_zone": "Mars/Olympus"}, map[string]string{"If-Match": `"2"`}), "time_zone", "invalid_time_zone")
		nyTok := e.Login(e.Tenant.Name, "ny@tz.example")
		berlinTok := e.Login(e.Tenant.Name, "berlin@tz.example")

		act := func(due string) *apitest.Response {
			return e.Do(nyTok, "POST", "/api/v1/activities", map[string]any{"type": "meeting", "subject": "Quarterly review", "due_at": due}, nil)
		}
		// 02:30 on 8 March 2026 is skipped in New York (clocks jump 2→3);
		// 01:30 on 1 November 2026 happens twice (3→2 falls back).
		wantOnlyFieldError(t, act("2026-03-08T02:30"), "due_at", "nonexistent_local_time")
		wantOnlyFieldError(t, act("2026-11-01T01:30"), "due_at", "ambiguous_local_time")
		wantOnlyFieldError(t, act("08.03.2026 03:30"), "due_at", "invalid_datetime")
		created := act("2026-03-08T03:30")
		if created.Status != 201 {
			t.Fatalf("create: %d %s", created.Status, created.Body)
		}
		if created.JSON["due_at"] != "2026-03-08T07:30:00.000000Z" || created.JSON["due_at_local"] != "2026-03-08T03:30:00-04:00" {
			t.Fatalf("due_at %v, due_at_local %v", created.JSON["due_at"], created.JSON["due_at_local"])
		}
		// An explicit offset wins over the user's zone.
		withOffset := act("2026-03-08T03:30:00+01:00")
		if withOffset.Status != 201 || withOffset.JSON["due_at"] != "2026-03-08T02:30:00.000000Z" || withOffset.JSON["due_at_local"] != "2026-03-07T21:30:00-05:00" {
			t.Fatalf("with offset: %d %s", withOffset.Status, withOffset.Body)
		}
		u := "/api/v1/activities/" + created.JSON["id"].(string)
		seen := mustDo(t, e, berlinTok, "GET", u, nil, nil, 200)
		if seen.JSON["due_at"] != "2026-03-08T07:30:00.000000Z" || seen.JSON["due_at_local"] != "2026-03-08T08:30:00+01:00" {
			t.Fatalf("Berlin sees due_at %v, due_at_local %v", seen.JSON["due_at"], seen.JSON["due_at_local"])
		}
		// A user without a zone sees UTC.
		if seen := mustDo(t, e, admin, "GET", u, nil, nil, 200); seen.JSON["due_at_local"] != "2026-03-08T07:30:00Z" {
			t.Fatalf("UTC user sees due_at_local %v", seen.JSON["due_at_local"])
		}
	})
}

func TestAPILeadConvert(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, admin string) {
		lead := mustDo(t, e, admin, "POST", "/api/v1/leads", map[string]any{"first_name": "Pedro", "last_name": "Afonso", "company": "Comércio Mineiro", "title": "Sales Associate",
			"emails": []any{map[string]any{"type": "work", "value": "pedro@comercio.example"}}}, nil, 201).JSON
		u := "/api/v1/leads/" + lead["id"].(string)
		wantProblem(t, e.Do(admin, "POST", u+"/convert", map[string]any{"create_opportunity": true}, map[string]string{"If-Match": `"7"`}), 412, "precondition_failed")
		conv := mustDo(t, e, admin, "POST", u+"/convert", map[string]any{"create_opportunity": true, "opportunity": map[string]any{"amount": "9000.00"}}, nil, 200)
		var ids [3]string
		for i, k := range []string{"contact_id", "account_id", "opportunity_id"} {
			ids[i], _ = conv.JSON[k].(string)
			if ids[i] == "" {
				t.Fatalf("convert: no %s in %s", k, conv.Body)
			}
		}
		contact := mustDo(t, e, admin, "GET", "/api/v1/contacts/"+ids[0], nil, nil, 200).JSON
		account := mustDo(t, e, admin, "GET", "/api/v1/accounts/"+ids[1], nil, nil, 200).JSON
		opp := mustDo(t, e, admin, "GET", "/api/v1/opportunities/"+ids[2], nil, nil, 200).JSON
		emails, _ := contact["emails"].([]any)
		if contact["last_name"] != "Afonso" || contact["first_name"] != "Pedro" || contact["account_id"] != ids[1] || len(emails) != 1 ||
			emails[0].(map[string]any)["value"] != "pedro@comercio.example" {
			t.Fatalf("contact %v", contact)
		}
		if account["name"] != "Comércio Mineiro" || opp["account_id"] != ids[1] || opp["amount"] != json.Number("9000.00") {
			t.Fatalf("account %v, opportunity %v", account, opp)
		}
		after := mustDo(t, e, admin, "GET", u, nil, nil, 200).JSON
		if after["status"] != "converted" || after["converted_contact_id"] != ids[0] || after["converted_account_id"] != ids[1] || after["converted_opportunity_id"] != ids[2] {
			t.Fatalf("lead after convert %v", after)
		}
		wantProblem(t, e.Do(admin, "POST", u+"/convert", map[string]any{"create_opportunity": true}, nil), 409, "conflict")
		// No second contact was made by the refused conversion.
		if got := dataIDs(t, mustDo(t, e, admin, "GET", "/api/v1/contacts", nil, nil, 200)); !slices.Equal(got, []string{ids[0]}) {
			t.Fatalf("contacts after second convert: %v", got)
		}
		// The converted state is reached only through convert.
		wantOnlyFieldError(t, e.Do(admin, "PATCH", u, map[string]any{"status": "working"}, map[string]string{"If-Match": "*"}), "status", "converted")
	})
}

func TestAPISecurityHeaders(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, admin string) {
		check := func(method, path, token string, body any, status int) {
			t.Helper()
			resp := mustDo(t, e, token, method, path, body, nil, status)
			for h, want := range map[string]string{
				"Strict-Transport-Security": "max-age=63072000; includeSubDomains",
				"X-Content-Type-Options":    "nosniff",
				"X-Frame-Options":           "DENY",
				"Content-Security-Policy":   "default-src 'none'; frame-ancestors 'none'",
				"Cache-Control":             "no-store",
				"Referrer-Policy":           "no-referrer",
			} {
				if got := resp.Header.Get(h); got != want {
					t.Errorf("%s %s (%d): %s = %q, want %q", method, path, status, h, got, want)
				}
			}
			if id := resp.Header.Get("X-Request-Id"); len(id) != 20 {
				t.Errorf("%s %s: X-Request-Id %q", method, path, id)
			}
		}
		check("GET", "/healthz", "", nil, 200)
		check("GET", "/api/v1/me", admin, nil, 200)
		check("GET", "/api/v1/me", "", nil, 401)
		check("POST", "/api/v1/accounts", admin, map[string]any{"name": "Folk och fä HB"}, 201)
		check("POST", "/api/v1/accounts", admin, map[string]any{}, 400)
		check("GET", "/api/v1/accounts/01J00000000000000000000000", admin, nil, 404)
		check("GET", "/no/route", "", nil, 404)
		check("GET", "/api/v1/exports/accounts", admin, nil, 200)
		tok := e.LoginStrong(e.Tenant.Name, adminEmail(e.Tenant))
		check("POST", "/api/v1/auth/logout", tok, nil, 204)

		// Request ids are unique per request.
		a, b := e.Do("", "GET", "/healthz", nil, nil), e.Do("", "GET", "/healthz", nil, nil)
		if a.Header.Get("X-Request-Id") == b.Header.Get("X-Request-Id") {
			t.Fatalf("two requests share the id %q", a.Header.Get("X-Request-Id"))
		}

		resp, err := e.Client.Get(e.Server.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 {
			t.Fatalf("connection is not TLS 1.3: %+v", resp.TLS)
		}
	})
}

func TestAPILogsHoldNoPersonalData(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, admin string) {
		const (
			first = "Zebulon"
			last  = "Quixotic-Farnsworth"
			email = "Zebulon.Q.7731@privacy-check.example"
			phone = "+1 (415) 555-0199"
		)
		c := mustDo(t, e, admin, "POST", "/api/v1/contacts", map[string]any{"first_name": first, "last_name": last,
			"emails": []any{map[string]any{"value": email}}, "phones": []any{map[string]any{"value": phone}}}, nil, 201)
		id := c.JSON["id"].(string)
		for _, q := range []string{"email=" + url.QueryEscape(email), "phone=" + url.QueryEscape(phone), "last_name=" + url.QueryEscape(last)} {
			if got := dataIDs(t, mustDo(t, e, admin, "GET", "/api/v1/contacts?"+q, nil, nil, 200)); !slices.Equal(got, []string{id}) {
				t.Fatalf("contacts?%s: %v", q, got)
			}
		}
		// Error paths log too: a bad filter value and a failed login.
		e.Do(admin, "GET", "/api/v1/contacts?email="+url.QueryEscape("Zebulon.Q.7731@@privacy-check.example"), nil, nil)
		e.Do("", "POST", "/api/v1/auth/login", map[string]any{"tenant": e.Tenant.Name, "email": email, "password": apitest.Password}, nil)
		mustDo(t, e, admin, "PATCH", "/api/v1/contacts/"+id, map[string]any{"first_name": first + "X"}, map[string]string{"If-Match": `"1"`}, 200)
		mustDo(t, e, admin, "GET", "/api/v1/exports/contacts", nil, nil, 200)

		logs := e.LogText()
		if !strings.Contains(logs, `"route"`) {
			t.Fatalf("the server logged no requests: %q", logs)
		}
		// Short digit runs are not searched for: request ids and
		// durations in the log contain digits by chance.
		for _, secret := range []string{first, last, email, strings.ToLower(email), "privacy-check", phone, "+14155550199", "4155550199", "555-0199",
			admin, apitest.Password, adminEmail(e.Tenant)} {
			if strings.Contains(logs, secret) {
				t.Errorf("the log holds %q", secret)
			}
		}
	})
}

// upload posts a multipart import: the mapping part (when given) first,
// then the file.
func upload(t *testing.T, e *apitest.Env, token, path, mapping, filename string, file []byte) *apitest.Response {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if mapping != "" {
		pw, err := mw.CreateFormField("mapping")
		if err != nil {
			t.Fatal(err)
		}
		pw.Write([]byte(mapping))
	}
	fw, err := mw.CreateFormFile("file", filename)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(file)
	mw.Close()
	return e.Do(token, "POST", path, buf.Bytes(), map[string]string{"Content-Type": mw.FormDataContentType()})
}

// importReport checks the status and outcome of an import and that its
// counts add up, and returns rows, created, updated and failed.
func importReport(t *testing.T, resp *apitest.Response, status int, outcome string) (rows, created, updated, failed int64) {
	t.Helper()
	if resp.Status != status || resp.JSON["outcome"] != outcome {
		t.Fatalf("import: status %d outcome %v, want %d %s: %s", resp.Status, resp.JSON["outcome"], status, outcome, resp.Body)
	}
	n := func(k string) int64 {
		v, err := resp.JSON[k].(json.Number).Int64()
		if err != nil {
			t.Fatalf("report %s: %v", k, err)
		}
		return v
	}
	rows, created, updated, failed = n("rows"), n("created"), n("updated"), n("failed")
	if rows != created+updated+failed {
		t.Fatalf("counts do not add up: rows %d, created %d, updated %d, failed %d", rows, created, updated, failed)
	}
	return
}

// contactsByLastName lists the caller's contacts keyed by last name.
func contactsByLastName(t *testing.T, e *apitest.Env, token string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, d := range mustDo(t, e, token, "GET", "/api/v1/contacts?limit=500", nil, nil, 200).JSON["data"].([]any) {
		c := d.(map[string]any)
		out[c["last_name"].(string)] = c
	}
	return out
}

func TestAPIImport(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, admin string) {
		good := "last_name,first_name,emails.0.value\nDoe,Jane,jane@doe.example\nRoe,Rick,rick@roe.example\n"
		bad := good + "Poe,Edgar,not-an-address\n"
		const path = "/api/v1/imports/contacts"

		if _, created, _, failed := importReport(t, upload(t, e, admin, path+"?dry_run=true", "", "c.csv", []byte(good)), 200, "dry_run"); created != 2 || failed != 0 {
			t.Fatalf("dry run: created %d failed %d", created, failed)
		}
		if got := contactsByLastName(t, e, admin); len(got) != 0 {
			t.Fatalf("dry run wrote %d contacts", len(got))
		}

		resp := upload(t, e, admin, path, "", "c.csv", []byte(bad))
		if rows, _, _, failed := importReport(t, resp, 422, "rolled_back"); rows != 3 || failed != 1 || resp.JSON["committed"] != false {
			t.Fatalf("bad row: %s", resp.Body)
		}
		issues, _ := resp.JSON["issues"].([]any)
		if len(issues) != 1 || issues[0].(map[string]any)["row"] != json.Number("4") || issues[0].(map[string]any)["code"] != "invalid_email" {
			t.Fatalf("issues %v, want one invalid_email on line 4", issues)
		}
		if got := contactsByLastName(t, e, admin); len(got) != 0 {
			t.Fatalf("rolled-back import wrote %d contacts", len(got))
		}

		mapping := `{"keep_good_rows":true,"columns":{"last_name":{"field":"last_name"},"first_name":{"field":"first_name"},"emails.0.value":{"field":"emails.0.value"}}}`
		resp = upload(t, e, admin, path, mapping, "c.csv", []byte(bad))
		if rows, created, _, failed := importReport(t, resp, 200, "committed"); rows != 3 || created != 2 || failed != 1 {
			t.Fatalf("keep_good_rows: %s", resp.Body)
		}
		got := contactsByLastName(t, e, admin)
		if len(got) != 2 || got["Doe"]["first_name"] != "Jane" || got["Roe"]["first_name"] != "Rick" || got["Poe"] != nil {
			t.Fatalf("after keep_good_rows: %v", got)
		}

		// Refusals: parts out of order or unknown, wrong media type,
		// unknown parameters, a mapping that does not fit, no rights.
		wantOnlyFieldError(t, upload(t, e, admin, path+"?dry_run=yes", "", "c.csv", []byte(good)), "dry_run", "unknown_parameter")
		wantProblem(t, e.Do(admin, "POST", path, []byte(good), map[string]string{"Content-Type": "text/csv"}), 415, "unsupported_media_type")
		wantProblem(t, upload(t, e, admin, path, `{"columns":{"last_name":{"field":"last_name"}}}`, "c.csv", []byte(good)), 400, "invalid")
		wantProblem(t, upload(t, e, admin, "/api/v1/imports/nothing", "", "c.csv", []byte(good)), 404, "not_found")
		e.AddUser(e.Tenant.ID, "audit@import.example", "Audit", mcrm.RoleAuditor, "")
		audTok := e.Login(e.Tenant.Name, "audit@import.example")
		wantProblem(t, upload(t, e, audTok, path, "", "c.csv", []byte(good)), 403, "forbidden")
		if got := contactsByLastName(t, e, admin); len(got) != 2 {
			t.Fatalf("refused imports changed the contacts: %d", len(got))
		}
	})
}

func TestAPIExport(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, admin string) {
		// Values a spreadsheet would run as formulas, and plain ones.
		tricky := []map[string]any{
			{"first_name": `=HYPERLINK("http://x")`, "last_name": "Formula", "title": "+1 555", "company": "@SUM(A1)",
				"emails": []any{map[string]any{"type": "work", "value": "formula@export.example"}},
				"phones": []any{map[string]any{"type": "mobile", "value": "+1 415 555 0100"}}},
			{"first_name": "-2+3", "last_name": "Minus", "title": "'quoted", "street": "1 Main St\nSuite 2", "notes": "=1+1",
				"emails": []any{map[string]any{"type": "home", "value": "minus@export.example"}, map[string]any{"type": "other", "value": "minus2@export.example"}}},
			{"first_name": "Plain", "last_name": "Person", "city": "Berlin", "birthday": "1980-02-29", "subscribed_on": "2025-01-31", "website": "https://plain.example"},
		}
		for _, c := range tricky {
			mustDo(t, e, admin, "POST", "/api/v1/contacts", c, nil, 201)
		}
		exp := mustDo(t, e, admin, "GET", "/api/v1/exports/contacts", nil, nil, 200)
		if ct := exp.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
			t.Fatalf("export Content-Type %q", ct)
		}
		recs, err := csv.NewReader(bytes.NewReader(exp.Body)).ReadAll()
		if err != nil {
			t.Fatalf("export is not CSV: %v", err)
		}
		if len(recs) != 4 {
			t.Fatalf("export has %d lines, want header + 3", len(recs))
		}
		col := map[string]int{}
		for i, h := range recs[0] {
			col[h] = i
		}
		row := map[string][]string{}
		for _, r := range recs[1:] {
			row[r[col["last_name"]]] = r
		}
		for _, c := range []struct{ last, column, want string }{
			{"Formula", "first_name", `'=HYPERLINK("http://x")`},
			{"Formula", "title", "'+1 555"},
			{"Formula", "company", "'@SUM(A1)"},
			{"Formula", "phones.0.value", "'+14155550100"},
			{"Minus", "first_name", "'-2+3"},
			{"Minus", "title", "''quoted"},
			{"Minus", "notes", "'=1+1"},
			{"Minus", "street", "1 Main St\nSuite 2"},
			{"Person", "first_name", "Plain"},
		} {
			i, ok := col[c.column]
			if !ok {
				t.Fatalf("export has no column %s: %v", c.column, recs[0])
			}
			if got := row[c.last][i]; got != c.want {
				t.Errorf("export %s.%s = %q, want %q", c.last, c.column, got, c.want)
			}
		}

		// The export imports back as-is, without a mapping, into another
		// tenant.
		t2, admin2 := e.NewTenant(dbtest.Name("roundtrip"))
		tok2 := e.Login(t2.Name, adminEmail(t2))
		resp := upload(t, e, tok2, "/api/v1/imports/contacts", "", "contacts.csv", exp.Body)
		if _, created, _, _ := importReport(t, resp, 200, "committed"); created != 3 {
			t.Fatalf("re-import: %s", resp.Body)
		}
		imported := contactsByLastName(t, e, tok2)
		compareContacts(t, contactsByLastName(t, e, admin), imported, false)
		// The first tenant's owner does not exist here: the importer owns them.
		for last, c := range imported {
			if c["owner_id"] != admin2 {
				t.Errorf("%s: owner_id %v, want the importing admin %s", last, c["owner_id"], admin2)
			}
		}

		// vCard: the same people through the vCard export and import.
		vc := mustDo(t, e, admin, "GET", "/api/v1/exports/contacts?format=vcard", nil, nil, 200)
		if ct := vc.Header.Get("Content-Type"); ct != "text/vcard; charset=utf-8" {
			t.Fatalf("vCard Content-Type %q", ct)
		}
		if !bytes.HasPrefix(vc.Body, []byte("BEGIN:VCARD\r\nVERSION:4.0\r\n")) || bytes.Count(vc.Body, []byte("BEGIN:VCARD")) != 3 {
			t.Fatalf("vCard export starts %q", vc.Body[:min(len(vc.Body), 40)])
		}
		t3, _ := e.NewTenant(dbtest.Name("vcard"))
		tok3 := e.Login(t3.Name, adminEmail(t3))
		resp = upload(t, e, tok3, "/api/v1/imports/contacts", "", "contacts.vcf", vc.Body)
		if _, created, _, _ := importReport(t, resp, 200, "committed"); created != 3 || resp.JSON["format"] != "vcard" {
			t.Fatalf("vCard import: %s", resp.Body)
		}
		compareContacts(t, contactsByLastName(t, e, admin), contactsByLastName(t, e, tok3), true)

		wantOnlyFieldError(t, e.Do(admin, "GET", "/api/v1/exports/accounts?format=vcard", nil, nil), "format", "unsupported")
		wantOnlyFieldError(t, e.Do(admin, "GET", "/api/v1/exports/contacts?format=xml", nil, nil), "format", "unsupported")
		wantOnlyFieldError(t, e.Do(admin, "GET", "/api/v1/exports/contacts?limit=5", nil, nil), "limit", "unknown_parameter")
	})
}

// compareContacts checks that every contact of want has a twin in got
// with the same values. Server-set fields differ between tenants; a vCard
// carries only names, emails, phones and the fields it has properties for.
func compareContacts(t *testing.T, want, got map[string]map[string]any, vcardOnly bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d contacts, want %d", len(got), len(want))
	}
	e := mcrm.EntityByName("contacts")
	for last, w := range want {
		g := got[last]
		if g == nil {
			t.Fatalf("no contact %q after the round trip", last)
		}
		for _, f := range e.Fields {
			if f.System || f.Name == "owner_id" {
				continue
			}
			if vcardOnly && !slices.Contains([]string{"first_name", "last_name", "emails", "title", "company", "city"}, f.Name) {
				continue
			}
			a, _ := json.Marshal(clientValue(&f, w[f.Name]))
			b, _ := json.Marshal(clientValue(&f, g[f.Name]))
			if f.Name == "emails" && vcardOnly {
				a, b = emailValues(w[f.Name]), emailValues(g[f.Name])
			}
			if !bytes.Equal(a, b) {
				t.Errorf("%s.%s: got %s, want %s", last, f.Name, b, a)
			}
		}
	}
}

// clientValue drops the server-set parts of list items: a phone's
// "original" is the spelling it was last entered in, and an export writes
// the normalised number, so only value, type and ext must survive.
func clientValue(f *mcrm.Field, x any) any {
	items, ok := x.([]any)
	if !ok || f.Type != mcrm.TList {
		return x
	}
	out := make([]map[string]any, len(items))
	for i, it := range items {
		out[i] = map[string]any{}
		for k, v := range it.(map[string]any) {
			if sub := f.ItemField(k); sub == nil || !sub.System {
				out[i][k] = v
			}
		}
	}
	return out
}

// emailValues keeps only the addresses of an emails list (vCard types
// map onto mcrm's only approximately).
func emailValues(x any) []byte {
	var vals []string
	items, _ := x.([]any)
	for _, it := range items {
		vals = append(vals, it.(map[string]any)["value"].(string))
	}
	b, _ := json.Marshal(vals)
	return b
}

func TestAPIExportScope(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, admin string) {
		// Managers export (reps may not: least privilege); each manager's
		// export holds what their scope reaches and nothing more.
		team := e.AddTeam(e.Tenant.ID, "Export Team", "", "")
		e.AddUser(e.Tenant.ID, "rep@export.example", "Rep", mcrm.RoleSalesManager, team)
		e.AddUser(e.Tenant.ID, "peer@export.example", "Peer", mcrm.RoleSalesManager, team)
		rep := e.LoginStrong(e.Tenant.Name, "rep@export.example")
		peer := e.LoginStrong(e.Tenant.Name, "peer@export.example")
		var mine []string
		for i := range 3 {
			mine = append(mine, mustDo(t, e, rep, "POST", "/api/v1/contacts", map[string]any{"last_name": fmt.Sprintf("Mine %d", i)}, nil, 201).JSON["id"].(string))
		}
		mustDo(t, e, peer, "POST", "/api/v1/contacts", map[string]any{"last_name": "Peer's"}, nil, 201)
		mustDo(t, e, admin, "POST", "/api/v1/contacts", map[string]any{"last_name": "Admin's"}, nil, 201)

		exp := mustDo(t, e, rep, "GET", "/api/v1/exports/contacts", nil, nil, 200)
		recs, err := csv.NewReader(bytes.NewReader(exp.Body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range recs[1:] {
			ids = append(ids, r[0])
		}
		sort.Strings(ids)
		sort.Strings(mine)
		if recs[0][0] != "id" || !slices.Equal(ids, mine) {
			t.Fatalf("rep's export holds %v, want %v", ids, mine)
		}
		vc := mustDo(t, e, rep, "GET", "/api/v1/exports/contacts?format=vcard", nil, nil, 200)
		if n := bytes.Count(vc.Body, []byte("BEGIN:VCARD")); n != 3 || bytes.Contains(vc.Body, []byte("Peer's")) || bytes.Contains(vc.Body, []byte("Admin's")) {
			t.Fatalf("rep's vCard export holds %d cards: %s", n, vc.Body)
		}
		e.AddUser(e.Tenant.ID, "plainrep@export.example", "Plain Rep", mcrm.RoleSalesRep, team)
		plain := e.LoginStrong(e.Tenant.Name, "plainrep@export.example")
		wantProblem(t, e.Do(plain, "GET", "/api/v1/exports/contacts", nil, nil), 403, "forbidden")
		if all := mustDo(t, e, admin, "GET", "/api/v1/exports/contacts", nil, nil, 200); bytes.Count(all.Body, []byte("\n")) != 6 {
			t.Fatalf("admin's export has %d lines, want header + 5", bytes.Count(all.Body, []byte("\n")))
		}
	})
}

func TestAPITransferTargets(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, admin string) {
		a := e.Tenant.ID
		mgrID := e.AddUser(a, "mgr@transfer.example", "Manager", mcrm.RoleSalesManager, "")
		field := e.AddTeam(a, "Field", "", mgrID)
		other := e.AddTeam(a, "Other", "", "")
		repID := e.AddUser(a, "rep@transfer.example", "Rep", mcrm.RoleSalesRep, field)
		mateID := e.AddUser(a, "mate@transfer.example", "Mate", mcrm.RoleSalesRep, field)
		outID := e.AddUser(a, "out@transfer.example", "Out", mcrm.RoleSalesRep, other)
		_, xadminID := e.NewTenant(dbtest.Name("elsewhere"))
		mgr := e.Login(e.Tenant.Name, "mgr@transfer.example")
		rep := e.Login(e.Tenant.Name, "rep@transfer.example")

		newAccount := func(token string) string {
			return mustDo(t, e, token, "POST", "/api/v1/accounts", map[string]any{"name": dbtest.Name("Great Lakes")}, nil, 201).JSON["id"].(string)
		}
		transfer := func(token, id, to string) *apitest.Response {
			return e.Do(token, "POST", "/api/v1/accounts/"+id+"/transfer", map[string]any{"owner_id": to}, nil)
		}
		// A rep gives records to nobody but themselves.
		id := newAccount(rep)
		wantOnlyFieldError(t, transfer(rep, id, mateID), "owner_id", "unknown_reference")
		wantOnlyFieldError(t, transfer(rep, id, mgrID), "owner_id", "unknown_reference")
		// A manager gives records to the people below them, not beyond.
		id = newAccount(mgr)
		wantOnlyFieldError(t, transfer(mgr, id, outID), "owner_id", "unknown_reference")
		if r := mustDo(t, e, mgr, "POST", "/api/v1/accounts/"+id+"/transfer", map[string]any{"owner_id": repID}, nil, 200); r.JSON["owner_id"] != repID {
			t.Fatalf("transfer to rep: %s", r.Body)
		}
		mustDo(t, e, rep, "GET", "/api/v1/accounts/"+id, nil, nil, 200)
		// An admin gives records to anyone in the tenant, never outside it.
		wantOnlyFieldError(t, transfer(admin, id, xadminID), "owner_id", "unknown_reference")
		wantOnlyFieldError(t, transfer(admin, id, "not-an-id"), "owner_id", "unknown_reference")
		wantProblem(t, e.Do(admin, "POST", "/api/v1/accounts/"+id+"/transfer", map[string]any{"owner_id": outID}, map[string]string{"If-Match": `"1"`}), 412, "precondition_failed")
		if r := mustDo(t, e, admin, "POST", "/api/v1/accounts/"+id+"/transfer", map[string]any{"owner_id": outID}, map[string]string{"If-Match": `"2"`}, 200); r.JSON["owner_id"] != outID || r.Header.Get("ETag") != `"3"` {
			t.Fatalf("admin transfer: %s", r.Body)
		}
		// The rep lost sight of it with the ownership.
		wantProblem(t, e.Do(rep, "GET", "/api/v1/accounts/"+id, nil, nil), 404, "not_found")
	})
}

func TestAPINotesFollowTheirParent(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, admin string) {
		team := e.AddTeam(e.Tenant.ID, "Solo", "", "")
		e.AddUser(e.Tenant.ID, "rep@notes.example", "Rep", mcrm.RoleSalesRep, team)
		rep := e.Login(e.Tenant.Name, "rep@notes.example")
		acct := mustDo(t, e, rep, "POST", "/api/v1/accounts", map[string]any{"name": "Hanari Carnes"}, nil, 201).JSON["id"].(string)
		// The admin writes a note on the rep's account: the admin owns
		// it, yet the rep reads it with the account.
		note := mustDo(t, e, admin, "POST", "/api/v1/notes", map[string]any{"parent_type": "accounts", "parent_id": acct, "body": "Prefers calls after 3pm."}, nil, 201).JSON["id"].(string)
		mustDo(t, e, rep, "GET", "/api/v1/notes/"+note, nil, nil, 200)
		if ids := dataIDs(t, mustDo(t, e, rep, "GET", "/api/v1/notes?parent_id="+acct, nil, nil, 200)); !slices.Equal(ids, []string{note}) {
			t.Fatalf("rep's notes on the account: %v", ids)
		}
		// A note on a record the caller cannot read cannot be written.
		adminAcct := mustDo(t, e, admin, "POST", "/api/v1/accounts", map[string]any{"name": "Hungry Owl"}, nil, 201).JSON["id"].(string)
		wantOnlyFieldError(t, e.Do(rep, "POST", "/api/v1/notes", map[string]any{"parent_type": "accounts", "parent_id": adminAcct, "body": "x"}, nil), "parent_id", "unknown_reference")
		// When the account goes (reps may not delete accounts; the admin
		// does), so does the rep's view of its note.
		wantProblem(t, e.Do(rep, "DELETE", "/api/v1/accounts/"+acct, nil, nil), 403, "forbidden")
		mustDo(t, e, admin, "DELETE", "/api/v1/accounts/"+acct, nil, nil, 204)
		wantProblem(t, e.Do(rep, "GET", "/api/v1/notes/"+note, nil, nil), 404, "not_found")
		mustDo(t, e, admin, "GET", "/api/v1/notes/"+note, nil, nil, 200)
	})
}

// TestAPIWrongMethod: a known path with a method it does not serve is 405
// with an Allow header (RFC 9110 15.5.6), not 404: a 404 for PUT on an
// existing record tells the client the record does not exist.
func TestAPIWrongMethod(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *apitest.Env, admin string) {
		id := mustDo(t, e, admin, "POST", "/api/v1/accounts", map[string]any{"name": "Island Trading"}, nil, 201).JSON["id"].(string)
		for path, allow := range map[string]string{
			"/api/v1/accounts/" + id: "DELETE, GET, HEAD, PATCH",
			"/api/v1/accounts":       "GET, HEAD, POST",
		} {
			resp := e.Do(admin, "PUT", path, map[string]any{"name": "x"}, nil)
			if resp.Status != 405 || resp.Header.Get("Allow") != allow || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("PUT %s: %d Allow %q, want 405 Allow %q: %s", path, resp.Status, resp.Header.Get("Allow"), allow, resp.Body)
			}
		}
	})
}
