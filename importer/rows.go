package importer

import (
	"encoding/csv"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"

	"mcrm"
	"mcrm/normalize"
	"mcrm/record"
	"mcrm/tabular"
	"mcrm/vcard"
)

// tableRows turns CSV and XLSX records into field values through the
// mapping.
type tableRows struct {
	r      tabular.Reader
	m      *Mapping
	e      *mcrm.Entity
	header []string
}

func (t *tableRows) next() (int, map[string]any, []Issue, error) {
	rec, line, err := t.r.Next()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return line, nil, nil, &rowError{issues: []Issue{{Code: "malformed_row", Message: "the line is not valid CSV (quotes)"}}}
		}
		return line, nil, nil, err
	}
	if len(rec) != len(t.header) {
		return line, nil, nil, &rowError{issues: []Issue{{Code: "wrong_field_count", Message: "the row has " + strconv.Itoa(len(rec)) + " fields, the header " + strconv.Itoa(len(t.header))}}}
	}
	in := map[string]any{}
	var notes, errs []Issue
	for i, h := range t.header {
		for _, c := range t.m.Columns[h] {
			v, note, ferr := t.cell(h, rec[i], c)
			if ferr != nil {
				errs = append(errs, *ferr)
				continue
			}
			if note != nil {
				notes = append(notes, *note)
			}
			if v != nil {
				setPath(in, c.Field, v)
			}
		}
	}
	for path, c := range t.m.Set {
		parts := strings.Split(path, ".")
		if len(parts) == 3 {
			// A constant for a list item (the type of phone 1) only applies
			// when the row has that item.
			idx, _ := strconv.Atoi(parts[1])
			items, _ := in[parts[0]].([]any)
			if idx >= len(items) {
				continue
			}
		}
		if _, ok := getPath(in, path); ok {
			continue
		}
		c.Field = path
		v, _, ferr := t.cell("set."+path, *c.Value, c)
		if ferr != nil {
			errs = append(errs, *ferr)
			continue
		}
		if v != nil {
			setPath(in, path, v)
		}
	}
	if len(errs) > 0 {
		return line, nil, nil, &rowError{issues: append(notes, errs...)}
	}
	return line, in, notes, nil
}

var nonEmailChars = regexp.MustCompile(`[^a-z0-9.\-]+`)

// cell converts one cell for one target: value map, transform, empty
// handling, dates in the mapping's order, scaling, and lookups (left as
// *pending for the run to resolve in the transaction).
func (t *tableRows) cell(column, cell string, c Column) (any, *Issue, *Issue) {
	raw := strings.TrimSpace(tabular.Unneutralize(cell))
	s := raw
	var note *Issue
	if rep, ok := c.ValueMap[s]; ok {
		s = rep
		note = &Issue{Column: column, Field: c.Field, Code: "value_mapped", Message: "value replaced as the mapping's value_map says"}
	}
	switch c.Transform {
	case "lower":
		s = strings.ToLower(s)
	case "upper":
		s = strings.ToUpper(s)
	case "email_from_name":
		if s != "" {
			local := nonEmailChars.ReplaceAllString(strings.Join(strings.Fields(strings.ToLower(s)), "."), "")
			if local == "" {
				return nil, nil, &Issue{Column: column, Field: c.Field, Code: "invalid_email", Message: "cannot make an email address from this name"}
			}
			s = local + "@" + c.Domain
		}
	}
	if s == "" {
		if c.IfEmpty == "error" || (c.Lookup != nil && c.IfEmpty == "") {
			return nil, nil, &Issue{Column: column, Field: c.Field, Code: "value_missing", Message: "the cell is empty and the mapping requires a value"}
		}
		if c.Lookup != nil {
			return nil, &Issue{Column: column, Field: c.Field, Code: "empty_reference_set_null", Message: "empty cell; reference left empty as the mapping says"}, nil
		}
		return nil, note, nil
	}
	if c.Lookup != nil {
		return &pending{column: column, raw: raw, key: s, col: c}, note, nil
	}
	if c.Field == "reports_to" || c.Field == "id" {
		return s, note, nil
	}
	f, sub := resolvePath(t.e, c.Field)
	target := f
	if sub != nil {
		target = sub
	}
	switch target.Type {
	case mcrm.TDate:
		order := normalize.DateOrder(t.m.DateOrder)
		if order == "" {
			order = "ISO"
		}
		d, err := normalize.Date(s, order)
		if err != nil {
			code := "invalid_date"
			if errors.Is(err, normalize.ErrAmbiguousDate) {
				code = "ambiguous_date"
			}
			return nil, nil, &Issue{Column: column, Field: c.Field, Code: code, Message: "cannot read the date with date_order " + string(order)}
		}
		s = d
	case mcrm.TMoney:
		if c.Scale != 0 {
			m, err := record.ParseMoney(s)
			if err != nil {
				return nil, nil, &Issue{Column: column, Field: c.Field, Code: "invalid_money", Message: "expected a decimal amount"}
			}
			s = (m * record.Money(c.Scale)).String()
		}
	case mcrm.TInt:
		if c.Scale != 0 {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, nil, &Issue{Column: column, Field: c.Field, Code: "type", Message: "expected an integer"}
			}
			s = strconv.FormatInt(n*c.Scale, 10)
		}
	}
	return s, note, nil
}

