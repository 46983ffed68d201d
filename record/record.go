// Package record turns untrusted input (API JSON or import cells) into the
// canonical values the store writes, using the entity descriptions of the
// root package. It is the single place where field values are validated, so
// the API and the importer accept exactly the same data.
//
// Canonical Go types: string (text, email, url, currency, enum, ref, date),
// int64 (integer), Money (money), bool, time.Time in UTC (datetime),
// []map[string]any (list), nil (absent / null).
package record

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"
	"golang.org/x/text/currency"

	"mcrm"
	"mcrm/normalize"
)

// Values is one record's canonical field values keyed by field name.
type Values map[string]any

// Money is an amount in minor units (cents); every currency mcrm stores has
// two decimals.
type Money int64

// String formats m as a plain decimal with two places.
func (m Money) String() string {
	sign := ""
	v := int64(m)
	if v < 0 {
		sign = "-"
		v = -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// MarshalJSON writes the amount as a JSON number with two decimals.
func (m Money) MarshalJSON() ([]byte, error) { return []byte(m.String()), nil }

// TimeLayout is how instants are stored: fixed width, UTC, so text order is
// time order on every database.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// Options tune decoding.
type Options struct {
	Partial  bool           // PATCH: absent required fields are fine, null ones are not
	FromText bool           // values come from text cells (import): parse numbers and booleans from strings
	Lenient  bool           // import: keep a phone that cannot be normalised (with a warning) instead of failing
	Region   string         // default phone region (ISO 3166 alpha-2)
	Loc      *time.Location // zone for local date-times given without an offset
}

// Result is the outcome of a decode: the values plus non-fatal notes.
type Result struct {
	Values   Values
	Warnings []mcrm.FieldError
}

// Decode validates in (field name → raw value as decoded by encoding/json
// with UseNumber, or strings from an import) against e. System fields and
// unknown fields are rejected so a client cannot set ids, owners, versions
// or tenants through a body.
func Decode(e *mcrm.Entity, in map[string]any, opts Options) (Result, error) {
	res := Result{Values: Values{}}
	var errs []mcrm.FieldError
	for name, raw := range in {
		f := e.Field(name)
		switch {
		case f == nil:
			errs = append(errs, mcrm.FieldError{Field: name, Code: "unknown_field", Message: "no such field"})
			continue
		case f.System:
			errs = append(errs, mcrm.FieldError{Field: name, Code: "read_only", Message: "field is set by the server"})
			continue
		}
		v, warn, ferr := decodeValue(f, name, raw, opts)
		if ferr != nil {
			errs = append(errs, *ferr)
			continue
		}
		res.Warnings = append(res.Warnings, warn...)
		if v == nil && f.Required {
			errs = append(errs, mcrm.FieldError{Field: name, Code: "required", Message: "field is required"})
			continue
		}
		res.Values[name] = v
	}
	if !opts.Partial {
		for _, f := range e.Fields {
			if f.Required && !f.System {
				if _, ok := in[f.Name]; !ok {
					errs = append(errs, mcrm.FieldError{Field: f.Name, Code: "required", Message: "field is required"})
				}
			}
		}
	}
	if len(errs) > 0 {
		sortErrors(errs)
		return res, &mcrm.Error{Code: mcrm.EInvalid, Message: "validation failed", Fields: errs}
	}
	return res, nil
}

func sortErrors(errs []mcrm.FieldError) {
	// Deterministic order for clients and tests (map iteration is random).
	for i := 1; i < len(errs); i++ {
		for j := i; j > 0 && errs[j].Field < errs[j-1].Field; j-- {
			errs[j], errs[j-1] = errs[j-1], errs[j]
		}
	}
}

func fe(path, code, msg string) *mcrm.FieldError {
	return &mcrm.FieldError{Field: path, Code: code, Message: msg}
}

var (
	currencyRe = regexp.MustCompile(`^[A-Z]{3}$`)
	idRe       = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{26}$`)
	dateRe     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	localRe    = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?$`)
	moneyRe    = regexp.MustCompile(`^-?\d{1,13}(\.\d{1,2})?$`)
)

// ValidID reports whether s has the shape of an mcrm id (ULID).
func ValidID(s string) bool { return idRe.MatchString(s) }

func decodeValue(f *mcrm.Field, path string, raw any, opts Options) (any, []mcrm.FieldError, *mcrm.FieldError) {
	if raw == nil {
		return nil, nil, nil
	}
	if f.Type == mcrm.TList {
		return decodeList(f, path, raw, opts)
	}
	s, isString := raw.(string)
	if isString && opts.FromText {
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, nil, nil
		}
	}
	switch f.Type {
	case mcrm.TString, mcrm.TText:
		if !isString {
			return nil, nil, fe(path, "type", "expected a string")
		}
		if f.Type == mcrm.TString {
			s = strings.TrimSpace(s)
		}
		if s == "" {
			return nil, nil, nil
		}
		if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool {
			return unicode.IsControl(r) && (f.Type == mcrm.TString || (r != '\n' && r != '\t' && r != '\r')) || refusedRune(r)
		}) {
			return nil, nil, fe(path, "invalid_text", "text contains control, bidirectional-override or replacement characters")
		}
		if f.Max > 0 && utf8.RuneCountInString(s) > f.Max {
			return nil, nil, fe(path, "too_long", fmt.Sprintf("at most %d characters", f.Max))
		}
		return s, nil, nil
	case mcrm.TEmail:
		if !isString {
			return nil, nil, fe(path, "type", "expected a string")
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, nil, nil
		}
		if _, err := normalize.Email(s); err != nil {
			return nil, nil, fe(path, "invalid_email", "not a valid email address")
		}
		return s, nil, nil
	case mcrm.TURL:
		if !isString {
			return nil, nil, fe(path, "type", "expected a string")
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, nil, nil
		}
		if !ValidURL(s) || len(s) > f.Max {
			return nil, nil, fe(path, "invalid_url", "expected an http or https URL")
		}
		return s, nil, nil
	case mcrm.TCurrency:
		if !isString {
			return nil, nil, fe(path, "type", "expected a string")
		}
		s = strings.ToUpper(strings.TrimSpace(s))
		if _, err := currency.ParseISO(s); err != nil || !currencyRe.MatchString(s) {
			return nil, nil, fe(path, "invalid_currency", "expected an ISO 4217 code such as USD")
		}
		return s, nil, nil
	case mcrm.TEnum:
		if !isString {
			return nil, nil, fe(path, "type", "expected a string")
		}
		for _, v := range f.Enum {
			if strings.EqualFold(v, strings.TrimSpace(s)) {
				return v, nil, nil
			}
		}
		return nil, nil, fe(path, "invalid_enum", "expected one of: "+strings.Join(f.Enum, ", "))
	case mcrm.TRef:
		if !isString {
			return nil, nil, fe(path, "type", "expected an id string")
		}
		if !ValidID(s) {
			return nil, nil, fe(path, "invalid_id", "not a valid id")
		}
		return s, nil, nil
	case mcrm.TDate:
		if !isString {
			return nil, nil, fe(path, "type", "expected a date string YYYY-MM-DD")
		}
		if !dateRe.MatchString(s) {
			return nil, nil, fe(path, "invalid_date", "expected YYYY-MM-DD")
		}
		if _, err := time.Parse("2006-01-02", s); err != nil {
			return nil, nil, fe(path, "invalid_date", "not a calendar date")
		}
		return s, nil, nil
	case mcrm.TDateTime:
		if !isString {
			return nil, nil, fe(path, "type", "expected an RFC 3339 date-time string")
		}
		t, ferr := ParseDateTime(path, s, opts.Loc)
		if ferr != nil {
			return nil, nil, ferr
		}
		return t, nil, nil
	case mcrm.TInt:
		n, ok := numberText(raw, opts.FromText)
		if !ok {
			return nil, nil, fe(path, "type", "expected an integer")
		}
		i, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return nil, nil, fe(path, "type", "expected an integer")
		}
		if len(f.Range) == 2 && (i < f.Range[0] || i > f.Range[1]) {
			return nil, nil, fe(path, "out_of_range", fmt.Sprintf("between %d and %d", f.Range[0], f.Range[1]))
		}
		return i, nil, nil
	case mcrm.TMoney:
		n, ok := numberText(raw, true) // decimals are commonly sent as strings
		if !ok {
			return nil, nil, fe(path, "type", "expected a decimal amount")
		}
		m, err := ParseMoney(n)
		if err != nil {
			return nil, nil, fe(path, "invalid_money", "expected a decimal amount with at most 2 decimals")
		}
		return m, nil, nil
	case mcrm.TBool:
		switch v := raw.(type) {
		case bool:
			return v, nil, nil
		case string:
			if opts.FromText {
				switch strings.ToLower(s) {
				case "true", "yes", "y", "1":
					return true, nil, nil
				case "false", "no", "n", "0":
					return false, nil, nil
				}
			}
		}
		return nil, nil, fe(path, "type", "expected true or false")
	}
	return nil, nil, fe(path, "type", "unsupported field type")
}

