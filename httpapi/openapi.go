package httpapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"mcrm"
	"mcrm/importer"
	"mcrm/sqlstore"
)

// The OpenAPI document is generated, never written by hand: record schemas,
// list parameters and request bodies come from the entity registry, and
// the shapes of problems, import reports and mappings from the Go types the
// handlers encode and decode. A field added to mcrm.Entities therefore
// appears in the document on the next build, and openapi_test.go checks the
// document against Routes() and against real responses.

// openapiJSON is the document, marshalled once on first use: it depends
// only on code, so every request gets the same bytes.
var openapiJSON = sync.OnceValue(func() []byte {
	b, err := json.Marshal(OpenAPI())
	if err != nil {
		panic("httpapi: OpenAPI document does not marshal: " + err.Error())
	}
	return b
})

// openapi serves the OpenAPI document. It needs no authentication: the
// document describes the API's shape, never data.
func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(openapiJSON())
}

type obj = map[string]any

const (
	schemaPrefix = "#/components/schemas/"
	// idPattern is the shape of a ULID (record.ValidID); ids that do not
	// match are answered 404 without a lookup.
	idPattern = `^[0-9A-HJKMNP-TV-Z]{26}$`
	// localTimePattern is the local date-time without offset that
	// record.ParseDateTime reads in the acting user's time zone.
	localTimePattern = `^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?$`
	// moneyPattern is the decimal text record.ParseMoney accepts.
	moneyPattern = `^-?\d{1,13}(\.\d{1,2})?$`
	// e164Pattern is a normalised phone number as stored in "value".
	e164Pattern = `^\+[1-9]\d{1,14}$`
)

func ref(name string) obj { return obj{"$ref": schemaPrefix + name} }

// serverSet are the fields the store fills on every write of every
// record (owner_id defaults to the creator), so they are never null in a
// response although the registry does not mark them Required.
var serverSet = map[string]bool{"id": true, "version": true, "created_at": true, "updated_at": true,
	"created_by": true, "updated_by": true, "owner_id": true}

// schemaName is the component name of an entity's record: "Account".
func schemaName(e *mcrm.Entity) string {
	return strings.ToUpper(e.Singular[:1]) + e.Singular[1:]
}

// direction says whether a schema describes what the server returns or
// what it accepts; the two differ (money is accepted as text, local times
// without offset are accepted, phones come back normalised).
type direction int

const (
	output direction = iota
	input
)

// addNull widens s to also accept JSON null (JSON Schema 2020-12 type
// arrays; an enum must list null itself).
func addNull(s obj) obj {
	switch t := s["type"].(type) {
	case string:
		s["type"] = []any{t, "null"}
	case []any:
		if !slices.Contains(t, any("null")) {
			s["type"] = append(t, "null")
		}
	}
	if en, ok := s["enum"].([]any); ok && !slices.Contains(en, nil) {
		s["enum"] = append(en, nil)
	}
	return s
}

