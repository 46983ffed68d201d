package sqlstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"

	"mcrm"
	"mcrm/record"
)

// Token lifetimes (AUTH-05). Access tokens are short so a stolen one is
// worth little; the session (and its refresh token) carries the idle and
// absolute limits of the tenant's policy.
const (
	AccessTokenTTL = 10 * time.Minute
	MFATokenTTL    = 5 * time.Minute
	// touchEvery limits last_seen writes to one per minute per session so
	// that reads do not turn into writes.
	touchEvery = time.Minute
)

// Session kinds and stages (see migration 0008).
const (
	SessionToken  = "token"
	SessionCookie = "cookie"

	StageMFA   = "mfa"
	StageEnrol = "enrol"
	StageFull  = "full"
)

// Revocation reasons, stored with the session and shown in its list.
const (
	RevokedLogout   = "logout"
	RevokedUser     = "revoked_by_user"
	RevokedAdmin    = "revoked_by_admin"
	RevokedPassword = "password_changed"
	RevokedFactor   = "factor_changed"
	RevokedReuse    = "refresh_token_reused"
	RevokedRights   = "rights_changed"
	RevokedReset    = "password_reset"
)

// TokenHash is how a token is stored and looked up.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// NewToken returns 256 random bits, base64url: a bearer secret.
func NewToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewSession describes a sign-in.
type NewSession struct {
	TenantID, UserID string
	Kind             string // SessionToken or SessionCookie
	Stage            string
	JKT              string   // DPoP key thumbprint, "" for unbound
	AMR              []string // methods used so far
	Strong           bool     // a second factor or a passkey was used
	Idle, Absolute   time.Duration
	IP, UserAgent    string
}

// Issued is what a sign-in, second factor, enrolment or refresh hands
// the client. Only the hashes are stored.
type Issued struct {
	SessionID      string
	Stage          string
	Access         string // access token (the cookie value of a cookie session)
	Refresh        string // token sessions, stage full
	MFA            string // stage mfa
	CSRF           string // cookie sessions
	AccessExpires  time.Time
	SessionExpires time.Time
	JKT            string
}

// Session is an authenticated request's session. Principal is a fresh
// copy for each request; the request steps fill its device fields.
type Session struct {
	Principal    mcrm.Principal
	Kind, Stage  string
	JKT          string
	LastIP       string // address of the session's previous request
	csrfHash     string
	TokenExpires time.Time
	Expires      time.Time
	Idle         time.Duration
}

// CheckCSRF compares a presented CSRF token with the session's, in
// constant time.
func (s *Session) CheckCSRF(token string) bool {
	if s.csrfHash == "" || token == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(TokenHash(token)), []byte(s.csrfHash)) == 1
}

var errBadToken = mcrm.Errorf(mcrm.EUnauthorized, "invalid or expired token")

// errReauth answers a token whose session has ended (idle, expired,
// revoked): the client must sign in again. errTokenExpired answers an
// access token past its 10 minutes in a live session: the client should
// refresh. Both are 401; the field code tells the client what to do, and
// only someone holding the token sees it.
var (
	errReauth = &mcrm.Error{Code: mcrm.EUnauthorized, Message: "the session has ended: sign in again",
		Fields: []mcrm.FieldError{{Field: "Authorization", Code: "reauth_required", Message: "the session ended (idle, expired or revoked)"}}}
	errTokenExpired = &mcrm.Error{Code: mcrm.EUnauthorized, Message: "the access token has expired: refresh it",
		Fields: []mcrm.FieldError{{Field: "Authorization", Code: "token_expired", Message: "exchange the refresh token for a new access token"}}}
)