// cardRows turns vCards into contact or lead values.
type cardRows struct {
	cards  []vcard.Card
	entity *mcrm.Entity
	i      int
}

var emailTypes = map[string]string{"work": "work", "home": "home", "internet": "other", "pref": "other"}
var phoneTypes = map[string]string{"work": "work", "home": "home", "mobile": "mobile", "cell": "mobile", "fax": "fax"}

func (c *cardRows) next() (int, map[string]any, []Issue, error) {
	if c.i >= len(c.cards) {
		return 0, nil, nil, io.EOF
	}
	card := c.cards[c.i]
	c.i++
	row := c.i // card number in the file
	in := map[string]any{}
	var notes []Issue
	set := func(k, v string) {
		if v = strings.TrimSpace(v); v != "" {
			in[k] = v
		}
	}
	set("first_name", card.GivenName)
	set("last_name", card.FamilyName)
	if card.FamilyName == "" {
		// last_name is required: fall back to the formatted name, the
		// organisation or the first address, and say so on the row.
		alt := firstNonEmpty(card.FormattedName, card.Organization)
		if alt == "" && len(card.Emails) > 0 {
			alt = card.Emails[0].Value
		}
		if alt != "" {
			in["last_name"] = alt
			notes = append(notes, Issue{Field: "last_name", Code: "name_derived", Message: "the card has no family name; used its formatted name, organisation or email"})
		}
	}
	set("company", card.Organization)
	set("title", card.Title)
	var emails []any
	var extra []string
	for _, em := range card.Emails {
		if strings.TrimSpace(em.Value) == "" {
			continue
		}
		if _, err := normalize.Email(em.Value); err != nil {
			// Not an address mcrm can use for mail or matching; kept in the
			// notes so nothing from the card is lost.
			extra = append(extra, "Email ("+firstNonEmpty(em.Type, "other")+"): "+em.Value)
			notes = append(notes, Issue{Field: "emails", Code: "invalid_email_kept_in_notes", Message: "an email address on the card is not valid; it was put in the notes"})
			continue
		}
		typ := emailTypes[em.Type]
		if typ == "" {
			typ = "other"
		}
		emails = append(emails, map[string]any{"type": typ, "value": em.Value})
	}
	if len(emails) > 0 {
		in["emails"] = emails
	}
	var phones []any
	for _, ph := range card.Phones {
		if strings.TrimSpace(ph.Value) == "" {
			continue
		}
		typ := phoneTypes[ph.Type]
		if typ == "" {
			typ = "other"
		}
		phones = append(phones, map[string]any{"type": typ, "value": ph.Value})
	}
	if len(phones) > 0 {
		in["phones"] = phones
	}
	if len(card.Addresses) > 0 {
		a := card.Addresses[0]
		set("street", a.Street)
		set("city", a.Locality)
		set("region", a.Region)
		set("postal_code", a.PostalCode)
		set("country", a.Country)
		if len(card.Addresses) > 1 {
			notes = append(notes, Issue{Field: "street", Code: "extra_addresses_in_notes", Message: "the card has several addresses; the first is in the address fields, the others in the notes"})
		}
	}
	if card.Note != "" {
		extra = append([]string{card.Note}, extra...)
	}
	for _, a := range card.Addresses[min(1, len(card.Addresses)):] {
		extra = append(extra, "Address ("+a.Type+"): "+strings.Join(nonEmpty(a.Street, a.Locality, a.Region, a.PostalCode, a.Country), ", "))
	}
	if card.Birthday != "" && c.entity.Field("birthday") != nil {
		if _, err := normalize.Date(card.Birthday, "ISO"); err == nil {
			in["birthday"] = card.Birthday
		} else {
			extra = append(extra, "Birthday: "+card.Birthday)
			notes = append(notes, Issue{Field: "birthday", Code: "partial_date_kept_in_notes", Message: "the birthday has no year or is not a full date; it was put in the notes"})
		}
	}
	if card.URL != "" && c.entity.Field("website") != nil {
		if record.ValidURL(card.URL) {
			in["website"] = card.URL
		} else {
			extra = append(extra, "URL: "+card.URL)
			notes = append(notes, Issue{Field: "website", Code: "url_kept_in_notes", Message: "the URL is not a valid http(s) URL; it was put in the notes"})
		}
	}
	if len(extra) > 0 && c.entity.Field("notes") != nil {
		in["notes"] = strings.Join(extra, "\n")
	}
	for k := range in {
		if c.entity.Field(k) == nil {
			delete(in, k)
			notes = append(notes, Issue{Field: k, Code: "field_not_on_entity", Message: c.entity.Name + " have no " + k + " field; that part of the card was not imported"})
		}
	}
	return row, in, notes, nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func nonEmpty(vals ...string) []string {
	var out []string
	for _, v := range vals {
		if strings.TrimSpace(v) != "" {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}
