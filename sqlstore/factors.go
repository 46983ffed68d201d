package sqlstore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"time"

	"mcrm"
	"mcrm/record"
	"mcrm/totp"
)

// Factor kinds stored in auth_factors.
const (
	FactorTOTP     = "totp"
	FactorRecovery = "recovery"
	FactorWebAuthn = "webauthn"
)

// Wrong-code throttling for TOTP: after OTPMaxFailures wrong codes in a
// row the factor refuses every code for OTPThrottle. Six-digit codes with
// a three-step window give an attacker 3 in 10^6 per guess; at 5 guesses
// per 15 minutes that is under 0.15% a day, and the login throttle limits
// the attempts to reach this step in the first place.
const (
	OTPMaxFailures = 5
	OTPThrottle    = 15 * time.Minute
)

// Factor is one enrolled factor as the user's factor list shows it. The
// secret never leaves the store.
type Factor struct {
	ID          string
	UserID      string
	Kind        string
	Name        string
	Confirmed   bool
	CreatedAt   time.Time
	ConfirmedAt time.Time // zero while unconfirmed
	LastUsedAt  time.Time // zero when never used
}

func secretAAD(tenantID, id string) []byte {
	return mcrm.AAD(tenantID, "auth_factors", "secret", id)
}

func ts(t time.Time) string { return t.UTC().Format(timeLayout) }

// EnrolTOTP stores a new, unconfirmed TOTP factor for the user with the
// seed sealed by the store's Sealer, and returns its id. Earlier
// unconfirmed TOTP enrolments of the user are dropped, so abandoned
// enrolments do not pile up. The factor counts for nothing until
// ConfirmTOTP sees a code from it, which proves the user's app has it.
func (db *DB) EnrolTOTP(ctx context.Context, tenantID, userID, name string, seed []byte, now time.Time) (string, error) {
	s, err := db.Sealer()
	if err != nil {
		return "", err
	}
	id := record.NewID()
	ct, err := s.Seal(ctx, tenantID, secretAAD(tenantID, id), seed)
	if err != nil {
		return "", &mcrm.Error{Code: mcrm.EInternal, Message: "cannot seal the factor secret", Err: err}
	}
	err = db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM auth_factors WHERE tenant_id = $1 AND user_id = $2 AND kind = 'totp' AND confirmed_at IS NULL`, tenantID, userID); err != nil {
			return mapErr(err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO auth_factors (tenant_id, id, user_id, kind, name, secret, last_step, failed_count, created_at, data)
            VALUES ($1, $2, $3, 'totp', $4, $5, 0, 0, $6, '{}')`,
			tenantID, id, userID, name, base64.StdEncoding.EncodeToString(ct), ts(now))
		return mapErr(err)
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// ConfirmTOTP completes an enrolment: code must be a valid code of the
// unconfirmed factor factorID (same drift, replay and throttle rules as
// VerifyTOTP). The user's previously confirmed TOTP factor, if any, is
// replaced in the same transaction, and ev (when ev.Action is set) is
// recorded with it. A factor change should revoke the user's other
// sessions; the caller does that.
func (db *DB) ConfirmTOTP(ctx context.Context, tenantID, userID, factorID, code string, now time.Time, ev Event) error {
	id, step, err := db.totpAttempt(ctx, tenantID, userID, factorID, code, now)
	if err != nil {
		return err
	}
	err = db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM auth_factors WHERE tenant_id = $1 AND user_id = $2 AND kind = 'totp' AND confirmed_at IS NOT NULL AND id <> $3`, tenantID, userID, id); err != nil {
			return mapErr(err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE auth_factors SET confirmed_at = $1, last_used_at = $1, last_step = $2, failed_count = 0, throttled_until = NULL
            WHERE tenant_id = $3 AND id = $4 AND confirmed_at IS NULL AND last_step < $2`, ts(now), step, tenantID, id)
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			// A concurrent confirmation with the same code won.
			return errReplayLost
		}
		return tx.optionalEvent(ctx, ev)
	})
	if err == errReplayLost {
		return db.refundReplay(ctx, tenantID, id, totp.Err(mcrm.CodeOTPReplay))
	}
	return err
}

// errReplayLost ends a confirmation transaction that lost the race for
// its step; it becomes otp_replay after the rollback.
var errReplayLost = errors.New("totp step already used")

