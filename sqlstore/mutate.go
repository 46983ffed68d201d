package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"mcrm"
	"mcrm/normalize"
	"mcrm/record"
)

// RetentionDays is how long a soft-deleted record can be restored.
const RetentionDays = 30

// Create inserts a new record of e owned by p (or by values["owner_id"]
// when p may assign it) and returns it as stored.
func (tx *Tx) Create(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, values record.Values) (record.Values, error) {
	v, err := tx.PrepareCreate(ctx, p, e, values)
	if err != nil {
		return nil, err
	}
	if _, err := tx.InsertPrepared(ctx, p, e, []record.Values{v}); err != nil {
		return nil, err
	}
	return v, nil
}

// PrepareCreate runs every check and default of Create and returns the
// record as it would be stored, without writing it. InsertPrepared writes
// it; in between nothing else may change what the checks looked at (bulk
// imports insert prepared rows in batches).
func (tx *Tx) PrepareCreate(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, values record.Values) (record.Values, error) {
	if err := CanWrite(p, e); err != nil {
		return nil, err
	}
	v := make(record.Values, len(values)+8)
	for k, x := range values {
		v[k] = x
	}
	ts := time.Now().UTC()
	v["id"] = record.NewID()
	v["version"] = int64(1)
	v["created_at"], v["updated_at"] = ts, ts
	v["created_by"], v["updated_by"] = p.Actor(), p.Actor()
	if e.Owned {
		if v["owner_id"] == nil {
			if p.UserID == "" {
				return nil, mcrm.FieldErr("owner_id", "required", "an owner is required when acting as the system")
			}
			v["owner_id"] = p.UserID
		}
		if err := tx.checkOwner(ctx, p, e, v["owner_id"].(string)); err != nil {
			return nil, err
		}
	}
	if err := tx.beforeWrite(ctx, p, e, nil, v); err != nil {
		return nil, err
	}
	if err := tx.checkRefs(ctx, p, e, nil, v); err != nil {
		return nil, err
	}
	return v, nil
}

// insertBatch is how many rows one multi-row INSERT carries (26 columns
// each stays far below both databases' parameter limits).
const insertBatch = 64

// InsertPrepared writes records made by PrepareCreate, several per
// statement, and returns how many it wrote. If a statement fails, nothing
// of that statement is written: the rows before it are, and the caller may
// retry the rest one at a time to find the failing one.
func (tx *Tx) InsertPrepared(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, rows []record.Values) (int, error) {
	done := 0
	for len(rows) > 0 {
		n := min(len(rows), insertBatch)
		a := make([]any, 0, n*(len(e.Fields)+1))
		for _, v := range rows[:n] {
			a = append(a, p.TenantID)
			for i := range e.Fields {
				dbv, err := toDB(&e.Fields[i], v[e.Fields[i].Name])
				if err != nil {
					return done, err
				}
				a = append(a, dbv)
			}
		}
		if _, err := tx.ExecContext(ctx, insertSQL(tx.db.Dialect, e, n), a...); err != nil {
			return done, uniqueField(e, mapErr(err))
		}
		for _, v := range rows[:n] {
			if err := tx.syncContactPoints(ctx, p, e, v); err != nil {
				return done, err
			}
			tx.refOK(e.Name, v["id"].(string))
		}
		rows = rows[n:]
		done += n
	}
	return done, nil
}

// placeholder is the n-th parameter of a multi-row statement. Everywhere
// else the store writes $n, which both databases read; but SQLite looks a
// named parameter's name up by a linear scan, so binding the thousand
// parameters of a batch INSERT by name is quadratic. SQLite's anonymous ?
// is bound by position in constant time.
func placeholder(d Dialect, n int) string {
	if d == SQLite {
		return "?"
	}
	return "$" + strconv.Itoa(n)
}

