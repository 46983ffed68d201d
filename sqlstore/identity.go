package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"unicode"
	"unicode/utf8"

	"mcrm"
	"mcrm/record"
)

// Tenant is one customer organisation.
type Tenant struct {
	ID              string
	Name            string
	DefaultRegion   string
	DefaultCurrency string
}

// NewTenant describes the tenant and first admin to create.
type NewTenant struct {
	Name         string
	AdminEmail   string
	AdminName    string
	PasswordHash string
	Region       string // default phone region, e.g. US
	Currency     string // default currency, e.g. USD
}

// DefaultStages is the pipeline every new tenant starts with.
var DefaultStages = []map[string]any{
	{"name": "Prospecting", "probability": int64(10), "outcome": "open"},
	{"name": "Qualification", "probability": int64(20), "outcome": "open"},
	{"name": "Proposal", "probability": int64(50), "outcome": "open"},
	{"name": "Negotiation", "probability": int64(75), "outcome": "open"},
	{"name": "Closed Won", "probability": int64(100), "outcome": "won"},
	{"name": "Closed Lost", "probability": int64(0), "outcome": "lost"},
}

// CreateTenant creates a tenant, its first admin (with the given password
// hash) and a default sales pipeline in one transaction.
func (db *DB) CreateTenant(ctx context.Context, nt NewTenant) (Tenant, string, error) {
	t := Tenant{ID: record.NewID(), Name: strings.TrimSpace(nt.Name), DefaultRegion: nt.Region, DefaultCurrency: nt.Currency}
	if t.DefaultRegion == "" {
		t.DefaultRegion = "US"
	}
	if t.DefaultCurrency == "" {
		t.DefaultCurrency = "USD"
	}
	if t.Name == "" || len(t.Name) > 100 || strings.ContainsFunc(t.Name, func(r rune) bool {
		return unicode.IsControl(r) || r == '/' || r == '\\' || r == utf8.RuneError
	}) {
		return t, "", mcrm.FieldErr("name", "invalid", "tenant name must be 1 to 100 printable characters without slashes")
	}
	var adminID string
	err := db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, name, name_key, default_region, default_currency, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			t.ID, t.Name, strings.ToLower(t.Name), t.DefaultRegion, t.DefaultCurrency, now()); err != nil {
			err = mapErr(err)
			if mcrm.ErrorCode(err) == mcrm.EConflict {
				return mcrm.Errorf(mcrm.EConflict, "a tenant with this name exists")
			}
			return err
		}
		sys := &mcrm.Principal{TenantID: t.ID, System: true}
		admin, err := tx.Create(ctx, sys, mcrm.EntityByName("users"), record.Values{
			"email": nt.AdminEmail, "name": nt.AdminName, "role": mcrm.RoleAdmin,
		})
		if err != nil {
			return err
		}
		adminID = admin["id"].(string)
		if err := tx.SetPasswordHash(ctx, t.ID, adminID, nt.PasswordHash); err != nil {
			return err
		}
		stages := make([]map[string]any, len(DefaultStages))
		for i, s := range DefaultStages {
			stages[i] = map[string]any{"name": s["name"], "probability": s["probability"], "outcome": s["outcome"]}
		}
		if _, err := tx.Create(ctx, sys, mcrm.EntityByName("pipelines"), record.Values{"name": "Sales", "is_default": true, "stages": stages}); err != nil {
			return err
		}
		return tx.Event(ctx, Event{TenantID: t.ID, Actor: "system", Action: "tenant_created", Object: "tenants/" + t.ID, Outcome: "success"})
	})
	return t, adminID, err
}

// TenantByName finds a tenant by its name, case-insensitively.
func (db *DB) TenantByName(ctx context.Context, name string) (Tenant, error) {
	var t Tenant
	err := db.r.QueryRowContext(ctx, `SELECT id, name, default_region, default_currency FROM tenants WHERE name_key = $1`, strings.ToLower(strings.TrimSpace(name))).
		Scan(&t.ID, &t.Name, &t.DefaultRegion, &t.DefaultCurrency)
	return t, mapErr(err)
}

// TenantByID finds a tenant by id.
func (db *DB) TenantByID(ctx context.Context, id string) (Tenant, error) {
	var t Tenant
	err := db.r.QueryRowContext(ctx, `SELECT id, name, default_region, default_currency FROM tenants WHERE id = $1`, id).
		Scan(&t.ID, &t.Name, &t.DefaultRegion, &t.DefaultCurrency)
	return t, mapErr(err)
}