// StartSession stores a sign-in and its first tokens, and the event, in
// one transaction.
func (db *DB) StartSession(ctx context.Context, ns NewSession, ev Event) (Issued, error) {
	if ns.Kind != SessionToken && ns.Kind != SessionCookie {
		return Issued{}, mcrm.Errorf(mcrm.EInternal, "session kind %q", ns.Kind)
	}
	t := time.Now().UTC()
	id := record.NewID()
	var strong any
	if ns.Strong {
		strong = ts(t)
	}
	exp := t.Add(ns.Absolute)
	var out Issued
	err := db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (tenant_id, id, user_id, kind, stage, jkt, amr, auth_time, strong_at, created_at, expires_at, idle_seconds, last_seen_at, last_ip, user_agent)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8, $10, $11, $8, $12, $13)`,
			ns.TenantID, id, ns.UserID, ns.Kind, ns.Stage, nullIfEmpty(ns.JKT), strings.Join(ns.AMR, " "), ts(t), strong, ts(exp),
			int64(ns.Idle/time.Second), ns.IP, truncateUA(ns.UserAgent)); err != nil {
			return mapErr(err)
		}
		var err error
		out, err = tx.issue(ctx, ns.TenantID, id, ns.Kind, ns.Stage, exp, t)
		if err != nil {
			return err
		}
		ev.SessionID = id
		return tx.Event(ctx, ev)
	})
	out.JKT = ns.JKT
	return out, err
}

// issue creates the tokens a session at stage gets.
func (tx *Tx) issue(ctx context.Context, tenantID, sessionID, kind, stage string, sessionExp, t time.Time) (Issued, error) {
	out := Issued{SessionID: sessionID, Stage: stage, SessionExpires: sessionExp}
	add := func(kind string, exp time.Time) (string, error) {
		tok := NewToken()
		_, err := tx.ExecContext(ctx, `INSERT INTO session_tokens (token_hash, tenant_id, session_id, kind, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			TokenHash(tok), tenantID, sessionID, kind, ts(t), ts(exp))
		return tok, mapErr(err)
	}
	var err error
	switch {
	case stage == StageMFA:
		out.AccessExpires = minTime(t.Add(MFATokenTTL), sessionExp)
		out.MFA, err = add("mfa", out.AccessExpires)
	case kind == SessionCookie:
		// The cookie is the session: it lives as long as the session
		// and the idle clock ends it earlier.
		out.AccessExpires = sessionExp
		if out.Access, err = add("access", sessionExp); err != nil {
			return out, err
		}
		out.CSRF = NewToken()
		_, err = tx.ExecContext(ctx, `UPDATE sessions SET csrf_hash = $1 WHERE tenant_id = $2 AND id = $3`, TokenHash(out.CSRF), tenantID, sessionID)
		err = mapErr(err)
	default:
		out.AccessExpires = minTime(t.Add(AccessTokenTTL), sessionExp)
		if out.Access, err = add("access", out.AccessExpires); err != nil {
			return out, err
		}
		if stage == StageFull {
			out.Refresh, err = add("refresh", sessionExp)
		}
	}
	return out, err
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// truncateUA keeps the user agent short enough to show and store.
func truncateUA(ua string) string {
	if len(ua) > 200 {
		ua = ua[:200]
	}
	return strings.ToValidUTF8(ua, "")
}

// sessionRow is a session as read with one of its tokens.
type sessionRow struct {
	tenantID, id, userID, kind, stage string
	jkt, csrf, strongAt, revokedAt    sql.NullString
	amr, authTime, expires, lastSeen  string
	lastIP                            string
	idle                              int64
	role                              string
	tz                                sql.NullString
	active                            sql.NullBool
	tokKind, tokExpires               string
	tokUsed                           sql.NullString
}

const sessionSelect = `SELECT s.tenant_id, s.id, s.user_id, s.kind, s.stage, s.jkt, s.csrf_hash, s.strong_at, s.revoked_at, s.amr, s.auth_time, s.expires_at, s.last_seen_at, s.last_ip, s.idle_seconds,
        u.role, u.time_zone, u.active, t.kind, t.expires_at, t.used_at
    FROM session_tokens t
    JOIN sessions s ON s.tenant_id = t.tenant_id AND s.id = t.session_id
    JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id AND u.deleted_at IS NULL
    WHERE t.token_hash = $1`

func scanSession(row interface{ Scan(...any) error }) (*sessionRow, error) {
	var r sessionRow
	err := row.Scan(&r.tenantID, &r.id, &r.userID, &r.kind, &r.stage, &r.jkt, &r.csrf, &r.strongAt, &r.revokedAt, &r.amr, &r.authTime, &r.expires, &r.lastSeen, &r.lastIP, &r.idle,
		&r.role, &r.tz, &r.active, &r.tokKind, &r.tokExpires, &r.tokUsed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errBadToken
	}
	if err != nil {
		return nil, mapErr(err)
	}
	return &r, nil
}

func parseTS(s string) time.Time { t, _ := time.Parse(timeLayout, s); return t }