// insertSQL is the INSERT of every column of e for n rows, built once per
// entity and row count: bulk imports run it for every batch.
func insertSQL(d Dialect, e *mcrm.Entity, n int) string {
	key := string(d) + "/" + e.Name + "/" + strconv.Itoa(n)
	if q, ok := insertCache.Load(key); ok {
		return q.(string)
	}
	cols := []string{"tenant_id"}
	for i := range e.Fields {
		cols = append(cols, e.Fields[i].Name)
	}
	var b strings.Builder
	b.WriteString("INSERT INTO " + e.Name + " (" + strings.Join(cols, ", ") + ") VALUES ")
	ph := 1
	for r := 0; r < n; r++ {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range cols {
			if c > 0 {
				b.WriteString(", ")
			}
			b.WriteString(placeholder(d, ph))
			ph++
		}
		b.WriteByte(')')
	}
	q := b.String()
	insertCache.Store(key, q)
	return q
}

var insertCache sync.Map

// uniqueField names the field of a unique-constraint conflict where the
// entity has one obvious candidate, so the client gets a field to fix.
func uniqueField(e *mcrm.Entity, err error) error {
	me, ok := err.(*mcrm.Error)
	if !ok || me.Code != mcrm.EConflict || !strings.Contains(me.Message, "unique") {
		return err
	}
	msg := me.Err.Error()
	for _, name := range []string{"external_id", "email", "name"} {
		if e.Field(name) != nil && (strings.Contains(msg, e.Name+"."+name) || strings.Contains(msg, e.Name+"_"+name)) {
			return &mcrm.Error{Code: mcrm.EConflict, Message: "a record with the same " + name + " exists",
				Fields: []mcrm.FieldError{{Field: name, Code: "duplicate", Message: "already used by another record"}}, Err: me.Err}
		}
	}
	return err
}

// Update applies patch to the record id if its version is still ifVersion.
// A stale version is EPreconditionFailed and changes nothing.
func (tx *Tx) Update(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, id string, ifVersion int64, patch record.Values) (record.Values, error) {
	return tx.update(ctx, p, e, id, ifVersion, patch, false)
}

// UpdateWithOwner is Update that may also change owner_id (imports that
// map an owner column); the new owner is checked as Transfer checks it.
func (tx *Tx) UpdateWithOwner(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, id string, ifVersion int64, patch record.Values) (record.Values, error) {
	if owner, ok := patch["owner_id"].(string); ok {
		if err := tx.checkOwner(ctx, p, e, owner); err != nil {
			return nil, err
		}
	}
	return tx.update(ctx, p, e, id, ifVersion, patch, true)
}

func (tx *Tx) update(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, id string, ifVersion int64, patch record.Values, allowOwner bool) (record.Values, error) {
	if err := CanWrite(p, e); err != nil {
		return nil, err
	}
	if _, ok := patch["owner_id"]; ok && !allowOwner {
		return nil, mcrm.FieldErr("owner_id", "read_only", "change the owner with POST /api/v1/"+e.Name+"/{id}/transfer")
	}
	old, err := tx.getForWrite(ctx, p, e, id)
	if err != nil {
		return nil, err
	}
	if ifVersion >= 0 && old["version"].(int64) != ifVersion {
		return nil, mcrm.Errorf(mcrm.EPreconditionFailed, "the record was changed by someone else (version %d, you sent %d)", old["version"].(int64), ifVersion)
	}
	v := make(record.Values, len(old))
	for k, x := range old {
		v[k] = x
	}
	for k, x := range patch {
		v[k] = x
	}
	v["version"] = old["version"].(int64) + 1
	v["updated_at"] = time.Now().UTC()
	v["updated_by"] = p.Actor()
	if err := tx.beforeWrite(ctx, p, e, old, v); err != nil {
		return nil, err
	}
	if err := tx.checkRefs(ctx, p, e, old, v); err != nil {
		return nil, err
	}
	var a args
	var sets []string
	for i := range e.Fields {
		f := &e.Fields[i]
		switch f.Name {
		case "id", "created_at", "created_by":
			continue
		}
		dbv, err := toDB(f, v[f.Name])
		if err != nil {
			return nil, err
		}
		sets = append(sets, f.Name+" = "+a.add(dbv))
	}
	q := "UPDATE " + e.Name + " SET " + strings.Join(sets, ", ") + " WHERE tenant_id = " + a.add(p.TenantID) +
		" AND id = " + a.add(id) + " AND version = " + a.add(old["version"]) + " AND deleted_at IS NULL"
	res, err := tx.ExecContext(ctx, q, a...)
	if err != nil {
		return nil, uniqueField(e, mapErr(err))
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, mcrm.Errorf(mcrm.EPreconditionFailed, "the record was changed by someone else")
	}
	if err := tx.syncContactPoints(ctx, p, e, v); err != nil {
		return nil, err
	}
	delete(v, "deleted_at")
	return v, nil
}

