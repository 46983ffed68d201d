package httpapi

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"mcrm"
	"mcrm/authz"
	"mcrm/normalize"
	"mcrm/record"
	"mcrm/sqlstore"
)

// present turns stored values into the JSON object of a record: every field
// of the entity is present (null when empty), instants are UTC, and fields
// marked Local also appear in the viewer's time zone. This is the single
// exit point of record data, where field-level filtering will sit.
func present(p *mcrm.Principal, e *mcrm.Entity, v record.Values) *object {
	out := newObject(len(e.Fields) + 4)
	role := roleOf(p)
	for i := range e.Fields {
		f := &e.Fields[i]
		val := v[f.Name]
		if role != nil {
			// Field-level security (AZ-04): hidden fields are left out,
			// masked ones shown masked.
			switch role.FieldAccess(e.Name, f.Name) {
			case authz.Hidden:
				continue
			case authz.Masked:
				val = authz.MaskValue(e, f, val)
			}
		}
		switch t := val.(type) {
		case time.Time:
			out.Set(f.Name, t.UTC().Format(record.TimeLayout))
			if f.Local {
				out.Set(f.Name+"_local", t.In(p.Loc()).Format(time.RFC3339))
			}
		case nil:
			out.Set(f.Name, nil)
			if f.Local {
				out.Set(f.Name+"_local", nil)
			}
		default:
			out.Set(f.Name, t)
		}
	}
	if d, ok := v["deleted_at"].(time.Time); ok {
		out.Set("deleted_at", d.UTC().Format(record.TimeLayout))
	}
	return out
}

func (s *Server) decodeOptions(r *http.Request, p *mcrm.Principal, partial bool) (record.Options, error) {
	t, err := s.tenant(r.Context(), p.TenantID)
	if err != nil {
		return record.Options{}, err
	}
	return record.Options{Partial: partial, Region: t.DefaultRegion, Loc: p.Loc()}, nil
}

// listParams turns the query string into a list query. Unknown parameters
// are refused (400 naming them) rather than ignored, so a typo in a filter
// never silently returns everything.
func (s *Server) listParams(r *http.Request, p *mcrm.Principal, e *mcrm.Entity) (sqlstore.ListQuery, error) {
	var lq sqlstore.ListQuery
	q, err := queryParams(r)
	if err != nil {
		return lq, err
	}
	opts, err := s.decodeOptions(r, p, true)
	if err != nil {
		return lq, err
	}
	opts.FromText = true
	for key, vals := range q {
		if len(vals) != 1 {
			return lq, mcrm.FieldErr(key, "repeated_parameter", "give each parameter once")
		}
		val := vals[0]
		switch key {
		case "limit":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > sqlstore.MaxLimit {
				return lq, mcrm.FieldErr("limit", "out_of_range", "limit must be 1 to 500")
			}
			lq.Limit = n
			continue
		case "cursor":
			lq.Cursor = val
			continue
		case "sort":
			lq.Sort, lq.Desc = strings.TrimPrefix(val, "-"), strings.HasPrefix(val, "-")
			// A masked field cannot order a list either: the order would
			// tell what the mask hides.
			if f := e.Field(lq.Sort); f == nil || !f.Sort || !readable(p, e, lq.Sort) || fieldAccess(p, e, lq.Sort) == authz.Masked {
				return lq, mcrm.FieldErr("sort", "unknown_field", "this field cannot be used to sort")
			}
			continue
		case "deleted":
			lq.Deleted = val == "true"
			if val != "true" && val != "false" {
				return lq, mcrm.FieldErr("deleted", "type", "expected true or false")
			}
			continue
		}
		name, op := key, "eq"
		if i := strings.IndexByte(key, '['); i > 0 && strings.HasSuffix(key, "]") {
			name, op = key[:i], key[i+1:len(key)-1]
		}
		// A field the role may not read cannot be filtered on either:
		// the answer is the one for a field that does not exist.
		target := name
		if name == "email" || name == "phone" {
			target = name + "s"
		}
		if e.Field(target) != nil && (!readable(p, e, target) || fieldAccess(p, e, target) == authz.Masked) {
			return lq, mcrm.FieldErr(name, "unknown_field", "this field cannot be used to filter")
		}
		f, err := filterValue(e, name, op, val, opts)
		if err != nil {
			return lq, err
		}
		lq.Filters = append(lq.Filters, f)
	}
	return lq, nil
}

