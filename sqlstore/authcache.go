package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// authCache keeps resolved access tokens in memory so an API request does
// not read the session from the database (AUTH-05: tens of thousands of
// verifications a second per core). It is only ever a copy: every change
// that can end or alter a session (revocation, stage change, step-up, a
// change to the user row) evicts after its transaction commits, and on
// PostgreSQL announces the eviction with NOTIFY in that transaction so
// every node drops its copy too. An entry also lives at most cacheTTL, so
// a node that missed a notification (its listener was reconnecting)
// converges within that bound.
type authCache struct {
	mu      sync.RWMutex
	entries map[string]*authEntry // token hash → entry
	// epoch moves on every eviction. A reader that started its database
	// read before an eviction that concerns its session does not cache
	// what it read: the row may be from before the revocation. recent
	// remembers the last evictions so that one in another tenant (on
	// PostgreSQL every node hears every tenant's) does not cost a miss.
	epoch  atomic.Uint64
	recent [recentEvictions]eviction // indexed by epoch % recentEvictions
}

// eviction is what one epoch step dropped: a token hash, a session, a
// user, or everything (all).
type eviction struct {
	epoch                             uint64
	hash, tenantID, sessionID, userID string
	all                               bool
}

const recentEvictions = 1024

// note records an eviction; the caller holds mu.
func (c *authCache) note(ev eviction) {
	ev.epoch = c.epoch.Add(1)
	c.recent[ev.epoch%recentEvictions] = ev
}

// staleSince reports whether an eviction after epoch may concern e (or
// the evictions since then are no longer all remembered); the caller
// holds mu.
func (c *authCache) staleSince(epoch uint64, hash string, e *authEntry) bool {
	now := c.epoch.Load()
	if now-epoch >= recentEvictions {
		return now != epoch
	}
	p := &e.s.Principal
	for n := epoch + 1; n <= now; n++ {
		ev := c.recent[n%recentEvictions]
		if ev.epoch != n || ev.all || ev.hash == hash ||
			ev.tenantID == p.TenantID && (ev.sessionID != "" && ev.sessionID == p.SessionID || ev.userID != "" && ev.userID == p.UserID) {
			return true
		}
	}
	return false
}

const (
	cacheTTL     = time.Minute
	cacheMaxSize = 200_000
	notifyChan   = "mcrm_auth"
)

type authEntry struct {
	s            *Session
	hash         string
	tokenExpires time.Time
	cachedAt     time.Time
	lastSeen     atomic.Int64 // unix nanoseconds of the last recorded touch
}

func (e *authEntry) seen() time.Time { return time.Unix(0, e.lastSeen.Load()) }

func (c *authCache) get(hash string) *authEntry {
	c.mu.RLock()
	e := c.entries[hash]
	c.mu.RUnlock()
	if e != nil && time.Since(e.cachedAt) > cacheTTL {
		c.evictToken(hash)
		return nil
	}
	return e
}

func (c *authCache) put(hash string, e *authEntry, epoch uint64) {
	e.cachedAt = time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.staleSince(epoch, hash, e) {
		return
	}
	if c.entries == nil || len(c.entries) >= cacheMaxSize {
		// Dropping everything is crude but safe (entries are copies) and
		// only happens with more live tokens than any node should hold.
		c.entries = make(map[string]*authEntry)
	}
	c.entries[hash] = e
}

func (c *authCache) evictToken(hash string) {
	c.mu.Lock()
	delete(c.entries, hash)
	c.note(eviction{hash: hash})
	c.mu.Unlock()
}

// evict drops the entries of a session (id != "") or of every session of
// a user (user != "") of tenant.
func (c *authCache) evict(tenantID, sessionID, userID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.note(eviction{tenantID: tenantID, sessionID: sessionID, userID: userID})
	for h, e := range c.entries {
		p := &e.s.Principal
		if p.TenantID == tenantID && (sessionID != "" && p.SessionID == sessionID || userID != "" && p.UserID == userID) {
			delete(c.entries, h)
		}
	}
}

func (c *authCache) clear() {
	c.mu.Lock()
	c.entries = nil
	c.note(eviction{all: true})
	c.mu.Unlock()
}

// evictSession and evictUser drop cached sessions when tx commits (and on
// PostgreSQL tell the other nodes, through NOTIFY, which is delivered at
// commit as well).
func (tx *Tx) evictSession(tenantID, id string) { tx.evict(tenantID, "s", id) }

// EvictUser drops the cached sessions of a user when tx commits: any
// change to the user row (role, active, time zone) must reach the next
// request.
func (tx *Tx) EvictUser(tenantID, userID string) { tx.evict(tenantID, "u", userID) }

func (tx *Tx) evict(tenantID, kind, id string) {
	// Evicting before the commit as well closes the window in which a
	// request could re-cache the old row between commit and the hook.
	tx.db.applyEviction(tenantID, kind, id)
	tx.onCommit = append(tx.onCommit, func() { tx.db.applyEviction(tenantID, kind, id) })
	if tx.db.Dialect == Postgres {
		tx.notify = append(tx.notify, tenantID+"/"+kind+"/"+id)
	}
}

func (db *DB) applyEviction(tenantID, kind, id string) {
	switch kind {
	case "s":
		db.auth.evict(tenantID, id, "")
	case "r":
		db.roles.evict(tenantID + "/" + id)
	default:
		db.auth.evict(tenantID, "", id)
	}
}

// sendNotifies queues the transaction's evictions for the other nodes.
func (tx *Tx) sendNotifies(ctx context.Context) error {
	for _, n := range tx.notify {
		if _, err := tx.tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, notifyChan, n); err != nil {
			return mapErr(err)
		}
	}
	tx.notify = nil
	return nil
}

// listenEvictions applies other nodes' evictions until ctx ends. While it
// is not connected the cache is cleared on every (re)connection, so what
// was missed in between cannot linger.
func (db *DB) listenEvictions(ctx context.Context, pool *sql.DB) {
	for ctx.Err() == nil {
		err := db.listenOnce(ctx, pool)
		db.auth.clear()
		db.roles.clear()
		if ctx.Err() != nil {
			return
		}
		_ = err
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (db *DB) listenOnce(ctx context.Context, pool *sql.DB) error {
	conn, err := pool.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		if _, err := pc.Exec(ctx, "LISTEN "+notifyChan); err != nil {
			return err
		}
		db.auth.clear()
		db.roles.clear()
		for {
			n, err := pc.WaitForNotification(ctx)
			if err != nil {
				return err
			}
			parts := strings.SplitN(n.Payload, "/", 3)
			if len(parts) == 3 {
				db.applyEviction(parts[0], parts[1], parts[2])
			}
		}
	})
}
