package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"mcrm"
	"mcrm/importer"
	"mcrm/password"
	"mcrm/sqlstore"
)

// simpleCommand runs a command that takes only the database options:
// parse them, refuse arguments, open (and so migrate) the database, run fn.
func simpleCommand(ctx context.Context, name string, args []string, stderr io.Writer, fn func(*sqlstore.DB) error) error {
	fs := newFlagSet(name, name+" [--data-dir DIR] [--database-url URL]", stderr)
	var d dbFlags
	d.register(fs)
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return exitError{2, name + " takes no arguments"}
	}
	db, err := d.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(db)
}

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return simpleCommand(ctx, "migrate", args, stderr, func(*sqlstore.DB) error {
		fmt.Fprintln(stdout, "database is up to date")
		return nil
	})
}

// adminPassword returns the password for a new admin from the
// environment, or a generated one (printed once by the caller).
func adminPassword() (string, bool, error) {
	pw, err := secretEnv("MCRM_ADMIN_PASSWORD")
	if err != nil {
		return "", false, err
	}
	if pw != "" {
		// The full policy (length, common passwords, repetition): the
		// admin's password is the most attacked one. The error names the
		// rule, never the password.
		if err := password.CheckPolicy(pw, password.PolicyContext{}); err != nil {
			return "", false, fmt.Errorf("MCRM_ADMIN_PASSWORD: %v", err)
		}
		return pw, false, nil
	}
	return password.Generate(), true, nil
}

// createTenant creates a tenant with its admin and prints the login.
func createTenant(ctx context.Context, db *sqlstore.DB, name, email string, out io.Writer) error {
	pw, generated, err := adminPassword()
	if err != nil {
		return err
	}
	hash, err := password.Hash(ctx, password.Normalize(pw), password.Default)
	if err != nil {
		return err
	}
	t, _, err := db.CreateTenant(ctx, sqlstore.NewTenant{Name: name, AdminEmail: email, AdminName: "Administrator", PasswordHash: hash})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Created tenant %q (%s).\nAdmin login: tenant %q, email %s\n", t.Name, t.ID, t.Name, strings.ToLower(email))
	if generated {
		// Shown once, on the terminal of whoever created the tenant; it is
		// not logged and cannot be shown again.
		fmt.Fprintf(out, "One-time admin password (shown only now; change it with 'mcrm user set-password'): %s\n", pw)
	} else {
		fmt.Fprintln(out, "Admin password: as given in MCRM_ADMIN_PASSWORD(_FILE).")
	}
	return nil
}

func cmdTenantCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tenant create", "tenant create [--data-dir DIR] [--database-url URL] --admin-email EMAIL NAME", stderr)
	var d dbFlags
	d.register(fs)
	email := fs.String("admin-email", "", "email address of the tenant's first admin (required)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return exitError{2, "tenant create needs exactly one NAME"}
	}
	if *email == "" {
		return exitError{2, "--admin-email is required"}
	}
	db, err := d.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	return createTenant(ctx, db, pos[0], *email, stdout)
}

func cmdSetPassword(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("user set-password", "user set-password [--data-dir DIR] [--database-url URL] --tenant NAME --email EMAIL  (new password on standard input)", stderr)
	var d dbFlags
	d.register(fs)
	tenant := fs.String("tenant", "", "tenant name (required)")
	email := fs.String("email", "", "the user's email (required)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return exitError{2, "the password is read from standard input, not from arguments"}
	}
	if *email == "" {
		return exitError{2, "--email is required"}
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 64<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	pw := strings.TrimRight(line, "\r\n")
	if err := password.CheckPolicy(pw, password.PolicyContext{ContextWords: []string{*tenant, *email}}); err != nil {
		return err
	}
	db, t, _, err := openTenant(ctx, d, *tenant)
	if err != nil {
		return err
	}
	defer db.Close()
	uid, err := db.UserIDByEmail(ctx, t.ID, *email)
	if err != nil {
		if mcrm.ErrorCode(err) == mcrm.ENotFound {
			return fmt.Errorf("no user with that email in tenant %q", t.Name)
		}
		return err
	}
	hash, err := password.Hash(ctx, password.Normalize(pw), password.Default)
	if err != nil {
		return err
	}
	if err := db.SetPassword(ctx, t.ID, uid, hash, "", sqlstore.Event{TenantID: t.ID, Actor: "cli", Action: "authn_password_change", Object: "users/" + uid, Outcome: "success", Detail: "via=cli"}); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "password set; the user's sessions were revoked")
	return nil
}

