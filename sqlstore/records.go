package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"mcrm"
	"mcrm/record"
)

// columns lists the stored columns of e in registry order.
func columns(e *mcrm.Entity) []string {
	cols := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		cols[i] = f.Name
	}
	return cols
}

// selectList is the column list of a SELECT on alias t.
func selectList(e *mcrm.Entity) string {
	cols := columns(e)
	for i := range cols {
		cols[i] = "t." + cols[i]
	}
	return strings.Join(cols, ", ") + ", t.deleted_at"
}

// toDB converts a canonical value to what the drivers store.
func toDB(f *mcrm.Field, v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		return x.UTC().Format(timeLayout), nil
	case record.Money:
		return int64(x), nil
	case []map[string]any:
		b, err := json.Marshal(x)
		return string(b), err
	case string, int64, bool:
		return x, nil
	case int:
		return int64(x), nil
	}
	return nil, fmt.Errorf("field %s: unsupported value type %T", f.Name, v)
}

// scanRow reads one row selected with selectList.
func scanRow(e *mcrm.Entity, sc interface{ Scan(...any) error }) (record.Values, error) {
	return scanRowAs(e, sc, false)
}

// scanRowAs is scanRow; with rawLists, list fields stay the JSON text they
// are stored as (json.RawMessage), for callers that only render them.
func scanRowAs(e *mcrm.Entity, sc interface{ Scan(...any) error }, rawLists bool) (record.Values, error) {
	return scanInto(e, sc, rawLists, newHolders(e))
}

// newHolders makes the scan destinations of one row of e; a list query
// reuses them for every row.
func newHolders(e *mcrm.Entity) []any {
	holders := make([]any, len(e.Fields)+1)
	for i, f := range e.Fields {
		switch f.Type {
		case mcrm.TInt, mcrm.TMoney:
			holders[i] = new(sql.NullInt64)
		case mcrm.TBool:
			holders[i] = new(sql.NullBool)
		default:
			holders[i] = new(sql.NullString)
		}
	}
	holders[len(e.Fields)] = new(sql.NullString)
	return holders
}

func scanInto(e *mcrm.Entity, sc interface{ Scan(...any) error }, rawLists bool, holders []any) (record.Values, error) {
	if err := sc.Scan(holders...); err != nil {
		return nil, err
	}
	v := make(record.Values, len(e.Fields)+1)
	for i := range e.Fields {
		f := &e.Fields[i]
		switch h := holders[i].(type) {
		case *sql.NullInt64:
			if h.Valid {
				if f.Type == mcrm.TMoney {
					v[f.Name] = record.Money(h.Int64)
				} else {
					v[f.Name] = h.Int64
				}
			}
		case *sql.NullBool:
			if h.Valid {
				v[f.Name] = h.Bool
			}
		case *sql.NullString:
			if !h.Valid {
				continue
			}
			switch f.Type {
			case mcrm.TDateTime:
				t, err := time.Parse(timeLayout, h.String)
				if err != nil {
					return nil, fmt.Errorf("%s.%s: %w", e.Name, f.Name, err)
				}
				v[f.Name] = t
			case mcrm.TList:
				if rawLists {
					v[f.Name] = json.RawMessage(h.String)
					continue
				}
				items, err := decodeItems(f, h.String)
				if err != nil {
					return nil, fmt.Errorf("%s.%s: %w", e.Name, f.Name, err)
				}
				v[f.Name] = items
			default:
				v[f.Name] = h.String
			}
		}
	}
	if d := holders[len(e.Fields)].(*sql.NullString); d.Valid {
		t, _ := time.Parse(timeLayout, d.String)
		v["deleted_at"] = t
	}
	return v, nil
}

func decodeItems(f *mcrm.Field, s string) ([]map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var items []map[string]any
	if err := dec.Decode(&items); err != nil {
		return nil, err
	}
	for _, it := range items {
		for k, val := range it {
			n, ok := val.(json.Number)
			if !ok {
				continue
			}
			sub := f.ItemField(k)
			if sub != nil && sub.Type == mcrm.TMoney {
				m, err := record.ParseMoney(n.String())
				if err != nil {
					return nil, err
				}
				it[k] = m
			} else {
				i, err := n.Int64()
				if err != nil {
					return nil, err
				}
				it[k] = i
			}
		}
	}
	return items, nil
}

