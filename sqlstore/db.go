// Package sqlstore is mcrm's storage on SQLite (embedded default,
// modernc.org/sqlite) and PostgreSQL (pgx). There is one SQL code path: the
// statements use only syntax both databases accept ($N placeholders,
// partial indexes, WITH RECURSIVE, NULLS LAST, ON CONFLICT), and the same
// contract tests run on both.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"mcrm"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Dialect names the database in use.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is an open mcrm database.
type DB struct {
	Dialect Dialect
	// w takes every write. On SQLite it has a single connection, so writers
	// queue in Go instead of failing with SQLITE_BUSY; transactions start
	// with BEGIN IMMEDIATE so a read-then-write cannot deadlock.
	w *sql.DB
	// r serves reads outside transactions (WAL lets them run beside the
	// writer). On PostgreSQL r and w are the same pool.
	r *sql.DB
	// reads caches prepared statements for r. The store's SQL is built
	// from the schema, so a few hundred texts repeat; preparing the
	// scoped queries (with their recursive CTE) again on every request
	// cost more than running them.
	reads stmtCache
	// sealer encrypts values at rest. It is set once at start, before the
	// store serves anything; without one, sealing fails closed.
	sealer mcrm.Sealer
	// auth caches resolved access tokens (see authCache).
	auth authCache
	// roles caches tenants' own roles (see roleCache).
	roles roleCache
	// stopListen ends the PostgreSQL eviction listener.
	stopListen context.CancelFunc
}

// SetSealer gives the store its at-rest encryption. Call it once, right
// after Open.
func (db *DB) SetSealer(s mcrm.Sealer) { db.sealer = s }

// Sealer returns the store's at-rest encryption, or EUnavailable when none
// was configured: nothing is ever stored in clear instead.
func (db *DB) Sealer() (mcrm.Sealer, error) {
	if db.sealer == nil {
		return nil, mcrm.Errorf(mcrm.EUnavailable, "no key provider configured")
	}
	return db.sealer, nil
}

// stmtCache holds prepared statements by text, bounded: past its size it
// starts over, so arbitrary filter combinations cannot grow it forever.
type stmtCache struct {
	mu    sync.Mutex
	db    *sql.DB
	stmts map[string]*sql.Stmt
}

const stmtCacheSize = 1024

func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	st, ok := c.stmts[q]
	c.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.stmts[q]; ok {
		st.Close()
		return old, nil
	}
	if c.stmts == nil || len(c.stmts) >= stmtCacheSize {
		// Statements in use stay valid until their rows close; Close
		// waits for that.
		for _, old := range c.stmts {
			go old.Close()
		}
		c.stmts = map[string]*sql.Stmt{}
	}
	c.stmts[q] = st
	return st, nil
}

// ExecContext is not used for reads.
func (c *stmtCache) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return c.db.ExecContext(ctx, q, args...)
}

// QueryContext runs a read with a cached prepared statement.
func (c *stmtCache) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := c.get(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext runs a one-row read with a cached prepared statement.
func (c *stmtCache) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := c.get(ctx, q)
	if err != nil {
		return c.db.QueryRowContext(ctx, q, args...) // reports the error from Scan
	}
	return st.QueryRowContext(ctx, args...)
}

// Open opens (creating if needed) the database named by databaseURL, or the
// embedded SQLite database in dataDir when databaseURL is empty, and applies
// pending migrations.
func Open(ctx context.Context, dataDir, databaseURL string) (*DB, error) {
	var db *DB
	var err error
	switch {
	case databaseURL == "":
		db, err = openSQLite(dataDir)
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		db, err = openPostgres(databaseURL)
	default:
		return nil, errors.New("database URL must start with postgres:// (leave it empty for the embedded SQLite database)")
	}
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func openSQLite(dataDir string) (*DB, error) {
	if dataDir == "" {
		return nil, errors.New("data directory is required")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dataDir, "mcrm.db")
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "foreign_keys(1)", "busy_timeout(10000)", "synchronous(NORMAL)", "temp_store(MEMORY)", "cache_size(-32768)"} {
		q.Add("_pragma", p)
	}
	wq := url.Values{}
	for k, v := range q {
		wq[k] = v
	}
	wq.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", "file:"+path+"?"+wq.Encode())
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	if err := w.Ping(); err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// The file holds personal data: owner-only permissions.
	_ = os.Chmod(path, 0o600)
	q.Add("_pragma", "query_only(1)")
	r, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(max(4, runtime.NumCPU()*2))
	// Keep every reader open: a closed connection loses its prepared
	// statements, and reopening one costs more than the query.
	r.SetMaxIdleConns(max(4, runtime.NumCPU()*2))
	r.SetConnMaxIdleTime(0)
	db := &DB{Dialect: SQLite, w: w, r: r}
	db.reads.db = r
	return db, nil
}

