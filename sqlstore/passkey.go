package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"mcrm"
)

// Passkey storage: WebAuthn ceremony challenges and registered credentials
// (migration 0004). The passkey package holds the protocol; these methods
// only keep its state, with the checks that must be atomic done here.

// AuthChallenge is one server-side ceremony challenge. Data is the
// ceremony's session record (JSON) as the passkey package wrote it.
type AuthChallenge struct {
	TenantID  string
	ID        string
	UserID    string // empty for a passwordless (discoverable) login
	Kind      string // "webauthn.create" or "webauthn.get"
	Data      string
	ExpiresAt time.Time
}

// errChallengeInvalid is what every unusable challenge answers: unknown,
// already used, expired, of another kind or another tenant. One answer for
// all, so a caller learns nothing about which.
func errChallengeInvalid() error {
	return &mcrm.Error{Code: mcrm.EUnauthorized, Message: "authentication failed",
		Fields: []mcrm.FieldError{{Field: "challenge_id", Code: "challenge_invalid", Message: "the challenge is unknown, used or expired"}}}
}

// CreateChallenge stores a new challenge. now is the store clock of the
// caller, so tests can move time.
func (db *DB) CreateChallenge(ctx context.Context, c AuthChallenge, now time.Time) error {
	var user any
	if c.UserID != "" {
		user = c.UserID
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO auth_challenges (tenant_id, id, user_id, kind, data, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		c.TenantID, c.ID, user, c.Kind, c.Data, now.UTC().Format(timeLayout), c.ExpiresAt.UTC().Format(timeLayout))
	return mapErr(err)
}

// ConsumeChallenge marks a challenge used and returns it, in one
// conditional UPDATE: of two requests with the same challenge exactly one
// gets it, and an expired one is never returned. A challenge is burnt even
// when the ceremony that follows fails, so a failed attempt cannot be
// retried with the same signature.
func (db *DB) ConsumeChallenge(ctx context.Context, tenantID, id, kind string, now time.Time) (AuthChallenge, error) {
	c := AuthChallenge{TenantID: tenantID, ID: id, Kind: kind}
	ts := now.UTC().Format(timeLayout)
	var user sql.NullString
	var exp string
	err := db.w.QueryRowContext(ctx, `UPDATE auth_challenges SET used_at = $1
        WHERE tenant_id = $2 AND id = $3 AND kind = $4 AND used_at IS NULL AND expires_at > $1
        RETURNING user_id, data, expires_at`, ts, tenantID, id, kind).Scan(&user, &c.Data, &exp)
	if err == sql.ErrNoRows {
		return c, errChallengeInvalid()
	}
	if err != nil {
		return c, mapErr(err)
	}
	c.UserID = user.String
	c.ExpiresAt, _ = time.Parse(timeLayout, exp)
	return c, nil
}

// PurgeChallenges deletes challenges that expired before t (used or not);
// a periodic job keeps the table small.
func (db *DB) PurgeChallenges(ctx context.Context, t time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM auth_challenges WHERE expires_at < $1`, t.UTC().Format(timeLayout))
	if err != nil {
		return 0, mapErr(err)
	}
	return res.RowsAffected()
}

// WebAuthnCredential is one registered passkey or security key.
type WebAuthnCredential struct {
	TenantID       string
	ID             string
	UserID         string
	CredentialID   string // base64url (unpadded) of the authenticator's credential id
	Name           string
	Data           string // go-webauthn Credential as JSON
	SignCount      int64
	BackupEligible bool
	CreatedAt      time.Time
	LastUsedAt     time.Time // zero when never used
}

const webauthnCols = `c.tenant_id, c.id, c.user_id, c.credential_id, c.name, c.data, c.sign_count, c.backup_eligible, c.created_at, c.last_used_at`

// Only credentials of live, active users are ever returned: a deactivated
// or deleted user's passkey must not log anyone in.
const webauthnLiveUser = ` JOIN users u ON u.tenant_id = c.tenant_id AND u.id = c.user_id AND u.deleted_at IS NULL AND (u.active IS NULL OR u.active = TRUE)`

func scanWebAuthn(sc interface{ Scan(...any) error }) (WebAuthnCredential, error) {
	var c WebAuthnCredential
	var created string
	var used sql.NullString
	if err := sc.Scan(&c.TenantID, &c.ID, &c.UserID, &c.CredentialID, &c.Name, &c.Data, &c.SignCount, &c.BackupEligible, &created, &used); err != nil {
		return c, err
	}
	c.CreatedAt, _ = time.Parse(timeLayout, created)
	if used.Valid {
		c.LastUsedAt, _ = time.Parse(timeLayout, used.String)
	}
	return c, nil
}

// AddWebAuthnCredential stores a newly registered credential and records
// ev in the same transaction. A credential id already registered in the
// tenant is EConflict (WebAuthn §7.1 step 22: refuse, never rebind).
func (db *DB) AddWebAuthnCredential(ctx context.Context, c WebAuthnCredential, ev Event) error {
	return db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO webauthn_credentials (tenant_id, id, user_id, credential_id, name, data, sign_count, backup_eligible, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			c.TenantID, c.ID, c.UserID, c.CredentialID, c.Name, c.Data, c.SignCount, c.BackupEligible, c.CreatedAt.UTC().Format(timeLayout))
		if err != nil {
			err = mapErr(err)
			if mcrm.ErrorCode(err) == mcrm.EConflict {
				return &mcrm.Error{Code: mcrm.EConflict, Message: "this authenticator is already registered",
					Fields: []mcrm.FieldError{{Field: "credential", Code: "credential_exists", Message: "this authenticator is already registered"}}}
			}
			return err
		}
		return tx.Event(ctx, ev)
	})
}

// WebAuthnCredentials lists a live user's credentials, oldest first.
func (db *DB) WebAuthnCredentials(ctx context.Context, tenantID, userID string) ([]WebAuthnCredential, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+webauthnCols+` FROM webauthn_credentials c`+webauthnLiveUser+`
        WHERE c.tenant_id = $1 AND c.user_id = $2 ORDER BY c.created_at, c.id`, tenantID, userID)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []WebAuthnCredential
	for rows.Next() {
		c, err := scanWebAuthn(rows)
		if err != nil {
			return nil, mapErr(err)
		}
		out = append(out, c)
	}
	return out, mapErr(rows.Err())
}

// WebAuthnCredentialByCredentialID finds a credential by the id the
// authenticator reported (passwordless login). Not found covers credentials
// of deleted or deactivated users.
func (db *DB) WebAuthnCredentialByCredentialID(ctx context.Context, tenantID, credentialID string) (WebAuthnCredential, error) {
	c, err := scanWebAuthn(db.r.QueryRowContext(ctx, `SELECT `+webauthnCols+` FROM webauthn_credentials c`+webauthnLiveUser+`
        WHERE c.tenant_id = $1 AND c.credential_id = $2`, tenantID, credentialID))
	return c, mapErr(err)
}

// RecordWebAuthnUse stores the outcome of a verified assertion: the new
// sign counter, the updated credential record and the time of use. It is a
// compare-and-swap on the counter the verification started from, so two
// assertions verified against the same stored counter cannot both be
// accepted; the loser gets EUnauthorized. ev, when given, is recorded in
// the same transaction (a risk signal such as a counter regression on a
// synced passkey).
func (db *DB) RecordWebAuthnUse(ctx context.Context, tenantID, id string, prevCount, newCount int64, data string, at time.Time, ev *Event) error {
	return db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webauthn_credentials SET sign_count = $1, data = $2, last_used_at = $3
            WHERE tenant_id = $4 AND id = $5 AND sign_count = $6`, newCount, data, at.UTC().Format(timeLayout), tenantID, id, prevCount)
		if err != nil {
			return mapErr(err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return mapErr(err)
		} else if n != 1 {
			return &mcrm.Error{Code: mcrm.EUnauthorized, Message: "authentication failed",
				Fields: []mcrm.FieldError{{Field: "credential", Code: "webauthn_failed", Message: "the credential was used concurrently"}}}
		}
		if ev != nil {
			return tx.Event(ctx, *ev)
		}
		return nil
	})
}

// FlagWebAuthnClone records a suspected cloned authenticator: the stored
// credential record is replaced by data (which carries the clone warning)
// and ev is recorded, in one transaction. The counter is left as it was so
// the genuine authenticator's next assertion is still judged against it.
func (db *DB) FlagWebAuthnClone(ctx context.Context, tenantID, id, data string, ev Event) error {
	return db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE webauthn_credentials SET data = $1 WHERE tenant_id = $2 AND id = $3`, data, tenantID, id); err != nil {
			return mapErr(err)
		}
		return tx.Event(ctx, ev)
	})
}

// DeleteWebAuthnCredential removes one of the user's credentials and
// records ev. Another user's credential is not found.
func (db *DB) DeleteWebAuthnCredential(ctx context.Context, tenantID, userID, id string, ev Event) error {
	return db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webauthn_credentials WHERE tenant_id = $1 AND user_id = $2 AND id = $3`, tenantID, userID, id)
		if err != nil {
			return mapErr(err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return mapErr(err)
		} else if n != 1 {
			return mcrm.ErrNotFound
		}
		return tx.Event(ctx, ev)
	})
}
