package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"time"

	"mcrm"
	"mcrm/record"
)

// This file holds the storage behind login throttling (package throttle),
// the mail outbox (package outbox) and password reset tokens. The tables
// are in migrations/0005_guard.sql.

// ThrottleKey names the counters one login attempt touches. Every part is
// an opaque key computed by package throttle (a user id or keyed hashes),
// never an email or IP address.
type ThrottleKey struct {
	TenantID string
	Account  string
	Addr     string
	Net      string
}

// ThrottleLimits are the limits a throttle check applies. Each Max is the
// number of failures within its window after which attempts are refused;
// NetAccounts counts distinct accounts, not failures.
type ThrottleLimits struct {
	PairMax       int
	PairWindow    time.Duration
	AccountMax    int
	AccountWindow time.Duration
	NetAccounts   int
	NetWindow     time.Duration
}

// Throttle scopes: which limit refused an attempt.
const (
	ScopeAccountIP = "account_ip"
	ScopeAccount   = "account"
	ScopeNetwork   = "network"
)

// ThrottleVerdict is the answer to an attempt.
type ThrottleVerdict struct {
	Allowed bool
	// Scope is the refusing limit with the longest wait, "" when allowed.
	Scope string
	// RetryAfter is how long until that limit lets an attempt through.
	RetryAfter time.Duration
}

// ThrottleAttempt decides whether a login attempt may go on to the
// password check and, if so, counts it as a failure at once (a pending
// row) so that concurrent attempts see each other: the check and the count
// are one transaction, serialised per network and per account, so no
// burst of parallel requests can get more attempts through than the
// limits allow. ThrottleSuccess removes the row again; ThrottleFailure
// confirms it. A refused attempt writes nothing.
func (db *DB) ThrottleAttempt(ctx context.Context, k ThrottleKey, lim ThrottleLimits, at time.Time) (ThrottleVerdict, error) {
	var v ThrottleVerdict
	err := db.InTx(ctx, func(tx *Tx) error {
		if err := tx.throttleLock(ctx, k); err != nil {
			return err
		}
		var err error
		if v, err = tx.throttleVerdict(ctx, k, lim, at); err != nil || !v.Allowed {
			return err
		}
		return tx.insertFailure(ctx, k, at, true)
	})
	return v, err
}

// ThrottleFailure records a failed attempt: it confirms the pending row
// ThrottleAttempt wrote, or adds one when the attempt was not checked
// first. When the failure brings a limit to its maximum, the matching
// security event (authn_login_fail_max, or authn_login_lock for the
// per-account cap) is written in the same transaction, from ev's actor,
// IP and request id; it is written once per limit reached, not once per
// refused attempt, so a flood of attempts cannot flood the event log.
func (db *DB) ThrottleFailure(ctx context.Context, k ThrottleKey, lim ThrottleLimits, at time.Time, ev Event) error {
	return db.InTx(ctx, func(tx *Tx) error {
		if err := tx.throttleLock(ctx, k); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE auth_failures SET pending = $1 WHERE tenant_id = $2 AND id = (
            SELECT id FROM auth_failures WHERE tenant_id = $2 AND account_key = $3 AND addr_key = $4 AND pending = $5 ORDER BY at, id LIMIT 1)`,
			false, k.TenantID, k.Account, k.Addr, true)
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if err := tx.insertFailure(ctx, k, at, false); err != nil {
				return err
			}
		}
		// Confirmed failures only: a pending row may still turn into a
		// success, and each confirmation moves the count by exactly one,
		// so "equals the maximum" happens once per episode.
		pair, err := tx.countInt(ctx, `SELECT COUNT(*) FROM auth_failures WHERE tenant_id = $1 AND account_key = $2 AND addr_key = $3 AND pending = $4 AND at > $5`,
			k.TenantID, k.Account, k.Addr, false, at.Add(-lim.PairWindow).UTC().Format(timeLayout))
		if err != nil {
			return err
		}
		acct, err := tx.countInt(ctx, `SELECT COUNT(*) FROM auth_failures WHERE tenant_id = $1 AND account_key = $2 AND pending = $3 AND at > $4`,
			k.TenantID, k.Account, false, at.Add(-lim.AccountWindow).UTC().Format(timeLayout))
		if err != nil {
			return err
		}
		nets, err := tx.countInt(ctx, `SELECT COUNT(*) FROM (SELECT DISTINCT tenant_id, account_key FROM auth_failures WHERE net_key = $1 AND pending = $2 AND at > $3) d`,
			k.Net, false, at.Add(-lim.NetWindow).UTC().Format(timeLayout))
		if err != nil {
			return err
		}
		emit := func(action, detail string) error {
			e := ev
			e.Action, e.Outcome, e.Detail = action, "failure", detail
			return tx.Event(ctx, e)
		}
		if pair == lim.PairMax {
			if err := emit("authn_login_fail_max", "scope="+ScopeAccountIP+" max="+strconv.Itoa(lim.PairMax)); err != nil {
				return err
			}
		}
		if acct == lim.AccountMax {
			if err := emit("authn_login_lock", "scope="+ScopeAccount+" reason=maxretries max="+strconv.Itoa(lim.AccountMax)); err != nil {
				return err
			}
		}
		if nets == lim.NetAccounts {
			if err := emit("authn_login_fail_max", "scope="+ScopeNetwork+" max="+strconv.Itoa(lim.NetAccounts)); err != nil {
				return err
			}
		}
		return nil
	})
}

// ThrottleSuccess clears the (account, IP) counter after a successful
// login. Failures of the same account from other addresses stay: a user
// logging in must not reset the count of an attacker elsewhere.
func (db *DB) ThrottleSuccess(ctx context.Context, k ThrottleKey) error {
	return db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM auth_failures WHERE tenant_id = $1 AND account_key = $2 AND addr_key = $3`, k.TenantID, k.Account, k.Addr)
		return mapErr(err)
	})
}