// live reports whether the session can still be used at t.
func (r *sessionRow) live(t time.Time) bool {
	if r.revokedAt.Valid || (r.active.Valid && !r.active.Bool) {
		return false
	}
	return t.Before(parseTS(r.expires)) && t.Sub(parseTS(r.lastSeen)) <= time.Duration(r.idle)*time.Second
}

func (r *sessionRow) session() *Session {
	s := &Session{
		Kind: r.kind, Stage: r.stage, JKT: r.jkt.String, csrfHash: r.csrf.String, LastIP: r.lastIP,
		TokenExpires: parseTS(r.tokExpires), Expires: parseTS(r.expires), Idle: time.Duration(r.idle) * time.Second,
		Principal: mcrm.Principal{TenantID: r.tenantID, UserID: r.userID, Role: r.role, SessionID: r.id, DeviceKey: r.jkt.String},
	}
	if r.amr != "" {
		s.Principal.AMR = strings.Fields(r.amr)
	}
	if r.strongAt.Valid {
		s.Principal.AuthTime = parseTS(r.strongAt.String)
	}
	if r.tz.Valid && r.tz.String != "" {
		if loc, err := time.LoadLocation(r.tz.String); err == nil {
			s.Principal.Location = loc
		}
	}
	return s
}

// Authenticate resolves an access token to its session. Revoked, expired
// and idle sessions, sessions of deleted or deactivated users, used or
// expired tokens and tokens of another kind are all EUnauthorized. The
// answer is cached in memory; every revocation and every change to a
// user row evicts, so revocation and role changes apply to the next
// request (see authCache).
func (db *DB) Authenticate(ctx context.Context, token string) (*Session, error) {
	hash := TokenHash(token)
	t := time.Now()
	if e := db.auth.get(hash); e != nil {
		if !t.Before(e.s.Expires) || t.Sub(e.seen()) > e.s.Idle {
			db.auth.evictToken(hash)
			return nil, errReauth
		}
		if !t.Before(e.tokenExpires) {
			db.auth.evictToken(hash)
			return nil, errTokenExpired
		}
		db.touch(e, t)
		return e.s.clone(), nil
	}
	epoch := db.auth.epoch.Load()
	r, err := scanSession(db.reads.QueryRowContext(ctx, sessionSelect, hash))
	if err != nil {
		return nil, err
	}
	if r.tokKind != "access" || r.tokUsed.Valid {
		return nil, errBadToken
	}
	if !r.live(t) {
		return nil, errReauth
	}
	if !t.Before(parseTS(r.tokExpires)) {
		return nil, errTokenExpired
	}
	s := r.session()
	e := &authEntry{s: s, tokenExpires: s.TokenExpires, hash: hash}
	e.lastSeen.Store(parseTS(r.lastSeen).UnixNano())
	db.auth.put(hash, e, epoch)
	db.touch(e, t)
	return s.clone(), nil
}

// clone is the per-request copy of a cached session. The AMR slice is
// copied as well: a shallow copy would share its backing array with the
// cache, so a request editing its Principal would change what later
// requests see (and race them).
func (s *Session) clone() *Session {
	c := *s
	c.Principal.AMR = slices.Clone(s.Principal.AMR)
	return &c
}

// touch moves the idle clock. It runs at most once a minute per session
// and off the request path: on SQLite the one writer may be busy with a
// long import, and a read must not wait for it. A touch that fails only
// makes the idle clock run from the previous one.
func (db *DB) touch(e *authEntry, t time.Time) {
	prev := e.lastSeen.Load()
	if t.UnixNano()-prev < int64(touchEvery) || !e.lastSeen.CompareAndSwap(prev, t.UnixNano()) {
		return
	}
	tenantID, id := e.s.Principal.TenantID, e.s.Principal.SessionID
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = db.w.ExecContext(ctx, `UPDATE sessions SET last_seen_at = $1 WHERE tenant_id = $2 AND id = $3 AND last_seen_at < $1`, ts(t), tenantID, id)
	}()
}

// PendingMFA resolves an mfa token (stage mfa, unused, unexpired) to its
// session without consuming it: the caller checks the second factor,
// then calls CompleteMFA, which consumes it.
func (db *DB) PendingMFA(ctx context.Context, mfaToken string) (*Session, error) {
	r, err := scanSession(db.r.QueryRowContext(ctx, sessionSelect, TokenHash(mfaToken)))
	if err != nil {
		return nil, err
	}
	t := time.Now()
	if r.tokKind != "mfa" || r.tokUsed.Valid || !t.Before(parseTS(r.tokExpires)) || r.stage != StageMFA || !r.live(t) {
		return nil, errBadToken
	}
	return r.session(), nil
}

