package importer

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"mcrm"
	"mcrm/authz"
	"mcrm/record"
	"mcrm/sqlstore"
	"mcrm/tabular"
	"mcrm/vcard"
)

// Export writes every record of e that p may read, as CSV (columns named
// by field path, the shape Import reads back without a mapping) or as
// vCard 4.0 (contacts and leads). It returns the number of records.
func Export(ctx context.Context, db *sqlstore.DB, p *mcrm.Principal, e *mcrm.Entity, format string, w io.Writer) (int, error) {
	switch format {
	case "csv":
		return exportCSV(ctx, db, p, e, w)
	case "vcard":
		if e.Field("emails") == nil {
			return 0, mcrm.FieldErr("format", "unsupported", "vCard export is for contacts and leads")
		}
		return exportVCard(ctx, db, p, e, w)
	}
	return 0, mcrm.FieldErr("format", "unsupported", "format must be csv or vcard")
}

// each calls fn for every record p may read, page by page.
func each(ctx context.Context, db *sqlstore.DB, p *mcrm.Principal, e *mcrm.Entity, fn func(record.Values) error) error {
	cursor := ""
	for {
		rows, next, err := db.List(ctx, p, e, sqlstore.ListQuery{Limit: sqlstore.MaxLimit, Cursor: cursor})
		if err != nil {
			return err
		}
		for _, r := range rows {
			if role, ok := p.Access.(*authz.Role); ok {
				// Field-level security holds in files as on screen.
				role.Redact(e, r)
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}

// exportColumns lists the CSV columns: id, then every field a client can
// write, with list fields spread over numbered columns (emails.0.value)
// as many as the longest list in the export needs.
func exportColumns(p *mcrm.Principal, e *mcrm.Entity, widths map[string]int) []string {
	cols := []string{"id"}
	role, _ := p.Access.(*authz.Role)
	for _, f := range e.Fields {
		if f.System && f.Name != "owner_id" {
			continue
		}
		if role != nil && role.FieldAccess(e.Name, f.Name) == authz.Hidden {
			continue // not even the column: its name would say it exists
		}
		if f.Type != mcrm.TList {
			cols = append(cols, f.Name)
			continue
		}
		for i := 0; i < widths[f.Name]; i++ {
			for _, sub := range f.Item {
				if sub.System {
					continue
				}
				cols = append(cols, fmt.Sprintf("%s.%d.%s", f.Name, i, sub.Name))
			}
		}
	}
	return cols
}

func exportCSV(ctx context.Context, db *sqlstore.DB, p *mcrm.Principal, e *mcrm.Entity, w io.Writer) (int, error) {
	// First pass: how many columns each list needs (so nothing is cut off).
	widths := map[string]int{}
	err := each(ctx, db, p, e, func(v record.Values) error {
		for _, f := range e.Fields {
			if items, ok := v[f.Name].([]map[string]any); ok && len(items) > widths[f.Name] {
				widths[f.Name] = len(items)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	cols := exportColumns(p, e, widths)
	cw := tabular.NewCSVWriter(w)
	if err := cw.Write(cols); err != nil {
		return 0, err
	}
	n := 0
	rec := make([]string, len(cols))
	err = each(ctx, db, p, e, func(v record.Values) error {
		for i, c := range cols {
			rec[i] = cellText(e, v, c)
		}
		n++
		return cw.Write(rec)
	})
	if err != nil {
		return n, err
	}
	return n, cw.Flush()
}

// cellText renders the value at a column path as text the importer reads
// back to the same value.
func cellText(e *mcrm.Entity, v record.Values, path string) string {
	parts := strings.Split(path, ".")
	if len(parts) == 1 {
		return text(v[path])
	}
	items, _ := v[parts[0]].([]map[string]any)
	i, _ := strconv.Atoi(parts[1])
	if i >= len(items) {
		return ""
	}
	it := items[i]
	f := e.Field(parts[0])
	if sub := f.ItemField(parts[2]); sub != nil && sub.Type == mcrm.TPhone {
		// E.164 with the extension, or the number as entered when it could
		// not be normalised: both normalise back to the same value.
		num := text(it["value"])
		if num == "" {
			return text(it["original"])
		}
		if ext := text(it["ext"]); ext != "" {
			num += " ext. " + ext
		}
		return num
	}
	return text(it[parts[2]])
}

func text(x any) string {
	switch t := x.(type) {
	case nil:
		return ""
	case string:
		return t
	case int64:
		return strconv.FormatInt(t, 10)
	case record.Money:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	case time.Time:
		return t.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(x)
}

func exportVCard(ctx context.Context, db *sqlstore.DB, p *mcrm.Principal, e *mcrm.Entity, w io.Writer) (int, error) {
	n := 0
	err := each(ctx, db, p, e, func(v record.Values) error {
		c := vcard.Card{
			Version:      "4.0",
			GivenName:    text(v["first_name"]),
			FamilyName:   text(v["last_name"]),
			Organization: text(v["company"]),
			Title:        text(v["title"]),
			Note:         text(v["notes"]),
			URL:          text(v["website"]),
			Birthday:     text(v["birthday"]),
			UID:          "urn:mcrm:" + text(v["id"]),
		}
		c.FormattedName = strings.TrimSpace(c.GivenName + " " + c.FamilyName)
		emails, _ := v["emails"].([]map[string]any)
		for _, it := range emails {
			c.Emails = append(c.Emails, vcard.Typed{Type: text(it["type"]), Value: text(it["value"])})
		}
		phones, _ := v["phones"].([]map[string]any)
		for _, it := range phones {
			num := text(it["value"])
			if num == "" {
				num = text(it["original"])
			} else if ext := text(it["ext"]); ext != "" {
				num += " ext. " + ext
			}
			typ := text(it["type"])
			if typ == "mobile" {
				typ = "cell"
			}
			c.Phones = append(c.Phones, vcard.Typed{Type: typ, Value: num})
		}
		if street, city := text(v["street"]), text(v["city"]); street != "" || city != "" || text(v["country"]) != "" {
			c.Addresses = []vcard.Address{{Type: "work", Street: street, Locality: city, Region: text(v["region"]), PostalCode: text(v["postal_code"]), Country: text(v["country"])}}
		}
		n++
		return vcard.Write(w, c)
	})
	return n, err
}
