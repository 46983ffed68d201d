// Package throttle limits password guessing at login. The counters live in
// the database (sqlstore's auth_failures table), so they hold across
// restarts and are shared by every node behind a load balancer.
//
// Three limits apply to every attempt (AUTH-03):
//
//   - per (tenant, account, IP): 10 failures in 15 minutes, then refused,
//     even with the right password, until the oldest failure ages out;
//   - per account: 100 failures in any rolling hour, then locked, whatever
//     the address (the cap on what a botnet can try against one user);
//   - per network (IPv4 /24, IPv6 /64): failures on 100 distinct accounts
//     in 24 hours, then every account is refused from that range
//     (credential stuffing and password spraying).
//
// Use: Check before verifying the password (a refusal means: do not
// verify), then RecordFailure or RecordSuccess. Check counts the attempt
// at once, so parallel requests cannot slip past a limit between the check
// and the record.
//
// Why one table of failure rows rather than counters in fixed windows:
// rolling windows are exact (a fixed-window counter lets twice the limit
// through across a window boundary, and the AUTH-03 cap is "no more than
// 100 in any hour"), the Retry-After is exact (when the oldest counted
// row leaves its window), and one indexed table serves all three limits.
// It stays cheap because refused attempts write nothing: per account at
// most 100 rows an hour can exist, a success deletes its (account, IP)
// rows, and Prune drops everything older than 24 hours. The cost is two
// small write transactions per login attempt (Check, then the outcome),
// next to an argon2id hash that costs far more (BenchmarkLoginAttempt).
//
// Nothing stored is personal data: the account is the user id or, for an
// address that matches no user, a keyed hash of tenant and email, so that
// unknown accounts are throttled exactly like known ones; addresses and
// networks are stored as keyed hashes too. The key is a server secret, so
// the hashes cannot be reversed by trying every email or every IPv4
// address.
package throttle

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"mcrm/sqlstore"
)

// Default limits.
const (
	PairMax       = 10
	PairWindow    = 15 * time.Minute
	AccountMax    = 100
	AccountWindow = time.Hour
	NetAccounts   = 100
	NetWindow     = 24 * time.Hour
)

// DefaultLimits are the limits AUTH-03 asks for.
var DefaultLimits = sqlstore.ThrottleLimits{
	PairMax: PairMax, PairWindow: PairWindow,
	AccountMax: AccountMax, AccountWindow: AccountWindow,
	NetAccounts: NetAccounts, NetWindow: NetWindow,
}

// Reasons a Decision gives for a refusal.
const (
	ReasonAccountIP = sqlstore.ScopeAccountIP // too many failures for this account from this address
	ReasonAccount   = sqlstore.ScopeAccount   // the account's hourly cap: locked
	ReasonNetwork   = sqlstore.ScopeNetwork   // too many accounts failed from this network
)

// Decision is the answer to Check.
type Decision struct {
	Allowed bool
	// RetryAfter is how long until an attempt can be let through again,
	// whole seconds (the unit of the Retry-After header), at least 1 s.
	RetryAfter time.Duration
	// Reason is one of the Reason constants; "" when allowed. It is for
	// logs and events: the client must see the same answer for all.
	Reason string
}

// RetryAfterHeader is the value of the HTTP Retry-After header.
func (d Decision) RetryAfterHeader() string {
	return strconv.FormatInt(int64(d.RetryAfter/time.Second), 10)
}

// Key names one login attempt; build it with Limiter.Key.
type Key struct {
	k sqlstore.ThrottleKey
}

// Limiter applies the limits. It is safe for concurrent use.
type Limiter struct {
	db     *sqlstore.DB
	secret []byte
	// Limits may be changed before the Limiter is used.
	Limits sqlstore.ThrottleLimits
	// Now is the clock (tests inject one).
	Now func() time.Time
}

// New returns a Limiter on db. serverKey is a secret of at least 32 bytes
// that keys the hashes of emails, addresses and networks; it must be the
// same on every node and stable across restarts, or the counters reset.
func New(db *sqlstore.DB, serverKey []byte) (*Limiter, error) {
	if len(serverKey) < 32 {
		return nil, errors.New("throttle: server key must be at least 32 bytes")
	}
	return &Limiter{db: db, secret: append([]byte(nil), serverKey...), Limits: DefaultLimits, Now: time.Now}, nil
}