func stringList(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// fieldSchema is the JSON Schema of one field's value, following the
// canonical types of package record.
func fieldSchema(f *mcrm.Field, dir direction, nullable bool) obj {
	s := obj{"type": "string"}
	switch f.Type {
	case mcrm.TString, mcrm.TText:
	case mcrm.TEmail:
		s["format"] = "email"
	case mcrm.TURL:
		s["format"] = "uri"
		s["pattern"] = "^https?://"
	case mcrm.TCurrency:
		s["pattern"] = "^[A-Z]{3}$"
		s["description"] = "ISO 4217 code"
	case mcrm.TEnum:
		s["enum"] = stringList(f.Enum)
	case mcrm.TRef:
		s["pattern"] = idPattern
		if f.Ref != "" {
			s["description"] = "id of a record of " + f.Ref
		}
	case mcrm.TDate:
		s["format"] = "date"
	case mcrm.TDateTime:
		if dir == output {
			s["format"] = "date-time"
		} else {
			s["anyOf"] = []any{obj{"format": "date-time"}, obj{"pattern": localTimePattern}}
		}
	case mcrm.TPhone:
		if dir == output {
			s["pattern"] = e164Pattern
		}
	case mcrm.TInt:
		s = obj{"type": "integer"}
		if len(f.Range) == 2 {
			s["minimum"], s["maximum"] = f.Range[0], f.Range[1]
		}
	case mcrm.TMoney:
		// Money is exact to the cent. It is returned as a JSON number
		// and accepted as a number or as decimal text.
		s = obj{"type": "number", "multipleOf": 0.01}
		if dir == input {
			s = obj{"type": []any{"number", "string"}, "multipleOf": 0.01, "pattern": moneyPattern}
		}
	case mcrm.TBool:
		s = obj{"type": "boolean"}
	case mcrm.TList:
		s = obj{"type": "array", "items": itemSchema(f, dir)}
	}
	if f.Max > 0 {
		switch f.Type {
		case mcrm.TList:
			s["maxItems"] = f.Max
		case mcrm.TString, mcrm.TText, mcrm.TEmail, mcrm.TURL, mcrm.TPhone:
			s["maxLength"] = f.Max
		}
	}
	if f.Doc != "" {
		s["description"] = f.Doc
	}
	if nullable {
		addNull(s)
	}
	return s
}

// itemSchema is one object of a list field. Items never hold nulls on
// output (empty values are left out); on input null means empty.
func itemSchema(f *mcrm.Field, dir direction) obj {
	props := obj{}
	required := []any{}
	for i := range f.Item {
		sub := &f.Item[i]
		s := fieldSchema(sub, dir, dir == input && !sub.Required)
		if sub.System && dir == input {
			// Accepted and recomputed, so a record read with GET can be
			// sent back unchanged.
			s["readOnly"] = true
		}
		props[sub.Name] = s
		// An import that keeps a phone it cannot normalise stores it
		// under "original" only, so a stored phone may lack "value".
		if sub.Required && (dir == input || sub.Type != mcrm.TPhone) {
			required = append(required, sub.Name)
		}
	}
	return obj{"type": "object", "properties": props, "required": required, "additionalProperties": false}
}

// recordSchema is a record as present() renders it: every field present,
// null when empty, <name>_local beside Local date-times, deleted_at only
// on records in the trash.
func recordSchema(e *mcrm.Entity) obj {
	props := obj{}
	required := []any{}
	for i := range e.Fields {
		f := &e.Fields[i]
		nullable := !f.Required && !serverSet[f.Name]
		props[f.Name] = fieldSchema(f, output, nullable)
		required = append(required, f.Name)
		if f.Local {
			local := obj{"type": "string", "format": "date-time", "description": f.Name + " in the viewer's time zone (the user's time_zone)"}
			if nullable {
				addNull(local)
			}
			props[f.Name+"_local"] = local
			required = append(required, f.Name+"_local")
		}
	}
	props["deleted_at"] = obj{"type": "string", "format": "date-time", "description": "when the record was moved to the trash; present only on deleted records"}
	props["version"].(obj)["minimum"] = 1
	s := obj{"type": "object", "properties": props, "required": required, "additionalProperties": false}
	if e.Doc != "" {
		s["description"] = e.Doc
	}
	return s
}

// inputSchema is the body of a create (patch=false) or a PATCH. System
// fields are refused by record.Decode and unknown fields with 400
// unknown_field, hence additionalProperties:false. A PATCH cannot change
// owner_id (updateRecord refuses it: owners change through .../transfer);
// a create may set it.
func inputSchema(e *mcrm.Entity, patch bool) obj {
	props := obj{}
	required := []any{}
	for i := range e.Fields {
		f := &e.Fields[i]
		if f.System || (patch && f.Name == "owner_id") {
			continue
		}
		// A required field may be left out of a PATCH but never be
		// emptied; trimmed text that ends up empty counts as empty.
		s := fieldSchema(f, input, !f.Required)
		if f.Required {
			switch f.Type {
			case mcrm.TList:
				s["minItems"] = 1
			case mcrm.TString, mcrm.TText:
				s["minLength"] = 1
			}
			if !patch {
				required = append(required, f.Name)
			}
		}
		props[f.Name] = s
	}
	return obj{"type": "object", "properties": props, "required": required, "additionalProperties": false}
}

// currentUserSchema is a user record plus the tenant id (GET /me and the
// login response).
func currentUserSchema(users *mcrm.Entity) obj {
	s := recordSchema(users)
	s["properties"].(obj)["tenant_id"] = obj{"type": "string", "pattern": idPattern}
	s["required"] = append(s["required"].([]any), "tenant_id")
	s["description"] = "the signed-in user"
	return s
}

// typeSchema derives a schema from a Go type as encoding/json handles it.
// forInput drops "required": decoding into a struct never demands a key.
func typeSchema(t reflect.Type, forInput bool) obj {
	if t == reflect.TypeFor[time.Time]() {
		return obj{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return addNull(typeSchema(t.Elem(), forInput))
	case reflect.String:
		return obj{"type": "string"}
	case reflect.Bool:
		return obj{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return obj{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return obj{"type": "number"}
	case reflect.Slice, reflect.Array:
		return obj{"type": "array", "items": typeSchema(t.Elem(), forInput)}
	case reflect.Map:
		return obj{"type": "object", "additionalProperties": typeSchema(t.Elem(), forInput)}
	case reflect.Struct:
		props := obj{}
		required := []any{}
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if !sf.IsExported() || tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if name == "" {
				name = sf.Name
			}
			props[name] = typeSchema(sf.Type, forInput)
			if !forInput && !slices.Contains(strings.Split(opts, ","), "omitempty") {
				required = append(required, name)
			}
		}
		s := obj{"type": "object", "properties": props, "additionalProperties": false}
		if !forInput {
			s["required"] = required
		}
		return s
	}
	return obj{} // interface: any JSON value
}

func props(s obj) obj { return s["properties"].(obj) }

// problemSchema is Problem as writeError encodes it.
func problemSchema() obj {
	s := typeSchema(reflect.TypeFor[Problem](), false)
	var codes []string
	for c := range statusOf {
		codes = append(codes, string(c))
	}
	slices.Sort(codes)
	props(s)["code"].(obj)["enum"] = stringList(codes)
	props(s)["code"].(obj)["description"] = "stable machine-readable error code"
	props(s)["errors"].(obj)["description"] = "the offending fields (or import rows), sorted by field"
	props(s)["request_id"].(obj)["description"] = "also sent as X-Request-Id; quote it when reporting a problem"
	s["description"] = "RFC 9457 problem details"
	return s
}

// mappingSchema is importer.Mapping. A column maps to one target or to a
// list of them (ColumnList accepts an object or an array).
func mappingSchema() obj {
	s := typeSchema(reflect.TypeFor[importer.Mapping](), true)
	col := typeSchema(reflect.TypeFor[importer.Column](), true)
	props(s)["columns"] = obj{"type": "object", "description": "file column → target field path(s), e.g. emails.0.value",
		"additionalProperties": obj{"anyOf": []any{col, obj{"type": "array", "items": col}}}}
	s["description"] = "how the columns of the file become fields; every column is mapped or listed in ignore"
	return s
}

func reportSchema() obj {
	s := typeSchema(reflect.TypeFor[importer.Report](), false)
	props(s)["outcome"].(obj)["enum"] = stringList([]string{"committed", "rolled_back", "dry_run"})
	issue := props(s)["issues"].(obj)["items"].(obj)
	props(issue)["severity"].(obj)["enum"] = stringList([]string{"error", "warning"})
	s["description"] = "what the import did or, for a dry run or a rolled-back import, would have done; rows = created + updated + failed"
	return s
}

// problemResponseName is the component name of the problem response of a
// status: "NotFound", "PreconditionRequired".
func problemResponseName(status int) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) {
			return r
		}
		return -1
	}, http.StatusText(status))
}