// CompleteMFA consumes the mfa token and moves its session to stage full
// with the second factor's method, a fresh step-up clock and new tokens.
// Of two concurrent completions one wins; the other gets EUnauthorized.
func (db *DB) CompleteMFA(ctx context.Context, mfaToken string, amr []string, ev Event) (Issued, error) {
	var out Issued
	err := db.InTx(ctx, func(tx *Tx) error {
		r, err := scanSession(tx.QueryRowContext(ctx, sessionSelect, TokenHash(mfaToken)))
		if err != nil {
			return err
		}
		t := time.Now().UTC()
		if r.tokKind != "mfa" || r.stage != StageMFA || !r.live(t) {
			return errBadToken
		}
		res, err := tx.ExecContext(ctx, `UPDATE session_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1`, ts(t), TokenHash(mfaToken))
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errBadToken
		}
		out, err = tx.upgrade(ctx, r, StageFull, amr, t)
		if err != nil {
			return err
		}
		ev.SessionID = r.id
		return tx.Event(ctx, ev)
	})
	return out, err
}

// upgrade moves a session to stage, adds methods to its amr, restarts
// the step-up clock and issues new tokens.
func (tx *Tx) upgrade(ctx context.Context, r *sessionRow, stage string, amr []string, t time.Time) (Issued, error) {
	methods := strings.Fields(r.amr)
	for _, m := range amr {
		if !slices.Contains(methods, m) {
			methods = append(methods, m)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE sessions SET stage = $1, amr = $2, strong_at = $3, last_seen_at = $3 WHERE tenant_id = $4 AND id = $5`,
		stage, strings.Join(methods, " "), ts(t), r.tenantID, r.id); err != nil {
		return Issued{}, mapErr(err)
	}
	out, err := tx.issue(ctx, r.tenantID, r.id, r.kind, stage, parseTS(r.expires), t)
	out.JKT = r.jkt.String
	tx.evictSession(r.tenantID, r.id)
	return out, err
}

// FinishEnrolment moves a session at stage enrol to full once its user
// has enrolled a second factor: the enrolment proved the factor, so it
// counts as the second factor of this sign-in. The old access token (which
// reached only enrolment) ends.
func (db *DB) FinishEnrolment(ctx context.Context, tenantID, sessionID string, amr []string, ev Event) (Issued, error) {
	var out Issued
	err := db.InTx(ctx, func(tx *Tx) error {
		r, err := tx.sessionByID(ctx, tenantID, sessionID)
		if err != nil {
			return err
		}
		t := time.Now().UTC()
		if r.stage != StageEnrol || !r.live(t) {
			return mcrm.Errorf(mcrm.EConflict, "the session is not waiting for an enrolment")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE session_tokens SET used_at = $1 WHERE tenant_id = $2 AND session_id = $3 AND kind = 'access' AND used_at IS NULL`, ts(t), tenantID, sessionID); err != nil {
			return mapErr(err)
		}
		out, err = tx.upgrade(ctx, r, StageFull, amr, t)
		if err != nil {
			return err
		}
		ev.SessionID = sessionID
		return tx.Event(ctx, ev)
	})
	return out, err
}

// StepUp restarts the session's step-up clock after a strong
// authentication (AUTH-09).
func (db *DB) StepUp(ctx context.Context, tenantID, sessionID string, amr []string, ev Event) error {
	return db.StepUpAt(ctx, tenantID, sessionID, amr, time.Now(), ev)
}