// ThrottlePrune deletes failure rows older than before (the longest
// window), keeping the table as small as the live windows.
func (db *DB) ThrottlePrune(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM auth_failures WHERE at < $1`, before.UTC().Format(timeLayout))
		if err != nil {
			return mapErr(err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

// throttleLock serialises attempts on one network and one account. SQLite
// needs nothing: its single writer connection and BEGIN IMMEDIATE already
// run write transactions one at a time. On PostgreSQL a transaction-scoped
// advisory lock is held until commit; every caller takes the network lock
// before the account lock, so two attempts cannot wait on each other.
func (tx *Tx) throttleLock(ctx context.Context, k ThrottleKey) error {
	if tx.db.Dialect != Postgres {
		return nil
	}
	for _, name := range []string{"throttle/net/" + k.Net, "throttle/account/" + k.TenantID + "/" + k.Account} {
		h := fnv.New64a()
		h.Write([]byte(name))
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(h.Sum64())); err != nil {
			return mapErr(err)
		}
	}
	return nil
}

func (tx *Tx) insertFailure(ctx context.Context, k ThrottleKey, at time.Time, pending bool) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO auth_failures (tenant_id, id, account_key, addr_key, net_key, at, pending) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		k.TenantID, record.NewID(), k.Account, k.Addr, k.Net, at.UTC().Format(timeLayout), pending)
	return mapErr(err)
}

func (tx *Tx) countInt(ctx context.Context, q string, args ...any) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, q, args...).Scan(&n)
	return n, mapErr(err)
}

// throttleVerdict applies the three limits. Pending rows count: an attempt
// in flight is a failure until it proves otherwise.
func (tx *Tx) throttleVerdict(ctx context.Context, k ThrottleKey, lim ThrottleLimits, at time.Time) (ThrottleVerdict, error) {
	v := ThrottleVerdict{Allowed: true}
	refuse := func(scope string, times []string, max int, window time.Duration) {
		if max <= 0 || len(times) < max {
			return
		}
		// The count falls below max once the (len-max+1) oldest rows have
		// left the window.
		oldest, err := time.Parse(timeLayout, times[len(times)-max])
		if err != nil {
			oldest = at
		}
		wait := oldest.Add(window).Sub(at)
		if wait <= 0 {
			wait = time.Second
		}
		if v.Allowed || wait > v.RetryAfter {
			v = ThrottleVerdict{Allowed: false, Scope: scope, RetryAfter: wait}
		}
	}
	pair, err := tx.strings(ctx, `SELECT at FROM auth_failures WHERE tenant_id = $1 AND account_key = $2 AND addr_key = $3 AND at > $4 ORDER BY at`,
		k.TenantID, k.Account, k.Addr, at.Add(-lim.PairWindow).UTC().Format(timeLayout))
	if err != nil {
		return v, err
	}
	refuse(ScopeAccountIP, pair, lim.PairMax, lim.PairWindow)
	acct, err := tx.strings(ctx, `SELECT at FROM auth_failures WHERE tenant_id = $1 AND account_key = $2 AND at > $3 ORDER BY at`,
		k.TenantID, k.Account, at.Add(-lim.AccountWindow).UTC().Format(timeLayout))
	if err != nil {
		return v, err
	}
	refuse(ScopeAccount, acct, lim.AccountMax, lim.AccountWindow)
	// For the network, what must leave the window is an account: its
	// latest confirmed failure there. Accounts with only attempts in
	// flight count too (so a parallel burst cannot get more than the
	// limit through), but they settle within seconds, so a refusal they
	// cause asks to retry shortly rather than in a day: a crowd of real
	// users signing in at once behind one NAT is slowed, not locked out.
	// A pending row older than a minute is an attempt that never
	// finished (a dropped connection, a crashed node): a failure.
	// Guesses at tenants that do not exist (tenant_id "h:...") reach no
	// account; counting them would let anyone block a whole network's
	// sign-ins with invented names. Their own pair limit still applies.
	rows, err := tx.QueryContext(ctx, `SELECT MAX(CASE WHEN pending AND at > $3 THEN '' ELSE at END), COUNT(*) FROM auth_failures WHERE net_key = $1 AND at > $2 AND tenant_id NOT LIKE 'h:%' GROUP BY tenant_id, account_key`,
		k.Net, at.Add(-lim.NetWindow).UTC().Format(timeLayout), at.Add(-time.Minute).UTC().Format(timeLayout))
	if err != nil {
		return v, mapErr(err)
	}
	var confirmed []string
	inFlight := 0
	for rows.Next() {
		var latest string
		var n int
		if err := rows.Scan(&latest, &n); err != nil {
			rows.Close()
			return v, mapErr(err)
		}
		if latest == "" {
			inFlight++
		} else {
			confirmed = append(confirmed, latest)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return v, mapErr(err)
	}
	sort.Strings(confirmed)
	refuse(ScopeNetwork, confirmed, lim.NetAccounts, lim.NetWindow)
	if v.Allowed && lim.NetAccounts > 0 && len(confirmed)+inFlight >= lim.NetAccounts {
		v = ThrottleVerdict{Allowed: false, Scope: ScopeNetwork, RetryAfter: inFlightRetry}
	}
	return v, nil
}

// inFlightRetry is the wait a refusal caused by attempts still in flight
// asks for: about one password check's time, with margin.
const inFlightRetry = 2 * time.Second

func (tx *Tx) strings(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, mapErr(err)
		}
		out = append(out, s)
	}
	return out, mapErr(rows.Err())
}

// OutboxMail is one message to queue. To, Subject and Text are sealed at
// rest and never logged.
type OutboxMail struct {
	TenantID string
	// Kind is a code such as "password_reset": what the worker may log.
	Kind    string
	To      string
	Subject string
	Text    string
	// ExpiresAt, when set, is when the message stops being worth sending
	// (a reset mail after its token has expired); the worker drops it then.
	ExpiresAt time.Time
}

// QueuedMail is a message claimed for delivery.
type QueuedMail struct {
	OutboxMail
	ID string
	// Attempts counts delivery attempts including this one.
	Attempts int
}

type mailPayload struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
}

func mailAAD(tenantID, id string) []byte { return mcrm.AAD(tenantID, "mail_outbox", "payload", id) }

// EnqueueMail queues m in the transaction, so the mail exists exactly when
// the change that caused it commits. It is due at once.
func (tx *Tx) EnqueueMail(ctx context.Context, m OutboxMail, at time.Time) (string, error) {
	if m.TenantID == "" || m.Kind == "" || m.To == "" {
		return "", mcrm.Errorf(mcrm.EInvalid, "mail needs a tenant, a kind and a recipient")
	}
	sealer, err := tx.db.Sealer()
	if err != nil {
		return "", err
	}
	id := record.NewID()
	plain, err := json.Marshal(mailPayload{To: m.To, Subject: m.Subject, Text: m.Text})
	if err != nil {
		return "", err
	}
	sealed, err := sealer.Seal(ctx, m.TenantID, mailAAD(m.TenantID, id), plain)
	if err != nil {
		return "", fmt.Errorf("seal mail: %w", err)
	}
	var expires any
	if !m.ExpiresAt.IsZero() {
		expires = m.ExpiresAt.UTC().Format(timeLayout)
	}
	ts := at.UTC().Format(timeLayout)
	_, err = tx.ExecContext(ctx, `INSERT INTO mail_outbox (tenant_id, id, kind, payload, created_at, next_attempt_at, expires_at, attempts, last_error) VALUES ($1, $2, $3, $4, $5, $5, $6, 0, '')`,
		m.TenantID, id, m.Kind, base64.StdEncoding.EncodeToString(sealed), ts, expires)
	return id, mapErr(err)
}

// ClaimMail takes up to limit due messages for delivery. A claimed message
// is not due again until lease has passed, so a worker that dies mid-way
// leaves it to another; several workers (nodes) can claim concurrently and
// each message goes to one of them. Messages past their expiry are marked
// failed instead of returned. The error may come with messages: those
// could be opened, the error names (by id only) those that could not.
func (db *DB) ClaimMail(ctx context.Context, at time.Time, lease time.Duration, limit int) ([]QueuedMail, error) {
	type claimed struct {
		QueuedMail
		payload string
	}
	var got []claimed
	ts := at.UTC().Format(timeLayout)
	err := db.InTx(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT tenant_id, id, kind, payload, next_attempt_at, expires_at, attempts FROM mail_outbox
            WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2`, ts, limit)
		if err != nil {
			return mapErr(err)
		}
		type cand struct {
			c       claimed
			due     string
			expires sql.NullString
		}
		var cands []cand
		for rows.Next() {
			var c cand
			if err := rows.Scan(&c.c.TenantID, &c.c.ID, &c.c.Kind, &c.c.payload, &c.due, &c.expires, &c.c.Attempts); err != nil {
				rows.Close()
				return mapErr(err)
			}
			cands = append(cands, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return mapErr(err)
		}
		for _, c := range cands {
			if c.expires.Valid && c.expires.String <= ts {
				if _, err := tx.ExecContext(ctx, `UPDATE mail_outbox SET failed_at = $1, payload = '', last_error = 'expired' WHERE tenant_id = $2 AND id = $3 AND sent_at IS NULL`, ts, c.c.TenantID, c.c.ID); err != nil {
					return mapErr(err)
				}
				continue
			}
			// Conditional on the due time read above: of two workers that
			// read the same row, only the first update matches.
			res, err := tx.ExecContext(ctx, `UPDATE mail_outbox SET next_attempt_at = $1, attempts = attempts + 1
                WHERE tenant_id = $2 AND id = $3 AND next_attempt_at = $4 AND sent_at IS NULL AND failed_at IS NULL`,
				at.Add(lease).UTC().Format(timeLayout), c.c.TenantID, c.c.ID, c.due)
			if err != nil {
				return mapErr(err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				c.c.Attempts++
				if c.expires.Valid {
					c.c.ExpiresAt, _ = time.Parse(timeLayout, c.expires.String)
				}
				got = append(got, c.c)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sealer, err := db.Sealer()
	if err != nil {
		return nil, err
	}
	// A message that cannot be opened is left leased (it comes back after
	// the lease, the key service may have been down) and the others are
	// still returned, so one bad row cannot stop the queue.
	out := make([]QueuedMail, 0, len(got))
	var errs []error
	for _, c := range got {
		sealed, err := base64.StdEncoding.DecodeString(c.payload)
		if err != nil {
			errs = append(errs, fmt.Errorf("mail %s: bad payload encoding", c.ID))
			continue
		}
		plain, err := sealer.Open(ctx, c.TenantID, mailAAD(c.TenantID, c.ID), sealed)
		if err != nil {
			errs = append(errs, fmt.Errorf("mail %s: open payload: %w", c.ID, err))
			continue
		}
		var p mailPayload
		if err := json.Unmarshal(plain, &p); err != nil {
			errs = append(errs, fmt.Errorf("mail %s: bad payload", c.ID))
			continue
		}
		c.To, c.Subject, c.Text = p.To, p.Subject, p.Text
		out = append(out, c.QueuedMail)
	}
	return out, errors.Join(errs...)
}

// MarkMailSent records delivery and erases the sealed message: a sent
// reset link must not stay readable in the database.
func (db *DB) MarkMailSent(ctx context.Context, tenantID, id string, at time.Time) error {
	return db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE mail_outbox SET sent_at = $1, payload = '', last_error = '' WHERE tenant_id = $2 AND id = $3`, at.UTC().Format(timeLayout), tenantID, id)
		return mapErr(err)
	})
}

// MarkMailRetry schedules another attempt at next. errCode is a short
// code (never the server's reply, which may quote the recipient).
func (db *DB) MarkMailRetry(ctx context.Context, tenantID, id string, next time.Time, errCode string) error {
	return db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE mail_outbox SET next_attempt_at = $1, last_error = $2 WHERE tenant_id = $3 AND id = $4 AND sent_at IS NULL`, next.UTC().Format(timeLayout), errCode, tenantID, id)
		return mapErr(err)
	})
}

