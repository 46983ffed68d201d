package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"mcrm/outbox"
	"mcrm/sqlstore"
	"mcrm/throttle"
)

// newMailer picks how outgoing mail leaves: SMTP when MCRM_SMTP_HOST is
// set (password from MCRM_SMTP_PASSWORD or its _FILE), else files in
// mailDir (default <data-dir>/outbox), which is what a local install and
// the tests read.
func newMailer(dataDir, mailDir string) (outbox.Mailer, error) {
	from := envOr("MCRM_MAIL_FROM", "mcrm <no-reply@localhost>")
	if host := os.Getenv("MCRM_SMTP_HOST"); host != "" && mailDir == "" {
		pw, err := secretEnv("MCRM_SMTP_PASSWORD")
		if err != nil {
			return nil, err
		}
		port, _ := strconv.Atoi(os.Getenv("MCRM_SMTP_PORT"))
		return outbox.NewSMTP(outbox.SMTPConfig{Host: host, Port: port, TLS: os.Getenv("MCRM_SMTP_TLS"),
			Username: os.Getenv("MCRM_SMTP_USERNAME"), Password: pw, From: from})
	}
	if mailDir == "" {
		mailDir = filepath.Join(dataDir, "outbox")
	}
	return outbox.NewFileSink(mailDir, from)
}

// housekeeping deletes what has outlived its use, every ten minutes:
// ended sessions, old login-throttle rows, spent passkey challenges and
// login history past the risk window. Each is enforced by its queries
// anyway, so a missed run changes no decision.
func housekeeping(ctx context.Context, db *sqlstore.DB, log *slog.Logger) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			steps := []struct {
				name string
				run  func() (int64, error)
			}{
				{"sessions", func() (int64, error) { return db.PruneSessions(ctx, now.Add(-24*time.Hour)) }},
				{"throttle", func() (int64, error) { return db.ThrottlePrune(ctx, now.Add(-throttle.NetWindow)) }},
				{"challenges", func() (int64, error) { return db.PurgeChallenges(ctx, now) }},
				{"login_history", func() (int64, error) { return db.PruneLoginHistory(ctx, now.Add(-90*24*time.Hour)) }},
			}
			for _, s := range steps {
				if n, err := s.run(); err != nil {
					log.Error("housekeeping failed", "step", s.name, "error", err.Error())
				} else if n > 0 {
					log.Info("housekeeping", "step", s.name, "deleted", n)
				}
			}
		}
	}
}
