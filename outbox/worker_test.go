package outbox_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mcrm/dbtest"
	"mcrm/outbox"
	"mcrm/sqlstore"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recorder is a Mailer that fails while fail is set and records the rest.
type recorder struct {
	mu   sync.Mutex
	fail error
	got  []outbox.Message
}

func (r *recorder) Send(_ context.Context, m outbox.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.got = append(r.got, m)
	return nil
}

func tenant(t *testing.T, db *sqlstore.DB) string {
	t.Helper()
	ten, _, err := db.CreateTenant(ctx, sqlstore.NewTenant{Name: dbtest.Name("acme"), AdminEmail: "admin@example.com", AdminName: "Ada", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	return ten.ID
}

const (
	secretTo   = "carol.secret@example.com"
	secretBody = "reset token QWERTY123456"
	secretSubj = "Subject for Carol"
)

func enqueue(t *testing.T, db *sqlstore.DB, tenantID string, at time.Time, expires time.Time) string {
	t.Helper()
	var id string
	err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
		var err error
		id, err = tx.EnqueueMail(ctx, sqlstore.OutboxMail{TenantID: tenantID, Kind: "password_reset", To: secretTo, Subject: secretSubj, Text: secretBody, ExpiresAt: expires}, at)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestWorkerDeliversAndErases(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ten := tenant(t, db)
		c := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
		id := enqueue(t, db, ten, c.Now(), time.Time{})
		// Sealed at rest: neither the recipient nor the body is in the row.
		var payload string
		if err := db.SQL().QueryRow(`SELECT payload FROM mail_outbox WHERE id = $1`, id).Scan(&payload); err != nil {
			t.Fatal(err)
		}
		if payload == "" || strings.Contains(payload, "carol") || strings.Contains(payload, "QWERTY") {
			t.Fatalf("payload not sealed: %q", payload)
		}
		// A rolled-back transaction queues nothing.
		_ = db.InTx(ctx, func(tx *sqlstore.Tx) error {
			tx.EnqueueMail(ctx, sqlstore.OutboxMail{TenantID: ten, Kind: "password_reset", To: "x@example.com", Text: "x"}, c.Now())
			return errors.New("abort")
		})
		dir := t.TempDir()
		sink, _ := outbox.NewFileSink(dir, "noreply@mcrm.example")
		var logs bytes.Buffer
		w := &outbox.Worker{DB: db, Mailer: sink, Now: c.Now, Log: slog.New(slog.NewTextHandler(&logs, nil))}
		r, err := w.RunOnce(ctx)
		if err != nil || r != (outbox.Result{Sent: 1}) {
			t.Fatalf("round: %+v %v", r, err)
		}
		b, err := os.ReadFile(filepath.Join(dir, id+".eml"))
		if err != nil || !strings.Contains(string(b), secretBody) || !strings.Contains(string(b), "To: <"+secretTo+">") {
			t.Fatalf("file: %v\n%s", err, b)
		}
		st, err := db.MailStatus(ctx, ten, id)
		if err != nil || !st.Sent || st.Attempts != 1 || st.PayloadLen != 0 {
			t.Fatalf("status after send: %+v %v", st, err)
		}
		if r, _ := w.RunOnce(ctx); r != (outbox.Result{}) {
			t.Fatalf("sent twice: %+v", r)
		}
		assertNoSecrets(t, logs.String())
		if !strings.Contains(logs.String(), "mail_id="+id) {
			t.Fatalf("log lacks the id: %s", logs.String())
		}
	})
}

func assertNoSecrets(t *testing.T, logs string) {
	t.Helper()
	for _, s := range []string{"carol", "QWERTY", secretSubj} {
		if strings.Contains(logs, s) {
			t.Fatalf("log holds %q: %s", s, logs)
		}
	}
}

func TestWorkerRetriesWithBackoffThenGivesUp(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ten := tenant(t, db)
		c := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
		id := enqueue(t, db, ten, c.Now(), time.Time{})
		// The failure quotes the recipient, as SMTP replies do; it must not
		// reach the log or the row.
		m := &recorder{fail: errors.New("451 try later " + secretTo)}
		var logs bytes.Buffer
		w := &outbox.Worker{DB: db, Mailer: m, Now: c.Now, MaxAttempts: 3, Log: slog.New(slog.NewTextHandler(&logs, nil)),
			Backoff: func(n int) time.Duration { return time.Duration(n) * time.Minute }}
		if r, err := w.RunOnce(ctx); err != nil || r != (outbox.Result{Retried: 1}) {
			t.Fatalf("first: %+v %v", r, err)
		}
		// Not due again before the backoff.
		c.Add(59 * time.Second)
		if r, _ := w.RunOnce(ctx); r != (outbox.Result{}) {
			t.Fatalf("retried early: %+v", r)
		}
		c.Add(time.Second)
		if r, _ := w.RunOnce(ctx); r != (outbox.Result{Retried: 1}) {
			t.Fatalf("second: %+v", r)
		}
		st, _ := db.MailStatus(ctx, ten, id)
		if st.Attempts != 2 || st.LastError != "error" || st.Sent || st.Failed {
			t.Fatalf("status: %+v", st)
		}
		c.Add(2 * time.Minute)
		if r, _ := w.RunOnce(ctx); r != (outbox.Result{Failed: 1}) {
			t.Fatalf("third: %+v", r)
		}
		st, _ = db.MailStatus(ctx, ten, id)
		if !st.Failed || st.Attempts != 3 || st.PayloadLen != 0 {
			t.Fatalf("after giving up: %+v", st)
		}
		c.Add(time.Hour)
		if r, _ := w.RunOnce(ctx); r != (outbox.Result{}) {
			t.Fatalf("failed mail claimed again: %+v", r)
		}
		assertNoSecrets(t, logs.String())
	})
}

