package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"mcrm"
)

// AuthPolicy returns the tenant's authentication policy, the default when
// the tenant never set one.
func (db *DB) AuthPolicy(ctx context.Context, tenantID string) (mcrm.AuthPolicy, error) {
	var raw string
	err := db.r.QueryRowContext(ctx, `SELECT policy FROM auth_policies WHERE tenant_id = $1`, tenantID).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return mcrm.DefaultAuthPolicy(), nil
	}
	if err != nil {
		return mcrm.AuthPolicy{}, mapErr(err)
	}
	p := mcrm.DefaultAuthPolicy()
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return mcrm.AuthPolicy{}, &mcrm.Error{Code: mcrm.EInternal, Message: "stored authentication policy is unreadable", Err: err}
	}
	return p, nil
}

// SetAuthPolicy validates and stores the tenant's policy and records the
// change as a security event in the same transaction.
func (db *DB) SetAuthPolicy(ctx context.Context, p *mcrm.Principal, pol mcrm.AuthPolicy, ev Event) error {
	if err := pol.Validate(); err != nil {
		return err
	}
	raw, err := json.Marshal(pol)
	if err != nil {
		return err
	}
	return db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO auth_policies (tenant_id, policy, version, updated_at, updated_by) VALUES ($1, $2, 1, $3, $4)
            ON CONFLICT (tenant_id) DO UPDATE SET policy = excluded.policy, version = auth_policies.version + 1, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
			p.TenantID, string(raw), now(), p.Actor()); err != nil {
			return mapErr(err)
		}
		if pol.RequireDPoP {
			// Sessions from before the rule must not outlive it.
			if _, err := tx.RevokeUnbound(ctx, p.TenantID); err != nil {
				return err
			}
		}
		return tx.Event(ctx, ev)
	})
}
