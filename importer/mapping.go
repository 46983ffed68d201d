// Package importer loads CSV, XLSX and vCard files into mcrm through a
// column mapping, and exports records as CSV and vCard. The API and the CLI
// both call it, so an import behaves the same from either.
package importer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"mcrm"
	"mcrm/authz"
)

// Mapping says how the columns of a file become fields of an entity.
type Mapping struct {
	Entity    string `json:"entity,omitempty"`
	Format    string `json:"format,omitempty"`    // csv, xlsx, vcard; "" = detect
	Encoding  string `json:"encoding,omitempty"`  // "" = detect
	Delimiter string `json:"delimiter,omitempty"` // "" = sniff
	Sheet     string `json:"sheet,omitempty"`
	// DateOrder reads non-ISO dates: DMY or MDY. Without it a date such as
	// 03/04/2020 is an error, never a guess.
	DateOrder string `json:"date_order,omitempty"`
	Region    string `json:"default_region,omitempty"` // phone numbers without country code; default: the tenant's
	TimeZone  string `json:"time_zone,omitempty"`      // for date-times without offset; default UTC
	// UpsertKey is the field that identifies an existing record to update
	// (external_id, name, email, ...); empty means every row creates.
	UpsertKey string `json:"upsert_key,omitempty"`
	// KeepGoodRows commits the rows that passed even when others failed.
	// By default one failed row rolls the whole import back.
	KeepGoodRows bool                  `json:"keep_good_rows,omitempty"`
	Columns      map[string]ColumnList `json:"columns"`
	Ignore       []string              `json:"ignore,omitempty"` // columns deliberately not imported
	Set          map[string]Column     `json:"set,omitempty"`    // constant values per field path
}

// ColumnList is one or more targets for a column (a name can feed both
// name and email, say). JSON accepts an object or an array of objects.
type ColumnList []Column

// UnmarshalJSON accepts a single object or an array.
func (c *ColumnList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var list []Column
		if err := strictUnmarshal(b, &list); err != nil {
			return err
		}
		*c = list
		return nil
	}
	var one Column
	if err := strictUnmarshal(b, &one); err != nil {
		return err
	}
	*c = ColumnList{one}
	return nil
}

// Column maps a cell to one field path ("name", "emails.0.value",
// "line_items.0.product_id").
type Column struct {
	Field string `json:"field"`
	// Value is a constant (in Set) used instead of a cell.
	Value *string `json:"value,omitempty"`
	// ValueMap replaces known bad values (a misspelling, an alias); each
	// replacement is reported on its row.
	ValueMap map[string]string `json:"value_map,omitempty"`
	// Transform: lower, upper, trim, email_from_name (with Domain).
	Transform string `json:"transform,omitempty"`
	Domain    string `json:"domain,omitempty"`
	// Scale multiplies a money or integer value (revenue in millions).
	Scale int64 `json:"scale,omitempty"`
	// IfEmpty: "null" (default for plain fields) or "error". For lookups
	// the default is "error"; "null" leaves the reference empty and reports
	// it on the row.
	IfEmpty string  `json:"if_empty,omitempty"`
	Lookup  *Lookup `json:"lookup,omitempty"`
}

// Lookup resolves a cell to the id of a related record by a natural key.
type Lookup struct {
	Entity string `json:"entity"`
	By     string `json:"by"`
	// IfMissing: "error" (default), "null" (reported), or "create" (a new
	// record with By = the cell and the Create values; "$raw" in a Create
	// value stands for the cell before any transform).
	IfMissing string         `json:"if_missing,omitempty"`
	Create    map[string]any `json:"create,omitempty"`
}

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	return dec.Decode(v)
}

// ParseMapping reads a mapping document, refusing unknown keys so a typo
// cannot silently disable part of it.
func ParseMapping(r io.Reader) (*Mapping, error) {
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, err
	}
	var m Mapping
	if err := strictUnmarshal(b, &m); err != nil {
		return nil, mcrm.Errorf(mcrm.EInvalid, "mapping: %s", cleanJSONErr(err))
	}
	return &m, nil
}