// hash is HMAC-SHA256 under the server key, with a purpose label so equal
// inputs of different kinds never share a hash; 128 bits is ample for
// keys that only need to not collide.
func (l *Limiter) hash(purpose string, parts ...string) string {
	m := hmac.New(sha256.New, l.secret)
	m.Write([]byte(purpose))
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write([]byte(p))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// Account is the account part of a key: "u:" and the user id when the
// email matched a user, else "h:" and a keyed hash of the tenant and the
// lower-cased email.
func (l *Limiter) Account(tenantID, userID, email string) string {
	if userID != "" {
		return "u:" + userID
	}
	return "h:" + l.hash("account", tenantID, strings.ToLower(strings.TrimSpace(email)))
}

// UnknownTenant stands in for a tenant id when the login names a tenant
// that does not exist, so such guesses are throttled too.
func (l *Limiter) UnknownTenant(name string) string {
	return "h:" + l.hash("tenant", strings.ToLower(strings.TrimSpace(name)))
}

// Key builds the key of an attempt on account (from Account) in tenantID
// from ip. An invalid ip (no address known) is one address of its own.
func (l *Limiter) Key(tenantID, account string, ip netip.Addr) Key {
	return Key{k: sqlstore.ThrottleKey{
		TenantID: tenantID,
		Account:  account,
		Addr:     l.hash("addr", addrString(ip)),
		Net:      l.hash("net", Network(ip)),
	}}
}

func addrString(ip netip.Addr) string {
	if !ip.IsValid() {
		return "none"
	}
	return ip.Unmap().String()
}

// Network is the range an address is counted in: its IPv4 /24 or IPv6
// /64 (one customer's allocation, which an attacker can rotate within).
// IPv4-mapped IPv6 addresses count as IPv4.
func Network(ip netip.Addr) string {
	if !ip.IsValid() {
		return "none"
	}
	ip = ip.Unmap()
	bits := 64
	if ip.Is4() {
		bits = 24
	}
	p, err := ip.WithZone("").Prefix(bits)
	if err != nil {
		return "none"
	}
	return p.String()
}

// Check decides whether an attempt may go on to the password check. An
// allowed attempt counts as a failure until RecordSuccess clears it, so
// every allowed Check must be followed by RecordFailure or RecordSuccess.
// On an error the caller fails closed: no password check (answer 503).
func (l *Limiter) Check(ctx context.Context, k Key) (Decision, error) {
	v, err := l.db.ThrottleAttempt(ctx, k.k, l.Limits, l.Now())
	if err != nil {
		return Decision{}, err
	}
	if v.Allowed {
		return Decision{Allowed: true}, nil
	}
	wait := (v.RetryAfter + time.Second - 1).Truncate(time.Second)
	if wait < time.Second {
		wait = time.Second
	}
	return Decision{Allowed: false, RetryAfter: wait, Reason: v.Scope}, nil
}

// RecordFailure records a failed password (or unknown account). ev gives
// the actor, IP and request id for the security event written when this
// failure reaches a limit (authn_login_fail_max, or authn_login_lock for
// the account cap); its Action, Outcome and Detail are set here. Call it
// only after an allowed Check: after a refusal nothing was verified, and
// recording the refusal as a failure would let an attacker extend a lock
// by knocking on it.
func (l *Limiter) RecordFailure(ctx context.Context, k Key, ev sqlstore.Event) error {
	return l.db.ThrottleFailure(ctx, k.k, l.Limits, l.Now(), ev)
}

// RecordSuccess clears the failures of this account from this address.
func (l *Limiter) RecordSuccess(ctx context.Context, k Key) error {
	return l.db.ThrottleSuccess(ctx, k.k)
}

// Prune deletes rows older than the longest window.
func (l *Limiter) Prune(ctx context.Context) (int64, error) {
	longest := max(l.Limits.PairWindow, l.Limits.AccountWindow, l.Limits.NetWindow)
	return l.db.ThrottlePrune(ctx, l.Now().Add(-longest))
}

// Run prunes every interval until ctx ends. Pruning is housekeeping only:
// the windows are enforced by the queries, so a missed run changes no
// decision.
func (l *Limiter) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = l.Prune(ctx)
		}
	}
}
