package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mcrm/totp/softotp"
)

// adminPassword is the tenant admin password given through
// MCRM_ADMIN_PASSWORD; userPassword is what "user set-password" sets.
const (
	adminPassword = "e2e admin password, long enough"
	userPassword  = "e2e user password, long enough"
)

// result is what one CLI run produced.
type result struct {
	code           int
	stdout, stderr string
}

// cleanEnv is the test process's environment without MCRM_* variables, so
// a developer's own settings (MCRM_DATA_DIR, MCRM_DATABASE_URL, ...) can
// neither leak into nor rescue a test. Tests add what they mean to set.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MCRM_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// mcrm runs the binary to completion with the given extra environment and
// standard input.
func mcrm(t testing.TB, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = cleanEnv(env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		t.Fatalf("mcrm %s: %v (stderr: %s)", strings.Join(args, " "), err, r.stderr)
	}
	return r
}

// mustMcrm runs the binary and fails the test unless it exits 0.
func mustMcrm(t testing.TB, env []string, stdin string, args ...string) result {
	t.Helper()
	r := mcrm(t, env, stdin, args...)
	if r.code != 0 {
		t.Fatalf("mcrm %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// assertOneLineFailure checks the CLI's error contract: a non-zero exit and
// exactly one line on stderr, starting "mcrm: ", so scripts and operators
// can rely on a short, greppable message instead of a stack or usage dump.
func assertOneLineFailure(t testing.TB, r result, wantSubstr string) {
	t.Helper()
	if r.code == 0 {
		t.Errorf("exit 0, want non-zero (stdout: %q)", r.stdout)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasSuffix(r.stderr, "\n") || !strings.HasPrefix(lines[0], "mcrm: ") {
		t.Errorf("stderr = %q, want exactly one line starting \"mcrm: \"", r.stderr)
	} else if !strings.Contains(lines[0], wantSubstr) {
		t.Errorf("stderr = %q, want it to mention %q", r.stderr, wantSubstr)
	}
}

// backend is one database the CLI and server run against: SQLite in
// dataDir, or PostgreSQL at dbURL (dataDir then only holds the TLS files).
type backend struct {
	dataDir, dbURL string
}

// args puts --data-dir (and --database-url) right after the command words,
// as an operator would type them.
func (b backend) args(args ...string) []string {
	words := 1
	switch {
	case len(args) > 1 && args[0] == "tenant" && args[1] == "policy":
		words = 3
	case args[0] == "tenant" || args[0] == "user":
		words = 2
	}
	out := append([]string{}, args[:words]...)
	out = append(out, "--data-dir", b.dataDir)
	if b.dbURL != "" {
		out = append(out, "--database-url", b.dbURL)
	}
	return append(out, args[words:]...)
}

// importReport is the JSON report "mcrm import" prints on stdout. It is
// declared here rather than taken from package importer: this test checks
// the contract a user of the binary sees.
type importReport struct {
	Entity         string         `json:"entity"`
	Format         string         `json:"format"`
	DryRun         bool           `json:"dry_run"`
	Committed      bool           `json:"committed"`
	Rows           int            `json:"rows"`
	Created        int            `json:"created"`
	Updated        int            `json:"updated"`
	Failed         int            `json:"failed"`
	CreatedRelated map[string]int `json:"created_related"`
	Issues         []struct {
		Row      int    `json:"row"`
		Field    string `json:"field"`
		Severity string `json:"severity"`
		Code     string `json:"code"`
		Message  string `json:"message"`
	} `json:"issues"`
	IssueCounts map[string]int `json:"issue_counts"`
	Outcome     string         `json:"outcome"`
}

// parseReport decodes an import report and checks the invariant every
// report must keep: rows = created + updated + failed.
func parseReport(t testing.TB, stdout string) importReport {
	t.Helper()
	var rep importReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("import report is not JSON: %v\n%s", err, stdout)
	}
	if rep.Rows != rep.Created+rep.Updated+rep.Failed {
		t.Errorf("%s report: rows %d != created %d + updated %d + failed %d", rep.Entity, rep.Rows, rep.Created, rep.Updated, rep.Failed)
	}
	return rep
}

// readCSV reads a whole CSV file into header-keyed rows.
func readCSV(t testing.TB, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(recs) == 0 {
		t.Fatalf("%s: empty", path)
	}
	rows := make([]map[string]string, 0, len(recs)-1)
	for _, rec := range recs[1:] {
		row := make(map[string]string, len(rec))
		for i, h := range recs[0] {
			row[h] = rec[i]
		}
		rows = append(rows, row)
	}
	return rows
}

// countCSVRecords counts records (not lines: quoted fields may hold
// newlines) including the header, and checks every record has the
// header's width.
func countCSVRecords(t testing.TB, data []byte) int {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(data))
	n := 0
	for {
		_, err := r.Read()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatalf("exported CSV record %d: %v", n+1, err)
		}
		n++
	}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// server is a running "mcrm serve".
type server struct {
	t          testing.TB
	cmd        *exec.Cmd
	done       chan struct{} // closed when the process has exited
	waitErr    error
	base       string // https://127.0.0.1:port
	certFile   string
	stdoutPath string
	stderrPath string
	client     *http.Client
	dataDir    string
}

// startServer starts "mcrm serve" on a free port and waits until /readyz
// answers 200 over HTTPS, verified against the server's own self-signed
// certificate.
func startServer(t testing.TB, b backend, env ...string) *server {
	t.Helper()
	addr := freeAddr(t)
	logDir := t.TempDir()
	s := &server{
		t:          t,
		done:       make(chan struct{}),
		base:       "https://" + addr,
		dataDir:    b.dataDir,
		certFile:   filepath.Join(b.dataDir, "tls-cert.pem"),
		stdoutPath: filepath.Join(logDir, "stdout"),
		stderrPath: filepath.Join(logDir, "stderr"),
	}
	// Files, not pipes: what the server printed is on disk by the time it
	// answers /readyz, with no copying goroutine to race.
	stdout, err := os.Create(s.stdoutPath)
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	stderr, err := os.Create(s.stderrPath)
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	s.cmd = exec.Command(bin, b.args("serve", "--listen", addr)...)
	s.cmd.Env = cleanEnv(env...)
	s.cmd.Stdout, s.cmd.Stderr = stdout, stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			s.cmd.Process.Kill()
			<-s.done
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-s.done:
			t.Fatalf("mcrm serve exited before it was ready: %v\nstderr: %s", s.waitErr, s.stderrText())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mcrm serve not ready after 30s\nstderr: %s", s.stderrText())
		}
		if s.client == nil {
			s.client = trustingClient(s.certFile) // nil until serve wrote the certificate
		}
		if s.client != nil {
			if resp, err := s.client.Get(s.base + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return s
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// trustingClient returns an HTTPS client that trusts exactly the PEM
// certificate in certFile (no InsecureSkipVerify), or nil if the file is
// not there or not complete yet.
func trustingClient(certFile string) *http.Client {
	pem, err := os.ReadFile(certFile)
	if err != nil {
		return nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil
	}
	return &http.Client{
		Timeout: 2 * time.Minute,
		Transport: &http.Transport{
			TLSClientConfig:       &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			ExpectContinueTimeout: 30 * time.Second,
		},
	}
}

func (s *server) stdoutText() string { b, _ := os.ReadFile(s.stdoutPath); return string(b) }
func (s *server) stderrText() string { b, _ := os.ReadFile(s.stderrPath); return string(b) }

// stop sends SIGTERM and asserts a clean exit (status 0) within 30 s, the
// budget a container orchestrator typically gives before SIGKILL.
func (s *server) stop() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatalf("SIGTERM: %v", err)
	}
	s.waitExit()
}

// waitExit waits for the process after a signal was sent.
func (s *server) waitExit() {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.t.Fatalf("mcrm serve still running 30s after SIGTERM\nstderr: %s", s.stderrText())
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		s.t.Errorf("mcrm serve exited with status %d after SIGTERM, want 0\nstderr: %s", code, s.stderrText())
	}
}

// request sends one API request and returns the status and body.
func (s *server) request(method, path, token, contentType string, body io.Reader) (int, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// login signs in and returns the access token and the user's id. It
// answers what the server asks for as a user with an authenticator app
// would: a first sign-in under a policy that requires a second factor
// enrols TOTP (the app keeps the secret for the next sign-ins, also across
// restarts of the server), a later one gets a code from the app.
func (s *server) login(tenant, email, password string) (token, userID string) {
	s.t.Helper()
	body, _ := json.Marshal(map[string]string{"tenant": tenant, "email": email, "password": password})
	status, resp := s.request("POST", "/api/v1/auth/login", "", "application/json", bytes.NewReader(body))
	if status != http.StatusOK {
		s.t.Fatalf("login %s/%s: status %d: %s", tenant, email, status, resp)
	}
	out := s.decodeSession(resp)
	appKey := s.dataDir + "\x00" + tenant + "\x00" + email
	switch out.Status {
	case "enrolment_required":
		status, resp = s.request("POST", "/api/v1/auth/factors/totp", out.AccessToken, "application/json", strings.NewReader(`{"name":"e2e"}`))
		if status != http.StatusCreated {
			s.t.Fatalf("enrol TOTP for %s: status %d: %s", email, status, resp)
		}
		var enrol struct{ ID, Secret string }
		if err := json.Unmarshal(resp, &enrol); err != nil {
			s.t.Fatal(err)
		}
		app, err := softotp.New(enrol.Secret)
		if err != nil {
			s.t.Fatal(err)
		}
		totpApps.Store(appKey, app)
		confirm, _ := json.Marshal(map[string]string{"code": app.Code()})
		status, resp = s.request("POST", "/api/v1/auth/factors/totp/"+enrol.ID+"/confirm", out.AccessToken, "application/json", bytes.NewReader(confirm))
		if status != http.StatusOK {
			s.t.Fatalf("confirm TOTP for %s: status %d: %s", email, status, resp)
		}
		var done struct {
			Session json.RawMessage `json:"session"`
		}
		if err := json.Unmarshal(resp, &done); err != nil {
			s.t.Fatal(err)
		}
		out = s.decodeSession(done.Session)
	case "mfa_required":
		app, ok := totpApps.Load(appKey)
		if !ok {
			s.t.Fatalf("login %s: the server asks for a second factor this test never enrolled", email)
		}
		mfa, _ := json.Marshal(map[string]string{"mfa_token": out.MFAToken, "code": app.(*softotp.App).Code()})
		status, resp = s.request("POST", "/api/v1/auth/login/mfa", "", "application/json", bytes.NewReader(mfa))
		if status != http.StatusOK {
			s.t.Fatalf("second factor for %s: status %d: %s", email, status, resp)
		}
		out = s.decodeSession(resp)
	}
	if out.Status != "ok" || out.AccessToken == "" || out.User.ID == "" {
		s.t.Fatalf("login %s: unexpected response %s", email, resp)
	}
	return out.AccessToken, out.User.ID
}

// totpApps are the authenticator apps of the users the tests enrolled.
var totpApps sync.Map

type sessionAnswer struct {
	Status      string `json:"status"`
	AccessToken string `json:"access_token"`
	MFAToken    string `json:"mfa_token"`
	User        struct {
		ID string `json:"id"`
	} `json:"user"`
}

func (s *server) decodeSession(b []byte) sessionAnswer {
	s.t.Helper()
	var out sessionAnswer
	if err := json.Unmarshal(b, &out); err != nil {
		s.t.Fatalf("sign-in answer is not JSON: %v", err)
	}
	return out
}

// listAll pages through GET /api/v1/<entity>?limit=500 following
// next_cursor and returns every record the token may see. It fails on a
// record seen twice, which would make counts meaningless.
func (s *server) listAll(token, entity string) []map[string]any {
	s.t.Helper()
	var all []map[string]any
	seen := map[string]bool{}
	cursor := ""
	for page := 0; ; page++ {
		if page > 1000 {
			s.t.Fatalf("%s: more than 1000 pages; the cursor does not advance", entity)
		}
		path := "/api/v1/" + entity + "?limit=500"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		status, body := s.request("GET", path, token, "", nil)
		if status != http.StatusOK {
			s.t.Fatalf("GET %s: status %d: %s", path, status, body)
		}
		var out struct {
			Data       []map[string]any `json:"data"`
			NextCursor string           `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &out); err != nil {
			s.t.Fatalf("GET %s: %v", path, err)
		}
		for _, rec := range out.Data {
			id, _ := rec["id"].(string)
			if id == "" || seen[id] {
				s.t.Fatalf("GET %s: record id %q missing or seen twice", path, id)
			}
			seen[id] = true
		}
		all = append(all, out.Data...)
		if out.NextCursor == "" {
			return all
		}
		cursor = out.NextCursor
	}
}