// VerifyTOTP checks a code against the user's confirmed TOTP factor with
// the server's clock now, and on success advances the factor's last step
// and returns the factor id. Errors (all *mcrm.Error):
//   - EUnauthorized with field code mcrm.CodeOTPInvalid (wrong code) or
//     mcrm.CodeOTPReplay (the code's step was used already — including by
//     a concurrent request with the same code: the step is advanced with
//     UPDATE ... WHERE last_step < step, so only one of them succeeds);
//   - ERateLimited with mcrm.CodeOTPThrottled after OTPMaxFailures wrong
//     codes in a row, for OTPThrottle, even for a right code;
//   - ENotFound when the user has no confirmed TOTP factor.
func (db *DB) VerifyTOTP(ctx context.Context, tenantID, userID, code string, now time.Time) (string, error) {
	id, step, err := db.totpAttempt(ctx, tenantID, userID, "", code, now)
	if err != nil {
		return "", err
	}
	res, err := db.w.ExecContext(ctx, `UPDATE auth_factors SET last_step = $1, failed_count = 0, throttled_until = NULL, last_used_at = $2
        WHERE tenant_id = $3 AND id = $4 AND confirmed_at IS NOT NULL AND last_step < $1`, step, ts(now), tenantID, id)
	if err != nil {
		return "", mapErr(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return "", db.refundReplay(ctx, tenantID, id, totp.Err(mcrm.CodeOTPReplay))
	}
	return id, nil
}

// totpAttempt charges one attempt to the factor (factorID when given and
// unconfirmed, else the user's confirmed TOTP factor), then checks the
// code. Charging first, in one UPDATE that also refuses a throttled
// factor, is what bounds guessing under concurrency: N parallel wrong
// codes cannot all read "4 failures so far" and all go on. A right code
// clears the charge when the caller advances the step.
func (db *DB) totpAttempt(ctx context.Context, tenantID, userID, factorID, code string, now time.Time) (string, int64, error) {
	sealer, err := db.Sealer()
	if err != nil {
		return "", 0, err
	}
	which := `confirmed_at IS NOT NULL`
	args := []any{tenantID, userID, ts(now), ts(now.Add(OTPThrottle)), OTPMaxFailures}
	if factorID != "" {
		which = `confirmed_at IS NULL AND id = $6`
		args = append(args, factorID)
	}
	// Both databases evaluate every SET expression on the row's old
	// values. An expired throttle starts the count again.
	var id, secret string
	var lastStep int64
	err = db.w.QueryRowContext(ctx, `UPDATE auth_factors SET
            failed_count = CASE WHEN throttled_until IS NOT NULL AND throttled_until <= $3 THEN 1 ELSE failed_count + 1 END,
            throttled_until = CASE
                WHEN (CASE WHEN throttled_until IS NOT NULL AND throttled_until <= $3 THEN 1 ELSE failed_count + 1 END) >= $5 THEN $4
                WHEN throttled_until IS NOT NULL AND throttled_until <= $3 THEN NULL
                ELSE throttled_until END
        WHERE tenant_id = $1 AND user_id = $2 AND kind = 'totp' AND `+which+`
            AND (throttled_until IS NULL OR throttled_until <= $3)
        RETURNING id, secret, last_step`, args...).Scan(&id, &secret, &lastStep)
	if err == sql.ErrNoRows {
		// Either there is no such factor or it was throttled when the
		// UPDATE ran. The factor's existence decides: asking whether it is
		// throttled now could race with a success that just cleared it.
		var n int
		q := `SELECT COUNT(*) FROM auth_factors WHERE tenant_id = $1 AND user_id = $2 AND kind = 'totp' AND confirmed_at IS NOT NULL`
		qargs := []any{tenantID, userID}
		if factorID != "" {
			q = `SELECT COUNT(*) FROM auth_factors WHERE tenant_id = $1 AND user_id = $2 AND kind = 'totp' AND confirmed_at IS NULL AND id = $3`
			qargs = append(qargs, factorID)
		}
		if err := db.w.QueryRowContext(ctx, q, qargs...).Scan(&n); err != nil {
			return "", 0, mapErr(err)
		}
		if n > 0 {
			return "", 0, totp.Err(mcrm.CodeOTPThrottled)
		}
		return "", 0, mcrm.ErrNotFound
	}
	if err != nil {
		return "", 0, mapErr(err)
	}
	ct, err := base64.StdEncoding.DecodeString(secret)
	if err != nil {
		return "", 0, &mcrm.Error{Code: mcrm.EInternal, Message: "factor secret is corrupt", Err: err}
	}
	seed, err := sealer.Open(ctx, tenantID, secretAAD(tenantID, id), ct)
	if err != nil {
		return "", 0, &mcrm.Error{Code: mcrm.EInternal, Message: "cannot open the factor secret", Err: err}
	}
	step, err := totp.Verify(seed, code, now, lastStep)
	clear(seed)
	if err != nil {
		if totp.FieldCode(err) == mcrm.CodeOTPReplay {
			return "", 0, db.refundReplay(ctx, tenantID, id, err)
		}
		return "", 0, err
	}
	return id, step, nil
}

// refundReplay takes back the charge of an attempt whose code was right
// but for a step already used (a double submit, or the loser of two
// concurrent uses): it is not a guess, so it must not push the user
// towards the throttle. It clears a throttle only if this charge set it.
// It returns replayErr, or the database failure.
func (db *DB) refundReplay(ctx context.Context, tenantID, id string, replayErr error) error {
	_, err := db.w.ExecContext(ctx, `UPDATE auth_factors SET failed_count = failed_count - 1,
            throttled_until = CASE WHEN failed_count - 1 < $1 THEN NULL ELSE throttled_until END
        WHERE tenant_id = $2 AND id = $3 AND failed_count > 0`, OTPMaxFailures, tenantID, id)
	if err != nil {
		return mapErr(err)
	}
	return replayErr
}

// ListFactors returns the user's TOTP and WebAuthn factors, oldest first.
// Recovery codes are not listed one by one: see RecoveryCodesLeft.
func (db *DB) ListFactors(ctx context.Context, tenantID, userID string) ([]Factor, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, user_id, kind, name, confirmed_at, created_at, last_used_at FROM auth_factors
        WHERE tenant_id = $1 AND user_id = $2 AND kind <> 'recovery' ORDER BY created_at, id`, tenantID, userID)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []Factor
	for rows.Next() {
		var f Factor
		var confirmed, used sql.NullString
		var created string
		if err := rows.Scan(&f.ID, &f.UserID, &f.Kind, &f.Name, &confirmed, &created, &used); err != nil {
			return nil, mapErr(err)
		}
		f.CreatedAt, _ = time.Parse(timeLayout, created)
		if confirmed.Valid {
			f.Confirmed = true
			f.ConfirmedAt, _ = time.Parse(timeLayout, confirmed.String)
		}
		if used.Valid {
			f.LastUsedAt, _ = time.Parse(timeLayout, used.String)
		}
		out = append(out, f)
	}
	return out, mapErr(rows.Err())
}

// HasSecondFactor tells whether the user has a confirmed TOTP or WebAuthn
// factor in auth_factors (the password policy's minimum length and the
// login flow depend on it). Passkeys the passkey layer keeps in its own
// table webauthn_credentials are not seen here: the caller ORs them in.
// Unused recovery codes do not count: they back up a factor, they are not
// one.
func (db *DB) HasSecondFactor(ctx context.Context, tenantID, userID string) (bool, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM auth_factors WHERE tenant_id = $1 AND user_id = $2 AND kind IN ('totp', 'webauthn') AND confirmed_at IS NOT NULL`, tenantID, userID).Scan(&n)
	return n > 0, mapErr(err)
}

