package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"math"
	"time"

	"mcrm"
	"mcrm/record"
	"mcrm/risk"
)

// MaxLoginHistory bounds how many logins LoginHistory returns, whatever the
// caller asks: the risk rules need a few weeks of a user's logins, and a
// bounded read keeps a login's cost flat for a user with years of history.
const MaxLoginHistory = 500

// LoginRecord is one stored login decision, for audit and the user's
// "recent sign-ins" view. It carries only what the table holds: no
// address, no device identifier.
type LoginRecord struct {
	ID      string
	UserID  string
	At      time.Time
	Country string
	Outcome risk.Outcome
	Level   risk.Level
	Signals []risk.Signal
}

func validOutcome(o risk.Outcome) bool {
	switch o {
	case risk.OutcomeSuccess, risk.OutcomeMFARequired, risk.OutcomeFailure, risk.OutcomeDenied:
		return true
	}
	return false
}

// RecordLogin stores a login (as risk.Evaluator.Observe built it, with its
// Outcome set) and the assessment made of it, and returns the row id.
func (db *DB) RecordLogin(ctx context.Context, tenantID, userID string, l risk.Login, a risk.Assessment) (id string, err error) {
	err = db.InTx(ctx, func(tx *Tx) error {
		id, err = tx.RecordLogin(ctx, tenantID, userID, l, a)
		return err
	})
	return id, err
}

// RecordLogin in a transaction, so the lead can write it with the session
// it starts.
func (tx *Tx) RecordLogin(ctx context.Context, tenantID, userID string, l risk.Login, a risk.Assessment) (string, error) {
	if !validOutcome(l.Outcome) {
		return "", mcrm.Errorf(mcrm.EInvalid, "unknown login outcome")
	}
	if l.At.IsZero() {
		return "", mcrm.Errorf(mcrm.EInvalid, "login time is required")
	}
	sig := a.Signals
	if sig == nil {
		sig = []risk.Signal{}
	}
	sigJSON, err := json.Marshal(sig)
	if err != nil {
		return "", err
	}
	level := a.Level
	if level == "" {
		level = risk.LevelFor(a.Score)
	}
	var lat, lon sql.NullInt64
	if l.Location.HasCoords {
		lat = sql.NullInt64{Int64: int64(math.Round(l.Location.Lat * 10)), Valid: true}
		lon = sql.NullInt64{Int64: int64(math.Round(l.Location.Lon * 10)), Valid: true}
	}
	id := record.NewID()
	_, err = tx.ExecContext(ctx, `INSERT INTO login_history (tenant_id, id, user_id, at, ip_hash, network, device_key, country, lat, lon, radius_km, asn, outcome, level, signals)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		tenantID, id, userID, l.At.UTC().Format(timeLayout), l.IPHash, l.Network, l.DeviceKey, l.Location.Country,
		lat, lon, int64(l.Location.RadiusKm), int64(l.Location.ASN), string(l.Outcome), string(level), string(sigJSON))
	if err != nil {
		return "", mapErr(err)
	}
	return id, nil
}

// CompleteLogin settles a login that waited for its second factor: only a
// row still in mfa_required changes, to success or failure. So a denied or
// failed login can never be turned into a success afterwards (and join the
// baseline), and a login completes once. ENotFound otherwise.
func (db *DB) CompleteLogin(ctx context.Context, tenantID, id string, outcome risk.Outcome) error {
	if outcome != risk.OutcomeSuccess && outcome != risk.OutcomeFailure {
		return mcrm.Errorf(mcrm.EInvalid, "a pending login completes as success or failure")
	}
	return db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE login_history SET outcome = $1 WHERE tenant_id = $2 AND id = $3 AND outcome = $4`,
			string(outcome), tenantID, id, string(risk.OutcomeMFARequired))
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return mcrm.ErrNotFound
		}
		return nil
	})
}

// LoginHistory returns the user's successful logins at or after since,
// newest first, at most limit (capped at MaxLoginHistory) — the baseline
// for risk.Evaluator.Evaluate. Only successes are read: failed attempts do
// not describe the user, and an attacker's burst of failures must not push
// the real history out of the bounded window.
func (db *DB) LoginHistory(ctx context.Context, tenantID, userID string, since time.Time, limit int) ([]risk.Login, error) {
	if limit <= 0 || limit > MaxLoginHistory {
		limit = MaxLoginHistory
	}
	rows, err := db.reads.QueryContext(ctx, `SELECT at, ip_hash, network, device_key, country, lat, lon, radius_km, asn
FROM login_history WHERE tenant_id = $1 AND user_id = $2 AND outcome = $3 AND at >= $4
ORDER BY at DESC, id DESC LIMIT $5`, tenantID, userID, string(risk.OutcomeSuccess), since.UTC().Format(timeLayout), limit)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	out := []risk.Login{}
	for rows.Next() {
		var l risk.Login
		var at string
		var lat, lon sql.NullInt64
		var radius, asn int64
		if err := rows.Scan(&at, &l.IPHash, &l.Network, &l.DeviceKey, &l.Location.Country, &lat, &lon, &radius, &asn); err != nil {
			return nil, err
		}
		l.At, _ = time.Parse(timeLayout, at)
		if lat.Valid && lon.Valid {
			l.Location.HasCoords = true
			l.Location.Lat, l.Location.Lon = float64(lat.Int64)/10, float64(lon.Int64)/10
		}
		l.Location.RadiusKm, l.Location.ASN = int(radius), uint32(asn)
		l.Outcome = risk.OutcomeSuccess
		out = append(out, l)
	}
	return out, rows.Err()
}

// LoginRecords lists a user's stored login decisions of any outcome,
// newest first, at most limit (capped at MaxLoginHistory).
func (db *DB) LoginRecords(ctx context.Context, tenantID, userID string, limit int) ([]LoginRecord, error) {
	if limit <= 0 || limit > MaxLoginHistory {
		limit = MaxLoginHistory
	}
	rows, err := db.reads.QueryContext(ctx, `SELECT id, user_id, at, country, outcome, level, signals
FROM login_history WHERE tenant_id = $1 AND user_id = $2 ORDER BY at DESC, id DESC LIMIT $3`, tenantID, userID, limit)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	out := []LoginRecord{}
	for rows.Next() {
		var r LoginRecord
		var at, outcome, level, sig string
		if err := rows.Scan(&r.ID, &r.UserID, &at, &r.Country, &outcome, &level, &sig); err != nil {
			return nil, err
		}
		r.At, _ = time.Parse(timeLayout, at)
		r.Outcome, r.Level = risk.Outcome(outcome), risk.Level(level)
		if err := json.Unmarshal([]byte(sig), &r.Signals); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// PruneLoginHistory deletes every tenant's logins before cutoff (now minus
// the risk window): the history exists for fraud detection only and is
// not kept longer than the rules look back.
func (db *DB) PruneLoginHistory(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM login_history WHERE at < $1`, cutoff.UTC().Format(timeLayout))
		if err != nil {
			return mapErr(err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}
