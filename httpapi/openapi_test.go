package httpapi_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/big"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"mcrm"
	"mcrm/apitest"
	"mcrm/dbtest"
	"mcrm/httpapi"
	"mcrm/record"
)

// TestOpenAPI checks the served OpenAPI document against the mux (every
// route documented, nothing more) and against real traffic: every request
// the test sends is checked against what the document says the operation
// accepts, and every response against the schema, headers and statuses the
// document declares for it. Requests the server must refuse are also
// checked to break the documented contract, so the document cannot be
// looser than the server.
func TestOpenAPI(t *testing.T) {
	for _, backend := range dbtest.Backends {
		t.Run(backend, func(t *testing.T) { testOpenAPI(t, backend) })
	}
}

const oaBaseURL = "https://mcrm.test/openapi.json"

// oaSpec is the fetched document with a schema compiler over it, and the
// statuses seen per documented operation.
type oaSpec struct {
	t       *testing.T
	e       *apitest.Env
	doc     map[string]any
	c       *jsonschema.Compiler
	schemas map[string]*jsonschema.Schema
	seen    map[string]map[int]bool // "METHOD /template" → statuses answered
}

// oaCall is one request and what the test expects of it.
type oaCall struct {
	token, method, path string
	json                any      // JSON body, sent as application/json unless contentType says otherwise
	raw                 []byte   // a body sent as is
	parts               []oaPart // multipart/form-data parts, in order
	contentType         string
	headers             map[string]string
	status              int
	// breaks names the part of the request ("security", "header If-Match",
	// "query limit", "body") that violates the document; "" means the
	// request must conform.
	breaks string
}

type oaPart struct {
	name, filename, contentType string
	data                        []byte
}

func newOASpec(t *testing.T, e *apitest.Env, raw []byte) *oaSpec {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(oaBaseURL, doc); err != nil {
		t.Fatalf("add document: %v", err)
	}
	return &oaSpec{t: t, e: e, doc: doc.(map[string]any), c: c, schemas: map[string]*jsonschema.Schema{}, seen: map[string]map[int]bool{}}
}

// pointer renders JSON pointer tokens as a URL fragment.
func pointer(tokens []string) string {
	var b strings.Builder
	for _, tok := range tokens {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
		b.WriteString("/" + url.PathEscape(tok))
	}
	return b.String()
}

// schemaAt compiles the schema found at the JSON pointer tokens.
func (s *oaSpec) schemaAt(tokens []string) *jsonschema.Schema {
	s.t.Helper()
	loc := oaBaseURL + "#" + pointer(tokens)
	if sch, ok := s.schemas[loc]; ok {
		return sch
	}
	sch, err := s.c.Compile(loc)
	if err != nil {
		s.t.Fatalf("compile %s: %v", loc, err)
	}
	s.schemas[loc] = sch
	return sch
}

// at returns the node at the tokens.
func (s *oaSpec) at(tokens []string) any {
	var n any = s.doc
	for _, tok := range tokens {
		switch v := n.(type) {
		case map[string]any:
			n = v[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) {
				s.t.Fatalf("no %s in the document", pointer(tokens))
			}
			n = v[i]
		default:
			s.t.Fatalf("no %s in the document", pointer(tokens))
		}
	}
	if n == nil {
		s.t.Fatalf("no %s in the document", pointer(tokens))
	}
	return n
}

// resolve follows a local $ref of a response, header or parameter object.
func (s *oaSpec) resolve(n any, tokens []string) (map[string]any, []string) {
	m := n.(map[string]any)
	if r, ok := m["$ref"].(string); ok {
		if !strings.HasPrefix(r, "#/") {
			s.t.Fatalf("non-local $ref %s", r)
		}
		tokens = strings.Split(r[2:], "/")
		return s.at(tokens).(map[string]any), tokens
	}
	return m, tokens
}

var oaMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// operations lists "METHOD /path" of every documented operation.
func (s *oaSpec) operations() []string {
	var out []string
	for path, item := range s.doc["paths"].(map[string]any) {
		for m := range item.(map[string]any) {
			if slices.Contains(oaMethods, m) {
				out = append(out, strings.ToUpper(m)+" "+path)
			}
		}
	}
	slices.Sort(out)
	return out
}

// oaOp is the documented operation a request reaches.
type oaOp struct {
	key    string   // "GET /api/v1/accounts/{id}"
	tokens []string // pointer to the operation object
	node   map[string]any
	params map[string]string // path parameter values
}

// find matches a concrete path against the path templates; a literal
// segment beats a parameter, as in ServeMux.
func (s *oaSpec) find(method, path string) (oaOp, bool) {
	segs := strings.Split(path, "/")
	best, bestParams := oaOp{}, -1
	for tmpl, item := range s.doc["paths"].(map[string]any) {
		ts := strings.Split(tmpl, "/")
		if len(ts) != len(segs) {
			continue
		}
		params, ok := map[string]string{}, true
		for i, t := range ts {
			switch {
			case strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}"):
				params[t[1:len(t)-1]] = segs[i]
			case t != segs[i]:
				ok = false
			}
		}
		m := strings.ToLower(method)
		node, has := item.(map[string]any)[m].(map[string]any)
		if !ok || !has || (bestParams >= 0 && len(params) >= bestParams) {
			continue
		}
		best, bestParams = oaOp{key: method + " " + tmpl, tokens: []string{"paths", tmpl, m}, node: node, params: params}, len(params)
	}
	return best, bestParams >= 0
}

// queryValue turns query text into the JSON value a parameter schema
// describes (query parameters are text on the wire).
func queryValue(schema map[string]any, v string) any {
	var types []any
	switch t := schema["type"].(type) {
	case string:
		types = []any{t}
	case []any:
		types = t
	}
	if slices.Contains(types, any("integer")) || slices.Contains(types, any("number")) {
		if _, ok := new(big.Rat).SetString(v); ok {
			return json.Number(v)
		}
	}
	if slices.Contains(types, any("boolean")) && (v == "true" || v == "false") {
		return v == "true"
	}
	return v
}