// DeleteFactor removes one of the user's TOTP or WebAuthn factors (not
// found for another user's factor or a recovery code) and records ev in
// the same transaction when ev.Action is set.
func (db *DB) DeleteFactor(ctx context.Context, tenantID, userID, factorID string, ev Event) error {
	return db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM auth_factors WHERE tenant_id = $1 AND user_id = $2 AND id = $3 AND kind <> 'recovery'`, tenantID, userID, factorID)
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return mcrm.ErrNotFound
		}
		return tx.optionalEvent(ctx, ev)
	})
}

// ReplaceRecoveryCodes makes a fresh set of totp.RecoveryCount recovery
// codes for the user, replacing all earlier ones (used or not), and returns
// them in clear to be shown once. Only their hashes (totp.RecoveryHash)
// are stored.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, tenantID, userID string, now time.Time, ev Event) ([]string, error) {
	codes := totp.NewRecoveryCodes()
	err := db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM auth_factors WHERE tenant_id = $1 AND user_id = $2 AND kind = 'recovery'`, tenantID, userID); err != nil {
			return mapErr(err)
		}
		for _, c := range codes {
			if _, err := tx.ExecContext(ctx, `INSERT INTO auth_factors (tenant_id, id, user_id, kind, name, secret, last_step, failed_count, confirmed_at, created_at, data)
                VALUES ($1, $2, $3, 'recovery', '', $4, 0, 0, $5, $5, '{}')`, tenantID, record.NewID(), userID, totp.RecoveryHash(c), ts(now)); err != nil {
				return mapErr(err)
			}
		}
		return tx.optionalEvent(ctx, ev)
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// ConsumeRecoveryCode uses one of the user's recovery codes: it succeeds
// once per code, atomically (the UPDATE matches only an unused code, so of
// two concurrent uses one gets EUnauthorized), and records ev with it.
// A wrong, malformed or used code is EUnauthorized with field code
// mcrm.CodeRecoveryCodeInvalid.
func (db *DB) ConsumeRecoveryCode(ctx context.Context, tenantID, userID, code string, now time.Time, ev Event) error {
	h := totp.RecoveryHash(code)
	if h == "" {
		return totp.Err(mcrm.CodeRecoveryCodeInvalid)
	}
	return db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE auth_factors SET last_used_at = $1 WHERE tenant_id = $2 AND user_id = $3 AND kind = 'recovery' AND secret = $4 AND last_used_at IS NULL`,
			ts(now), tenantID, userID, h)
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return totp.Err(mcrm.CodeRecoveryCodeInvalid)
		}
		return tx.optionalEvent(ctx, ev)
	})
}

// RecoveryCodesLeft counts the user's unused recovery codes.
func (db *DB) RecoveryCodesLeft(ctx context.Context, tenantID, userID string) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM auth_factors WHERE tenant_id = $1 AND user_id = $2 AND kind = 'recovery' AND last_used_at IS NULL`, tenantID, userID).Scan(&n)
	return n, mapErr(err)
}

// optionalEvent records ev when it names an action; factor methods take
// an Event so the change and its security event commit together.
func (tx *Tx) optionalEvent(ctx context.Context, ev Event) error {
	if ev.Action == "" {
		return nil
	}
	return tx.Event(ctx, ev)
}
