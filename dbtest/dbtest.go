// Package dbtest opens fresh mcrm databases for tests: an embedded SQLite
// file in a temporary directory, and a PostgreSQL schema of its own on the
// server named by MCRM_TEST_DATABASE_URL. With MCRM_REQUIRE_POSTGRES=1 (CI)
// a missing PostgreSQL fails the test instead of skipping it, so the
// contract suite cannot pass on SQLite alone by accident.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"mcrm/sqlstore"
)

// Backends lists the databases every contract test runs on.
var Backends = []string{"sqlite", "postgres"}

// PostgresURL returns a URL for a new, empty schema and a function that
// drops it, or skips (fails under MCRM_REQUIRE_POSTGRES) without a server.
func PostgresURL(t testing.TB) string {
	base := os.Getenv("MCRM_TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("MCRM_REQUIRE_POSTGRES") == "1" {
			t.Fatal("MCRM_TEST_DATABASE_URL is not set but MCRM_REQUIRE_POSTGRES=1")
		}
		t.Skip("MCRM_TEST_DATABASE_URL not set; PostgreSQL contract run skipped")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	schema := "mcrm_test_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err == nil {
			a.Exec("DROP SCHEMA " + schema + " CASCADE")
			a.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open returns a fresh, migrated database of the named backend.
func Open(t testing.TB, backend string) *sqlstore.DB {
	t.Helper()
	dir, dsn := t.TempDir(), ""
	if backend == "postgres" {
		dsn = PostgresURL(t)
	}
	db, err := sqlstore.Open(context.Background(), dir, dsn)
	if err != nil {
		t.Fatalf("open %s: %v", backend, err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetSealer(NewSealer())
	return db
}

// Each runs fn as a subtest on every backend.
func Each(t *testing.T, fn func(t *testing.T, db *sqlstore.DB)) {
	for _, b := range Backends {
		t.Run(b, func(t *testing.T) {
			fn(t, Open(t, b))
		})
	}
}

// Name is a unique name for test fixtures.
func Name(prefix string) string {
	return fmt.Sprintf("%s-%s", prefix, strings.ToLower(rand.Text()[:8]))
}