// violations lists how the request departs from the document.
func (s *oaSpec) violations(op oaOp, c oaCall, u *url.URL, body []byte, ct string) []string {
	var out []string
	validate := func(where string, tokens []string, v any) {
		if err := s.schemaAt(tokens).Validate(v); err != nil {
			out = append(out, fmt.Sprintf("%s: %v", where, err))
		}
	}
	if sec, _ := op.node["security"].([]any); len(sec) > 0 && c.token == "" && c.headers["Authorization"] == "" {
		out = append(out, "security: no bearer token")
	}
	declared := map[string]bool{}
	params, _ := op.node["parameters"].([]any)
	for i, p := range params {
		pm, pt := s.resolve(p, append(slices.Clone(op.tokens), "parameters", strconv.Itoa(i)))
		name, in := pm["name"].(string), pm["in"].(string)
		required, _ := pm["required"].(bool)
		where := in + " " + name
		schema := append(slices.Clone(pt), "schema")
		var val string
		var present bool
		switch in {
		case "path":
			val, present = op.params[name]
		case "header":
			val, present = c.headers[name]
		case "query":
			declared[name] = true
			vals, ok := u.Query()[name]
			present = ok
			if len(vals) > 1 {
				out = append(out, where+": repeated")
			}
			if ok {
				val = vals[0]
			}
		}
		switch {
		case !present && required:
			out = append(out, where+": required but missing")
		case present && in == "query":
			validate(where, schema, queryValue(s.at(schema).(map[string]any), val))
		case present:
			validate(where, schema, val)
		}
	}
	for name := range u.Query() {
		if !declared[name] {
			out = append(out, "query "+name+": not a documented parameter")
		}
	}
	rb, hasBody := op.node["requestBody"].(map[string]any)
	switch {
	case len(body) == 0 && hasBody && rb["required"] == true:
		out = append(out, "body: required but missing")
	case len(body) == 0:
	case !hasBody:
		out = append(out, "body: the operation takes none")
	default:
		mt, _, _ := mime.ParseMediaType(ct)
		if _, ok := rb["content"].(map[string]any)[mt]; !ok {
			out = append(out, "body: content type "+ct+" is not documented")
			break
		}
		schema := append(slices.Clone(op.tokens), "requestBody", "content", mt, "schema")
		switch {
		case mt == "multipart/form-data":
			// The parts form an object whose members are decoded by the
			// per-part encoding the document declares.
			form := map[string]any{}
			for _, p := range c.parts {
				var v any = string(p.data)
				if p.contentType == "application/json" {
					var err error
					if v, err = jsonschema.UnmarshalJSON(bytes.NewReader(p.data)); err != nil {
						out = append(out, "body: part "+p.name+" is not JSON")
					}
				}
				form[p.name] = v
			}
			validate("body", schema, form)
		case strings.HasSuffix(mt, "json"):
			v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
			if err != nil {
				out = append(out, "body: not JSON")
				break
			}
			validate("body", schema, v)
		}
	}
	return out
}