// contactPointFilters are the list filters, beside the entity's own
// filterable fields, that search every email address or phone number of
// a person (contacts and leads) through the normalised index. They match
// exactly only (no [gt] forms).
func contactPointFilters(e *mcrm.Entity) []string {
	if e.Field("emails") == nil {
		return nil
	}
	return []string{"email", "phone"}
}

func filterValue(e *mcrm.Entity, name, op, val string, opts record.Options) (sqlstore.Filter, error) {
	if slices.Contains(contactPointFilters(e), name) {
		key := ""
		if name == "email" {
			k, err := normalize.Email(val)
			if err != nil {
				return sqlstore.Filter{}, mcrm.FieldErr(name, "invalid_email", "not a valid email address")
			}
			key = k
		} else {
			ph := normalize.PhoneNumber(val, opts.Region)
			if !ph.Valid {
				return sqlstore.Filter{}, mcrm.FieldErr(name, "invalid_phone", "not a valid phone number")
			}
			key = ph.E164
		}
		return sqlstore.Filter{Field: name, Op: op, Value: key}, nil
	}
	f := e.Field(name)
	if f == nil || !f.Filter {
		return sqlstore.Filter{}, mcrm.FieldErr(name, "unknown_field", "this field cannot be used to filter")
	}
	if val == "" || val == "null" {
		return sqlstore.Filter{Field: name, Op: op, Value: nil}, nil
	}
	// Validate and convert the value exactly as a body field would be.
	probe := &mcrm.Entity{Name: e.Name, Fields: []mcrm.Field{*f}}
	probe.Fields[0].System, probe.Fields[0].Required = false, false
	res, err := record.Decode(probe, map[string]any{name: val}, opts)
	if err != nil {
		return sqlstore.Filter{}, err
	}
	return sqlstore.Filter{Field: name, Op: op, Value: res.Values[name]}, nil
}

func (s *Server) listRecords(e *mcrm.Entity) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := principal(r.Context())
		if err := s.allow(r, authz.Read, e.Name); err != nil {
			s.writeError(w, r, err)
			return
		}
		lq, err := s.listParams(r, p, e)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		lq.RawLists = true
		rows, next, err := s.db.List(r.Context(), p, e, lq)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		// The page is written directly: handing the records to
		// encoding/json would re-scan every byte they render.
		b := make([]byte, 0, 1024*len(rows)+64)
		b = append(b, `{"data":[`...)
		for i, v := range rows {
			if i > 0 {
				b = append(b, ',')
			}
			ob, err := present(p, e, v).MarshalJSON()
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			b = append(b, ob...)
		}
		b = append(b, ']')
		if next != "" {
			b = append(b, `,"next_cursor":`...)
			b = appendString(b, next)
		}
		b = append(b, '}', '\n')
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	}
}

func (s *Server) getRecord(e *mcrm.Entity) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := principal(r.Context())
		if err := s.allow(r, authz.Read, e.Name); err != nil {
			s.writeError(w, r, err)
			return
		}
		v, err := s.db.Get(r.Context(), p, e, r.PathValue("id"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("ETag", etag(v["version"]))
		writeJSON(w, http.StatusOK, present(p, e, v))
	}
}

// writeOne renders the record a write produced.
func (s *Server) writeOne(w http.ResponseWriter, p *mcrm.Principal, e *mcrm.Entity, status int, v record.Values) {
	w.Header().Set("ETag", etag(v["version"]))
	if status == http.StatusCreated {
		w.Header().Set("Location", "/api/v1/"+e.Name+"/"+url.PathEscape(v["id"].(string)))
	}
	writeJSON(w, status, present(p, e, v))
}

// decodeRecord reads a JSON body and validates it as fields of e.
func (s *Server) decodeRecord(w http.ResponseWriter, r *http.Request, p *mcrm.Principal, e *mcrm.Entity, partial bool) (record.Values, error) {
	var body map[string]any
	if err := s.decodeJSON(w, r, &body); err != nil {
		return nil, err
	}
	if _, ok := body["owner_id"]; ok && partial {
		return nil, mcrm.FieldErr("owner_id", "read_only", "change the owner with POST /api/v1/"+e.Name+"/{id}/transfer")
	}
	if err := checkWritable(p, e, body); err != nil {
		return nil, err
	}
	opts, err := s.decodeOptions(r, p, partial)
	if err != nil {
		return nil, err
	}
	res, err := record.Decode(e, body, opts)
	return res.Values, err
}