// LoadMapping reads a mapping file.
func LoadMapping(path string) (*Mapping, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	defer f.Close()
	return ParseMapping(f)
}

func cleanJSONErr(err error) string {
	s := err.Error()
	return strings.TrimPrefix(s, "json: ")
}

// validate checks the mapping against the entity and the file's header.
func (m *Mapping) validate(e *mcrm.Entity, header []string) error {
	var errs []mcrm.FieldError
	if m.Entity != "" && m.Entity != e.Name {
		return mcrm.Errorf(mcrm.EInvalid, "mapping is for %s, not %s", m.Entity, e.Name)
	}
	switch m.DateOrder {
	case "", "ISO", "DMY", "MDY":
	default:
		errs = append(errs, mcrm.FieldError{Field: "date_order", Code: "invalid", Message: "expected ISO, DMY or MDY"})
	}
	if m.UpsertKey != "" && !upsertable(e, m.UpsertKey) {
		errs = append(errs, mcrm.FieldError{Field: "upsert_key", Code: "invalid", Message: "records of " + e.Name + " cannot be matched by this field"})
	}
	inHeader := map[string]bool{}
	for _, h := range header {
		inHeader[h] = true
	}
	ignored := map[string]bool{}
	for _, h := range m.Ignore {
		ignored[h] = true
	}
	for col, targets := range m.Columns {
		if !inHeader[col] {
			errs = append(errs, mcrm.FieldError{Field: col, Code: "column_not_in_file", Message: "mapped column is not in the file"})
		}
		for _, t := range targets {
			if t.Field == "id" && m.UpsertKey == "id" && t.Lookup == nil {
				continue // the id column identifies the record to update
			}
			if err := checkTarget(e, t); err != "" {
				errs = append(errs, mcrm.FieldError{Field: col, Code: "invalid_mapping", Message: err})
			}
		}
	}
	for path, t := range m.Set {
		t.Field = path
		if err := checkTarget(e, t); err != "" {
			errs = append(errs, mcrm.FieldError{Field: "set." + path, Code: "invalid_mapping", Message: err})
		}
		if t.Value == nil {
			errs = append(errs, mcrm.FieldError{Field: "set." + path, Code: "invalid_mapping", Message: "a set entry needs a value"})
		}
	}
	seen := map[string]bool{}
	for _, h := range header {
		if seen[h] {
			errs = append(errs, mcrm.FieldError{Field: h, Code: "duplicate_column", Message: "the header names this column twice"})
		}
		seen[h] = true
		if _, ok := m.Columns[h]; !ok && !ignored[h] {
			// Nothing is dropped silently: every column is mapped or ignored.
			errs = append(errs, mcrm.FieldError{Field: h, Code: "unmapped_column", Message: "column is neither mapped nor listed in ignore"})
		}
	}
	if len(errs) > 0 {
		return &mcrm.Error{Code: mcrm.EInvalid, Message: "mapping does not fit the file", Fields: sortFieldErrors(errs)}
	}
	return nil
}

func sortFieldErrors(errs []mcrm.FieldError) []mcrm.FieldError {
	for i := 1; i < len(errs); i++ {
		for j := i; j > 0 && errs[j].Field < errs[j-1].Field; j-- {
			errs[j], errs[j-1] = errs[j-1], errs[j]
		}
	}
	return errs
}

func upsertable(e *mcrm.Entity, key string) bool {
	if key == "email" && e.Field("emails") != nil {
		return true
	}
	for _, k := range e.NaturalKeys {
		if k == key {
			return true
		}
	}
	return key == "id"
}