// getForWrite reads a live record p may change; records outside p's write
// scope are not found.
func (tx *Tx) getForWrite(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, id string) (record.Values, error) {
	if !record.ValidID(id) {
		return nil, mcrm.ErrNotFound
	}
	var a args
	tenant := a.add(p.TenantID)
	sc := writeScope(p, e, &a, tenant)
	q := sc.cte + "SELECT " + selectList(e) + " FROM " + e.Name + " t WHERE t.tenant_id = " + tenant + " AND t.id = " + a.add(id) + " AND t.deleted_at IS NULL"
	if sc.pred != "" {
		q += " AND " + sc.pred
	}
	v, err := scanRow(e, tx.QueryRowContext(ctx, q, a...))
	if err != nil {
		return nil, mapErr(err)
	}
	return v, nil
}

// Transfer gives the record a new owner. A manager may hand records to
// anyone below them; a rep only to themselves.
func (tx *Tx) Transfer(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, id string, ifVersion int64, owner string) (record.Values, error) {
	if !e.Owned {
		return nil, mcrm.Errorf(mcrm.ENotFound, "%s have no owner", e.Name)
	}
	if err := tx.checkOwner(ctx, p, e, owner); err != nil {
		return nil, err
	}
	return tx.update(ctx, p, e, id, ifVersion, record.Values{"owner_id": owner}, true)
}