// StepUpAt is StepUp on the caller's clock.
func (db *DB) StepUpAt(ctx context.Context, tenantID, sessionID string, amr []string, at time.Time, ev Event) error {
	return db.InTx(ctx, func(tx *Tx) error {
		r, err := tx.sessionByID(ctx, tenantID, sessionID)
		if err != nil {
			return err
		}
		t := at.UTC()
		if r.stage != StageFull || !r.live(time.Now()) {
			return errBadToken
		}
		methods := strings.Fields(r.amr)
		for _, m := range amr {
			if !slices.Contains(methods, m) {
				methods = append(methods, m)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET strong_at = $1, amr = $2 WHERE tenant_id = $3 AND id = $4`, ts(t), strings.Join(methods, " "), tenantID, sessionID); err != nil {
			return mapErr(err)
		}
		tx.evictSession(tenantID, sessionID)
		ev.SessionID = sessionID
		return tx.Event(ctx, ev)
	})
}

// sessionByID reads a session (with its user) inside a transaction.
func (tx *Tx) sessionByID(ctx context.Context, tenantID, id string) (*sessionRow, error) {
	var r sessionRow
	err := tx.QueryRowContext(ctx, `SELECT s.tenant_id, s.id, s.user_id, s.kind, s.stage, s.jkt, s.csrf_hash, s.strong_at, s.revoked_at, s.amr, s.auth_time, s.expires_at, s.last_seen_at, s.last_ip, s.idle_seconds,
        u.role, u.time_zone, u.active
        FROM sessions s JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id AND u.deleted_at IS NULL
        WHERE s.tenant_id = $1 AND s.id = $2`, tenantID, id).
		Scan(&r.tenantID, &r.id, &r.userID, &r.kind, &r.stage, &r.jkt, &r.csrf, &r.strongAt, &r.revokedAt, &r.amr, &r.authTime, &r.expires, &r.lastSeen, &r.lastIP, &r.idle,
			&r.role, &r.tz, &r.active)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errBadToken
	}
	if err != nil {
		return nil, mapErr(err)
	}
	return &r, nil
}

// ErrTokenReused is the answer to a refresh token presented a second
// time; the session it belonged to has been revoked.
var ErrTokenReused = &mcrm.Error{Code: mcrm.EUnauthorized, Message: "refresh token already used; the session has been revoked",
	Fields: []mcrm.FieldError{{Field: "refresh_token", Code: "reused", Message: "this refresh token was already exchanged"}}}

// ErrKeyMismatch answers a refresh whose DPoP key is not the session's.
var ErrKeyMismatch = &mcrm.Error{Code: mcrm.EUnauthorized, Message: "the token is bound to another key",
	Fields: []mcrm.FieldError{{Field: "DPoP", Code: "key_mismatch", Message: "the proof's key is not the key the session is bound to"}}}

// Refresh exchanges a refresh token for a new access and refresh token
// (rotation, AUTH-06). jkt is the thumbprint of the DPoP proof that came
// with the request ("" for none); a bound session refuses any other. A
// refresh token presented a second time means two parties hold it: the
// whole session is revoked and reuseEv is recorded, and the answer is
// ErrTokenReused.
func (db *DB) Refresh(ctx context.Context, refreshToken, jkt string, ev, reuseEv Event) (Issued, error) {
	var out Issued
	var reused *sessionRow
	err := db.InTx(ctx, func(tx *Tx) error {
		r, err := scanSession(tx.QueryRowContext(ctx, sessionSelect, TokenHash(refreshToken)))
		if err != nil {
			return err
		}
		t := time.Now().UTC()
		if r.tokKind != "refresh" {
			return errBadToken
		}
		if r.tokUsed.Valid {
			reused = r
			return ErrTokenReused
		}
		if !t.Before(parseTS(r.tokExpires)) || !r.live(t) || r.stage != StageFull {
			return errBadToken
		}
		if subtle.ConstantTimeCompare([]byte(r.jkt.String), []byte(jkt)) != 1 {
			return ErrKeyMismatch
		}
		res, err := tx.ExecContext(ctx, `UPDATE session_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL`, ts(t), TokenHash(refreshToken))
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			// A concurrent refresh consumed the token between the read
			// above and this update (PostgreSQL, READ COMMITTED; SQLite's
			// single writer serialises and takes the branch above). Two
			// presentations at once are reuse as much as two in a row.
			reused = r
			return ErrTokenReused
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET last_seen_at = $1 WHERE tenant_id = $2 AND id = $3`, ts(t), r.tenantID, r.id); err != nil {
			return mapErr(err)
		}
		// Rotation ends the old access tokens too: one pair in use per
		// session, so a token copied before the refresh dies with it.
		if _, err := tx.ExecContext(ctx, `UPDATE session_tokens SET used_at = $1 WHERE tenant_id = $2 AND session_id = $3 AND kind = 'access' AND used_at IS NULL`, ts(t), r.tenantID, r.id); err != nil {
			return mapErr(err)
		}
		tx.evictSession(r.tenantID, r.id)
		out, err = tx.issue(ctx, r.tenantID, r.id, r.kind, r.stage, parseTS(r.expires), t)
		out.JKT = r.jkt.String
		if err != nil {
			return err
		}
		ev.TenantID, ev.Actor, ev.SessionID = r.tenantID, r.userID, r.id
		return tx.Event(ctx, ev)
	})
	if reused != nil {
		// In its own transaction: the refusal above rolled back.
		rerr := db.InTx(ctx, func(tx *Tx) error {
			if _, err := tx.revoke(ctx, reused.tenantID, "id = $3", RevokedReuse, reused.id); err != nil {
				return err
			}
			reuseEv.TenantID, reuseEv.Actor, reuseEv.SessionID = reused.tenantID, reused.userID, reused.id
			if err := tx.Event(ctx, reuseEv); err != nil {
				return err
			}
			return tx.NotifyUser(ctx, reused.tenantID, reused.userID, "security_notice",
				"A signed-in device of yours was signed out",
				"One of your mcrm sessions presented a refresh token that had already been used. That usually means a copy\nof the token was taken from the device, so the session was ended on every device that used it.\n\nSign in again. If you did not expect this, change your password and tell your administrator.\n")
		})
		if rerr != nil {
			return Issued{}, rerr
		}
	}
	return out, err
}

// revoke ends the sessions of tenantID matching where (with its argument
// as $3, after $1 = time and $2 = tenant) and evicts them from the cache
// once the transaction commits.
func (tx *Tx) revoke(ctx context.Context, tenantID, where, reason string, arg any, extra ...any) (int64, error) {
	args := append([]any{now(), tenantID, arg, reason}, extra...)
	ids, err := tx.strings(ctx, `UPDATE sessions SET revoked_at = $1, revoked_reason = $4 WHERE tenant_id = $2 AND `+where+` AND revoked_at IS NULL RETURNING id`, args...)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		tx.evictSession(tenantID, id)
	}
	return int64(len(ids)), nil
}