// change runs one write in a transaction together with its security event
// and answers with the record as stored (or 204 when there is none).
func (s *Server) change(w http.ResponseWriter, r *http.Request, e *mcrm.Entity, status int, verb string, fn func(tx *sqlstore.Tx) (record.Values, error)) {
	p := principal(r.Context())
	var out record.Values
	err := s.db.InTx(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		if out, err = fn(tx); err != nil {
			return err
		}
		return s.recordChange(r, tx, p, e, verb, out)
	})
	switch {
	case err != nil:
		s.writeError(w, r, err)
	case status == http.StatusNoContent:
		w.WriteHeader(status)
	default:
		s.writeOne(w, p, e, status, out)
	}
}

func (s *Server) createRecord(e *mcrm.Entity) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := principal(r.Context())
		if err := s.allow(r, authz.Create, e.Name); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := sqlstore.CanWrite(p, e); err != nil {
			s.writeError(w, r, err)
			return
		}
		values, err := s.decodeRecord(w, r, p, e, false)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := s.sensitiveUserChange(r, e, values); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := s.checkRoleAssignment(r, e, "", values); err != nil {
			s.writeError(w, r, err)
			return
		}
		s.change(w, r, e, http.StatusCreated, "created", func(tx *sqlstore.Tx) (record.Values, error) {
			return tx.Create(r.Context(), p, e, values)
		})
	}
}

func (s *Server) updateRecord(e *mcrm.Entity) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := principal(r.Context())
		if err := s.allow(r, authz.Update, e.Name); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := sqlstore.CanWrite(p, e); err != nil {
			s.writeError(w, r, err)
			return
		}
		version, err := ifMatch(r, true)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		values, err := s.decodeRecord(w, r, p, e, true)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := s.sensitiveUserChange(r, e, values); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := s.checkRoleAssignment(r, e, r.PathValue("id"), values); err != nil {
			s.writeError(w, r, err)
			return
		}
		s.change(w, r, e, http.StatusOK, "updated", func(tx *sqlstore.Tx) (record.Values, error) {
			return tx.Update(r.Context(), p, e, r.PathValue("id"), version, values)
		})
	}
}

func (s *Server) deleteRecord(e *mcrm.Entity) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := principal(r.Context())
		if err := s.allow(r, authz.Delete, e.Name); err != nil {
			s.writeError(w, r, err)
			return
		}
		version, err := ifMatch(r, false)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		// Only an admin can delete a user; others get the store's 403.
		if !p.WritesAll() {
		} else if err := s.sensitiveUserChange(r, e, record.Values{"role": nil}); err != nil {
			s.writeError(w, r, err)
			return
		}
		id := r.PathValue("id")
		s.change(w, r, e, http.StatusNoContent, "deleted", func(tx *sqlstore.Tx) (record.Values, error) {
			return record.Values{"id": id}, tx.Delete(r.Context(), p, e, id, version)
		})
	}
}

func (s *Server) restoreRecord(e *mcrm.Entity) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := principal(r.Context())
		if err := s.allow(r, authz.Delete, e.Name); err != nil {
			s.writeError(w, r, err)
			return
		}
		// Restoring a user brings back a sign-in with its rights: as
		// sensitive as creating one.
		if err := s.sensitiveUserChange(r, e, record.Values{"active": nil}); err != nil {
			s.writeError(w, r, err)
			return
		}
		s.change(w, r, e, http.StatusOK, "restored", func(tx *sqlstore.Tx) (record.Values, error) {
			return tx.Restore(r.Context(), p, e, r.PathValue("id"))
		})
	}
}