// Delete soft-deletes the record; it stays restorable for RetentionDays.
func (tx *Tx) Delete(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, id string, ifVersion int64) error {
	if err := tx.flushPoints(ctx); err != nil {
		return err
	}
	if err := CanWrite(p, e); err != nil {
		return err
	}
	old, err := tx.getForWrite(ctx, p, e, id)
	if err != nil {
		return err
	}
	if ifVersion >= 0 && old["version"].(int64) != ifVersion {
		return mcrm.Errorf(mcrm.EPreconditionFailed, "the record was changed by someone else")
	}
	if e.Name == "users" {
		if id == p.UserID {
			return mcrm.Errorf(mcrm.EForbidden, "you cannot delete your own user")
		}
		if _, err := tx.RevokeUserSessions(ctx, p.TenantID, id, "", RevokedRights); err != nil {
			return err
		}
	}
	res, err := tx.ExecContext(ctx, "UPDATE "+e.Name+" SET deleted_at = $1, version = version + 1, updated_at = $1, updated_by = $2 WHERE tenant_id = $3 AND id = $4 AND version = $5 AND deleted_at IS NULL",
		now(), p.Actor(), p.TenantID, id, old["version"])
	if err != nil {
		return mapErr(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return mcrm.Errorf(mcrm.EPreconditionFailed, "the record was changed by someone else")
	}
	delete(tx.refCache, e.Name+"/"+id)
	return nil
}

// Restore brings back a record deleted less than RetentionDays ago.
func (tx *Tx) Restore(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, id string) (record.Values, error) {
	if err := CanWrite(p, e); err != nil {
		return nil, err
	}
	old, err := get(ctx, tx, p, e, id, true)
	if err != nil {
		return nil, err
	}
	if !p.WritesAll() && e.Owned {
		if err := tx.checkOwner(ctx, p, e, old["owner_id"].(string)); err != nil {
			return nil, mcrm.ErrNotFound
		}
	}
	cutoff := time.Now().UTC().Add(-RetentionDays * 24 * time.Hour).Format(timeLayout)
	res, err := tx.ExecContext(ctx, "UPDATE "+e.Name+" SET deleted_at = NULL, version = version + 1, updated_at = $1, updated_by = $2 WHERE tenant_id = $3 AND id = $4 AND deleted_at IS NOT NULL AND deleted_at >= $5",
		now(), p.Actor(), p.TenantID, id, cutoff)
	if err != nil {
		return nil, uniqueField(e, mapErr(err))
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, mcrm.ErrNotFound
	}
	return get(ctx, tx, p, e, id, false)
}

// PurgeDeleted removes for good the records of every tenant deleted more
// than RetentionDays before now, first clearing references to them.
// Users are never purged: they stay as the authors of history.
func (db *DB) PurgeDeleted(ctx context.Context, now time.Time) (int64, error) {
	cutoff := now.UTC().Add(-RetentionDays * 24 * time.Hour).Format(timeLayout)
	var total int64
	err := db.InTx(ctx, func(tx *Tx) error {
		for i := len(mcrm.Entities) - 1; i >= 0; i-- {
			e := mcrm.Entities[i]
			if e.Name == "users" {
				continue
			}
			doomed := "SELECT id FROM " + e.Name + " d WHERE d.tenant_id = x.tenant_id AND d.deleted_at IS NOT NULL AND d.deleted_at < $1"
			for _, other := range mcrm.Entities {
				for _, f := range other.Fields {
					if f.Type == mcrm.TRef && f.Ref == e.Name && f.Name != "owner_id" {
						if _, err := tx.ExecContext(ctx, "UPDATE "+other.Name+" AS x SET "+f.Name+" = NULL WHERE "+f.Name+" IN ("+doomed+")", cutoff); err != nil {
							return mapErr(err)
						}
					}
				}
			}
			if e.Name == "teams" {
				if _, err := tx.ExecContext(ctx, "UPDATE users AS x SET team_id = NULL WHERE team_id IN ("+doomed+")", cutoff); err != nil {
					return mapErr(err)
				}
			}
			if e.Name != "notes" && e.Owned {
				if _, err := tx.ExecContext(ctx, "DELETE FROM notes AS x WHERE parent_type = '"+e.Name+"' AND parent_id IN ("+doomed+")", cutoff); err != nil {
					return mapErr(err)
				}
			}
			if e.Field("emails") != nil {
				if _, err := tx.ExecContext(ctx, "DELETE FROM contact_points AS x WHERE entity = '"+e.Name+"' AND record_id IN ("+doomed+")", cutoff); err != nil {
					return mapErr(err)
				}
			}
			res, err := tx.ExecContext(ctx, "DELETE FROM "+e.Name+" WHERE deleted_at IS NOT NULL AND deleted_at < $1", cutoff)
			if err != nil {
				return mapErr(err)
			}
			n, _ := res.RowsAffected()
			total += n
		}
		return nil
	})
	return total, err
}

// checkOwner verifies that owner is a live user of p's tenant whom p may
// give records to: anyone for admins and system actors, otherwise p or a
// user below p in the hierarchy.
func (tx *Tx) checkOwner(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, owner string) error {
	if !record.ValidID(owner) {
		return mcrm.FieldErr("owner_id", "unknown_reference", "no such user")
	}
	cacheKey := "owner/" + e.Name + "/" + p.UserID + "/" + owner
	if tx.refCache[cacheKey] {
		return nil
	}
	var a args
	tenant := a.add(p.TenantID)
	q := "SELECT COUNT(*) FROM users t WHERE t.tenant_id = " + tenant + " AND t.id = " + a.add(owner) + " AND t.deleted_at IS NULL"
	// The owner must be someone the caller's write scope reaches: a
	// record given away must still be one the caller could have written.
	scope := ""
	switch {
	case p.System:
		scope = "all"
	case p.Access != nil:
		scope = p.Access.RecordScope(e.Name, true)
	case p.WritesAll():
		scope = "all"
	default:
		scope = "team"
	}
	switch scope {
	case "all":
	case "team":
		user := a.add(p.UserID)
		q = visibleOwnersCTE(tenant, user) + q + " AND t.id IN (SELECT id FROM visible)"
	case "territory":
		user := a.add(p.UserID)
		q += " AND t.region = (SELECT me.region FROM users me WHERE me.tenant_id = " + tenant + " AND me.id = " + user + ")"
	case "own":
		q += " AND t.id = " + a.add(p.UserID)
	default:
		q += " AND 1 = 0"
	}
	var n int
	if err := tx.QueryRowContext(ctx, q, a...).Scan(&n); err != nil {
		return mapErr(err)
	}
	if n != 1 {
		return mcrm.FieldErr("owner_id", "unknown_reference", "no such user, or not one you may assign records to")
	}
	if tx.refCache == nil {
		tx.refCache = map[string]bool{}
	}
	tx.refCache[cacheKey] = true
	return nil
}

// refOK remembers that entity/id exists and is visible within this
// transaction, so bulk imports do not look the same account up 8,000 times.
func (tx *Tx) refOK(entity, id string) {
	if tx.refCache == nil {
		tx.refCache = map[string]bool{}
	}
	tx.refCache[entity+"/"+id] = true
}

// checkRefs verifies every reference set or changed by the write: the
// target must be a live record of the same tenant that p may read (a rep
// cannot link a contact to an account they cannot see).
func (tx *Tx) checkRefs(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, old, v record.Values) error {
	check := func(path, target string, id any) error {
		s, _ := id.(string)
		if s == "" {
			return nil
		}
		if tx.refCache[target+"/"+s] {
			return nil
		}
		te := mcrm.EntityByName(target)
		if _, err := get(ctx, tx, p, te, s, false); err != nil {
			if mcrm.ErrorCode(err) == mcrm.ENotFound {
				return mcrm.FieldErr(path, "unknown_reference", "no such "+te.Singular)
			}
			return err
		}
		tx.refOK(target, s)
		return nil
	}
	for i := range e.Fields {
		f := &e.Fields[i]
		if f.System && f.Name != "owner_id" {
			continue
		}
		if f.Name == "owner_id" {
			continue // checked by checkOwner
		}
		changed := old == nil || fmt.Sprint(old[f.Name]) != fmt.Sprint(v[f.Name])
		if !changed {
			continue
		}
		switch f.Type {
		case mcrm.TRef:
			if err := check(f.Name, f.Ref, v[f.Name]); err != nil {
				return err
			}
		case mcrm.TList:
			items, _ := v[f.Name].([]map[string]any)
			for n, it := range items {
				for _, sub := range f.Item {
					if sub.Type == mcrm.TRef {
						if err := check(fmt.Sprintf("%s.%d.%s", f.Name, n, sub.Name), sub.Ref, it[sub.Name]); err != nil {
							return err
						}
					}
				}
			}
		}
	}
	return nil
}

// syncContactPoints rewrites the normalised email and phone index rows of
// a contact or lead.
func (tx *Tx) syncContactPoints(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, v record.Values) error {
	if e.Field("emails") == nil {
		return nil
	}
	id := v["id"].(string)
	if v["version"].(int64) > 1 {
		if err := tx.flushPoints(ctx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM contact_points WHERE tenant_id = $1 AND entity = $2 AND record_id = $3`, p.TenantID, e.Name, id); err != nil {
			return mapErr(err)
		}
	}
	seen := map[string]bool{}
	add := func(kind, key string) {
		if key == "" || seen[kind+key] {
			return
		}
		seen[kind+key] = true
		tx.points = append(tx.points, contactPoint{tenant: p.TenantID, entity: e.Name, record: id, kind: kind, key: key})
	}
	emails, _ := v["emails"].([]map[string]any)
	for _, it := range emails {
		s, _ := it["value"].(string)
		add("email", normalize.EmailKey(s)) // validated on the way in
	}
	phones, _ := v["phones"].([]map[string]any)
	for _, it := range phones {
		s, _ := it["value"].(string)
		add("phone", s)
	}
	if tx.BufferPoints && len(tx.points) < pointBatch {
		return nil
	}
	return tx.flushPoints(ctx)
}

// contactPoint is one row of contact_points waiting to be written.
type contactPoint struct{ tenant, entity, record, kind, key string }

// pointBatch is how many contact points a bulk import writes per INSERT.
const pointBatch = 256

// flushPoints writes the buffered contact points in multi-row INSERTs.
// Everything that reads contact_points, and the commit, flushes first, so
// the buffer is never visible as missing data.
func (tx *Tx) flushPoints(ctx context.Context) error {
	for len(tx.points) > 0 {
		n := min(len(tx.points), pointBatch)
		a := make([]any, 0, 5*n)
		vals := make([]string, n)
		for i, cp := range tx.points[:n] {
			a = append(a, cp.tenant, cp.entity, cp.record, cp.kind, cp.key)
			k := 5*i + 1
			d := tx.db.Dialect
			vals[i] = "(" + placeholder(d, k) + ", " + placeholder(d, k+1) + ", " + placeholder(d, k+2) + ", " + placeholder(d, k+3) + ", " + placeholder(d, k+4) + ")"
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO contact_points (tenant_id, entity, record_id, kind, value_key) VALUES "+strings.Join(vals, ", "), a...); err != nil {
			return mapErr(err)
		}
		tx.points = tx.points[n:]
	}
	tx.points = nil
	return nil
}

// FindIDs returns up to two ids of live records of e in p's scope whose
// field equals value: enough to tell none, one and ambiguous.
func (tx *Tx) FindIDs(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, field string, value any) ([]string, error) {
	if err := tx.flushPoints(ctx); err != nil {
		return nil, err
	}
	var a args
	tenant := a.add(p.TenantID)
	sc := readScope(p, e, &a, tenant)
	var cond string
	if (field == "email" || field == "phone") && e.Field("emails") != nil {
		cond = "t.id IN (SELECT record_id FROM contact_points WHERE tenant_id = " + tenant + " AND entity = '" + e.Name + "' AND kind = '" + field + "' AND value_key = " + a.add(value) + ")"
	} else {
		f := e.Field(field)
		if f == nil || !f.Filter {
			return nil, mcrm.FieldErr(field, "unknown_field", "this field cannot be used to look records up")
		}
		cond = "t." + field + " = " + a.add(value)
	}
	q := sc.cte + "SELECT t.id FROM " + e.Name + " t WHERE t.tenant_id = " + tenant + " AND t.deleted_at IS NULL AND " + cond
	if sc.pred != "" {
		q += " AND " + sc.pred
	}
	rows, err := tx.QueryContext(ctx, q+" LIMIT 2", a...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, mapErr(rows.Err())
}

// FindByContactPoint returns the ids of live records of e in p's scope
// with the given normalised email or phone (kind "email" or "phone").
func (tx *Tx) FindByContactPoint(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, kind, key string) ([]string, error) {
	return tx.FindIDs(ctx, p, e, kind, key)
}

// HasAnyValue reports whether any live record of e in the tenant has a
// value in field (for email and phone on contacts and leads: any such
// contact point). A bulk import into a tenant with none can skip looking
// up the keys it has not written itself.
func (tx *Tx) HasAnyValue(ctx context.Context, tenantID string, e *mcrm.Entity, field string) (bool, error) {
	if err := tx.flushPoints(ctx); err != nil {
		return false, err
	}
	var q string
	switch {
	case (field == "email" || field == "phone") && e.Field("emails") != nil:
		q = "SELECT COUNT(*) FROM (SELECT 1 FROM contact_points WHERE tenant_id = $1 AND entity = '" + e.Name + "' AND kind = '" + field + "' LIMIT 1) x"
	case e.Field(field) != nil && !e.Field(field).System:
		q = "SELECT COUNT(*) FROM (SELECT 1 FROM " + e.Name + " WHERE tenant_id = $1 AND " + field + " IS NOT NULL AND deleted_at IS NULL LIMIT 1) x"
	default:
		return true, nil
	}
	var n int
	if err := tx.QueryRowContext(ctx, q, tenantID).Scan(&n); err != nil {
		return false, mapErr(err)
	}
	return n > 0, nil
}