// checkTarget returns why a column target is wrong, or "".
func checkTarget(e *mcrm.Entity, c Column) string {
	f, sub := resolvePath(e, c.Field)
	if e.Name == "users" && c.Field == "reports_to" {
		if c.Lookup == nil || c.Lookup.Entity != "users" {
			return "reports_to needs a lookup of users"
		}
		return ""
	}
	if f == nil {
		return "no such field"
	}
	if f.System && f.Name != "owner_id" {
		return c.Field + " is set by the server"
	}
	target := f
	if sub != nil {
		target = sub
	}
	if c.Lookup != nil {
		le := mcrm.EntityByName(c.Lookup.Entity)
		if le == nil {
			return "unknown lookup entity " + c.Lookup.Entity
		}
		if target.Type != mcrm.TRef || target.Ref != le.Name {
			return c.Field + " does not reference " + le.Name
		}
		if !upsertable(le, c.Lookup.By) {
			return "cannot look " + le.Name + " up by " + c.Lookup.By
		}
		switch c.Lookup.IfMissing {
		case "", "error", "null", "create":
		default:
			return "if_missing must be error, null or create"
		}
	}
	switch c.IfEmpty {
	case "", "null", "error":
	default:
		return "if_empty must be null or error"
	}
	switch c.Transform {
	case "", "lower", "upper", "trim":
	case "email_from_name":
		if c.Domain == "" {
			return "email_from_name needs a domain"
		}
	default:
		return "unknown transform " + c.Transform
	}
	if c.Scale != 0 && target.Type != mcrm.TMoney && target.Type != mcrm.TInt {
		return "scale applies to money and integer fields only"
	}
	return ""
}

// resolvePath returns the field of a path and, for list paths
// (emails.0.value), the item field.
func resolvePath(e *mcrm.Entity, path string) (*mcrm.Field, *mcrm.Field) {
	parts := strings.Split(path, ".")
	f := e.Field(parts[0])
	if f == nil {
		return nil, nil
	}
	if f.Type != mcrm.TList {
		if len(parts) != 1 {
			return nil, nil
		}
		return f, nil
	}
	if len(parts) != 3 {
		return nil, nil
	}
	n := 0
	if _, err := fmt.Sscanf(parts[1], "%d", &n); err != nil || n < 0 || n >= max(f.Max, 1) || fmt.Sprint(n) != parts[1] {
		return nil, nil
	}
	sub := f.ItemField(parts[2])
	if sub == nil || (sub.System && sub.Name != "original") {
		return nil, nil
	}
	return f, sub
}

// checkFieldAccess refuses, before any row is read, a mapping that writes
// a field the principal's role may not change (AZ-04: an import is a
// write like any other). Hidden fields answer as unknown, read-only ones
// 403.
func (m *Mapping) checkFieldAccess(p *mcrm.Principal, e *mcrm.Entity) error {
	role, ok := p.Access.(*authz.Role)
	if !ok {
		return nil
	}
	check := func(path string) error {
		name, _, _ := strings.Cut(path, ".")
		// id picks the record to update; owner_id is checked by the store
		// (a rep may only own records themselves).
		if name == "id" || name == "owner_id" || e.Field(name) == nil {
			return nil
		}
		switch role.FieldAccess(e.Name, name) {
		case authz.Edit:
			return nil
		case authz.Hidden:
			return mcrm.FieldErr(path, "unknown_field", "no such field")
		}
		return &mcrm.Error{Code: mcrm.EForbidden, Message: "your role may not change this field",
			Fields: []mcrm.FieldError{{Field: path, Code: authz.ReasonFieldReadOnly, Message: "read only for your role"}}}
	}
	for _, targets := range m.Columns {
		for _, t := range targets {
			if err := check(t.Field); err != nil {
				return err
			}
		}
	}
	for path := range m.Set {
		if err := check(path); err != nil {
			return err
		}
	}
	return nil
}

// createsUsers reports whether a lookup may create users.
func (m *Mapping) createsUsers() bool {
	for _, targets := range m.Columns {
		for _, t := range targets {
			if t.Lookup != nil && t.Lookup.Entity == "users" && t.Lookup.IfMissing == "create" {
				return true
			}
		}
	}
	return false
}
