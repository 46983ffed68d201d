package e2e

import (
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"mcrm/dbtest"
)

// TestCLI checks the command-line contract on SQLite: help, exit codes,
// one-line errors, fresh data directories, first-run credentials, secrets
// from files, rolled-back imports and graceful shutdown.
func TestCLI(t *testing.T) {
	t.Run("help", func(t *testing.T) {
		t.Parallel()
		for _, cmd := range [][]string{{"serve"}, {"migrate"}, {"tenant", "create"}, {"user", "set-password"}, {"import"}, {"export"}, {"purge"}} {
			r := mcrm(t, nil, "", append(cmd, "--help")...)
			want := "Usage: mcrm " + strings.Join(cmd, " ")
			if r.code != 0 || !strings.Contains(r.stdout+r.stderr, want) || !strings.Contains(r.stdout+r.stderr, "-data-dir") {
				t.Errorf("mcrm %s --help: exit %d, output %q; want exit 0 and usage starting %q with the options", strings.Join(cmd, " "), r.code, r.stdout+r.stderr, want)
			}
		}
		for _, args := range [][]string{{"--help"}, {"help"}} {
			r := mcrm(t, nil, "", args...)
			if r.code != 0 || !strings.Contains(r.stdout, "Usage:") || !strings.Contains(r.stdout, "mcrm import") {
				t.Errorf("mcrm %s: exit %d, stdout %q; want exit 0 and the command list", args[0], r.code, r.stdout)
			}
		}
	})

	t.Run("unknown command", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{{"frobnicate"}, {}, {"tenant", "delete", "x"}, {"user", "delete"}} {
			r := mcrm(t, nil, "", args...)
			if r.code == 0 {
				t.Errorf("mcrm %s: exit 0, want non-zero", strings.Join(args, " "))
			}
			// The last stderr line is the error (the usage may precede it).
			if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); !strings.HasPrefix(lines[len(lines)-1], "mcrm: ") {
				t.Errorf("mcrm %s: stderr %q, want it to end with an \"mcrm: \" line", strings.Join(args, " "), r.stderr)
			}
		}
	})

	t.Run("one-line failures", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		b := backend{dataDir: dir}
		mustMcrm(t, []string{"MCRM_ADMIN_PASSWORD=" + adminPassword}, "", b.args("tenant", "create", "--admin-email", "admin@acme.example", "acme")...)
		csvFile := filepath.Join(dir, "ok.csv")
		if err := os.WriteFile(csvFile, []byte("first_name,last_name\nAda,Lovelace\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		// A port in use, for serve's listen failure.
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		for _, c := range []struct {
			name     string
			env      []string
			stdin    string
			args     []string
			want     string // part of the message
			wantCode int    // usage errors 2, others 1; 0: any non-zero
		}{
			{"unknown flag", nil, "", b.args("import", "--tenant", "acme", "--entity", "contacts", "--bogus", csvFile), "-bogus", 2},
			{"flag without value", nil, "", b.args("import", "--tenant", "acme", "--entity"), "-entity", 2},
			{"purge with an argument", nil, "", b.args("purge", "extra"), "no arguments", 2},
			{"serve on a port in use", nil, "", b.args("serve", "--listen", busy.Addr().String()), "listen", 1},
			{"export unknown format", nil, "", b.args("export", "--tenant", "acme", "--entity", "contacts", "--format", "pdf"), "csv or vcard", 0},
			{"import missing file", nil, "", b.args("import", "--tenant", "acme", "--entity", "contacts", filepath.Join(dir, "missing.csv")), "missing.csv", 1},
			{"import unknown entity", nil, "", b.args("import", "--tenant", "acme", "--entity", "widgets", csvFile), "--entity", 2},
			{"import unknown tenant", nil, "", b.args("import", "--tenant", "nope", "--entity", "contacts", csvFile), `"nope"`, 1},
			{"import missing mapping", nil, "", b.args("import", "--tenant", "acme", "--entity", "contacts", "--mapping", filepath.Join(dir, "missing.json"), csvFile), "", 1},
			{"export unknown tenant", nil, "", b.args("export", "--tenant", "nope", "--entity", "contacts"), `"nope"`, 1},
			{"tenant create without --admin-email", nil, "", b.args("tenant", "create", "other"), "--admin-email", 2},
			{"tenant create with a short MCRM_ADMIN_PASSWORD", []string{"MCRM_ADMIN_PASSWORD=" + shortPassword}, "", b.args("tenant", "create", "--admin-email", "a@other.example", "other"), "MCRM_ADMIN_PASSWORD", 1},
			{"set-password unknown email", nil, userPassword + "\n", b.args("user", "set-password", "--tenant", "acme", "--email", "nobody@acme.example"), "no user", 1},
			{"set-password too short", nil, shortPassword + "\n", b.args("user", "set-password", "--tenant", "acme", "--email", "admin@acme.example"), "password", 1},
			{"set-password as argument", nil, "", b.args("user", "set-password", "--tenant", "acme", "--email", "admin@acme.example", userPassword), "standard input", 2},
			{"mysql database URL", nil, "", []string{"migrate", "--data-dir", dir, "--database-url", "mysql://x"}, "postgres://", 1},
			{"mysql database URL in env", []string{"MCRM_DATABASE_URL=mysql://x"}, "", b.args("purge"), "postgres://", 1},
			{"unreadable MCRM_DATABASE_URL_FILE", []string{"MCRM_DATABASE_URL_FILE=" + filepath.Join(dir, "no-such-secret")}, "", b.args("migrate"), "MCRM_DATABASE_URL_FILE", 1},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := mcrm(t, c.env, c.stdin, c.args...)
				assertOneLineFailure(t, r, c.want)
				if c.wantCode != 0 && r.code != c.wantCode {
					t.Errorf("exit status %d, want %d", r.code, c.wantCode)
				}
				if r.stdout != "" {
					t.Errorf("stdout = %q, want nothing on failure", r.stdout)
				}
				// A rejected password is still someone's secret.
				if strings.Contains(r.stderr, shortPassword) {
					t.Errorf("stderr %q echoes the rejected password", r.stderr)
				}
			})
		}
	})

	t.Run("fresh data directory", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		fresh := func(name string) backend { return backend{dataDir: filepath.Join(root, name, "nested")} }
		// Each command creates and migrates a data directory that does not
		// exist yet; none needs "migrate" to have run first.
		r := mustMcrm(t, nil, "", fresh("migrate").args("migrate")...)
		if r.stdout != "database is up to date\n" {
			t.Errorf("migrate stdout = %q", r.stdout)
		}
		r = mustMcrm(t, nil, "", fresh("migrate").args("migrate")...) // idempotent
		if r.stdout != "database is up to date\n" {
			t.Errorf("second migrate stdout = %q", r.stdout)
		}
		r = mustMcrm(t, nil, "", fresh("purge").args("purge")...)
		if r.stdout != "purged 0 records deleted more than 30 days ago\n" {
			t.Errorf("purge stdout = %q", r.stdout)
		}
		// Commands that need a tenant fail cleanly on an empty database.
		assertOneLineFailure(t, mcrm(t, nil, "", fresh("export").args("export", "--tenant", "acme", "--entity", "contacts")...), `no tenant named "acme"`)
		assertOneLineFailure(t, mcrm(t, nil, userPassword+"\n", fresh("setpw").args("user", "set-password", "--tenant", "acme", "--email", "a@acme.example")...), `no tenant named "acme"`)
		csvFile := filepath.Join(root, "c.csv")
		if err := os.WriteFile(csvFile, []byte("first_name,last_name,emails.0.value\nAda,Lovelace,ada@example.com\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		assertOneLineFailure(t, mcrm(t, nil, "", fresh("import").args("import", "--tenant", "acme", "--entity", "contacts", csvFile)...), `no tenant named "acme"`)

		// A whole session on a fresh directory: tenant, password, import,
		// export.
		b := fresh("chain")
		r = mustMcrm(t, []string{"MCRM_ADMIN_PASSWORD=" + adminPassword}, "", b.args("tenant", "create", "--admin-email", "Admin@Acme.example", "acme")...)
		if strings.Contains(r.stdout+r.stderr, adminPassword) {
			t.Errorf("tenant create echoed the admin password: %q", r.stdout+r.stderr)
		}
		assertOneLineFailure(t, mcrm(t, []string{"MCRM_ADMIN_PASSWORD=" + adminPassword}, "", b.args("tenant", "create", "--admin-email", "a@acme.example", "acme")...), "")
		mustMcrm(t, nil, userPassword+"\n", b.args("user", "set-password", "--tenant", "acme", "--email", "admin@acme.example")...)
		rep := parseReport(t, mustMcrm(t, nil, "", b.args("import", "--tenant", "acme", "--entity", "contacts", csvFile)...).stdout)
		if rep.Created != 1 || rep.Outcome != "committed" {
			t.Errorf("import on a fresh directory: created %d outcome %q", rep.Created, rep.Outcome)
		}
		r = mustMcrm(t, nil, "", b.args("export", "--tenant", "acme", "--entity", "contacts", "--format", "csv")...)
		if n := countCSVRecords(t, []byte(r.stdout)); n != 2 {
			t.Errorf("export after import: %d CSV records, want 2", n)
		}
	})

	t.Run("database URL from file", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		secret := filepath.Join(dir, "db-url")
		// A MySQL URL is rejected with the message about the URL, which
		// shows the file was read (and its trailing newline trimmed).
		if err := os.WriteFile(secret, []byte("mysql://x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		assertOneLineFailure(t, mcrm(t, []string{"MCRM_DATABASE_URL_FILE=" + secret}, "", "migrate", "--data-dir", dir), "postgres://")

		// A real PostgreSQL URL works end to end, and no SQLite file appears.
		if err := os.WriteFile(secret, []byte(dbtest.PostgresURL(t)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		env := []string{"MCRM_DATABASE_URL_FILE=" + secret}
		mustMcrm(t, env, "", "migrate", "--data-dir", dir)
		mustMcrm(t, append(env, "MCRM_ADMIN_PASSWORD="+adminPassword), "", "tenant", "create", "--data-dir", dir, "--admin-email", "admin@pg.example", "pg")
		mustMcrm(t, env, userPassword+"\n", "user", "set-password", "--data-dir", dir, "--tenant", "pg", "--email", "admin@pg.example")
		if _, err := os.Stat(filepath.Join(dir, "mcrm.db")); err == nil {
			t.Errorf("a SQLite database was created although MCRM_DATABASE_URL_FILE names PostgreSQL")
		}
		// Without the secret the same data directory is an empty SQLite
		// database: the tenant really lives in PostgreSQL.
		assertOneLineFailure(t, mcrm(t, nil, "", "export", "--data-dir", dir, "--tenant", "pg", "--entity", "contacts"), `no tenant named "pg"`)
	})

	t.Run("rolled-back import", func(t *testing.T) {
		t.Parallel()
		b := backend{dataDir: t.TempDir()}
		mustMcrm(t, []string{"MCRM_ADMIN_PASSWORD=" + adminPassword}, "", b.args("tenant", "create", "--admin-email", "admin@acme.example", "acme")...)
		bad := filepath.Join(t.TempDir(), "bad.csv")
		if err := os.WriteFile(bad, []byte("first_name,last_name,emails.0.value\nAda,Lovelace,ada@example.com\nBad,Row,not-an-email\nAlan,Turing,alan@example.com\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := mcrm(t, nil, "", b.args("import", "--tenant", "acme", "--entity", "contacts", bad)...)
		if r.code != 1 {
			t.Errorf("import with a bad row: exit %d, want 1", r.code)
		}
		rep := parseReport(t, r.stdout)
		if rep.Outcome != "rolled_back" || rep.Committed || rep.Rows != 3 || rep.Failed != 1 || len(rep.Issues) != 1 || rep.Issues[0].Row != 3 || rep.Issues[0].Code != "invalid_email" {
			t.Errorf("report = %+v, want rolled_back with one invalid_email error on row 3", rep)
		}
		if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); !strings.HasPrefix(lines[len(lines)-1], "mcrm: import rolled back") {
			t.Errorf("stderr = %q, want it to end with the rollback message", r.stderr)
		}
		// Nothing was written: the good rows were rolled back too.
		r = mustMcrm(t, nil, "", b.args("export", "--tenant", "acme", "--entity", "contacts")...)
		if n := countCSVRecords(t, []byte(r.stdout)); n != 1 || r.stderr != "exported 0 contacts\n" {
			t.Errorf("after the rolled-back import: %d CSV records (stderr %q), want only the header", n, r.stderr)
		}
	})

	t.Run("serve first run and graceful shutdown", func(t *testing.T) {
		t.Parallel()
		serveFirstRun(t)
	})
}

// shortPassword is below the 15-character minimum, and distinctive so an
// echo of it in an error message can be detected.
const shortPassword = "Sh0rt!pw"

var oneTimePassword = regexp.MustCompile(`(?m)^One-time admin password[^:]*: (\S+)$`)

// serveFirstRun starts serve on a fresh data directory without
// MCRM_ADMIN_PASSWORD, uses the one-time password it prints, stops it with
// SIGTERM while a large import upload is in flight, and restarts it.
func serveFirstRun(t *testing.T) {
	b := backend{dataDir: filepath.Join(t.TempDir(), "fresh")}
	srv := startServer(t, b)
	out := srv.stdoutText()
	m := oneTimePassword.FindAllStringSubmatch(out, -1)
	if len(m) != 1 {
		t.Fatalf("first start printed %d one-time passwords, want 1; stdout:\n%s", len(m), out)
	}
	pw := m[0][1]
	if !strings.Contains(out, `Admin login: tenant "default", email admin@example.com`) {
		t.Errorf("first start stdout does not name the admin login:\n%s", out)
	}
	if strings.Contains(srv.stderrText(), pw) {
		t.Errorf("the one-time password was written to the log (stderr)")
	}
	token, _ := srv.login("default", "admin@example.com", pw)

	// A large import upload whose body the test controls: the server has
	// demonstrably started reading it (100 Continue) before SIGTERM, and
	// the rest is only sent after the server began shutting down.
	data, err := os.ReadFile(filepath.Join(dataRoot, "datablist-customers", "customers-10000.csv"))
	if err != nil {
		t.Fatal(err)
	}
	mapping, err := os.ReadFile(filepath.Join(moduleRoot, "examples", "datablist", "contacts.json"))
	if err != nil {
		t.Fatal(err)
	}
	pr, pipeW := io.Pipe()
	mw := multipart.NewWriter(pipeW)
	resume := make(chan struct{})
	go func() {
		// The mapping part must precede the file part.
		part, err := mw.CreateFormFile("mapping", "contacts.json")
		if err == nil {
			_, err = part.Write(mapping)
		}
		if err == nil {
			part, err = mw.CreateFormFile("file", "customers-10000.csv")
		}
		if err == nil {
			_, err = part.Write(data[:64<<10])
		}
		if err == nil {
			<-resume
			for off := 64 << 10; off < len(data) && err == nil; off += 64 << 10 {
				_, err = part.Write(data[off:min(off+64<<10, len(data))])
			}
		}
		if err == nil {
			err = mw.Close()
		}
		pipeW.CloseWithError(err)
	}()
	got100 := make(chan struct{})
	req, err := http.NewRequest("POST", srv.base+"/api/v1/imports/contacts", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Expect", "100-continue")
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		Got100Continue: func() { close(got100) },
	}))
	type reply struct {
		status int
		body   []byte
		err    error
	}
	replyc := make(chan reply, 1)
	go func() {
		resp, err := srv.client.Do(req)
		if err != nil {
			replyc <- reply{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		replyc <- reply{resp.StatusCode, body, err}
	}()
	select {
	case <-got100:
	case r := <-replyc:
		t.Fatalf("upload finished before the body was sent: %d %s %v", r.status, r.body, r.err)
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not start reading the upload within 30s")
	}

	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Draining: the server stops taking new connections (or answers
	// /readyz with an error) while the upload is still in flight.
	probe := trustingClient(srv.certFile)
	probe.Transport.(*http.Transport).DisableKeepAlives = true
	probe.Timeout = 2 * time.Second
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := probe.Get(srv.base + "/readyz")
		if err != nil {
			break
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz still answers 200 10s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-srv.done:
		t.Fatal("the server exited with an upload in flight")
	default:
	}

	// Send the rest: the in-flight import completes and commits.
	close(resume)
	var r reply
	select {
	case r = <-replyc:
	case <-time.After(90 * time.Second):
		t.Fatal("the in-flight upload got no reply within 90s")
	}
	if r.err != nil || r.status != http.StatusOK {
		t.Fatalf("in-flight import during shutdown: status %d, error %v, body %s; want 200", r.status, r.err, r.body)
	}
	rep := parseReport(t, string(r.body))
	if rep.Created != 10000 || rep.Failed != 0 || rep.Outcome != "committed" {
		t.Errorf("in-flight import: created %d failed %d outcome %q, want 10000 committed", rep.Created, rep.Failed, rep.Outcome)
	}
	srv.waitExit()

	// Restart: the password is not printed again (it exists only as a
	// hash), still works, and the import made during shutdown is there.
	srv = startServer(t, b)
	if out := srv.stdoutText(); oneTimePassword.MatchString(out) || strings.Contains(out, pw) {
		t.Errorf("restart printed a password again; stdout:\n%s", out)
	}
	token, _ = srv.login("default", "admin@example.com", pw)
	if n := len(srv.listAll(token, "contacts")); n != 10000 {
		t.Errorf("after restart: %d contacts, want the 10000 imported during shutdown", n)
	}
	srv.stop()
}