func TestWorkerPermanentAndExpired(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ten := tenant(t, db)
		c := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
		id := enqueue(t, db, ten, c.Now(), time.Time{})
		w := &outbox.Worker{DB: db, Mailer: &recorder{fail: outbox.Permanent(errors.New("550"))}, Now: c.Now}
		if r, _ := w.RunOnce(ctx); r != (outbox.Result{Failed: 1}) {
			t.Fatalf("permanent: %+v", r)
		}
		if st, _ := db.MailStatus(ctx, ten, id); !st.Failed || st.LastError != "permanent" {
			t.Fatalf("status: %+v", st)
		}
		// A message past its expiry (a reset mail whose token is dead) is
		// dropped, not sent.
		m := &recorder{}
		exp := enqueue(t, db, ten, c.Now(), c.Now().Add(15*time.Minute))
		c.Add(15 * time.Minute)
		w.Mailer = m
		if r, _ := w.RunOnce(ctx); r != (outbox.Result{}) || len(m.got) != 0 {
			t.Fatalf("expired: %+v %d", r, len(m.got))
		}
		if st, _ := db.MailStatus(ctx, ten, exp); !st.Failed || st.LastError != "expired" || st.PayloadLen != 0 {
			t.Fatalf("expired status: %+v", st)
		}
	})
}

// TestWorkersShareTheQueue: two workers (two nodes) run at once over 30
// messages; each message is delivered exactly once.
func TestWorkersShareTheQueue(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ten := tenant(t, db)
		now := time.Now().UTC()
		want := map[string]bool{}
		for range 30 {
			want[enqueue(t, db, ten, now, time.Time{})] = true
		}
		m := &recorder{}
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				w := &outbox.Worker{DB: db, Mailer: m, Batch: 5}
				for {
					r, err := w.RunOnce(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					if r.Sent == 0 {
						return
					}
				}
			})
		}
		wg.Wait()
		seen := map[string]int{}
		for _, g := range m.got {
			seen[g.ID]++
		}
		if len(m.got) != 30 || len(seen) != 30 {
			t.Fatalf("deliveries %d distinct %d", len(m.got), len(seen))
		}
		for id := range want {
			if seen[id] != 1 {
				t.Fatalf("%s delivered %d times", id, seen[id])
			}
		}
	})
}

func TestDefaultBackoff(t *testing.T) {
	for _, tc := range []struct {
		n      int
		lo, hi time.Duration
	}{{1, 24 * time.Second, 36 * time.Second}, {2, 48 * time.Second, 72 * time.Second}, {20, 48 * time.Minute, 72 * time.Minute}} {
		for range 50 {
			if d := outbox.DefaultBackoff(tc.n); d < tc.lo || d > tc.hi {
				t.Fatalf("attempt %d: %v", tc.n, d)
			}
		}
	}
}

// One message that cannot be opened (tampered with, or sealed under a
// lost key) does not hold up the others.
func TestWorkerSkipsUnreadableMessage(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ten := tenant(t, db)
		now := time.Now().UTC()
		bad := enqueue(t, db, ten, now.Add(-2*time.Second), time.Time{})
		good := enqueue(t, db, ten, now.Add(-time.Second), time.Time{})
		if _, err := db.RawWriter().Exec(`UPDATE mail_outbox SET payload = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' WHERE id = $1`, bad); err != nil {
			t.Fatal(err)
		}
		m := &recorder{}
		w := &outbox.Worker{DB: db, Mailer: m}
		r, err := w.RunOnce(ctx)
		if r != (outbox.Result{Sent: 1}) || len(m.got) != 1 || m.got[0].ID != good {
			t.Fatalf("round: %+v %d", r, len(m.got))
		}
		if err == nil || !strings.Contains(err.Error(), bad) || strings.Contains(err.Error(), "carol") {
			t.Fatalf("error: %v", err)
		}
		if st, _ := db.MailStatus(ctx, ten, bad); st.Sent || st.Failed {
			t.Fatalf("bad mail status: %+v", st)
		}
	})
}