// checkResponse validates a response against the document.
func (s *oaSpec) checkResponse(op oaOp, c oaCall, r *apitest.Response) {
	t := s.t
	t.Helper()
	rn, ok := op.node["responses"].(map[string]any)[strconv.Itoa(r.Status)]
	if !ok {
		t.Errorf("%s %s: status %d is not documented for %s (body %s)", c.method, c.path, r.Status, op.key, r.Body)
		return
	}
	resp, rt := s.resolve(rn, append(slices.Clone(op.tokens), "responses", strconv.Itoa(r.Status)))
	headers, _ := resp["headers"].(map[string]any)
	for name, h := range headers {
		hm, ht := s.resolve(h, append(slices.Clone(rt), "headers", name))
		v := r.Header.Get(name)
		if v == "" {
			if hm["required"] == true {
				t.Errorf("%s %s → %d: documented header %s missing", c.method, c.path, r.Status, name)
			}
			continue
		}
		if err := s.schemaAt(append(slices.Clone(ht), "schema")).Validate(v); err != nil {
			t.Errorf("%s %s → %d: header %s=%q: %v", c.method, c.path, r.Status, name, v, err)
		}
	}
	content, _ := resp["content"].(map[string]any)
	if len(content) == 0 {
		if len(r.Body) != 0 {
			t.Errorf("%s %s → %d: documented without a body, got %q", c.method, c.path, r.Status, r.Body)
		}
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if _, ok := content[mt]; err != nil || !ok {
		t.Errorf("%s %s → %d: content type %q is not documented", c.method, c.path, r.Status, r.Header.Get("Content-Type"))
		return
	}
	var v any = string(r.Body)
	if strings.HasSuffix(mt, "json") {
		if v, err = jsonschema.UnmarshalJSON(bytes.NewReader(r.Body)); err != nil {
			t.Errorf("%s %s → %d: body is not JSON: %v", c.method, c.path, r.Status, err)
			return
		}
	}
	if err := s.schemaAt(append(slices.Clone(rt), "content", mt, "schema")).Validate(v); err != nil {
		t.Errorf("%s %s → %d: body does not match the documented schema: %v\nbody: %s", c.method, c.path, r.Status, err, r.Body)
	}
}

// do sends c, checks the request and the response against the document
// and the status against c.status, and returns the response.
func (s *oaSpec) do(c oaCall) *apitest.Response {
	t := s.t
	t.Helper()
	headers := map[string]string{}
	for k, v := range c.headers {
		headers[k] = v
	}
	var body []byte
	ct := c.contentType
	switch {
	case c.json != nil:
		var err error
		if body, err = json.Marshal(c.json); err != nil {
			t.Fatal(err)
		}
		if ct == "" {
			ct = "application/json"
		}
	case c.parts != nil:
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for _, p := range c.parts {
			h := textproto.MIMEHeader{}
			disp := `form-data; name="` + p.name + `"`
			if p.filename != "" {
				disp += `; filename="` + p.filename + `"`
			}
			h.Set("Content-Disposition", disp)
			h.Set("Content-Type", p.contentType)
			w, err := mw.CreatePart(h)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(p.data)
		}
		mw.Close()
		body, ct = buf.Bytes(), mw.FormDataContentType()
	default:
		body = c.raw
	}
	if ct != "" {
		headers["Content-Type"] = ct
	}
	u, err := url.Parse(c.path)
	if err != nil {
		t.Fatal(err)
	}
	op, ok := s.find(c.method, u.Path)
	if !ok {
		t.Fatalf("%s %s: no documented operation", c.method, u.Path)
	}
	vs := s.violations(op, c, u, body, ct)
	switch {
	case c.breaks == "" && len(vs) > 0:
		t.Errorf("%s %s: the request does not conform to the document: %s", c.method, c.path, strings.Join(vs, "; "))
	case c.breaks != "" && !slices.ContainsFunc(vs, func(v string) bool { return strings.HasPrefix(v, c.breaks+":") }):
		t.Errorf("%s %s: the document accepts the %s of a request the server must refuse (violations: %q)", c.method, c.path, c.breaks, vs)
	}
	var sent any
	if body != nil {
		sent = body
	}
	r := s.e.Do(c.token, c.method, c.path, sent, headers)
	if r.Status != c.status {
		t.Fatalf("%s %s: status %d, want %d; body %s", c.method, c.path, r.Status, c.status, r.Body)
	}
	s.checkResponse(op, c, r)
	if s.seen[op.key] == nil {
		s.seen[op.key] = map[int]bool{}
	}
	s.seen[op.key][r.Status] = true
	return r
}

// sameJSON compares two JSON values with numbers compared by value
// (120 and 120.00 are the same amount).
func sameJSON(a, b any) bool {
	norm := func(v any) any {
		buf, _ := json.Marshal(v)
		dec := json.NewDecoder(bytes.NewReader(buf))
		dec.UseNumber()
		var out any
		dec.Decode(&out)
		return out
	}
	var eq func(x, y any) bool
	eq = func(x, y any) bool {
		switch xv := x.(type) {
		case json.Number:
			yv, ok := y.(json.Number)
			if !ok {
				return false
			}
			xr, _ := new(big.Rat).SetString(string(xv))
			yr, _ := new(big.Rat).SetString(string(yv))
			return xr != nil && yr != nil && xr.Cmp(yr) == 0
		case map[string]any:
			yv, ok := y.(map[string]any)
			if !ok || len(xv) != len(yv) {
				return false
			}
			for k := range xv {
				if _, ok := yv[k]; !ok || !eq(xv[k], yv[k]) {
					return false
				}
			}
			return true
		case []any:
			yv, ok := y.([]any)
			if !ok || len(xv) != len(yv) {
				return false
			}
			for i := range xv {
				if !eq(xv[i], yv[i]) {
					return false
				}
			}
			return true
		}
		return reflect.DeepEqual(x, y)
	}
	return eq(norm(a), norm(b))
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// oaFixture is realistic traffic for one entity. ids holds the ids of
// records made so far: by entity name, plus "admin" and "rep".
type oaFixture struct {
	create func(ids map[string]string) map[string]any
	// want are rendered values that differ from what was sent (normalised
	// phones, defaults); fields not listed must come back as sent.
	want  func(ids map[string]string) map[string]any
	list  func(ids map[string]string) url.Values // a filter (and sort) that finds exactly the created record
	patch map[string]any
}

func oaFixtures(tenant string) map[string]oaFixture {
	none := func(map[string]string) map[string]any { return nil }
	return map[string]oaFixture{
		"teams": {
			create: func(ids map[string]string) map[string]any {
				return map[string]any{"name": "EMEA Enterprise", "manager_id": ids["admin"]}
			},
			want:  none,
			list:  func(map[string]string) url.Values { return url.Values{"name": {"EMEA Enterprise"}, "sort": {"-name"}} },
			patch: map[string]any{"name": "EMEA Strategic Accounts"},
		},
		"users": {
			create: func(ids map[string]string) map[string]any {
				return map[string]any{"email": "grace.hopper@" + tenant + ".example", "name": "Grace Hopper", "role": "sales_manager",
					"team_id": ids["teams"], "time_zone": "Europe/Berlin", "active": true}
			},
			want: none,
			list: func(map[string]string) url.Values {
				return url.Values{"email": {"grace.hopper@" + tenant + ".example"}, "role": {"sales_manager"}, "sort": {"name"}}
			},
			patch: map[string]any{"time_zone": "America/New_York", "name": "Grace B. Hopper"},
		},
		"products": {
			create: func(map[string]string) map[string]any {
				return map[string]any{"name": "CRM Enterprise Seat", "code": "CRM-ENT-1Y", "family": "Licences", "price": "1200.00",
					"currency": "EUR", "active": true, "description": "One named user, one year, with priority support."}
			},
			want: none,
			list: func(map[string]string) url.Values {
				return url.Values{"code": {"CRM-ENT-1Y"}, "active": {"true"}, "sort": {"-price"}}
			},
			patch: map[string]any{"price": 1150.5, "description": nil},
		},
		"pipelines": {
			create: func(map[string]string) map[string]any {
				return map[string]any{"name": "Enterprise deals", "is_default": false, "stages": []any{
					map[string]any{"name": "Discovery", "probability": 10, "outcome": "open"},
					map[string]any{"name": "Proposal", "probability": 50, "outcome": "open"},
					map[string]any{"name": "Closed won", "probability": 100, "outcome": "won"},
					map[string]any{"name": "Closed lost", "probability": 0, "outcome": "lost"},
				}}
			},
			want: none,
			list: func(map[string]string) url.Values {
				return url.Values{"name": {"Enterprise deals"}, "is_default": {"false"}}
			},
			patch: map[string]any{"name": "Enterprise and public sector deals"},
		},
		"accounts": {
			create: func(map[string]string) map[string]any {
				return map[string]any{"name": "Globex Corporation", "industry": "Manufacturing", "website": "https://globex.example/",
					"phones":    []any{map[string]any{"type": "work", "value": "+1 650-253-0000"}},
					"employees": 1200, "annual_revenue": 48500000.5, "currency": "USD", "year_established": 1989,
					"country": "US", "city": "Springfield", "external_id": "SF-0001", "description": "Key account since 2019.\nRenewal every March."}
			},
			want: func(map[string]string) map[string]any {
				return map[string]any{"phones": []any{map[string]any{"type": "work", "value": "+16502530000", "original": "+1 650-253-0000"}}}
			},
			list: func(map[string]string) url.Values {
				return url.Values{"employees[gte]": {"1000"}, "external_id": {"SF-0001"}, "sort": {"-annual_revenue"}}
			},
			patch: map[string]any{"employees": 1350, "city": nil},
		},
		"contacts": {
			create: func(ids map[string]string) map[string]any {
				return map[string]any{"first_name": "Ada", "last_name": "Lovelace", "account_id": ids["accounts"], "title": "CTO",
					"emails": []any{map[string]any{"type": "work", "value": "ada@globex.example"}, map[string]any{"type": "home", "value": "ada.lovelace@home.example"}},
					"phones": []any{map[string]any{"type": "mobile", "value": "+44 7911 123456"}},
					"street": "12 Analytical Row\nFloor 3", "city": "London", "postal_code": "EC1A 1BB", "country": "GB",
					"website": "https://ada.example", "birthday": "1815-12-10", "subscribed_on": "2024-03-01", "external_id": "C-0001"}
			},
			want: func(map[string]string) map[string]any {
				return map[string]any{"phones": []any{map[string]any{"type": "mobile", "value": "+447911123456", "original": "+44 7911 123456"}}}
			},
			list: func(map[string]string) url.Values {
				return url.Values{"email": {"ADA@globex.example"}, "subscribed_on[lt]": {"2024-06-01"}, "sort": {"last_name"}}
			},
			patch: map[string]any{"title": "Chief Technology Officer", "emails": []any{map[string]any{"type": "work", "value": "ada@globex.example"}}},
		},
		"opportunities": {
			create: func(ids map[string]string) map[string]any {
				return map[string]any{"name": "Globex: 500 seats", "account_id": ids["accounts"], "pipeline_id": ids["pipelines"], "stage": "Proposal",
					"amount": "60000.00", "currency": "USD", "expected_close_date": "2026-09-30", "engage_date": "2026-01-15", "external_id": "O-0001",
					"line_items": []any{map[string]any{"product_id": ids["products"], "quantity": 500, "unit_price": "120.00"}}}
			},
			want: func(ids map[string]string) map[string]any {
				return map[string]any{"probability": 50, "line_items": []any{map[string]any{"product_id": ids["products"], "quantity": 500, "unit_price": 120}}}
			},
			list: func(ids map[string]string) url.Values {
				return url.Values{"account_id": {ids["accounts"]}, "amount[gt]": {"50000"}, "stage": {"Proposal"}, "sort": {"-expected_close_date"}}
			},
			patch: map[string]any{"stage": "Closed won", "probability": 100, "close_date": "2026-08-28"},
		},
		"leads": {
			create: func(map[string]string) map[string]any {
				return map[string]any{"first_name": "Linus", "last_name": "Torvalds", "company": "Transmeta", "title": "Engineer",
					"emails": []any{map[string]any{"type": "work", "value": "linus@transmeta.example"}},
					"phones": []any{map[string]any{"type": "work", "value": "+1 650-253-0002"}},
					"status": "new", "source": "Trade show", "external_id": "L-0001"}
			},
			want: func(map[string]string) map[string]any {
				return map[string]any{"phones": []any{map[string]any{"type": "work", "value": "+16502530002", "original": "+1 650-253-0002"}}}
			},
			list: func(map[string]string) url.Values {
				return url.Values{"phone": {"+1 650 253 0002"}, "status": {"new"}, "sort": {"-company"}}
			},
			patch: map[string]any{"status": "working", "source": "Referral"},
		},
		"activities": {
			create: func(ids map[string]string) map[string]any {
				return map[string]any{"type": "meeting", "subject": "Quarterly business review", "status": "open",
					"due_at": "2026-05-04T10:00:00+02:00", "end_at": "2026-05-04T09:00",
					"account_id": ids["accounts"], "contact_id": ids["contacts"], "opportunity_id": ids["opportunities"],
					"description": "Agenda: usage, renewal, roadmap."}
			},
			// The admin has no time zone, so local times are UTC.
			want: func(map[string]string) map[string]any {
				return map[string]any{"due_at": "2026-05-04T08:00:00.000000Z", "due_at_local": "2026-05-04T08:00:00Z",
					"end_at": "2026-05-04T09:00:00.000000Z", "end_at_local": "2026-05-04T09:00:00Z"}
			},
			list: func(map[string]string) url.Values {
				return url.Values{"due_at[gte]": {"2026-05-01T00:00:00Z"}, "due_at[lt]": {"2026-06-01T00:00:00Z"}, "type": {"meeting"}, "sort": {"due_at"}}
			},
			patch: map[string]any{"status": "done", "description": "Renewal agreed in principle."},
		},
		"cases": {
			create: func(ids map[string]string) map[string]any {
				return map[string]any{"subject": "Invoice export fails for March", "status": "open", "priority": "high",
					"sla_due_at": "2026-03-02T17:00:00Z", "account_id": ids["accounts"], "contact_id": ids["contacts"],
					"external_id": "CS-0001", "description": "Export stops at 1000 rows."}
			},
			want: func(map[string]string) map[string]any {
				return map[string]any{"sla_due_at": "2026-03-02T17:00:00.000000Z", "sla_due_at_local": "2026-03-02T17:00:00Z"}
			},
			list: func(map[string]string) url.Values {
				return url.Values{"priority": {"high"}, "external_id": {"CS-0001"}, "sort": {"-sla_due_at"}}
			},
			patch: map[string]any{"status": "resolved", "priority": "medium"},
		},
		"notes": {
			create: func(ids map[string]string) map[string]any {
				return map[string]any{"parent_type": "accounts", "parent_id": ids["accounts"],
					"body": "Met the CFO at the Hannover fair.\nBudget for next year is approved; follow up in May."}
			},
			want: none,
			list: func(ids map[string]string) url.Values {
				return url.Values{"parent_type": {"accounts"}, "parent_id": {ids["accounts"]}}
			},
			patch: map[string]any{"body": "Met the CFO at the Hannover fair. Budget approved."},
		},
	}
}

func etagOf(r *apitest.Response) string { return r.Header.Get("ETag") }

func problemCode(t *testing.T, r *apitest.Response, code mcrm.Code) {
	t.Helper()
	if got := r.JSON["code"]; got != string(code) {
		t.Errorf("problem code %v, want %s (body %s)", got, code, r.Body)
	}
}

func testOpenAPI(t *testing.T, backend string) {
	e := apitest.New(t, backend)
	tenant := e.Tenant.Name

	// The document is served without authentication and is the one
	// OpenAPI() builds.
	raw := e.Do("", "GET", "/api/v1/openapi.json", nil, nil)
	if raw.Status != http.StatusOK || raw.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET openapi.json: %d %s", raw.Status, raw.Header.Get("Content-Type"))
	}
	s := newOASpec(t, e, raw.Body)
	if s.doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi = %v, want 3.1.0", s.doc["openapi"])
	}
	if !sameJSON(s.doc, httpapi.OpenAPI()) {
		t.Fatal("the served document differs from httpapi.OpenAPI()")
	}

	// Every route the mux serves is documented, and nothing else is.
	routes := slices.Sorted(slices.Values(httpapi.Routes()))
	documented := s.operations()
	for _, r := range routes {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not documented", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routes, d) {
			t.Errorf("documented operation %s is not served", d)
		}
	}
	if len(routes) != len(documented) {
		t.Fatalf("%d routes, %d documented operations", len(routes), len(documented))
	}

	// Operation ids are unique, every path template parameter is declared
	// as a path parameter (and no other), and every response is described.
	opIDs := map[string]string{}
	for _, key := range documented {
		method, path, _ := strings.Cut(key, " ")
		op, _ := s.find(method, path)
		id, _ := op.node["operationId"].(string)
		if prev, dup := opIDs[id]; dup || id == "" {
			t.Errorf("%s: operationId %q empty or also used by %s", key, id, prev)
		}
		opIDs[id] = key
		var inPath []string
		params, _ := op.node["parameters"].([]any)
		for i, p := range params {
			pm, _ := s.resolve(p, append(slices.Clone(op.tokens), "parameters", strconv.Itoa(i)))
			if pm["in"] == "path" {
				inPath = append(inPath, pm["name"].(string))
			}
		}
		var inTemplate []string
		for name := range op.params {
			inTemplate = append(inTemplate, name)
		}
		if slices.Sort(inPath); !slices.Equal(inPath, slices.Sorted(slices.Values(inTemplate))) {
			t.Errorf("%s: path parameters %v, template has %v", key, inPath, inTemplate)
		}
		for st, rn := range op.node["responses"].(map[string]any) {
			if resp, _ := s.resolve(rn, append(slices.Clone(op.tokens), "responses", st)); resp["description"] == "" || resp["description"] == nil {
				t.Errorf("%s %s: response without description", key, st)
			}
		}
	}

	// Every component schema compiles.
	for name := range s.doc["components"].(map[string]any)["schemas"].(map[string]any) {
		s.schemaAt([]string{"components", "schemas", name})
	}

	// Every operation that declares bearer security refuses a request
	// without a token, and the 401 is documented.
	for _, key := range documented {
		method, path, _ := strings.Cut(key, " ")
		op, _ := s.find(method, path)
		if sec, _ := op.node["security"].([]any); len(sec) == 0 {
			continue
		}
		for name := range op.params {
			val := record.NewID()
			if name == "entity" {
				val = "accounts"
			}
			path = strings.Replace(path, "{"+name+"}", val, 1)
		}
		s.do(oaCall{method: method, path: path, status: http.StatusUnauthorized, breaks: "security"})
	}

	s.do(oaCall{method: "GET", path: "/api/v1/openapi.json", status: http.StatusOK})
	if r := s.do(oaCall{method: "GET", path: "/healthz", status: http.StatusOK}); r.JSON["status"] != "ok" {
		t.Errorf("healthz: %s", r.Body)
	}
	if r := s.do(oaCall{method: "GET", path: "/readyz", status: http.StatusOK}); r.JSON["status"] != "ready" {
		t.Errorf("readyz: %s", r.Body)
	}

	// Sign-in.
	adminEmail := "admin@" + tenant + ".example"
	login := func(email string) (string, *apitest.Response) {
		r := s.do(oaCall{method: "POST", path: "/api/v1/auth/login", json: map[string]any{"tenant": tenant, "email": email, "password": apitest.Password}, status: http.StatusOK})
		tok, _ := r.JSON["access_token"].(string)
		return tok, r
	}
	admin, lr := login(adminEmail)
	e.StepUp(admin)
	if u := lr.JSON["user"].(map[string]any); u["id"] != e.AdminID || u["email"] != adminEmail || u["tenant_id"] != e.Tenant.ID || lr.JSON["token_type"] != "Bearer" {
		t.Errorf("login response: %s", lr.Body)
	}
	bad := s.do(oaCall{method: "POST", path: "/api/v1/auth/login", json: map[string]any{"tenant": tenant, "email": adminEmail, "password": "wrong password"}, status: http.StatusUnauthorized})
	problemCode(t, bad, mcrm.EUnauthorized)
	bad = s.do(oaCall{method: "POST", path: "/api/v1/auth/login", json: map[string]any{"tenant": tenant, "email": adminEmail, "password": ""}, status: http.StatusBadRequest, breaks: "body"})
	problemCode(t, bad, mcrm.EInvalid)
	me := s.do(oaCall{token: admin, method: "GET", path: "/api/v1/me", status: http.StatusOK})
	if me.JSON["id"] != e.AdminID || me.JSON["tenant_id"] != e.Tenant.ID || me.JSON["role"] != mcrm.RoleAdmin {
		t.Errorf("me: %s", me.Body)
	}
	s.do(oaCall{token: "not-a-session", method: "GET", path: "/api/v1/me", status: http.StatusUnauthorized})
	// The authentication scheme name is case-insensitive.
	if r := s.do(oaCall{method: "GET", path: "/api/v1/me", headers: map[string]string{"Authorization": "bearer " + admin}, status: http.StatusOK}); r.JSON["id"] != e.AdminID {
		t.Errorf("me with a lower-case scheme: %s", r.Body)
	}

	repEmail := "sam.rep@" + tenant + ".example"
	ids := map[string]string{"admin": e.AdminID, "rep": e.AddUser(e.Tenant.ID, repEmail, "Sam Rep", mcrm.RoleSalesRep, "")}
	rep, repLogin := login(repEmail)
	// Sessions: refresh rotates, the list shows the caller's, one can be
	// ended by its user, all of a user's by an admin.
	ref := s.do(oaCall{method: "POST", path: "/api/v1/auth/refresh", json: map[string]any{"refresh_token": repLogin.JSON["refresh_token"]}, status: http.StatusOK})
	rep = ref.JSON["access_token"].(string)
	s.do(oaCall{method: "POST", path: "/api/v1/auth/refresh", json: map[string]any{"refresh_token": repLogin.JSON["refresh_token"]}, status: http.StatusUnauthorized})
	rep, _ = login(repEmail)
	spare, spareLogin := login(repEmail)
	list := s.do(oaCall{token: rep, method: "GET", path: "/api/v1/auth/sessions", status: http.StatusOK})
	if n := len(list.JSON["data"].([]any)); n != 2 {
		t.Errorf("rep sees %d sessions, want 2 (the reused refresh token ended the first): %s", n, list.Body)
	}
	s.do(oaCall{token: rep, method: "DELETE", path: "/api/v1/auth/sessions/" + spareLogin.JSON["session_id"].(string), status: http.StatusNoContent})
	s.do(oaCall{token: spare, method: "GET", path: "/api/v1/me", status: http.StatusUnauthorized})
	s.do(oaCall{token: rep, method: "DELETE", path: "/api/v1/auth/sessions/" + spareLogin.JSON["session_id"].(string), status: http.StatusNotFound})
	s.do(oaCall{token: rep, method: "POST", path: "/api/v1/auth/step-up", json: map[string]any{"code": "123456"}, status: http.StatusUnauthorized})
	s.do(oaCall{method: "POST", path: "/api/v1/auth/login/mfa", json: map[string]any{"mfa_token": "nope", "code": "123456"}, status: http.StatusUnauthorized})
	// A user with TOTP: the password step asks for it, the code completes
	// the sign-in, and a later code steps the session up.
	mfaEmail := "mia.mfa@" + tenant + ".example"
	app := e.EnrolTOTP(e.Tenant.ID, e.AddUser(e.Tenant.ID, mfaEmail, "Mia Mfa", mcrm.RoleSalesRep, ""))
	_, pending := login(mfaEmail)
	if pending.JSON["status"] != "mfa_required" || pending.JSON["access_token"] != nil {
		t.Errorf("password step of a TOTP user: %s", pending.Body)
	}
	done := s.do(oaCall{method: "POST", path: "/api/v1/auth/login/mfa", json: map[string]any{"mfa_token": pending.JSON["mfa_token"], "code": app.Code()}, status: http.StatusOK})
	s.do(oaCall{token: done.JSON["access_token"].(string), method: "POST", path: "/api/v1/auth/step-up", json: map[string]any{"code": app.Code()}, status: http.StatusOK})
	s.do(oaCall{token: rep, method: "DELETE", path: "/api/v1/users/" + ids["admin"] + "/sessions", status: http.StatusForbidden})
	killed := s.do(oaCall{token: admin, method: "DELETE", path: "/api/v1/users/" + ids["rep"] + "/sessions", status: http.StatusOK})
	if killed.JSON["revoked"] != json.Number("1") {
		t.Errorf("admin ended %v sessions, want 1", killed.JSON["revoked"])
	}
	s.do(oaCall{token: rep, method: "GET", path: "/api/v1/me", status: http.StatusUnauthorized})
	rep, _ = login(repEmail)

	// Every entity through its whole life: create, read, find, change,
	// conflict, delete, restore, transfer.
	fixtures := oaFixtures(tenant)
	for _, ent := range mcrm.Entities {
		fx, ok := fixtures[ent.Name]
		if !ok {
			t.Fatalf("no fixture for %s: add realistic traffic for it to oaFixtures", ent.Name)
		}
		base := "/api/v1/" + ent.Name
		body := fx.create(ids)
		c := s.do(oaCall{token: admin, method: "POST", path: base, json: body, status: http.StatusCreated})
		id, _ := c.JSON["id"].(string)
		ids[ent.Name] = id
		if loc := c.Header.Get("Location"); loc != base+"/"+id {
			t.Errorf("%s: Location %q", ent.Name, loc)
		}
		if etagOf(c) != `"1"` || c.JSON["version"] != json.Number("1") || c.JSON["created_by"] != e.AdminID {
			t.Errorf("%s: created ETag %s, body %s", ent.Name, etagOf(c), c.Body)
		}
		if ent.Owned && c.JSON["owner_id"] != e.AdminID {
			t.Errorf("%s: owner %v, want the creator", ent.Name, c.JSON["owner_id"])
		}
		want := map[string]any{}
		for k, v := range body {
			want[k] = v
		}
		for k, v := range fx.want(ids) {
			want[k] = v
		}
		for k, v := range want {
			if f := ent.Field(k); f != nil && f.Type == mcrm.TMoney {
				if sv, ok := v.(string); ok {
					v = json.Number(sv) // sent as text, returned as a number
				}
			}
			if !sameJSON(c.JSON[k], v) {
				t.Errorf("%s.%s = %s, want %s", ent.Name, k, jsonText(c.JSON[k]), jsonText(v))
			}
		}

		g := s.do(oaCall{token: admin, method: "GET", path: base + "/" + id, status: http.StatusOK})
		if etagOf(g) != `"1"` || !sameJSON(g.JSON, c.JSON) {
			t.Errorf("%s: GET differs from the create response:\n%s\n%s", ent.Name, g.Body, c.Body)
		}

		l := s.do(oaCall{token: admin, method: "GET", path: base + "?" + fx.list(ids).Encode(), status: http.StatusOK})
		if data, _ := l.JSON["data"].([]any); len(data) != 1 || !sameJSON(data[0], c.JSON) {
			t.Errorf("%s: list %s: %s", ent.Name, fx.list(ids).Encode(), l.Body)
		}
		if _, more := l.JSON["next_cursor"]; more {
			t.Errorf("%s: a one-record page has a next_cursor", ent.Name)
		}

		r := s.do(oaCall{token: admin, method: "PATCH", path: base + "/" + id, json: fx.patch, status: http.StatusPreconditionRequired, breaks: "header If-Match"})
		problemCode(t, r, mcrm.EPreconditionRequired)
		p := s.do(oaCall{token: admin, method: "PATCH", path: base + "/" + id, json: fx.patch, headers: map[string]string{"If-Match": `"1"`}, status: http.StatusOK})
		if etagOf(p) != `"2"` || p.JSON["version"] != json.Number("2") {
			t.Errorf("%s: patched ETag %s version %v", ent.Name, etagOf(p), p.JSON["version"])
		}
		for k, v := range fx.patch {
			if !sameJSON(p.JSON[k], v) {
				t.Errorf("%s: patched %s = %s, want %s", ent.Name, k, jsonText(p.JSON[k]), jsonText(v))
			}
		}
		r = s.do(oaCall{token: admin, method: "PATCH", path: base + "/" + id, json: fx.patch, headers: map[string]string{"If-Match": `"1"`}, status: http.StatusPreconditionFailed})
		problemCode(t, r, mcrm.EPreconditionFailed)

		s.do(oaCall{token: admin, method: "DELETE", path: base + "/" + id, headers: map[string]string{"If-Match": `"2"`}, status: http.StatusNoContent})
		r = s.do(oaCall{token: admin, method: "GET", path: base + "/" + id, status: http.StatusNotFound})
		problemCode(t, r, mcrm.ENotFound)
		trash := s.do(oaCall{token: admin, method: "GET", path: base + "?deleted=true&id=" + id, status: http.StatusOK})
		if data, _ := trash.JSON["data"].([]any); len(data) != 1 || data[0].(map[string]any)["deleted_at"] == nil || data[0].(map[string]any)["version"] != json.Number("3") {
			t.Errorf("%s: trash: %s", ent.Name, trash.Body)
		}
		rs := s.do(oaCall{token: admin, method: "POST", path: base + "/" + id + "/restore", status: http.StatusOK})
		if _, deleted := rs.JSON["deleted_at"]; deleted || etagOf(rs) != `"4"` || rs.JSON["version"] != json.Number("4") {
			t.Errorf("%s: restored: ETag %s body %s", ent.Name, etagOf(rs), rs.Body)
		}

		if ent.Owned {
			tr := s.do(oaCall{token: admin, method: "POST", path: base + "/" + id + "/transfer", json: map[string]any{"owner_id": ids["rep"]},
				headers: map[string]string{"If-Match": `"4"`}, status: http.StatusOK})
			if tr.JSON["owner_id"] != ids["rep"] || etagOf(tr) != `"5"` {
				t.Errorf("%s: transferred: ETag %s body %s", ent.Name, etagOf(tr), tr.Body)
			}
		}
	}

	// Lead conversion, and converting twice.
	lead := s.do(oaCall{token: admin, method: "POST", path: "/api/v1/leads", status: http.StatusCreated, json: map[string]any{
		"first_name": "Peter", "last_name": "Gibbons", "company": "Initech", "title": "Programmer", "status": "qualified",
		"emails": []any{map[string]any{"type": "work", "value": "peter.gibbons@initech.example"}}}})
	leadID := lead.JSON["id"].(string)
	cv := s.do(oaCall{token: admin, method: "POST", path: "/api/v1/leads/" + leadID + "/convert", headers: map[string]string{"If-Match": `"1"`}, status: http.StatusOK,
		json: map[string]any{"create_opportunity": true, "opportunity": map[string]any{"name": "Initech: TPS reporting", "amount": "25000", "currency": "USD", "expected_close_date": "2026-12-01"}}})
	converted, _ := cv.JSON["lead"].(map[string]any)
	if converted["status"] != "converted" || converted["converted_contact_id"] != cv.JSON["contact_id"] || converted["converted_account_id"] != cv.JSON["account_id"] ||
		converted["converted_opportunity_id"] != cv.JSON["opportunity_id"] || etagOf(cv) != `"`+string(converted["version"].(json.Number))+`"` {
		t.Errorf("convert: ETag %s body %s", etagOf(cv), cv.Body)
	}
	ct := s.do(oaCall{token: admin, method: "GET", path: "/api/v1/contacts/" + cv.JSON["contact_id"].(string), status: http.StatusOK})
	if ct.JSON["last_name"] != "Gibbons" || ct.JSON["account_id"] != cv.JSON["account_id"] {
		t.Errorf("converted contact: %s", ct.Body)
	}
	opp := s.do(oaCall{token: admin, method: "GET", path: "/api/v1/opportunities/" + cv.JSON["opportunity_id"].(string), status: http.StatusOK})
	if opp.JSON["name"] != "Initech: TPS reporting" || !sameJSON(opp.JSON["amount"], 25000) || opp.JSON["account_id"] != cv.JSON["account_id"] {
		t.Errorf("converted opportunity: %s", opp.Body)
	}
	r := s.do(oaCall{token: admin, method: "POST", path: "/api/v1/leads/" + leadID + "/convert", json: map[string]any{}, status: http.StatusConflict})
	problemCode(t, r, mcrm.EConflict)

	// Refusals, each checked against the document too.
	r = s.do(oaCall{token: rep, method: "POST", path: "/api/v1/products", json: map[string]any{"name": "Discount seat"}, status: http.StatusForbidden})
	problemCode(t, r, mcrm.EForbidden)
	r = s.do(oaCall{token: admin, method: "POST", path: "/api/v1/accounts", json: map[string]any{"name": "Hooli", "nickname": "H"}, status: http.StatusBadRequest, breaks: "body"})
	if !sameJSON(r.JSON["errors"], []any{map[string]any{"field": "nickname", "code": "unknown_field", "message": "no such field"}}) {
		t.Errorf("unknown field: %s", r.Body)
	}
	r = s.do(oaCall{token: admin, method: "POST", path: "/api/v1/accounts", json: map[string]any{"industry": "Media"}, status: http.StatusBadRequest, breaks: "body"})
	if !sameJSON(r.JSON["errors"], []any{map[string]any{"field": "name", "code": "required", "message": "field is required"}}) {
		t.Errorf("missing field: %s", r.Body)
	}
	r = s.do(oaCall{token: admin, method: "GET", path: "/api/v1/accounts?limit=0", status: http.StatusBadRequest, breaks: "query limit"})
	problemCode(t, r, mcrm.EInvalid)
	r = s.do(oaCall{token: admin, method: "GET", path: "/api/v1/accounts?colour=red", status: http.StatusBadRequest, breaks: "query colour"})
	problemCode(t, r, mcrm.EInvalid)
	r = s.do(oaCall{token: admin, method: "GET", path: "/api/v1/accounts?sort=website", status: http.StatusBadRequest, breaks: "query sort"})
	problemCode(t, r, mcrm.EInvalid)
	r = s.do(oaCall{token: admin, method: "POST", path: "/api/v1/accounts", raw: []byte(`{"name":"Hooli"}`), contentType: "text/plain", status: http.StatusUnsupportedMediaType, breaks: "body"})
	problemCode(t, r, mcrm.EUnsupportedMedia)
	r = s.do(oaCall{token: admin, method: "POST", path: "/api/v1/accounts", json: map[string]any{"name": "Hooli", "description": strings.Repeat("Big. ", 220_000)}, status: http.StatusRequestEntityTooLarge, breaks: "body"})
	problemCode(t, r, mcrm.ETooLarge)
	r = s.do(oaCall{token: admin, method: "GET", path: "/api/v1/accounts/" + record.NewID(), status: http.StatusNotFound})
	problemCode(t, r, mcrm.ENotFound)
	r = s.do(oaCall{token: admin, method: "PATCH", path: "/api/v1/accounts/" + ids["accounts"], json: map[string]any{"owner_id": ids["rep"]},
		headers: map[string]string{"If-Match": `"5"`}, status: http.StatusBadRequest, breaks: "body"})
	problemCode(t, r, mcrm.EInvalid)

	// Import: a dry run, the real thing, and a file with a bad row.
	mapping := []byte(`{"columns": {"First name": {"field": "first_name"}, "Last name": {"field": "last_name"}, "Email": {"field": "emails.0.value"},
		"Mobile": {"field": "phones.0.value"}, "Company": {"field": "company"}},
		"set": {"emails.0.type": {"value": "work"}, "phones.0.type": {"value": "mobile"}}}`)
	csvFile := "First name,Last name,Email,Mobile,Company\r\n" +
		"Grace,Hopper,grace@navy.example,+1 650-253-0001,US Navy\r\n" +
		"Alan,Turing,alan@bletchley.example,+44 7700 900123,Bletchley Park\r\n"
	upload := func(file string) []oaPart {
		return []oaPart{{name: "mapping", contentType: "application/json", data: mapping},
			{name: "file", filename: "people.csv", contentType: "text/csv", data: []byte(file)}}
	}
	wantReport := func(r *apitest.Response, outcome string, created, failed int) {
		t.Helper()
		rep := r.JSON
		if rep["entity"] != "contacts" || rep["format"] != "csv" || rep["outcome"] != outcome || rep["rows"] != json.Number("2") ||
			rep["created"] != json.Number(strconv.Itoa(created)) || rep["updated"] != json.Number("0") || rep["failed"] != json.Number(strconv.Itoa(failed)) ||
			rep["committed"] != (outcome == "committed") || rep["dry_run"] != (outcome == "dry_run") {
			t.Errorf("import report: %s", r.Body)
		}
	}
	countContacts := func(query string) int {
		l := s.do(oaCall{token: admin, method: "GET", path: "/api/v1/contacts?" + query, status: http.StatusOK})
		return len(l.JSON["data"].([]any))
	}
	wantReport(s.do(oaCall{token: admin, method: "POST", path: "/api/v1/imports/contacts?dry_run=true", parts: upload(csvFile), status: http.StatusOK}), "dry_run", 2, 0)
	if n := countContacts("email=grace%40navy.example"); n != 0 {
		t.Errorf("a dry run wrote %d contacts", n)
	}
	wantReport(s.do(oaCall{token: admin, method: "POST", path: "/api/v1/imports/contacts", parts: upload(csvFile), status: http.StatusOK}), "committed", 2, 0)
	imported := s.do(oaCall{token: admin, method: "GET", path: "/api/v1/contacts?email=grace%40navy.example", status: http.StatusOK}).JSON["data"].([]any)
	if len(imported) != 1 || !sameJSON(imported[0].(map[string]any)["phones"], []any{map[string]any{"type": "mobile", "value": "+16502530001", "original": "+1 650-253-0001"}}) ||
		!sameJSON(imported[0].(map[string]any)["emails"], []any{map[string]any{"type": "work", "value": "grace@navy.example"}}) {
		t.Errorf("imported contact: %s", jsonText(imported))
	}
	badCSV := "First name,Last name,Email,Mobile,Company\r\n" +
		"Katherine,Johnson,katherine@nasa.example,,NASA\r\n" +
		"Dorothy,Vaughan,dorothy(at)nasa,,NASA\r\n"
	rb := s.do(oaCall{token: admin, method: "POST", path: "/api/v1/imports/contacts", parts: upload(badCSV), status: http.StatusUnprocessableEntity})
	wantReport(rb, "rolled_back", 1, 1)
	if issues, _ := rb.JSON["issues"].([]any); len(issues) != 1 || issues[0].(map[string]any)["row"] != json.Number("3") || issues[0].(map[string]any)["severity"] != "error" {
		t.Errorf("rolled back import issues: %s", rb.Body)
	}
	if n := countContacts("email=katherine%40nasa.example"); n != 0 {
		t.Errorf("a rolled back import wrote %d contacts", n)
	}
	r = s.do(oaCall{token: admin, method: "POST", path: "/api/v1/imports/contacts", raw: []byte(csvFile), contentType: "text/csv", status: http.StatusUnsupportedMediaType, breaks: "body"})
	problemCode(t, r, mcrm.EUnsupportedMedia)
	r = s.do(oaCall{token: admin, method: "POST", path: "/api/v1/imports/gadgets", parts: upload(csvFile), status: http.StatusNotFound, breaks: "path entity"})
	problemCode(t, r, mcrm.ENotFound)

	// Export: every readable contact, as CSV and as vCard.
	all := countContacts("limit=500")
	x := s.do(oaCall{token: admin, method: "GET", path: "/api/v1/exports/contacts?format=csv", status: http.StatusOK})
	rows, err := csv.NewReader(bytes.NewReader(x.Body)).ReadAll()
	if err != nil || len(rows) != all+1 || rows[0][0] != "id" || !strings.Contains(string(x.Body), "Lovelace") {
		t.Errorf("CSV export of %d contacts: %q", all, x.Body)
	}
	v := s.do(oaCall{token: admin, method: "GET", path: "/api/v1/exports/contacts?format=vcard", status: http.StatusOK})
	if n := strings.Count(string(v.Body), "BEGIN:VCARD"); n != all || !strings.Contains(string(v.Body), "FN:Ada Lovelace") {
		t.Errorf("vCard export: %d cards, want %d", n, all)
	}
	r = s.do(oaCall{token: admin, method: "GET", path: "/api/v1/exports/contacts?format=pdf", status: http.StatusBadRequest, breaks: "query format"})
	problemCode(t, r, mcrm.EInvalid)

	// Password change, forgotten password and reset, and the policy.
	oaAccount(t, s, e, admin)

	// Sign-out ends the token.
	s.do(oaCall{token: rep, method: "POST", path: "/api/v1/auth/logout", status: http.StatusNoContent})
	s.do(oaCall{token: rep, method: "GET", path: "/api/v1/me", status: http.StatusUnauthorized})

	oaFactorTraffic(s, tenant)
	oaAccess(s, admin, ids)

	// Every documented operation answered successfully at least once.
	for _, key := range documented {
		ok := false
		for st := range s.seen[key] {
			ok = ok || (st >= 200 && st < 300)
		}
		if !ok {
			t.Errorf("%s was never exercised successfully (statuses seen: %v)", key, s.seen[key])
		}
	}
}