func openPostgres(dsn string) (*DB, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(max(8, runtime.NumCPU()*4))
	db.SetMaxIdleConns(max(8, runtime.NumCPU()*4))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		// The error from pgx may repeat the URL with its password: say only
		// what kind of failure it was.
		return nil, fmt.Errorf("connect to PostgreSQL: %s", redactPG(err))
	}
	out := &DB{Dialect: Postgres, w: db, r: db}
	out.reads.db = db
	lctx, stop := context.WithCancel(context.Background())
	out.stopListen = stop
	go out.listenEvictions(lctx, db)
	return out, nil
}

func redactPG(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Message
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return "cannot reach the server"
	}
	return "connection failed"
}

// Close closes the database.
func (db *DB) Close() error {
	if db.stopListen != nil {
		db.stopListen()
	}
	err := db.w.Close()
	if db.r != db.w {
		db.r.Close()
	}
	return err
}

// Ping checks that the database answers (readiness).
func (db *DB) Ping(ctx context.Context) error { return db.w.PingContext(ctx) }

// SQL gives tests and benchmarks the underlying handle for reads.
func (db *DB) SQL() *sql.DB { return db.r }

// RawWriter is the write handle, for benchmarks that measure a bare
// database/sql baseline beside the store. Application code writes through
// transactions (InTx) only.
func (db *DB) RawWriter() *sql.DB { return db.w }

// Migrate applies the embedded migrations that have not run yet, each in
// its own transaction. On PostgreSQL an advisory lock keeps two starting
// nodes from migrating at once; on SQLite the single writer does.
func (db *DB) Migrate(ctx context.Context) error {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if db.Dialect == Postgres {
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(4242001)`); err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
		defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(4242001)`)
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		version := strings.TrimSuffix(filepath.Base(name), ".sql")
		var n int
		if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for _, stmt := range splitStatements(dialectSQL(db.Dialect, string(body))) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				tx.Rollback()
				return fmt.Errorf("migration %s: %w", version, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, version, now()); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", version, err)
		}
	}
	return nil
}

// dialectSQL fills the few dialect-specific tokens of a migration; the
// rest of the SQL is the same for both databases.
func dialectSQL(d Dialect, s string) string {
	rowid := ""
	if d == SQLite {
		rowid = "WITHOUT ROWID"
	}
	return strings.ReplaceAll(s, "{{WITHOUT_ROWID}}", rowid)
}

// splitStatements splits a migration on semicolons at line ends; the
// migrations contain no procedural code, so this is enough.
func splitStatements(s string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "--") || t == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, cur.String())
	}
	return out
}

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Tx is one database transaction with the store's operations on it.
type Tx struct {
	db       *DB
	tx       *sql.Tx
	refCache map[string]bool
	stages   map[string][]map[string]any
	currency string
	stmts    map[string]*sql.Stmt
	points   []contactPoint
	// BufferPoints lets bulk imports write contact points in batches
	// instead of one INSERT per record.
	BufferPoints bool
	// onCommit runs after a successful commit; notify holds the cache
	// evictions to announce to other nodes (PostgreSQL).
	onCommit []func()
	notify   []string
}

// stmt returns a prepared statement for q, cached for the transaction: the
// store's SQL is built from the schema, so the same few texts repeat for
// every row of an import, and parsing them again each time (SQLite) or
// round-tripping a prepare (PostgreSQL) would dominate bulk writes.
func (tx *Tx) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := tx.stmts[q]; ok {
		return st, nil
	}
	st, err := tx.tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if tx.stmts == nil || len(tx.stmts) > 512 {
		for _, old := range tx.stmts {
			old.Close()
		}
		tx.stmts = map[string]*sql.Stmt{}
	}
	tx.stmts[q] = st
	return st, nil
}

