package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"mcrm"
	"mcrm/authz"
	"mcrm/record"
)

// roleCache keeps tenants' own roles in memory: every request resolves
// its principal's role, and a role is read far more often than changed.
// A change evicts in its transaction and at commit, and on PostgreSQL
// tells every node through the same NOTIFY as sessions (AZ-07: a change
// applies to the next request).
type roleCache struct {
	mu    sync.RWMutex
	roles map[string]*authz.Role // tenant + "/" + name → role (nil: known not to exist)
}

func (c *roleCache) get(key string) (*authz.Role, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.roles[key]
	return r, ok
}

func (c *roleCache) put(key string, r *authz.Role) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.roles == nil || len(c.roles) > 10_000 {
		c.roles = map[string]*authz.Role{}
	}
	c.roles[key] = r
}

func (c *roleCache) evict(key string) {
	c.mu.Lock()
	delete(c.roles, key)
	c.mu.Unlock()
}

func (c *roleCache) clear() {
	c.mu.Lock()
	c.roles = nil
	c.mu.Unlock()
}

// builtinRoles are the builtin roles, copied once: every request resolves
// its role, and authz.Builtin deep-copies on each call so callers cannot
// change the shared definition. The store hands the same copy to every
// principal; nothing writes to a resolved role.
var builtinRoles = sync.OnceValue(func() map[string]*authz.Role {
	m := map[string]*authz.Role{}
	for _, r := range authz.BuiltinRoles() {
		m[r.Name] = r
	}
	return m
})

// ErrUnknownRole is a role name that is neither builtin nor the tenant's.
var ErrUnknownRole = mcrm.FieldErr("role", "unknown_role", "not a role of this tenant")

// Role resolves a role name in a tenant: a builtin one, or one the tenant
// defined. Unknown names are ErrUnknownRole.
func (db *DB) Role(ctx context.Context, tenantID, name string) (*authz.Role, error) {
	if r, ok := builtinRoles()[name]; ok {
		return r, nil
	}
	key := tenantID + "/" + name
	if r, ok := db.roles.get(key); ok {
		if r == nil {
			return nil, ErrUnknownRole
		}
		return r, nil
	}
	var raw string
	err := db.r.QueryRowContext(ctx, `SELECT definition FROM roles WHERE tenant_id = $1 AND name = $2`, tenantID, name).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrUnknownRole
	}
	if err != nil {
		return nil, mapErr(err)
	}
	var r authz.Role
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return nil, &mcrm.Error{Code: mcrm.EInternal, Message: "stored role is unreadable", Err: err}
	}
	r.Name, r.Builtin = name, false
	db.roles.put(key, &r)
	return &r, nil
}

// Roles lists the builtin roles and the tenant's own.
func (db *DB) Roles(ctx context.Context, tenantID string) ([]*authz.Role, error) {
	out := authz.BuiltinRoles()
	rows, err := db.r.QueryContext(ctx, `SELECT name, definition FROM roles WHERE tenant_id = $1 ORDER BY name`, tenantID)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, raw string
		if err := rows.Scan(&name, &raw); err != nil {
			return nil, mapErr(err)
		}
		var r authz.Role
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			return nil, &mcrm.Error{Code: mcrm.EInternal, Message: "stored role is unreadable", Err: err}
		}
		r.Name, r.Builtin = name, false
		out = append(out, &r)
	}
	return out, mapErr(rows.Err())
}

// SaveRole creates or replaces a tenant role. The caller has validated it
// and checked that the actor may grant it (authz.CanGrant). The event is
// written in the same transaction; users holding the role see the change
// on their next request.
func (db *DB) SaveRole(ctx context.Context, p *mcrm.Principal, r *authz.Role, ev Event) (created bool, err error) {
	if authz.IsBuiltinName(r.Name) {
		return false, mcrm.FieldErr("name", "builtin_role", "builtin roles cannot be changed")
	}
	stored := *r
	stored.Builtin = false
	raw, err := json.Marshal(stored)
	if err != nil {
		return false, err
	}
	err = db.InTx(ctx, func(tx *Tx) error {
		t := ts(time.Now())
		res, err := tx.ExecContext(ctx, `UPDATE roles SET definition = $1, version = version + 1, updated_at = $2, updated_by = $3 WHERE tenant_id = $4 AND name = $5`,
			string(raw), t, p.Actor(), p.TenantID, r.Name)
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			created = true
			if _, err := tx.ExecContext(ctx, `INSERT INTO roles (tenant_id, name, definition, version, created_at, updated_at, updated_by) VALUES ($1, $2, $3, 1, $4, $4, $5)`,
				p.TenantID, r.Name, string(raw), t, p.Actor()); err != nil {
				return mapErr(err)
			}
		}
		tx.evictRole(p.TenantID, r.Name)
		return tx.Event(ctx, ev)
	})
	return created, err
}

