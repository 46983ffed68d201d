package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"mcrm"
	"mcrm/keyring"
	"mcrm/sqlstore"
)

// dbFlags are the options every command that opens the database takes.
type dbFlags struct {
	dataDir     string
	databaseURL string
	// keys is the server's key material, loaded by open.
	keys *keyring.Keyring
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
	db, err := sqlstore.Open(ctx, d.dataDir, strings.TrimSpace(url))
	if err != nil {
		return nil, err
	}
	// The master key (MCRM_MASTER_KEY_FILE, MCRM_MASTER_KEY, or
	// <data-dir>/master.key, created on first use) seals secrets at rest
	// and keys the server's hashes.
	if d.keys, err = keyring.Load(d.dataDir, os.Getenv); err != nil {
		db.Close()
		return nil, err
	}
	db.SetSealer(d.keys.Sealer())
	return db, nil
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
// A bad flag is a usage error: exit status 2 and one line on stderr, like
// every other failure (the flag package would print the error and the
// whole option list; that list is for --help only).
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				if out, ok := fs.Output().(*usageOutput); ok {
					out.stderr.Write(out.buf.Bytes())
				}
				return nil, err
			}
			return nil, exitError{2, fmt.Sprintf("%s (see \"mcrm %s --help\")", err, fs.Name())}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// usageOutput holds what the flag package prints while parsing until parse
// knows whether it was asked for (--help) or is noise around an error.
type usageOutput struct {
	buf    bytes.Buffer
	stderr io.Writer
}

func (u *usageOutput) Write(p []byte) (int, error) { return u.buf.Write(p) }

func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(&usageOutput{stderr: stderr})
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: mcrm %s\n\nOptions:\n", synopsis)
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