// MarkMailFailed gives up on a message and erases it.
func (db *DB) MarkMailFailed(ctx context.Context, tenantID, id string, at time.Time, errCode string) error {
	return db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE mail_outbox SET failed_at = $1, payload = '', last_error = $2 WHERE tenant_id = $3 AND id = $4 AND sent_at IS NULL`, at.UTC().Format(timeLayout), errCode, tenantID, id)
		return mapErr(err)
	})
}

// MailStatus is a message's delivery state, for operators and tests.
type MailStatus struct {
	Kind      string
	Attempts  int
	LastError string
	Sent      bool
	Failed    bool
	// PayloadLen is the size of the stored sealed message (0 once erased).
	PayloadLen int
}

// MailStatus reports one message's delivery state.
func (db *DB) MailStatus(ctx context.Context, tenantID, id string) (MailStatus, error) {
	var s MailStatus
	var sent, failed sql.NullString
	var payload string
	err := db.r.QueryRowContext(ctx, `SELECT kind, attempts, last_error, sent_at, failed_at, payload FROM mail_outbox WHERE tenant_id = $1 AND id = $2`, tenantID, id).
		Scan(&s.Kind, &s.Attempts, &s.LastError, &sent, &failed, &payload)
	s.Sent, s.Failed, s.PayloadLen = sent.Valid, failed.Valid, len(payload)
	return s, mapErr(err)
}

// Password reset tokens.
const (
	// ResetTokenLifetime is how long a reset link works.
	ResetTokenLifetime = 15 * time.Minute
	// ResetsPerWindow caps the reset mails one user can be sent per
	// ResetTokenLifetime, so the forgot endpoint cannot be used to flood
	// a mailbox.
	ResetsPerWindow = 3
)

// ErrResetToken is the answer for an unknown, used, superseded or expired
// reset token: the four are indistinguishable to the caller.
var ErrResetToken = &mcrm.Error{Code: mcrm.EUnauthorized, Message: "invalid or expired reset token",
	Fields: []mcrm.FieldError{{Field: "token", Code: "invalid_reset_token", Message: "the reset link is invalid or has expired"}}}

// PasswordReset asks for a reset token for a known, live user.
type PasswordReset struct {
	TenantID string
	UserID   string
	// Mail builds the message carrying the token (the link); the store
	// fills in the tenant, the kind and the expiry.
	Mail func(token string) OutboxMail
}

// CreatePasswordReset makes a single-use token (256 random bits, stored
// only as its SHA-256, valid ResetTokenLifetime) and queues the mail that
// carries it in the same transaction: either both exist or neither. Older
// unused tokens of the user stop working. It reports false, and queues
// nothing, when the user is not live and active or already had
// ResetsPerWindow tokens made in the last ResetTokenLifetime; the caller
// answers the same either way.
func (db *DB) CreatePasswordReset(ctx context.Context, r PasswordReset, at time.Time, ev Event) (bool, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return false, err
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	ts := at.UTC().Format(timeLayout)
	exp := at.Add(ResetTokenLifetime).UTC()
	queued := false
	err := db.InTx(ctx, func(tx *Tx) error {
		// Only a live, active user gets a token; anyone else gets the same
		// answer from the caller and nothing is queued.
		live, err := tx.countInt(ctx, `SELECT COUNT(*) FROM users WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL AND (active IS NULL OR active = $3)`,
			r.TenantID, r.UserID, true)
		if err != nil || live == 0 {
			return err
		}
		recent, err := tx.countInt(ctx, `SELECT COUNT(*) FROM password_resets WHERE tenant_id = $1 AND user_id = $2 AND created_at > $3`,
			r.TenantID, r.UserID, at.Add(-ResetTokenLifetime).UTC().Format(timeLayout))
		if err != nil || recent >= ResetsPerWindow {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE password_resets SET used_at = $1 WHERE tenant_id = $2 AND user_id = $3 AND used_at IS NULL`, ts, r.TenantID, r.UserID); err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO password_resets (token_hash, tenant_id, id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			TokenHash(token), r.TenantID, record.NewID(), r.UserID, ts, exp.Format(timeLayout)); err != nil {
			return mapErr(err)
		}
		m := r.Mail(token)
		m.TenantID, m.Kind, m.ExpiresAt = r.TenantID, "password_reset", exp
		if _, err := tx.EnqueueMail(ctx, m, at); err != nil {
			return err
		}
		queued = true
		return tx.Event(ctx, fillEvent(ev, r.TenantID, r.UserID, "authn_password_reset_requested"))
	})
	return queued, err
}