// DeleteRole removes a tenant role that no live user holds (409
// otherwise: reassign them first, so nobody is left without a role).
func (db *DB) DeleteRole(ctx context.Context, p *mcrm.Principal, name string, ev Event) error {
	if authz.IsBuiltinName(name) {
		return mcrm.FieldErr("name", "builtin_role", "builtin roles cannot be deleted")
	}
	return db.InTx(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE tenant_id = $1 AND role = $2 AND deleted_at IS NULL`, p.TenantID, name).Scan(&n); err != nil {
			return mapErr(err)
		}
		if n > 0 {
			return mcrm.Errorf(mcrm.EConflict, "%d users hold this role; give them another first", n)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM roles WHERE tenant_id = $1 AND name = $2`, p.TenantID, name)
		if err != nil {
			return mapErr(err)
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return mcrm.Errorf(mcrm.ENotFound, "no such role")
		}
		tx.evictRole(p.TenantID, name)
		return tx.Event(ctx, ev)
	})
}

// checkRole refuses a user's role that the tenant does not have.
func (tx *Tx) checkRole(ctx context.Context, tenantID, name string) error {
	if authz.IsBuiltinName(name) {
		return nil
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM roles WHERE tenant_id = $1 AND name = $2`, tenantID, name).Scan(&n); err != nil {
		return mapErr(err)
	}
	if n == 0 {
		return ErrUnknownRole
	}
	return nil
}

func (tx *Tx) evictRole(tenantID, name string) { tx.evict(tenantID, "r", name) }

// Share is one record shared with a user or a team.
type Share struct {
	ID        string    `json:"id"`
	Entity    string    `json:"entity"`
	RecordID  string    `json:"record_id"`
	UserID    string    `json:"user_id,omitempty"`
	TeamID    string    `json:"team_id,omitempty"`
	Access    string    `json:"access"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

// ShareRecord shares a record the caller may change with a user or a
// team of the tenant (AZ-03 sharing). Sharing is an edit of the record,
// so the caller's write scope decides whether it may.
func (db *DB) ShareRecord(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, recordID string, sh Share, ev Event) (Share, error) {
	if !e.Owned {
		return Share{}, mcrm.Errorf(mcrm.EInvalid, "only owned records are shared")
	}
	if (sh.UserID == "") == (sh.TeamID == "") {
		return Share{}, mcrm.Errorf(mcrm.EInvalid, "give exactly one of user_id and team_id")
	}
	if sh.Access != "read" && sh.Access != "edit" {
		return Share{}, mcrm.FieldErr("access", "invalid", "read or edit")
	}
	err := db.InTx(ctx, func(tx *Tx) error {
		if err := tx.writable(ctx, p, e, recordID); err != nil {
			return err
		}
		sys := &mcrm.Principal{TenantID: p.TenantID, System: true}
		if sh.UserID != "" {
			if _, err := get(ctx, tx, sys, mcrm.EntityByName("users"), sh.UserID, false); err != nil {
				return mcrm.FieldErr("user_id", "unknown_reference", "no such user")
			}
		} else if _, err := get(ctx, tx, sys, mcrm.EntityByName("teams"), sh.TeamID, false); err != nil {
			return mcrm.FieldErr("team_id", "unknown_reference", "no such team")
		}
		sh.ID, sh.Entity, sh.RecordID, sh.CreatedAt, sh.CreatedBy = record.NewID(), e.Name, recordID, time.Now().UTC(), p.Actor()
		if _, err := tx.ExecContext(ctx, `DELETE FROM record_shares WHERE tenant_id = $1 AND entity = $2 AND record_id = $3 AND (user_id = $4 OR team_id = $5)`,
			p.TenantID, e.Name, recordID, nullIfEmpty(sh.UserID), nullIfEmpty(sh.TeamID)); err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO record_shares (tenant_id, id, entity, record_id, user_id, team_id, access, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			p.TenantID, sh.ID, e.Name, recordID, nullIfEmpty(sh.UserID), nullIfEmpty(sh.TeamID), sh.Access, ts(sh.CreatedAt), sh.CreatedBy); err != nil {
			return mapErr(err)
		}
		return tx.Event(ctx, ev)
	})
	return sh, err
}

// Unshare removes a share of a record the caller may change.
func (db *DB) Unshare(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, recordID, shareID string, ev Event) error {
	return db.InTx(ctx, func(tx *Tx) error {
		if err := tx.writable(ctx, p, e, recordID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM record_shares WHERE tenant_id = $1 AND entity = $2 AND record_id = $3 AND id = $4`, p.TenantID, e.Name, recordID, shareID)
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return mcrm.Errorf(mcrm.ENotFound, "no such share")
		}
		return tx.Event(ctx, ev)
	})
}

// Shares lists the shares of a record the caller can see.
func (db *DB) Shares(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, recordID string) ([]Share, error) {
	if _, err := db.Get(ctx, p, e, recordID); err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT id, user_id, team_id, access, created_at, created_by FROM record_shares WHERE tenant_id = $1 AND entity = $2 AND record_id = $3 ORDER BY created_at, id`,
		p.TenantID, e.Name, recordID)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	out := []Share{}
	for rows.Next() {
		sh := Share{Entity: e.Name, RecordID: recordID}
		var u, t sql.NullString
		var at string
		if err := rows.Scan(&sh.ID, &u, &t, &sh.Access, &at, &sh.CreatedBy); err != nil {
			return nil, mapErr(err)
		}
		sh.UserID, sh.TeamID, sh.CreatedAt = u.String, t.String, parseTS(at)
		out = append(out, sh)
	}
	return out, mapErr(rows.Err())
}

// writable checks that p may change the record (its write scope reaches
// it), answering 404 like a missing record otherwise.
func (tx *Tx) writable(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, id string) error {
	var a args
	tenant := a.add(p.TenantID)
	sc := writeScope(p, e, &a, tenant)
	q := sc.cte + "SELECT 1 FROM " + e.Name + " t WHERE t.tenant_id = " + tenant + " AND t.id = " + a.add(id) + " AND t.deleted_at IS NULL"
	if sc.pred != "" {
		q += " AND " + sc.pred
	}
	var one int
	err := tx.QueryRowContext(ctx, q, a...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return mcrm.Errorf(mcrm.ENotFound, "no such %s", e.Singular)
	}
	return mapErr(err)
}

// SetAccountMember adds (or changes) a user's membership in an account's
// team: read or edit access to the account and its contacts,
// opportunities and cases.
func (db *DB) SetAccountMember(ctx context.Context, p *mcrm.Principal, accountID, userID, access string, ev Event) error {
	if access != "read" && access != "edit" {
		return mcrm.FieldErr("access", "invalid", "read or edit")
	}
	return db.InTx(ctx, func(tx *Tx) error {
		accounts := mcrm.EntityByName("accounts")
		if err := tx.writable(ctx, p, accounts, accountID); err != nil {
			return err
		}
		sys := &mcrm.Principal{TenantID: p.TenantID, System: true}
		if _, err := get(ctx, tx, sys, mcrm.EntityByName("users"), userID, false); err != nil {
			return mcrm.FieldErr("user_id", "unknown_reference", "no such user")
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM account_team WHERE tenant_id = $1 AND account_id = $2 AND user_id = $3`, p.TenantID, accountID, userID); err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO account_team (tenant_id, account_id, user_id, access, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6)`,
			p.TenantID, accountID, userID, access, now(), p.Actor()); err != nil {
			return mapErr(err)
		}
		return tx.Event(ctx, ev)
	})
}

// RemoveAccountMember ends a user's membership in an account's team.
func (db *DB) RemoveAccountMember(ctx context.Context, p *mcrm.Principal, accountID, userID string, ev Event) error {
	return db.InTx(ctx, func(tx *Tx) error {
		if err := tx.writable(ctx, p, mcrm.EntityByName("accounts"), accountID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM account_team WHERE tenant_id = $1 AND account_id = $2 AND user_id = $3`, p.TenantID, accountID, userID)
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return mcrm.Errorf(mcrm.ENotFound, "not a member")
		}
		return tx.Event(ctx, ev)
	})
}

// Writable reports (nil) whether p may change the record, ENotFound if
// not: the explain endpoint's record check.
func (db *DB) Writable(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, id string) error {
	return db.InTx(ctx, func(tx *Tx) error { return tx.writable(ctx, p, e, id) })
}

// UserRef is a live user's id, name and role.
type UserRef struct {
	ID, Name, Role string
}

// UserRole returns a live user's role.
func (db *DB) UserRole(ctx context.Context, tenantID, userID string) (UserRef, error) {
	u := UserRef{ID: userID}
	err := db.r.QueryRowContext(ctx, `SELECT name, role FROM users WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL`, tenantID, userID).Scan(&u.Name, &u.Role)
	return u, mapErr(err)
}

// UsersByRole lists the tenant's live, active users with their roles.
func (db *DB) UsersByRole(ctx context.Context, tenantID string) ([]UserRef, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, name, role FROM users WHERE tenant_id = $1 AND deleted_at IS NULL AND (active IS NULL OR active = $2) ORDER BY name, id`, tenantID, true)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []UserRef
	for rows.Next() {
		var u UserRef
		if err := rows.Scan(&u.ID, &u.Name, &u.Role); err != nil {
			return nil, mapErr(err)
		}
		out = append(out, u)
	}
	return out, mapErr(rows.Err())
}
