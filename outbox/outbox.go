// Package outbox delivers the mail the store queues. A message is written
// to the mail_outbox table in the same transaction as the change that
// causes it (sqlstore.Tx.EnqueueMail), so a mail exists exactly when its
// change committed; a Worker then hands due messages to a Mailer, retrying
// with backoff, and marks them sent. Delivery is at least once: a worker
// that dies between sending and marking sends again after the lease.
//
// Messages carry secrets (a reset link) and personal data (the
// recipient): they are sealed in the table, erased once sent, and never
// logged. Logs and the stored last error name only the message id, its
// kind and an error class.
package outbox

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"time"

	"mcrm/sqlstore"
)

// Message is one plain-text mail.
type Message struct {
	// ID is the outbox id, used to derive the Message-ID header and the
	// file name, so a redelivery is recognisably the same mail.
	ID      string
	To      string
	Subject string
	Text    string
}

// Mailer sends one message. Errors wrapped with Permanent are not retried.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying cannot fix (the server refused
// the recipient for good).
func Permanent(err error) error { return permanentError{err} }

// IsPermanent tells whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Worker delivers queued mail.
type Worker struct {
	DB     *sqlstore.DB
	Mailer Mailer
	// Log gets one line per delivery outcome: id, kind, attempt and an
	// error class, never a recipient, subject or body. Nil logs nothing.
	Log *slog.Logger
	// Now is the clock (tests inject one).
	Now func() time.Time
	// Batch is how many messages one round claims (default 20).
	Batch int
	// Lease is how long a claimed message is left to its worker before
	// another may take it (default 2 min; longer than a send can take).
	Lease time.Duration
	// MaxAttempts is when to give up (default 8).
	MaxAttempts int
	// Backoff is the wait after the nth failed attempt (default
	// exponential from 30 s, capped at 1 h, with jitter).
	Backoff func(attempt int) time.Duration
	// Timeout bounds one send (default 30 s).
	Timeout time.Duration
}

// DefaultBackoff waits 30 s after the first failure and doubles up to an
// hour, with ±20 % jitter so that many nodes retrying after an SMTP outage
// do not all reconnect at the same instant.
func DefaultBackoff(attempt int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < attempt && d < time.Hour; i++ {
		d *= 2
	}
	d = min(d, time.Hour)
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

func (w *Worker) defaults() {
	if w.Now == nil {
		w.Now = time.Now
	}
	if w.Batch <= 0 {
		w.Batch = 20
	}
	if w.Lease <= 0 {
		w.Lease = 2 * time.Minute
	}
	if w.MaxAttempts <= 0 {
		w.MaxAttempts = 8
	}
	if w.Backoff == nil {
		w.Backoff = DefaultBackoff
	}
	if w.Timeout <= 0 {
		w.Timeout = 30 * time.Second
	}
}

// Result counts what one round did.
type Result struct {
	Sent, Retried, Failed int
}

// RunOnce claims the due messages and tries each once.
func (w *Worker) RunOnce(ctx context.Context) (Result, error) {
	w.defaults()
	var r Result
	batch, claimErr := w.DB.ClaimMail(ctx, w.Now(), w.Lease, w.Batch)
	if claimErr != nil && len(batch) == 0 {
		return r, claimErr
	}
	for _, q := range batch {
		sctx, cancel := context.WithTimeout(ctx, w.Timeout)
		err := w.Mailer.Send(sctx, Message{ID: q.ID, To: q.To, Subject: q.Subject, Text: q.Text})
		cancel()
		now := w.Now()
		switch {
		case err == nil:
			if err := w.DB.MarkMailSent(ctx, q.TenantID, q.ID, now); err != nil {
				return r, err
			}
			r.Sent++
			w.log(slog.LevelInfo, "mail sent", q, "")
		case IsPermanent(err) || q.Attempts >= w.MaxAttempts:
			class := errorClass(err)
			if err := w.DB.MarkMailFailed(ctx, q.TenantID, q.ID, now, class); err != nil {
				return r, err
			}
			r.Failed++
			w.log(slog.LevelWarn, "mail failed", q, class)
		default:
			class := errorClass(err)
			if err := w.DB.MarkMailRetry(ctx, q.TenantID, q.ID, now.Add(w.Backoff(q.Attempts)), class); err != nil {
				return r, err
			}
			r.Retried++
			w.log(slog.LevelWarn, "mail retry", q, class)
		}
	}
	return r, claimErr
}

// Run delivers every interval until ctx ends, and at once when a round
// was full (more may be waiting).
func (w *Worker) Run(ctx context.Context, every time.Duration) {
	w.defaults()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		r, err := w.RunOnce(ctx)
		if err != nil && w.Log != nil && ctx.Err() == nil {
			// Store errors name no message content.
			w.Log.Error("mail outbox round failed", "error", err.Error())
		}
		if err == nil && r.Sent+r.Retried+r.Failed >= w.Batch {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *Worker) log(level slog.Level, msg string, q sqlstore.QueuedMail, class string) {
	if w.Log == nil {
		return
	}
	attrs := []any{"mail_id", q.ID, "kind", q.Kind, "attempt", q.Attempts}
	if class != "" {
		attrs = append(attrs, "error_class", class)
	}
	w.Log.Log(context.Background(), level, msg, attrs...)
}

// errorClass reduces a delivery error to a short code. The error text is
// never kept: an SMTP reply, and go-mail's SendError, quote recipients.
func errorClass(err error) string {
	var ce classified
	if errors.As(err, &ce) {
		return ce.Class()
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &ne):
		return "network"
	case IsPermanent(err):
		return "permanent"
	}
	return "error"
}

// classified is an error that knows its class (the adapters' errors).
type classified interface {
	error
	Class() string
}

type classError struct {
	class string
	err   error
}

func (e *classError) Error() string { return e.class + ": " + e.err.Error() }
func (e *classError) Unwrap() error { return e.err }
func (e *classError) Class() string { return e.class }