func cmdImport(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("import", "import [--data-dir DIR] [--database-url URL] --tenant NAME --entity ENTITY [--mapping FILE] [--dry-run] FILE", stderr)
	var d dbFlags
	d.register(fs)
	tenant := fs.String("tenant", "", "tenant name (required)")
	entity := fs.String("entity", "", "what the rows are: "+entityNames())
	mappingPath := fs.String("mapping", "", "column mapping (JSON); without it the columns must be named after fields, as export writes them")
	dryRun := fs.Bool("dry-run", false, "check and report without writing anything")
	keep := fs.Bool("keep-good-rows", false, "commit the rows that pass even if others fail (default: one failure rolls back all)")
	format := fs.String("format", "", "csv, xlsx or vcard (default: detected)")
	encoding := fs.String("encoding", "", "utf-8, utf-16, windows-1252 or gbk (default: detected)")
	delimiter := fs.String("delimiter", "", `",", ";" or "tab" (default: sniffed)`)
	dateOrder := fs.String("date-order", "", "ISO, DMY or MDY for dates such as 03/04/2020 (default: from the mapping; ambiguous dates fail)")
	upsert := fs.String("upsert-key", "", "field that matches existing records to update (default: from the mapping)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return exitError{2, "import needs exactly one FILE (- for standard input)"}
	}
	e, err := entityFlag(*entity)
	if err != nil {
		return err
	}
	var m *importer.Mapping
	if *mappingPath != "" {
		if m, err = importer.LoadMapping(*mappingPath); err != nil {
			return err
		}
	}
	var in io.Reader = stdin
	if pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return fmt.Errorf("cannot open %s", pos[0])
		}
		defer f.Close()
		in = f
	}
	db, t, p, err := openTenant(ctx, d, *tenant)
	if err != nil {
		return err
	}
	defer db.Close()
	opts := importer.Options{Entity: e, Mapping: m, DryRun: *dryRun, Region: t.DefaultRegion,
		Overrides: importer.Overrides{Format: *format, Encoding: *encoding, Delimiter: normDelim(*delimiter), DateOrder: *dateOrder, UpsertKey: *upsert, KeepGoodRows: *keep}}
	start := time.Now()
	rep, err := importer.Import(ctx, db, p, in, opts)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return err
	}
	_ = db.RecordEvent(ctx, sqlstore.Event{TenantID: t.ID, Actor: "cli", Action: "data_import", Object: e.Name, Outcome: rep.Outcome,
		Detail: fmt.Sprintf("rows=%d created=%d updated=%d failed=%d", rep.Rows, rep.Created, rep.Updated, rep.Failed)})
	fmt.Fprintf(stderr, "%s: %d rows, %d created, %d updated, %d failed, %d with warnings (%s) in %s\n",
		e.Name, rep.Rows, rep.Created, rep.Updated, rep.Failed, rep.RowsWithNotes, rep.Outcome, time.Since(start).Round(time.Millisecond))
	switch {
	case rep.Outcome == "rolled_back":
		return exitError{1, fmt.Sprintf("import rolled back: %d of %d rows failed; nothing was written (report on standard output)", rep.Failed, rep.Rows)}
	case rep.Failed > 0 && rep.Outcome == "dry_run":
		return exitError{1, fmt.Sprintf("dry run: %d of %d rows would fail (report on standard output)", rep.Failed, rep.Rows)}
	case rep.Failed > 0:
		return exitError{3, fmt.Sprintf("%d of %d rows failed and were skipped; the others were committed (report on standard output)", rep.Failed, rep.Rows)}
	}
	return nil
}

func normDelim(s string) string {
	switch s {
	case "tab", `\t`:
		return "\t"
	}
	return s
}

// openTenant opens the database and resolves --tenant and the admin the
// command acts as; the caller closes the database.
func openTenant(ctx context.Context, d dbFlags, tenant string) (*sqlstore.DB, sqlstore.Tenant, *mcrm.Principal, error) {
	db, err := d.open(ctx)
	if err != nil {
		return nil, sqlstore.Tenant{}, nil, err
	}
	t, p, err := tenantActor(ctx, db, tenant)
	if err != nil {
		db.Close()
		return nil, t, nil, err
	}
	return db, t, p, nil
}

// entityFlag resolves the --entity option.
func entityFlag(name string) (*mcrm.Entity, error) {
	if e := mcrm.EntityByName(name); e != nil {
		return e, nil
	}
	return nil, exitError{2, "--entity must be one of " + entityNames()}
}

func entityNames() string {
	names := make([]string, len(mcrm.Entities))
	for i, e := range mcrm.Entities {
		names[i] = e.Name
	}
	return strings.Join(names, ", ")
}

func cmdExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("export", "export [--data-dir DIR] [--database-url URL] --tenant NAME --entity ENTITY --format csv|vcard [--output FILE]", stderr)
	var d dbFlags
	d.register(fs)
	tenant := fs.String("tenant", "", "tenant name (required)")
	entity := fs.String("entity", "", "what to export: "+entityNames())
	format := fs.String("format", "csv", "csv or vcard (contacts and leads)")
	output := fs.String("output", "", "write to this file (created 0600) instead of standard output")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return exitError{2, "export takes no arguments"}
	}
	e, err := entityFlag(*entity)
	if err != nil {
		return err
	}
	db, t, p, err := openTenant(ctx, d, *tenant)
	if err != nil {
		return err
	}
	defer db.Close()
	w := stdout
	if *output != "" {
		f, err := os.OpenFile(*output, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("cannot create %s", *output)
		}
		defer f.Close()
		bw := bufio.NewWriter(f)
		defer bw.Flush()
		w = bw
	}
	n, err := importer.Export(ctx, db, p, e, *format, w)
	if err != nil {
		return err
	}
	_ = db.RecordEvent(ctx, sqlstore.Event{TenantID: t.ID, Actor: "cli", Action: "data_export", Object: e.Name, Outcome: "success", Detail: fmt.Sprintf("format=%s records=%d", *format, n)})
	fmt.Fprintf(stderr, "exported %d %s\n", n, e.Name)
	return nil
}

func cmdPurge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return simpleCommand(ctx, "purge", args, stderr, func(db *sqlstore.DB) error {
		n, err := db.PurgeDeleted(ctx, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "purged %d records deleted more than %d days ago\n", n, sqlstore.RetentionDays)
		return nil
	})
}
