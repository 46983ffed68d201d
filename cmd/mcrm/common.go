package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"mcrm"
	"mcrm/sqlstore"
)

// dbFlags are the options every command that opens the database takes.
type dbFlags struct {
	dataDir     string
	databaseURL string
}

func (d *dbFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.dataDir, "data-dir", envOr("MCRM_DATA_DIR", "./mcrm-data"), "data directory (embedded SQLite database, TLS certificate); env MCRM_DATA_DIR")
	fs.StringVar(&d.databaseURL, "database-url", "", "PostgreSQL URL (postgres://...); empty = embedded SQLite. Prefer env MCRM_DATABASE_URL or MCRM_DATABASE_URL_FILE: arguments are visible to other users of the machine")
}

// open opens and migrates the database.
func (d *dbFlags) open(ctx context.Context) (*sqlstore.DB, error) {
	url := d.databaseURL
	if url == "" {
		v, err := secretEnv("MCRM_DATABASE_URL")
		if err != nil {
			return nil, err
		}
		url = v
	}
	return sqlstore.Open(ctx, d.dataDir, strings.TrimSpace(url))
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// secretEnv reads a secret from KEY or from the file named by KEY_FILE
// (Docker and Kubernetes secrets), never from arguments.
func secretEnv(key string) (string, error) {
	if v := os.Getenv(key); v != "" {
		return v, nil
	}
	if path := os.Getenv(key + "_FILE"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("%s_FILE: cannot read the file", key)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", nil
}

// parse parses flags that may come before or after positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: mcrm %s\n\nOptions:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// tenantActor resolves a tenant by name and the principal CLI commands act
// as: the tenant's first admin, with tenant-wide rights.
func tenantActor(ctx context.Context, db *sqlstore.DB, name string) (sqlstore.Tenant, *mcrm.Principal, error) {
	if name == "" {
		return sqlstore.Tenant{}, nil, errors.New("--tenant is required")
	}
	t, err := db.TenantByName(ctx, name)
	if err != nil {
		if mcrm.ErrorCode(err) == mcrm.ENotFound {
			return t, nil, fmt.Errorf("no tenant named %q", name)
		}
		return t, nil, err
	}
	admin, err := db.FirstAdmin(ctx, t.ID)
	if err != nil {
		return t, nil, fmt.Errorf("tenant %q has no admin", name)
	}
	return t, &mcrm.Principal{TenantID: t.ID, UserID: admin, Role: mcrm.RoleAdmin, System: true}, nil
}
