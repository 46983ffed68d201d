package httpapi_test

import (
	"bytes"
	"mime/multipart"
	"testing"

	"mcrm/apitest"
	"mcrm/dbtest"
)

// Findings of the break-it pass, each pinned by a test.
func TestHardening(t *testing.T) {
	for _, backend := range dbtest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apitest.New(t, backend)
			tok := e.Login(e.Tenant.Name, "admin@"+e.Tenant.Name+".example")
			problem := func(r *apitest.Response, status int, field, code string) {
				t.Helper()
				if r.Status != status || r.Header.Get("Content-Type") != "application/problem+json" {
					t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
				}
				if field == "" {
					return
				}
				errs, _ := r.JSON["errors"].([]any)
				if len(errs) == 0 || errs[0].(map[string]any)["field"] != field || errs[0].(map[string]any)["code"] != code {
					t.Fatalf("errors %s, want %s/%s", r.Body, field, code)
				}
			}
			// A query string the strict parser refuses is an error, not "no filter".
			problem(e.Do(tok, "GET", "/api/v1/accounts?deleted=true;x&limit=1", nil, nil), 400, "", "")
			problem(e.Do(tok, "GET", "/api/v1/accounts?name=%zz", nil, nil), 400, "", "")
			// Bytes that are not UTF-8, and lone surrogates, are refused rather than replaced.
			problem(e.Do(tok, "POST", "/api/v1/accounts", []byte("{\"name\":\"\xff\xfe\"}"), map[string]string{"Content-Type": "application/json"}), 400, "name", "invalid_text")
			problem(e.Do(tok, "POST", "/api/v1/accounts", map[string]any{"name": "a\u202eb"}, nil), 400, "name", "invalid_text")
			problem(e.Do(tok, "POST", "/api/v1/accounts", []byte(`{"name":"\ud800"}`), map[string]string{"Content-Type": "application/json"}), 400, "name", "invalid_text")
			problem(e.Do(tok, "POST", "/api/v1/accounts", map[string]any{"name": "n", "employees": -5}, nil), 400, "employees", "out_of_range")
			problem(e.Do(tok, "POST", "/api/v1/accounts", map[string]any{"name": "n", "currency": "ZZZ"}, nil), 400, "currency", "invalid_currency")
			// A mapping sent after the file is refused and nothing is written.
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			fw, _ := mw.CreateFormFile("file", "a.csv")
			fw.Write([]byte("name\nLate Mapping Co\n"))
			pw, _ := mw.CreateFormField("mapping")
			pw.Write([]byte(`{"columns":{"name":{"field":"name"}}}`))
			mw.Close()
			r := e.Do(tok, "POST", "/api/v1/imports/accounts", buf.Bytes(), map[string]string{"Content-Type": mw.FormDataContentType()})
			problem(r, 400, "mapping", "part_after_file")
			list := e.Do(tok, "GET", "/api/v1/accounts?name=Late%20Mapping%20Co", nil, nil)
			if list.Status != 200 || len(list.JSON["data"].([]any)) != 0 {
				t.Fatalf("refused import wrote: %s", list.Body)
			}
			// A field name echoed from the request is bounded.
			long := make([]byte, 300)
			for i := range long {
				long[i] = 'x'
			}
			r = e.Do(tok, "GET", "/api/v1/accounts?"+string(long)+"=1", nil, nil)
			errs := r.JSON["errors"].([]any)
			if r.Status != 400 || len(errs[0].(map[string]any)["field"].(string)) > 104 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
		})
	}
}