// ExecContext runs a statement in the transaction (cached prepare).
func (tx *Tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := tx.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// QueryContext runs a query in the transaction (cached prepare).
func (tx *Tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := tx.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext runs a one-row query in the transaction (cached prepare).
func (tx *Tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := tx.stmt(ctx, q)
	if err != nil {
		// Let the error surface from Scan, as database/sql does.
		return tx.tx.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// InTx runs fn in a write transaction, committing when fn returns nil and
// rolling back otherwise (including on panic), so a failed request or
// import leaves nothing half-written.
func (db *DB) InTx(ctx context.Context, fn func(*Tx) error) (err error) {
	sqlTx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	tx := &Tx{db: db, tx: sqlTx}
	defer func() {
		if p := recover(); p != nil {
			sqlTx.Rollback()
			panic(p)
		}
		if err == nil {
			err = tx.flushPoints(ctx)
		}
		if err == nil {
			err = tx.sendNotifies(ctx)
		}
		if err != nil {
			sqlTx.Rollback()
			return
		}
		if err = mapErr(sqlTx.Commit()); err == nil {
			for _, f := range tx.onCommit {
				f()
			}
		}
	}()
	return fn(tx)
}

// errRollback ends a transaction that did its work only to report on it
// (dry runs).
var errRollback = errors.New("rollback")

// DryRun runs fn in a transaction that is always rolled back.
func (db *DB) DryRun(ctx context.Context, fn func(*Tx) error) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errRollback
	})
	if errors.Is(err, errRollback) {
		return nil
	}
	return err
}

func now() string { return time.Now().UTC().Format(timeLayout) }

const timeLayout = "2006-01-02T15:04:05.000000Z"

// mapErr turns driver errors about constraints into domain errors and
// leaves the rest as internal failures.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var me *mcrm.Error
	if errors.As(err, &me) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return mcrm.ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return &mcrm.Error{Code: mcrm.EConflict, Message: "a record with the same unique value exists", Err: err}
		case "23503":
			return &mcrm.Error{Code: mcrm.EConflict, Message: "the record is referenced by or references another record", Err: err}
		case "40001", "40P01":
			return &mcrm.Error{Code: mcrm.EUnavailable, Message: "concurrent update, retry", Err: err}
		}
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return &mcrm.Error{Code: mcrm.EConflict, Message: "a record with the same unique value exists", Err: err}
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return &mcrm.Error{Code: mcrm.EConflict, Message: "the record is referenced by or references another record", Err: err}
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return &mcrm.Error{Code: mcrm.EUnavailable, Message: "database busy, retry", Err: err}
		}
	}
	return err
}

// Savepoint marks a point inside the transaction to roll back to, so one
// bad import row can be undone without losing the others (PostgreSQL also
// needs it to continue a transaction after a failed statement).
func (tx *Tx) Savepoint(ctx context.Context) error {
	if err := tx.flushPoints(ctx); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "SAVEPOINT row_sp")
	return err
}

// RollbackToSavepoint undoes everything since Savepoint.
func (tx *Tx) RollbackToSavepoint(ctx context.Context) error {
	tx.points = nil   // belong to the undone row
	tx.refCache = nil // may name records that no longer exist
	tx.stages = nil
	if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT row_sp"); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT row_sp")
	return err
}

// ReleaseSavepoint keeps everything since Savepoint.
func (tx *Tx) ReleaseSavepoint(ctx context.Context) error {
	if err := tx.flushPoints(ctx); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT row_sp")
	return err
}

// Discard removes a record created earlier in this transaction (an import
// row whose deferred reference could not be resolved).
func (tx *Tx) Discard(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, id string) error {
	if err := tx.flushPoints(ctx); err != nil {
		return err
	}
	if e.Field("emails") != nil {
		if _, err := tx.ExecContext(ctx, `DELETE FROM contact_points WHERE tenant_id = $1 AND entity = $2 AND record_id = $3`, p.TenantID, e.Name, id); err != nil {
			return mapErr(err)
		}
	}
	_, err := tx.ExecContext(ctx, "DELETE FROM "+e.Name+" WHERE tenant_id = $1 AND id = $2", p.TenantID, id)
	delete(tx.refCache, e.Name+"/"+id)
	return mapErr(err)
}

// Dialect is the database the transaction runs on.
func (tx *Tx) Dialect() Dialect { return tx.db.Dialect }