// Get returns one live record that p may read; anything else, including a
// record of another tenant, is mcrm.ErrNotFound.
func (db *DB) Get(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, id string) (record.Values, error) {
	return get(ctx, &db.reads, p, e, id, false)
}

// Get is Get inside the transaction.
func (tx *Tx) Get(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, id string) (record.Values, error) {
	return get(ctx, tx, p, e, id, false)
}

func get(ctx context.Context, q querier, p *mcrm.Principal, e *mcrm.Entity, id string, deleted bool) (record.Values, error) {
	if !record.ValidID(id) {
		return nil, mcrm.ErrNotFound
	}
	var a args
	tenant := a.add(p.TenantID)
	sc := readScope(p, e, &a, tenant)
	del := "t.deleted_at IS NULL"
	if deleted {
		del = "t.deleted_at IS NOT NULL"
	}
	query := sc.cte + `SELECT ` + selectList(e) + ` FROM ` + e.Name + ` t WHERE t.tenant_id = ` + tenant + ` AND t.id = ` + a.add(id) + ` AND ` + del
	if sc.pred != "" {
		query += " AND " + sc.pred
	}
	v, err := scanRow(e, q.QueryRowContext(ctx, query, a...))
	if err != nil {
		return nil, mapErr(err)
	}
	return v, nil
}

// Filter is one condition of a list query, on a filterable field, with a
// canonical value.
type Filter struct {
	Field string
	Op    string // eq, gt, gte, lt, lte
	Value any
}

// ListQuery selects a page of records.
type ListQuery struct {
	Filters []Filter
	Sort    string // field name; "" = id (creation order)
	Desc    bool
	Limit   int
	Cursor  string
	Deleted bool // list the trash (soft-deleted records) instead
	// RawLists returns list fields as their stored JSON (json.RawMessage):
	// for pages that are only rendered, decoding and re-encoding every
	// email and phone list was a fifth of the cost of a list request.
	RawLists bool
}

// MaxLimit is the largest page.
const MaxLimit = 500