// RevokeUserSessions ends all of a user's sessions but except (the
// caller's own, after a password or factor change; "" for none).
func (tx *Tx) RevokeUserSessions(ctx context.Context, tenantID, userID, except, reason string) (int64, error) {
	if except == "" {
		return tx.revoke(ctx, tenantID, "user_id = $3", reason, userID)
	}
	return tx.revoke(ctx, tenantID, "user_id = $3 AND id <> $5", reason, userID, except)
}

// RevokeUserSessions is Tx.RevokeUserSessions with its event, in one
// transaction; it returns how many sessions ended.
func (db *DB) RevokeUserSessions(ctx context.Context, tenantID, userID, except, reason string, ev Event) (int64, error) {
	var n int64
	err := db.InTx(ctx, func(tx *Tx) error {
		var err error
		if n, err = tx.RevokeUserSessions(ctx, tenantID, userID, except, reason); err != nil {
			return err
		}
		if ev.Detail == "" {
			ev.Detail = "reason=" + reason
		}
		return tx.Event(ctx, ev)
	})
	return n, err
}

// RevokeSession ends one session of userID (a user's own, or any of the
// tenant's when userID is ""). A session that is not the user's, or
// already ended, is ENotFound.
func (db *DB) RevokeSession(ctx context.Context, tenantID, userID, sessionID, reason string, ev Event) error {
	return db.InTx(ctx, func(tx *Tx) error {
		var n int64
		var err error
		if userID == "" {
			n, err = tx.revoke(ctx, tenantID, "id = $3", reason, sessionID)
		} else {
			n, err = tx.revoke(ctx, tenantID, "id = $3 AND user_id = $5", reason, sessionID, userID)
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return mcrm.Errorf(mcrm.ENotFound, "no such active session")
		}
		ev.SessionID = sessionID
		return tx.Event(ctx, ev)
	})
}

