package httpapi

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"

	"mcrm"
	"mcrm/authz"
	"mcrm/importer"
	"mcrm/sqlstore"
)

// importFile imports an uploaded file: multipart/form-data with a "file"
// part and an optional "mapping" part (JSON), read in that order: the
// mapping part must come first so the file can stream. Query: dry_run=true.
func (s *Server) importFile(w http.ResponseWriter, r *http.Request) {
	p := principal(r.Context())
	e := mcrm.EntityByName(r.PathValue("entity"))
	if e == nil {
		s.writeError(w, r, mcrm.Errorf(mcrm.ENotFound, "no such entity"))
		return
	}
	// An import creates and (with upsert keys) updates records: it needs
	// all three, checked before the file is read.
	for _, a := range []authz.Action{authz.Import, authz.Create, authz.Update} {
		if err := s.allow(r, a, e.Name); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if err := sqlstore.CanWrite(p, e); err != nil {
		s.writeError(w, r, err)
		return
	}
	// Importing users creates sign-ins and sets roles, emails and active
	// flags in bulk: the same step-up as one such change (AUTH-09).
	if e.Name == "users" {
		if err := s.stepUp(r); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	dryRun := false
	query, err := queryParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for key, vals := range query {
		switch {
		case key == "dry_run" && len(vals) == 1 && (vals[0] == "true" || vals[0] == "false"):
			dryRun = vals[0] == "true"
		default:
			s.writeError(w, r, mcrm.FieldErr(key, "unknown_parameter", "only dry_run=true|false is accepted"))
			return
		}
	}
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" || params["boundary"] == "" {
		s.writeError(w, r, mcrm.Errorf(mcrm.EUnsupportedMedia, "send multipart/form-data with a file part (and an optional mapping part before it)"))
		return
	}
	if r.ContentLength > s.cfg.MaxImportBytes {
		s.writeError(w, r, mcrm.Errorf(mcrm.ETooLarge, "upload larger than %d bytes", s.cfg.MaxImportBytes))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxImportBytes)
	mr, err := r.MultipartReader()
	if err != nil {
		s.writeError(w, r, mcrm.Errorf(mcrm.EInvalid, "malformed multipart body"))
		return
	}
	var mapping *importer.Mapping
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			s.writeError(w, r, mcrm.FieldErr("file", "required", "the upload has no file part"))
			return
		}
		if err != nil {
			s.writeError(w, r, uploadErr(err))
			return
		}
		switch part.FormName() {
		case "mapping":
			if mapping != nil {
				s.writeError(w, r, mcrm.FieldErr("mapping", "repeated_part", "send one mapping part"))
				return
			}
			mapping, err = importer.ParseMapping(part)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			continue
		case "file":
		default:
			s.writeError(w, r, mcrm.FieldErr(part.FormName(), "unknown_field", "parts are mapping and file"))
			return
		}
		t, err := s.tenant(r.Context(), p.TenantID)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		// Nothing may follow the file: a mapping sent after it would
		// otherwise be ignored. The check runs before the commit.
		noMoreParts := func() error {
			if next, err := mr.NextPart(); err != io.EOF {
				if err != nil {
					if e := uploadErr(err); mcrm.ErrorCode(e) == mcrm.ETooLarge {
						return e
					}
					return mcrm.Errorf(mcrm.EInvalid, "malformed multipart body after the file")
				}
				return mcrm.FieldErr(next.FormName(), "part_after_file", "the file must be the last part (send the mapping first)")
			}
			return nil
		}
		rep, err := importer.Import(r.Context(), s.db, p, part, importer.Options{Entity: e, Mapping: mapping, DryRun: dryRun, Region: t.DefaultRegion, BeforeCommit: noMoreParts,
			UserAdmin: s.stepUp(r) == nil && roleOf(p).Can(authz.ManageUsers, "", s.authzContext(p)).Allowed})
		if err != nil {
			s.writeError(w, r, uploadErr(err))
			return
		}
		status := http.StatusOK
		if rep.Outcome == "rolled_back" {
			// Nothing was written: the report says which rows failed.
			status = http.StatusUnprocessableEntity
		}
		ev := sqlstore.Event{TenantID: p.TenantID, Actor: p.Actor(), SessionID: p.SessionID, Action: "data_import", Object: e.Name, Outcome: rep.Outcome,
			IP: clientIP(r), RequestID: requestID(r.Context()), Detail: "rows=" + strconv.Itoa(rep.Rows) + " created=" + strconv.Itoa(rep.Created) + " updated=" + strconv.Itoa(rep.Updated) + " failed=" + strconv.Itoa(rep.Failed)}
		if err := s.db.RecordEvent(r.Context(), ev); err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, status, rep)
		return
	}
}

func uploadErr(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return mcrm.Errorf(mcrm.ETooLarge, "upload larger than the limit")
	}
	return err
}

// vcardExportable reports whether records of e are people with email
// addresses, which is what a vCard describes.
func vcardExportable(e *mcrm.Entity) bool { return e.Field("emails") != nil }

// exportFile streams the caller's readable records as CSV or vCard.
func (s *Server) exportFile(w http.ResponseWriter, r *http.Request) {
	p := principal(r.Context())
	// Bulk export is the quickest way to walk off with the customer base:
	// it needs the export permission (and its context rules) and a strong
	// authentication in the last 5 minutes (AUTH-09).
	if err := s.allow(r, authz.Export, r.PathValue("entity")); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.stepUp(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	e := mcrm.EntityByName(r.PathValue("entity"))
	if e == nil {
		s.writeError(w, r, mcrm.Errorf(mcrm.ENotFound, "no such entity"))
		return
	}
	format := "csv"
	query, err := queryParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for key, vals := range query {
		if key != "format" || len(vals) != 1 {
			s.writeError(w, r, mcrm.FieldErr(key, "unknown_parameter", "only format=csv|vcard is accepted"))
			return
		}
		format = vals[0]
	}
	switch format {
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+e.Name+`.csv"`)
	case "vcard":
		if !vcardExportable(e) {
			s.writeError(w, r, mcrm.FieldErr("format", "unsupported", "vCard export is for contacts and leads"))
			return
		}
		w.Header().Set("Content-Type", "text/vcard; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+e.Name+`.vcf"`)
	default:
		s.writeError(w, r, mcrm.FieldErr("format", "unsupported", "format must be csv or vcard"))
		return
	}
	if r.Method == http.MethodHead {
		// GET patterns also answer HEAD: headers only, no export run.
		return
	}
	n, err := importer.Export(r.Context(), s.db, p, e, format, w)
	outcome := "success"
	if err != nil {
		// Headers are gone; the truncated body is the client's signal, and
		// the event records the failure.
		outcome = "failure"
		s.log.ErrorContext(r.Context(), "export failed", "request_id", requestID(r.Context()), "error", errText(err))
	}
	_ = s.db.RecordEvent(r.Context(), sqlstore.Event{TenantID: p.TenantID, Actor: p.Actor(), SessionID: p.SessionID, Action: "data_export", Object: e.Name, Outcome: outcome,
		IP: clientIP(r), RequestID: requestID(r.Context()), Detail: "format=" + format + " records=" + strconv.Itoa(n)})
}