func (s *Server) transferRecord(e *mcrm.Entity) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := principal(r.Context())
		if err := s.allow(r, authz.Update, e.Name); err != nil {
			s.writeError(w, r, err)
			return
		}
		version, err := ifMatch(r, false)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		var body struct {
			OwnerID string `json:"owner_id"`
		}
		if err := s.decodeJSON(w, r, &body); err != nil {
			s.writeError(w, r, err)
			return
		}
		s.change(w, r, e, http.StatusOK, "transferred", func(tx *sqlstore.Tx) (record.Values, error) {
			return tx.Transfer(r.Context(), p, e, r.PathValue("id"), version, body.OwnerID)
		})
	}
}

func (s *Server) convertLead(w http.ResponseWriter, r *http.Request) {
	p := principal(r.Context())
	leads := mcrm.EntityByName("leads")
	for _, need := range []struct {
		a authz.Action
		o string
	}{{authz.Update, "leads"}, {authz.Create, "contacts"}, {authz.Create, "accounts"}} {
		if err := s.allow(r, need.a, need.o); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if err := sqlstore.CanWrite(p, leads); err != nil {
		s.writeError(w, r, err)
		return
	}
	version, err := ifMatch(r, false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body struct {
		AccountID         string         `json:"account_id"`
		CreateOpportunity bool           `json:"create_opportunity"`
		Opportunity       map[string]any `json:"opportunity"`
	}
	if err := s.decodeJSON(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	opts := sqlstore.ConvertOptions{AccountID: body.AccountID, CreateOpportunity: body.CreateOpportunity}
	if body.Opportunity != nil {
		do, err := s.decodeOptions(r, p, true)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		res, err := record.Decode(mcrm.EntityByName("opportunities"), body.Opportunity, do)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		opts.Opportunity = res.Values
	}
	var out sqlstore.Converted
	err = s.db.InTx(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		out, err = tx.ConvertLead(r.Context(), p, r.PathValue("id"), version, opts)
		if err != nil {
			return err
		}
		return s.recordChange(r, tx, p, leads, "converted", out.Lead)
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(out.Lead["version"]))
	writeJSON(w, http.StatusOK, map[string]any{
		"lead": present(p, leads, out.Lead), "contact_id": out.ContactID, "account_id": out.AccountID, "opportunity_id": nullable(out.Opportunity),
	})
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// recordChange writes a security event for changes to users and teams
// (rights and hierarchy) in the same transaction as the change. Ordinary
// CRM edits go to field history, which the audit layer adds.
func (s *Server) recordChange(r *http.Request, tx *sqlstore.Tx, p *mcrm.Principal, e *mcrm.Entity, verb string, v record.Values) error {
	if e.Name != "users" && e.Name != "teams" {
		return nil
	}
	id, _ := v["id"].(string)
	return tx.Event(r.Context(), sqlstore.Event{TenantID: p.TenantID, Actor: p.Actor(), SessionID: p.SessionID, Action: e.Singular + "_" + verb,
		Object: e.Name + "/" + id, Outcome: "success", IP: clientIP(r), RequestID: requestID(r.Context())})
}

// sensitiveUserChange asks for a recent strong authentication (AUTH-09)
// before a change to who may sign in or with which rights: creating or
// deleting a user, or changing a user's role, login email or active flag.
// Other edits of a user record (name, phone, time zone) are ordinary.
func (s *Server) sensitiveUserChange(r *http.Request, e *mcrm.Entity, values record.Values) error {
	if e.Name != "users" {
		return nil
	}
	for _, f := range []string{"role", "email", "active"} {
		if _, ok := values[f]; ok || r.Method == http.MethodPost {
			return s.stepUp(r)
		}
	}
	return nil
}

// checkRoleAssignment stops privilege escalation through a user record
// (AZ-08): nobody changes their own role, and nobody gives a role that
// holds more than their own.
func (s *Server) checkRoleAssignment(r *http.Request, e *mcrm.Entity, id string, values record.Values) error {
	name, ok := values["role"].(string)
	if e.Name != "users" || !ok {
		return nil
	}
	p := principal(r.Context())
	if id == p.UserID {
		return &mcrm.Error{Code: mcrm.EForbidden, Message: "you cannot change your own role",
			Fields: []mcrm.FieldError{{Field: "role", Code: "own_role", Message: "another admin must do it"}}}
	}
	target, err := s.db.Role(r.Context(), p.TenantID, name)
	if err != nil {
		return err
	}
	if me := roleOf(p); me != nil {
		return authz.CanGrant(me, target)
	}
	return nil
}