var ops = map[string]string{"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}

// cursor is the position after the last row of a page. It carries the sort
// it was made for so that it cannot be replayed against another ordering.
type cursor struct {
	Sort string `json:"s"`
	Desc bool   `json:"d"`
	Null bool   `json:"n"`
	Val  any    `json:"v"`
	ID   string `json:"i"`
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	err = dec.Decode(&c)
	return c, err
}

// List returns one page of the records p may read, filtered and sorted, and
// the cursor of the next page ("" on the last). Paging is keyset-based on
// (sort field, id), so rows inserted meanwhile never make a page repeat or
// skip a row.
func (db *DB) List(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, lq ListQuery) ([]record.Values, string, error) {
	return list(ctx, &db.reads, p, e, lq)
}

// List is List inside the transaction.
func (tx *Tx) List(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, lq ListQuery) ([]record.Values, string, error) {
	if err := tx.flushPoints(ctx); err != nil {
		return nil, "", err
	}
	return list(ctx, tx, p, e, lq)
}

func list(ctx context.Context, q querier, p *mcrm.Principal, e *mcrm.Entity, lq ListQuery) ([]record.Values, string, error) {
	if lq.Limit <= 0 {
		lq.Limit = 50
	}
	if lq.Limit > MaxLimit {
		lq.Limit = MaxLimit
	}
	sortField := lq.Sort
	if sortField == "" {
		sortField = "id"
	}
	sf := e.Field(sortField)
	if sf == nil || !sf.Sort {
		return nil, "", mcrm.FieldErr("sort", "unknown_field", "this field cannot be used to sort")
	}
	var a args
	tenant := a.add(p.TenantID)
	sc := readScope(p, e, &a, tenant)
	where := []string{"t.tenant_id = " + tenant}
	if lq.Deleted {
		where = append(where, "t.deleted_at IS NOT NULL")
	} else {
		where = append(where, "t.deleted_at IS NULL")
	}
	if sc.pred != "" {
		where = append(where, sc.pred)
	}
	for _, f := range lq.Filters {
		cond, err := filterSQL(e, f, &a, tenant)
		if err != nil {
			return nil, "", err
		}
		where = append(where, cond)
	}
	dir, cmp := "ASC", ">"
	if lq.Desc {
		dir, cmp = "DESC", "<"
	}
	col := "t." + sortField
	if lq.Cursor != "" {
		c, err := decodeCursor(lq.Cursor)
		if err != nil || c.Sort != sortField || c.Desc != lq.Desc || !record.ValidID(c.ID) {
			return nil, "", mcrm.FieldErr("cursor", "invalid_cursor", "cursor is malformed or belongs to another sort order")
		}
		idPH := a.add(c.ID)
		if sortField == "id" {
			where = append(where, col+" "+cmp+" "+idPH)
		} else if c.Null {
			where = append(where, fmt.Sprintf("(%s IS NULL AND t.id %s %s)", col, cmp, idPH))
		} else {
			val, err := cursorValue(sf, c.Val)
			if err != nil {
				return nil, "", mcrm.FieldErr("cursor", "invalid_cursor", "cursor is malformed")
			}
			vPH := a.add(val)
			where = append(where, fmt.Sprintf("(%s %s %s OR (%s = %s AND t.id %s %s) OR %s IS NULL)", col, cmp, vPH, col, vPH, cmp, idPH, col))
		}
	}
	order := col + " " + dir + " NULLS LAST, t.id " + dir
	if sortField == "id" {
		order = "t.id " + dir
	}
	query := sc.cte + "SELECT " + selectList(e) + " FROM " + e.Name + " t WHERE " + strings.Join(where, " AND ") +
		" ORDER BY " + order + " LIMIT " + strconv.Itoa(lq.Limit+1)
	rows, err := q.QueryContext(ctx, query, a...)
	if err != nil {
		return nil, "", mapErr(err)
	}
	defer rows.Close()
	out := make([]record.Values, 0, lq.Limit)
	holders := newHolders(e)
	for rows.Next() {
		v, err := scanInto(e, rows, lq.RawLists, holders)
		if err != nil {
			return nil, "", err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, "", mapErr(err)
	}
	next := ""
	if len(out) > lq.Limit {
		out = out[:lq.Limit]
		last := out[len(out)-1]
		c := cursor{Sort: sortField, Desc: lq.Desc, ID: last["id"].(string)}
		if sortField != "id" {
			lv, ok := last[sortField]
			if !ok || lv == nil {
				c.Null = true
			} else {
				dbv, _ := toDB(sf, lv)
				c.Val = dbv
			}
		}
		next = encodeCursor(c)
	}
	return out, next, nil
}

func cursorValue(f *mcrm.Field, v any) (any, error) {
	switch f.Type {
	case mcrm.TInt, mcrm.TMoney:
		n, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("bad number")
		}
		return n.Int64()
	case mcrm.TBool:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("bad bool")
		}
		return b, nil
	default:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("bad string")
		}
		return s, nil
	}
}

// filterSQL renders one filter. Email and phone filters on contacts and
// leads go through the normalised contact_points index.
func filterSQL(e *mcrm.Entity, f Filter, a *args, tenant string) (string, error) {
	op, ok := ops[f.Op]
	if !ok {
		return "", mcrm.FieldErr(f.Field, "invalid_operator", "unknown operator "+f.Op)
	}
	if (f.Field == "email" || f.Field == "phone") && e.Field("emails") != nil {
		if f.Op != "eq" {
			return "", mcrm.FieldErr(f.Field, "invalid_operator", "only exact match is supported")
		}
		s, _ := f.Value.(string)
		return fmt.Sprintf("t.id IN (SELECT record_id FROM contact_points WHERE tenant_id = %s AND entity = '%s' AND kind = '%s' AND value_key = %s)",
			tenant, e.Name, f.Field, a.add(s)), nil
	}
	fd := e.Field(f.Field)
	if fd == nil || !fd.Filter {
		return "", mcrm.FieldErr(f.Field, "unknown_field", "this field cannot be used to filter")
	}
	if f.Value == nil {
		if f.Op != "eq" {
			return "", mcrm.FieldErr(f.Field, "invalid_operator", "only eq can match an empty value")
		}
		return "t." + f.Field + " IS NULL", nil
	}
	v, err := toDB(fd, f.Value)
	if err != nil {
		return "", err
	}
	return "t." + f.Field + " " + op + " " + a.add(v), nil
}