// CountTenants tells whether the database is fresh.
func (db *DB) CountTenants(ctx context.Context) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM tenants`).Scan(&n)
	return n, mapErr(err)
}

// LoginUser is what a login needs to know about a user.
type LoginUser struct {
	ID           string
	Role         string
	Active       bool
	PasswordHash string
}

// UserForLogin finds a live user by tenant and email (case-insensitive)
// with their password hash. Not found covers deleted users.
func (db *DB) UserForLogin(ctx context.Context, tenantID, email string) (LoginUser, error) {
	var u LoginUser
	var active sql.NullBool
	var hash sql.NullString
	err := db.r.QueryRowContext(ctx, `SELECT u.id, u.role, u.active, c.secret FROM users u
        LEFT JOIN credentials c ON c.tenant_id = u.tenant_id AND c.user_id = u.id AND c.kind = 'password'
        WHERE u.tenant_id = $1 AND u.email = $2 AND u.deleted_at IS NULL`, tenantID, strings.ToLower(strings.TrimSpace(email))).
		Scan(&u.ID, &u.Role, &active, &hash)
	u.Active = !active.Valid || active.Bool
	u.PasswordHash = hash.String
	return u, mapErr(err)
}

// UserIDByEmail finds a live user's id.
func (db *DB) UserIDByEmail(ctx context.Context, tenantID, email string) (string, error) {
	u, err := db.UserForLogin(ctx, tenantID, email)
	return u.ID, err
}

// SetPasswordHash stores a user's password hash.
func (tx *Tx) SetPasswordHash(ctx context.Context, tenantID, userID, hash string) error {
	ts := now()
	_, err := tx.ExecContext(ctx, `INSERT INTO credentials (tenant_id, user_id, kind, secret, created_at, updated_at) VALUES ($1, $2, 'password', $3, $4, $4)
        ON CONFLICT (tenant_id, user_id, kind) DO UPDATE SET secret = excluded.secret, updated_at = excluded.updated_at`, tenantID, userID, hash, ts)
	return mapErr(err)
}

// SetPassword replaces a user's password hash and revokes the user's
// sessions but except (the session that changed it; "" for all), in one
// transaction.
func (db *DB) SetPassword(ctx context.Context, tenantID, userID, hash, except string, ev Event) error {
	return db.InTx(ctx, func(tx *Tx) error {
		if err := tx.SetPasswordHash(ctx, tenantID, userID, hash); err != nil {
			return err
		}
		if _, err := tx.RevokeUserSessions(ctx, tenantID, userID, except, RevokedPassword); err != nil {
			return err
		}
		return tx.Event(ctx, ev)
	})
}

// RehashPassword replaces the hash only if it is still old (a concurrent
// password change wins).
func (db *DB) RehashPassword(ctx context.Context, tenantID, userID, old, hash string) error {
	_, err := db.w.ExecContext(ctx, `UPDATE credentials SET secret = $1, updated_at = $2 WHERE tenant_id = $3 AND user_id = $4 AND kind = 'password' AND secret = $5`,
		hash, now(), tenantID, userID, old)
	return mapErr(err)
}

// Event is a security event. Detail holds codes and ids, never personal
// values or secrets.
type Event struct {
	TenantID  string
	Actor     string
	SessionID string
	Action    string
	Object    string
	Outcome   string
	IP        string
	RequestID string
	Detail    string
}

// Event records ev in the transaction, so it commits with the change it
// describes or not at all.
func (tx *Tx) Event(ctx context.Context, ev Event) error {
	var tenant any
	if ev.TenantID != "" {
		tenant = ev.TenantID
	}
	detail := ev.Detail
	if ev.SessionID != "" {
		detail = strings.TrimSpace(detail + " session=" + ev.SessionID)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO security_events (id, tenant_id, at, actor, action, object, outcome, ip, request_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		record.NewID(), tenant, now(), ev.Actor, ev.Action, ev.Object, ev.Outcome, ev.IP, ev.RequestID, detail)
	return mapErr(err)
}

// RecordEvent writes a standalone security event (a failed login has no
// other change to go with).
func (db *DB) RecordEvent(ctx context.Context, ev Event) error {
	return db.InTx(ctx, func(tx *Tx) error { return tx.Event(ctx, ev) })
}

// CountEvents counts a tenant's security events with the given action
// (tests and the audit layer).
func (db *DB) CountEvents(ctx context.Context, tenantID, action string) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM security_events WHERE tenant_id = $1 AND action = $2`, tenantID, action).Scan(&n)
	return n, mapErr(err)
}

// FirstAdmin returns the id of the tenant's longest-standing live admin,
// the user CLI commands act as by default.
func (db *DB) FirstAdmin(ctx context.Context, tenantID string) (string, error) {
	var id string
	err := db.r.QueryRowContext(ctx, `SELECT id FROM users WHERE tenant_id = $1 AND role = $2 AND deleted_at IS NULL ORDER BY id LIMIT 1`, tenantID, mcrm.RoleAdmin).Scan(&id)
	return id, mapErr(err)
}