func numberText(raw any, fromText bool) (string, bool) {
	switch v := raw.(type) {
	case json.Number:
		return v.String(), true
	case float64:
		if math.Trunc(v) == v {
			return strconv.FormatInt(int64(v), 10), true
		}
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case int:
		return strconv.Itoa(v), true
	case string:
		if fromText {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// ParseMoney parses a plain decimal with at most two decimals into minor units.
func ParseMoney(s string) (Money, error) {
	s = strings.TrimSpace(s)
	if !moneyRe.MatchString(s) {
		return 0, errors.New("invalid amount")
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	for len(frac) < 2 {
		frac += "0"
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, err
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	v := w*100 + f
	if neg {
		v = -v
	}
	return Money(v), nil
}

// ParseDateTime reads an RFC 3339 instant, or a local date-time without an
// offset in loc. A local time that falls into a DST gap does not exist and
// one in a DST overlap happens twice; both are rejected rather than guessed.
func ParseDateTime(path, s string, loc *time.Location) (time.Time, *mcrm.FieldError) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if !localRe.MatchString(s) {
		return time.Time{}, fe(path, "invalid_datetime", "expected RFC 3339, e.g. 2026-03-08T09:30:00-05:00")
	}
	if loc == nil {
		loc = time.UTC
	}
	s = strings.Replace(s, " ", "T", 1)
	layout := "2006-01-02T15:04"
	if len(s) > 16 {
		layout = "2006-01-02T15:04:05.999999999"
	}
	naive, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, fe(path, "invalid_datetime", "not a valid date-time")
	}
	t := time.Date(naive.Year(), naive.Month(), naive.Day(), naive.Hour(), naive.Minute(), naive.Second(), naive.Nanosecond(), loc)
	// time.Date normalises a missing wall time; detect that, and detect a
	// wall time that maps to two instants one offset apart.
	if t.Hour() != naive.Hour() || t.Minute() != naive.Minute() || t.Day() != naive.Day() {
		return time.Time{}, fe(path, "nonexistent_local_time", "this local time does not exist in "+loc.String()+" (daylight saving change); give an offset")
	}
	for _, d := range []time.Duration{-time.Hour, time.Hour, -30 * time.Minute, 30 * time.Minute} {
		other := t.Add(d)
		if other.Hour() == t.Hour() && other.Minute() == t.Minute() && other.Day() == t.Day() {
			return time.Time{}, fe(path, "ambiguous_local_time", "this local time occurs twice in "+loc.String()+" (daylight saving change); give an offset")
		}
	}
	return t.UTC(), nil
}

func decodeList(f *mcrm.Field, path string, raw any, opts Options) (any, []mcrm.FieldError, *mcrm.FieldError) {
	items, ok := raw.([]any)
	if !ok {
		if m, isMaps := raw.([]map[string]any); isMaps {
			items = make([]any, len(m))
			for i := range m {
				items[i] = m[i]
			}
		} else {
			return nil, nil, fe(path, "type", "expected an array")
		}
	}
	if f.Max > 0 && len(items) > f.Max {
		return nil, nil, fe(path, "too_many_items", fmt.Sprintf("at most %d items", f.Max))
	}
	out := make([]map[string]any, 0, len(items))
	var warns []mcrm.FieldError
	for i, it := range items {
		obj, ok := it.(map[string]any)
		if !ok {
			return nil, nil, fe(fmt.Sprintf("%s.%d", path, i), "type", "expected an object")
		}
		item := map[string]any{}
		for k, v := range obj {
			sub := f.ItemField(k)
			p := fmt.Sprintf("%s.%d.%s", path, i, k)
			if sub == nil {
				return nil, nil, fe(p, "unknown_field", "no such field")
			}
			if sub.System {
				continue // derived again below; accepted so a GET body can be sent back
			}
			if sub.Type == mcrm.TPhone {
				pv, warn, ferr := decodePhone(p, v, opts)
				if ferr != nil {
					return nil, nil, ferr
				}
				warns = append(warns, warn...)
				for pk, pvv := range pv {
					item[pk] = pvv
				}
				continue
			}
			val, warn, ferr := decodeValue(sub, p, v, opts)
			if ferr != nil {
				return nil, nil, ferr
			}
			warns = append(warns, warn...)
			if val != nil {
				item[k] = val
			}
		}
		empty := true
		for _, sub := range f.Item {
			if sub.Required {
				if _, ok := item[sub.Name]; !ok && !(sub.Type == mcrm.TPhone && item["original"] != nil) {
					return nil, nil, fe(fmt.Sprintf("%s.%d.%s", path, i, sub.Name), "required", "field is required")
				}
			}
			if _, ok := item[sub.Name]; ok && sub.Name != "type" {
				empty = false
			}
		}
		if empty {
			continue
		}
		if t := f.ItemField("type"); t != nil && item["type"] == nil && len(t.Enum) > 0 {
			item["type"] = t.Enum[len(t.Enum)-1] // "other"
		}
		out = append(out, item)
	}
	if len(out) == 0 {
		return nil, warns, nil
	}
	return out, warns, nil
}

func decodePhone(path string, raw any, opts Options) (map[string]any, []mcrm.FieldError, *mcrm.FieldError) {
	s, ok := raw.(string)
	if !ok {
		return nil, nil, fe(path, "type", "expected a string")
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil, nil
	}
	if utf8.RuneCountInString(s) > 64 {
		return nil, nil, fe(path, "too_long", "at most 64 characters")
	}
	p := normalize.PhoneNumber(s, opts.Region)
	out := map[string]any{"original": p.Original}
	if p.Ext != "" {
		out["ext"] = p.Ext
	}
	if !p.Valid {
		if !opts.Lenient {
			return nil, nil, fe(path, "invalid_phone", "not a valid phone number for region "+opts.Region)
		}
		// Kept as entered so nothing is lost; the importer reports it.
		return out, []mcrm.FieldError{{Field: path, Code: "phone_not_normalised", Message: "kept as entered; not a valid number for region " + opts.Region}}, nil
	}
	out["value"] = p.E164
	return out, nil, nil
}

// NewID returns a new ULID: 48 bits of millisecond time, so ids sort by
// creation, and 80 bits from crypto/rand, so they cannot be guessed from one
// another (the library's default monotonic entropy would make them guessable).
func NewID() string {
	return ulid.MustNew(ulid.Now(), rand.Reader).String()
}

// MissingRequired lists the required fields absent from v (a create
// assembled from parts, as the importer does).
func MissingRequired(e *mcrm.Entity, v Values) []mcrm.FieldError {
	var out []mcrm.FieldError
	for _, f := range e.Fields {
		if f.Required && !f.System && v[f.Name] == nil {
			out = append(out, mcrm.FieldError{Field: f.Name, Code: "required", Message: "field is required"})
		}
	}
	return out
}

// ValidURL reports whether s is an absolute http or https URI: printable
// ASCII only (RFC 3986; spaces and other characters must be
// percent-encoded) with a host. url.Parse alone accepts "a b".
func ValidURL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// refusedRune reports characters refused in text: U+FFFD, which only
// appears where bytes were not valid text (JSON decoding turns invalid
// UTF-8 and lone surrogates into it, silently), and the bidirectional
// embedding, override and isolate controls, which make a name display as
// something other than what it is ("Trojan Source"-style spoofing).
func refusedRune(r rune) bool {
	return r == utf8.RuneError || (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069)
}