// problemResponses are one response per status of statusOf, whose schema
// pins status, title and the codes mapping to it.
func problemResponses() obj {
	byStatus := map[int][]string{}
	for c, st := range statusOf {
		byStatus[st] = append(byStatus[st], string(c))
	}
	out := obj{}
	for st, codes := range byStatus {
		slices.Sort(codes)
		headers := obj{"X-Request-Id": obj{"$ref": "#/components/headers/X-Request-Id"}}
		switch st {
		case http.StatusTooManyRequests:
			headers["Retry-After"] = obj{"required": true, "description": "seconds to wait", "schema": obj{"type": "string", "pattern": "^[0-9]+$"}}
		case http.StatusUnauthorized:
			headers["WWW-Authenticate"] = obj{"required": true, "schema": obj{"type": "string", "pattern": "^Bearer "}}
		}
		out[problemResponseName(st)] = obj{
			"description": http.StatusText(st),
			"headers":     headers,
			"content": obj{"application/problem+json": obj{"schema": obj{
				"$ref": schemaPrefix + "Problem",
				"properties": obj{
					"status": obj{"const": st},
					"title":  obj{"const": http.StatusText(st)},
					"code":   obj{"enum": stringList(codes)},
				},
			}}},
		}
	}
	return out
}

// op assembles an operation. errs are the problem statuses it can answer
// besides 429 and 500, which any request can get.
type op struct {
	id, summary, tag, desc string
	auth                   bool
	params                 []any
	body                   obj
	responses              obj
	errs                   []int
}