// PeekPasswordReset tells whose token this is without using it, so the
// caller can check the new password against that user's policy first.
func (db *DB) PeekPasswordReset(ctx context.Context, token string, at time.Time) (tenantID, userID string, err error) {
	err = db.r.QueryRowContext(ctx, `SELECT r.tenant_id, r.user_id FROM password_resets r JOIN users u ON u.tenant_id = r.tenant_id AND u.id = r.user_id
        WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > $2 AND u.deleted_at IS NULL AND (u.active IS NULL OR u.active = $3)`,
		TokenHash(token), at.UTC().Format(timeLayout), true).Scan(&tenantID, &userID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", ErrResetToken
	}
	return tenantID, userID, mapErr(err)
}

// ConsumePasswordReset uses a token once: in one transaction it marks the
// token used (a conditional UPDATE, so of two concurrent uses one wins),
// sets the new password hash, ends the user's other outstanding tokens,
// revokes all the user's sessions and records the event. A reset changes
// the password only: the second factor is still asked at the next login.
// The caller also evicts the user's sessions from any in-process cache.
func (db *DB) ConsumePasswordReset(ctx context.Context, token, newHash string, at time.Time, ev Event) (tenantID, userID string, err error) {
	ts := at.UTC().Format(timeLayout)
	err = db.InTx(ctx, func(tx *Tx) error {
		err := tx.QueryRowContext(ctx, `UPDATE password_resets SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1
            AND EXISTS (SELECT 1 FROM users u WHERE u.tenant_id = password_resets.tenant_id AND u.id = password_resets.user_id AND u.deleted_at IS NULL AND (u.active IS NULL OR u.active = $3))
            RETURNING tenant_id, user_id`, ts, TokenHash(token), true).Scan(&tenantID, &userID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrResetToken
		}
		if err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE password_resets SET used_at = $1 WHERE tenant_id = $2 AND user_id = $3 AND used_at IS NULL`, ts, tenantID, userID); err != nil {
			return mapErr(err)
		}
		if err := tx.SetPasswordHash(ctx, tenantID, userID, newHash); err != nil {
			return err
		}
		if _, err := tx.RevokeUserSessions(ctx, tenantID, userID, "", RevokedReset); err != nil {
			return err
		}
		return tx.Event(ctx, fillEvent(ev, tenantID, userID, "authn_password_change"))
	})
	if err != nil {
		return "", "", err
	}
	return tenantID, userID, nil
}

// fillEvent completes the parts of ev the caller left empty.
func fillEvent(ev Event, tenantID, userID, action string) Event {
	if ev.TenantID == "" {
		ev.TenantID = tenantID
	}
	if ev.Actor == "" {
		ev.Actor = userID
	}
	if ev.Action == "" {
		ev.Action = action
	}
	if ev.Object == "" {
		ev.Object = "users/" + userID
	}
	if ev.Outcome == "" {
		ev.Outcome = "success"
	}
	return ev
}