// SessionInfo is one session as its user sees it in their list.
type SessionInfo struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	Stage      string    `json:"stage"`
	AMR        []string  `json:"amr"`
	DeviceKey  string    `json:"device_key,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	LastIP     string    `json:"last_ip"`
	UserAgent  string    `json:"user_agent"`
	Current    bool      `json:"current"`
}

// Sessions lists a user's live sessions, newest first.
func (db *DB) Sessions(ctx context.Context, tenantID, userID string) ([]SessionInfo, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, kind, stage, amr, jkt, created_at, last_seen_at, expires_at, idle_seconds, last_ip, user_agent
        FROM sessions WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3 ORDER BY created_at DESC, id DESC LIMIT 500`, tenantID, userID, now())
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	out := []SessionInfo{}
	t := time.Now()
	for rows.Next() {
		var si SessionInfo
		var amr, created, seen, exp string
		var jkt sql.NullString
		var idle int64
		if err := rows.Scan(&si.ID, &si.Kind, &si.Stage, &amr, &jkt, &created, &seen, &exp, &idle, &si.LastIP, &si.UserAgent); err != nil {
			return nil, mapErr(err)
		}
		si.AMR = strings.Fields(amr)
		si.DeviceKey = jkt.String
		si.CreatedAt, si.LastSeenAt, si.ExpiresAt = parseTS(created), parseTS(seen), parseTS(exp)
		if t.Sub(si.LastSeenAt) > time.Duration(idle)*time.Second {
			continue // idle: over, though not yet swept
		}
		out = append(out, si)
	}
	return out, mapErr(rows.Err())
}

// PruneSessions deletes sessions (and their tokens) that ended before
// cutoff: expired or revoked. Housekeeping; Authenticate enforces the
// limits itself.
func (db *DB) PruneSessions(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := db.InTx(ctx, func(tx *Tx) error {
		c := ts(cutoff)
		if _, err := tx.ExecContext(ctx, `DELETE FROM session_tokens WHERE expires_at < $1 OR EXISTS (SELECT 1 FROM sessions s WHERE s.tenant_id = session_tokens.tenant_id AND s.id = session_tokens.session_id AND (s.expires_at < $1 OR s.revoked_at < $1))`, c); err != nil {
			return mapErr(err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE (expires_at < $1 OR revoked_at < $1) AND NOT EXISTS (SELECT 1 FROM session_tokens t WHERE t.tenant_id = sessions.tenant_id AND t.session_id = sessions.id)`, c)
		if err != nil {
			return mapErr(err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

// NotifyUser queues a security notice to the user's email in the
// transaction (AUTH-11, AUTH-15). A user without an email gets none.
func (tx *Tx) NotifyUser(ctx context.Context, tenantID, userID, kind, subject, text string) error {
	var email sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT email FROM users WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL`, tenantID, userID).Scan(&email)
	if errors.Is(err, sql.ErrNoRows) || err == nil && email.String == "" {
		return nil
	}
	if err != nil {
		return mapErr(err)
	}
	_, err = tx.EnqueueMail(ctx, OutboxMail{TenantID: tenantID, Kind: kind, To: email.String, Subject: subject, Text: text,
		ExpiresAt: time.Now().Add(24 * time.Hour)}, time.Now())
	return err
}

// NotifyUser is Tx.NotifyUser in its own transaction.
func (db *DB) NotifyUser(ctx context.Context, tenantID, userID, kind, subject, text string) error {
	return db.InTx(ctx, func(tx *Tx) error { return tx.NotifyUser(ctx, tenantID, userID, kind, subject, text) })
}

// SessionMoved records that a session's requests now come from ip
// (AUTH-13): the new address, the event, and when stepUp is set the end
// of the session's step-up window, so the next sensitive operation asks
// for a strong authentication again. The session itself goes on: mobile
// clients change address all the time.
func (db *DB) SessionMoved(ctx context.Context, tenantID, sessionID, ip string, stepUp bool, ev Event) error {
	return db.InTx(ctx, func(tx *Tx) error {
		q := `UPDATE sessions SET last_ip = $1 WHERE tenant_id = $2 AND id = $3`
		if stepUp {
			q = `UPDATE sessions SET last_ip = $1, strong_at = NULL WHERE tenant_id = $2 AND id = $3`
		}
		if _, err := tx.ExecContext(ctx, q, ip, tenantID, sessionID); err != nil {
			return mapErr(err)
		}
		tx.evictSession(tenantID, sessionID)
		ev.SessionID = sessionID
		return tx.Event(ctx, ev)
	})
}

// RevokeUnbound ends a tenant's token sessions that are not bound to a
// device key: when the tenant starts requiring DPoP, sessions from before
// must not live on for their remaining hours. Cookie sessions (browsers)
// are not affected.
func (tx *Tx) RevokeUnbound(ctx context.Context, tenantID string) (int64, error) {
	return tx.revoke(ctx, tenantID, "kind = $3 AND jkt IS NULL", "dpop_required", SessionToken)
}