func (o op) build() obj {
	resp := obj{}
	for k, v := range o.responses {
		resp[k] = v
	}
	errs := slices.Concat(o.errs, []int{http.StatusTooManyRequests, http.StatusInternalServerError})
	if o.auth {
		errs = append(errs, http.StatusUnauthorized)
	}
	for _, st := range errs {
		resp[itoa(st)] = obj{"$ref": "#/components/responses/" + problemResponseName(st)}
	}
	out := obj{"operationId": o.id, "summary": o.summary, "responses": resp, "security": []any{}}
	if o.auth {
		out["security"] = []any{obj{"bearer": []any{}}}
	}
	if o.tag != "" {
		out["tags"] = []any{o.tag}
	}
	if o.desc != "" {
		out["description"] = o.desc
	}
	if len(o.params) > 0 {
		out["parameters"] = o.params
	}
	if o.body != nil {
		out["requestBody"] = o.body
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

func jsonBody(schema obj) obj {
	return obj{"required": true, "content": obj{"application/json": obj{"schema": schema}}}
}

func jsonResponse(desc string, schema obj, headers obj) obj {
	if headers == nil {
		headers = obj{}
	}
	headers["X-Request-Id"] = obj{"$ref": "#/components/headers/X-Request-Id"}
	return obj{"description": desc, "headers": headers, "content": obj{"application/json": obj{"schema": schema}}}
}

func emptyResponse(desc string) obj {
	return obj{"description": desc, "headers": obj{"X-Request-Id": obj{"$ref": "#/components/headers/X-Request-Id"}}}
}

var etagHeader = obj{"$ref": "#/components/headers/ETag"}

func pathParam(name, desc string, schema obj) obj {
	return obj{"name": name, "in": "path", "required": true, "description": desc, "schema": schema}
}

func queryParam(name, desc string, schema obj) obj {
	p := obj{"name": name, "in": "query", "required": false, "schema": schema}
	if desc != "" {
		p["description"] = desc
	}
	return p
}

func ifMatchParam(required bool) obj {
	desc := "the ETag of the version being changed; a stale one is answered 412"
	if required {
		desc += "; without it the request is refused with 428"
	} else {
		desc += "; without it (or with *) the current version is changed"
	}
	return obj{"name": "If-Match", "in": "header", "required": required, "description": desc,
		"schema": obj{"type": "string", "pattern": `^("[1-9][0-9]*"|\*)$`}}
}

var idParam = pathParam("id", "record id", obj{"type": "string", "pattern": idPattern})

// listParams documents what listParams accepts: unknown parameters are
// refused with 400, so this list is complete.
func listParamsDoc(e *mcrm.Entity) []any {
	var sorts []string
	for _, f := range e.Fields {
		if f.Sort {
			sorts = append(sorts, f.Name, "-"+f.Name)
		}
	}
	ps := []any{
		queryParam("limit", "page size", obj{"type": "integer", "minimum": 1, "maximum": sqlstore.MaxLimit}),
		queryParam("cursor", "next_cursor of the previous page, with the same sort", obj{"type": "string"}),
		queryParam("sort", "field to order by, ascending; a leading - orders descending; ties and the default order are by id (creation order)", obj{"type": "string", "enum": stringList(sorts)}),
		queryParam("deleted", "true lists the trash (deleted records, restorable) instead of live records", obj{"type": "boolean"}),
	}
	for i := range e.Fields {
		f := &e.Fields[i]
		if !f.Filter {
			continue
		}
		s := fieldSchema(f, input, false)
		delete(s, "description")
		ps = append(ps, queryParam(f.Name, "records whose "+f.Name+" equals the value; an empty value or null matches records without one", s))
		for _, cmp := range []string{"gt", "gte", "lt", "lte"} {
			ps = append(ps, queryParam(f.Name+"["+cmp+"]", "records whose "+f.Name+" is "+cmp+" the value", s))
		}
	}
	for _, name := range contactPointFilters(e) {
		ps = append(ps, queryParam(name, "records with this "+name+" among their "+name+"s (normalised; exact match only)", obj{"type": "string"}))
	}
	return ps
}

// entityPaths are the record operations of one entity.
func entityPaths(e *mcrm.Entity, paths obj) {
	name := schemaName(e)
	base := "/api/v1/" + e.Name
	record := ref(name)
	var adminNote string
	if e.AdminWrite {
		adminNote = " Only administrators may write " + e.Name + "."
	}
	location := obj{"required": true, "description": "path of the new record",
		"schema": obj{"type": "string", "pattern": "^" + base + "/" + strings.TrimPrefix(idPattern, "^")}}
	paths[base] = obj{
		"get": op{id: "list" + upperFirst(e.Name), tag: e.Name, auth: true, summary: "List " + e.Name,
			desc: "One page of the " + e.Name + " the caller may read. Every filterable field is a parameter; " +
				"`field[gt]`, `field[gte]`, `field[lt]` and `field[lte]` compare instead of matching. Unknown or repeated parameters are refused with 400.",
			params:    listParamsDoc(e),
			responses: obj{"200": jsonResponse("a page of records", ref(name+"List"), nil)},
			errs:      []int{http.StatusBadRequest}}.build(),
		"post": op{id: "create" + name, tag: e.Name, auth: true, summary: "Create a " + e.Singular, desc: strings.TrimSpace(adminNote),
			body:      jsonBody(ref(name + "Input")),
			responses: obj{"201": jsonResponse("the created record", record, obj{"ETag": etagHeader, "Location": location})},
			errs:      []int{http.StatusForbidden, http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType}}.build(),
	}
	paths[base+"/{id}"] = obj{
		"get": op{id: "get" + name, tag: e.Name, auth: true, summary: "Get a " + e.Singular, params: []any{idParam},
			responses: obj{"200": jsonResponse("the record", record, obj{"ETag": etagHeader})},
			errs:      []int{http.StatusNotFound}}.build(),
		"patch": op{id: "update" + name, tag: e.Name, auth: true, summary: "Change fields of a " + e.Singular,
			desc:      "Fields left out keep their value; null empties a field." + adminNote,
			params:    []any{idParam, ifMatchParam(true)},
			body:      jsonBody(ref(name + "Patch")),
			responses: obj{"200": jsonResponse("the changed record", record, obj{"ETag": etagHeader})},
			errs: []int{http.StatusForbidden, http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed,
				http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusPreconditionRequired}}.build(),
		"delete": op{id: "delete" + name, tag: e.Name, auth: true, summary: "Move a " + e.Singular + " to the trash",
			desc:      "The record stays restorable for a retention period." + adminNote,
			params:    []any{idParam, ifMatchParam(false)},
			responses: obj{"204": emptyResponse("deleted")},
			errs:      []int{http.StatusForbidden, http.StatusBadRequest, http.StatusNotFound, http.StatusPreconditionFailed}}.build(),
	}
	paths[base+"/{id}/restore"] = obj{
		"post": op{id: "restore" + name, tag: e.Name, auth: true, summary: "Restore a deleted " + e.Singular, params: []any{idParam},
			responses: obj{"200": jsonResponse("the restored record", record, obj{"ETag": etagHeader})},
			errs:      []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict}}.build(),
	}
	if e.Owned {
		paths[base+"/{id}/transfer"] = obj{
			"post": op{id: "transfer" + name, tag: e.Name, auth: true, summary: "Give a " + e.Singular + " a new owner",
				desc:      "A manager may hand records to anyone below them; a rep only to themselves.",
				params:    []any{idParam, ifMatchParam(false)},
				body:      jsonBody(ref("TransferRequest")),
				responses: obj{"200": jsonResponse("the record with its new owner", record, obj{"ETag": etagHeader})},
				errs: []int{http.StatusForbidden, http.StatusBadRequest, http.StatusNotFound, http.StatusPreconditionFailed,
					http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType}}.build(),
		}
	}
}

func upperFirst(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// OpenAPI returns the OpenAPI 3.1 document of the API. Each call builds a
// fresh value, so callers may change it freely.
func OpenAPI() map[string]any {
	schemas := obj{
		"Problem":       problemSchema(),
		"ImportMapping": mappingSchema(),
		"ImportReport":  reportSchema(),
		"LoginRequest":  typeSchema(reflect.TypeFor[loginRequest](), true),
		"LoginResponse": typeSchema(reflect.TypeFor[tokenResponse](), false),
		"Health":        obj{"type": "object", "properties": obj{"status": obj{"const": "ok"}}, "required": []any{"status"}, "additionalProperties": false},
		"Readiness":     obj{"type": "object", "properties": obj{"status": obj{"const": "ready"}}, "required": []any{"status"}, "additionalProperties": false},
		"CurrentUser":   currentUserSchema(mcrm.EntityByName("users")),
		"TransferRequest": obj{"type": "object", "required": []any{"owner_id"}, "additionalProperties": false,
			"properties": obj{"owner_id": obj{"type": "string", "pattern": idPattern, "description": "id of the new owner (a user)"}}},
		"LeadConversion": obj{"type": "object", "additionalProperties": false, "properties": obj{
			"account_id":         obj{"type": []any{"string", "null"}, "description": "link the contact to this existing account instead of creating one from the lead's company"},
			"create_opportunity": obj{"type": []any{"boolean", "null"}, "description": "also open an opportunity"},
			"opportunity":        obj{"anyOf": []any{ref("OpportunityPatch"), obj{"type": "null"}}, "description": "fields of the new opportunity"},
		}},
		"LeadConversionResult": obj{"type": "object", "additionalProperties": false,
			"required": []any{"lead", "contact_id", "account_id", "opportunity_id"},
			"properties": obj{
				"lead":           ref("Lead"),
				"contact_id":     obj{"type": "string", "pattern": idPattern},
				"account_id":     obj{"type": "string", "pattern": idPattern},
				"opportunity_id": obj{"type": []any{"string", "null"}, "pattern": idPattern},
			}},
	}
	// The login request is a struct, but login() refuses empty members.
	login := schemas["LoginRequest"].(obj)
	login["required"] = []any{"tenant", "email", "password"}
	for _, p := range props(login) {
		p.(obj)["minLength"] = 1
	}
	lr := props(schemas["LoginResponse"].(obj))
	lr["user"] = ref("CurrentUser")
	lr["token_type"] = obj{"enum": []any{"Bearer", "DPoP"}, "description": "DPoP when the sign-in carried a DPoP proof: every request then needs a proof of the same key"}
	lr["status"] = obj{"enum": []any{statusOK, statusMFARequired, statusEnrolmentFirst}}
	lr["access_token"].(obj)["description"] = "opaque token, 10 minutes; send as Authorization: Bearer <token> (or DPoP <token> with a proof)"
	lr["refresh_token"].(obj)["description"] = "single use: exchange at POST /api/v1/auth/refresh for a new pair; presenting it twice revokes the session"
	lr["mfa_token"].(obj)["description"] = "with status mfa_required: send it with the second factor to POST /api/v1/auth/login/mfa within 5 minutes"
	lr["csrf_token"].(obj)["description"] = "cookie sessions: send it in X-CSRF-Token on every unsafe request"
	lr["expires_in"].(obj)["description"] = "seconds until the access token (or the mfa token) expires"

	var entityNames []string
	var tags []any
	paths := obj{}
	for _, e := range mcrm.Entities {
		name := schemaName(e)
		entityNames = append(entityNames, e.Name)
		schemas[name] = recordSchema(e)
		schemas[name+"Input"] = inputSchema(e, false)
		schemas[name+"Patch"] = inputSchema(e, true)
		schemas[name+"List"] = obj{"type": "object", "required": []any{"data"}, "additionalProperties": false, "properties": obj{
			"data":        obj{"type": "array", "items": ref(name)},
			"next_cursor": obj{"type": "string", "description": "present when there are more records: pass it as cursor, with the same sort"},
		}}
		tag := obj{"name": e.Name}
		if e.Doc != "" {
			tag["description"] = e.Doc
		}
		tags = append(tags, tag)
		entityPaths(e, paths)
	}
	var vcardNames []string
	for _, e := range mcrm.Entities {
		if vcardExportable(e) {
			vcardNames = append(vcardNames, e.Name)
		}
	}

	paths["/healthz"] = obj{"get": op{id: "healthz", summary: "Liveness",
		responses: obj{"200": jsonResponse("the process is up", ref("Health"), nil)}}.build()}
	paths["/readyz"] = obj{"get": op{id: "readyz", summary: "Readiness: the database answers and the node is not draining",
		responses: obj{"200": jsonResponse("ready for traffic", ref("Readiness"), nil)},
		errs:      []int{http.StatusServiceUnavailable}}.build()}
	paths["/api/v1/openapi.json"] = obj{"get": op{id: "openapi", summary: "This document",
		responses: obj{"200": jsonResponse("the OpenAPI document", obj{"type": "object"}, nil)}}.build()}
	paths["/api/v1/auth/login"] = obj{"post": op{id: "login", tag: "auth", summary: "Sign in with a password",
		desc: "Unknown tenant, unknown user, inactive user and wrong password all answer the same 401.",
		body: jsonBody(ref("LoginRequest")), responses: obj{"200": jsonResponse("a new session", ref("LoginResponse"), nil)},
		errs: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType}}.build()}
	paths["/api/v1/auth/logout"] = obj{"post": op{id: "logout", tag: "auth", auth: true, summary: "End the session of the bearer token",
		responses: obj{"204": emptyResponse("signed out; the token no longer works")}}.build()}
	paths["/api/v1/me"] = obj{"get": op{id: "me", tag: "auth", auth: true, summary: "The signed-in user",
		responses: obj{"200": jsonResponse("the user of the token", ref("CurrentUser"), nil)},
		errs:      []int{http.StatusNotFound}}.build()}
	paths["/api/v1/leads/{id}/convert"] = obj{"post": op{id: "convertLead", tag: "leads", auth: true, summary: "Convert a lead",
		desc:   "Creates a contact, an account (unless account_id names one) and optionally an opportunity, all owned by the lead's owner, and marks the lead converted, in one transaction.",
		params: []any{idParam, ifMatchParam(false)}, body: jsonBody(ref("LeadConversion")),
		responses: obj{"200": jsonResponse("the converted lead and the records made from it", ref("LeadConversionResult"), obj{"ETag": etagHeader})},
		errs: []int{http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed,
			http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType}}.build()}

	entityParam := pathParam("entity", "the object type", obj{"type": "string", "enum": stringList(entityNames)})
	importReport := func(desc string, outcomes ...string) obj {
		return jsonResponse(desc, obj{"$ref": schemaPrefix + "ImportReport", "properties": obj{"outcome": obj{"enum": stringList(outcomes)}}}, nil)
	}
	paths["/api/v1/imports/{entity}"] = obj{"post": op{id: "importFile", tag: "files", auth: true, summary: "Import a CSV, XLSX or vCard file",
		desc: "multipart/form-data with an optional `mapping` part (JSON) followed by the `file` part; the mapping must come first so the file can stream. " +
			"All rows are written in one transaction: unless the mapping sets keep_good_rows, one failed row rolls back everything (422 with the report).",
		params: []any{entityParam, queryParam("dry_run", "check everything and roll back", obj{"type": "boolean"})},
		body: obj{"required": true, "content": obj{"multipart/form-data": obj{
			"schema": obj{"type": "object", "required": []any{"file"}, "additionalProperties": false, "properties": obj{
				"mapping": ref("ImportMapping"),
				"file":    obj{"type": "string", "description": "the file; without a mapping its columns must be named after field paths (what the CSV export writes)"},
			}},
			"encoding": obj{"mapping": obj{"contentType": "application/json"},
				"file": obj{"contentType": "text/csv, application/vnd.openxmlformats-officedocument.spreadsheetml.sheet, text/vcard, application/octet-stream"}},
		}}},
		responses: obj{
			"200": importReport("the import was committed, or the dry run went through", "committed", "dry_run"),
			"422": importReport("rows failed and nothing was written; the report says which", "rolled_back"),
		},
		errs: []int{http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusConflict,
			http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType}}.build()}
	disposition := obj{"required": true, "schema": obj{"type": "string", "pattern": `^attachment; filename="`}}
	paths["/api/v1/exports/{entity}"] = obj{"get": op{id: "exportFile", tag: "files", auth: true, summary: "Export the records the caller may read",
		params: []any{entityParam, queryParam("format", "vcard is for "+strings.Join(vcardNames, " and "), obj{"type": "string", "enum": stringList([]string{"csv", "vcard"})})},
		responses: obj{"200": obj{"description": "the file, streamed; a failure after the first byte truncates it",
			"headers": obj{"X-Request-Id": obj{"$ref": "#/components/headers/X-Request-Id"}, "Content-Disposition": disposition},
			"content": obj{
				"text/csv":   obj{"schema": obj{"type": "string", "description": "header row of field paths, one record per line"}},
				"text/vcard": obj{"schema": obj{"type": "string", "description": "vCard 4.0"}},
			}}},
		errs: []int{http.StatusBadRequest, http.StatusNotFound}}.build()}

	authPaths(paths, schemas)
	factorPaths(paths, schemas)
	accountPaths(paths, schemas)
	accessPaths(paths, schemas)
	tags = append(tags, obj{"name": "auth"}, obj{"name": "files"})
	return obj{
		"openapi":           "3.1.0",
		"jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
		"info": obj{"title": "mcrm API", "version": "1",
			"description": "Secure mobile CRM. Errors are application/problem+json with a stable code. Writes take If-Match with the ETag of the version they change."},
		"tags":  tags,
		"paths": paths,
		"components": obj{
			"schemas":   schemas,
			"responses": problemResponses(),
			"headers": obj{
				"X-Request-Id": obj{"required": true, "description": "id of the request in the server log", "schema": obj{"type": "string", "minLength": 1}},
				"ETag":         obj{"required": true, "description": "the record's version; send it back as If-Match", "schema": obj{"type": "string", "pattern": `^"[1-9][0-9]*"$`}},
			},
			"securitySchemes": obj{"bearer": obj{"type": "http", "scheme": "bearer", "description": "opaque session token from POST /api/v1/auth/login"}},
		},
	}
}
