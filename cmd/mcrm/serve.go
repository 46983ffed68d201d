package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"mcrm/certs"
	"mcrm/httpapi"
	"mcrm/outbox"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "serve [--data-dir DIR] [--listen ADDR] [--database-url URL] [options]", stderr)
	var d dbFlags
	d.register(fs)
	listen := fs.String("listen", envOr("MCRM_LISTEN", "127.0.0.1:8443"), "address to listen on; env MCRM_LISTEN")
	certFile := fs.String("tls-cert", os.Getenv("MCRM_TLS_CERT"), "TLS certificate chain (PEM); default: a self-signed certificate created in the data directory")
	keyFile := fs.String("tls-key", os.Getenv("MCRM_TLS_KEY"), "TLS private key (PEM)")
	tls12 := fs.Bool("tls12", false, "also accept TLS 1.2 (ECDHE with AEAD ciphers only); default TLS 1.3 only")
	insecure := fs.Bool("insecure-http", false, "serve plain HTTP, for running behind a TLS-terminating proxy only")
	tenantName := fs.String("tenant", envOr("MCRM_TENANT", "default"), "name of the first tenant, created on first start with an empty database")
	adminEmail := fs.String("admin-email", envOr("MCRM_ADMIN_EMAIL", "admin@example.com"), "email of the first tenant's admin, created on first start")
	rateLimit := fs.Float64("rate-limit", 50, "requests per second per client address (negative: off)")
	publicURL := fs.String("public-url", os.Getenv("MCRM_PUBLIC_URL"), "https://host[:port] clients use to reach the server (DPoP proofs, passkeys, reset links); default https://<listen address>; env MCRM_PUBLIC_URL")
	proxies := fs.String("trusted-proxies", os.Getenv("MCRM_TRUSTED_PROXIES"), "comma-separated CIDRs of reverse proxies whose X-Forwarded-For names the client (behind a load balancer); env MCRM_TRUSTED_PROXIES")
	mailDir := fs.String("mail-dir", os.Getenv("MCRM_MAIL_DIR"), "write outgoing mail (password resets) as files here instead of SMTP; default <data-dir>/outbox when MCRM_SMTP_HOST is not set; env MCRM_MAIL_DIR")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return exitError{2, "serve takes no arguments"}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return exitError{2, "--log-level must be debug, info, warn or error"}
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	if (*certFile == "") != (*keyFile == "") {
		return exitError{2, "--tls-cert and --tls-key go together"}
	}

	db, err := d.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if n, err := db.CountTenants(ctx); err != nil {
		return err
	} else if n == 0 {
		// First start: a tenant and an admin so a newcomer can log in now.
		if err := createTenant(ctx, db, *tenantName, *adminEmail, stdout); err != nil {
			return fmt.Errorf("first-run setup: %w", err)
		}
	}

	if *publicURL == "" {
		host, port, _ := net.SplitHostPort(*listen)
		if host == "" || host == "0.0.0.0" || host == "::" || host == "127.0.0.1" {
			host = "localhost"
		}
		*publicURL = "https://" + net.JoinHostPort(host, port)
	}
	*publicURL = strings.TrimSuffix(*publicURL, "/")
	var trustedNets []netip.Prefix
	for _, c := range strings.Split(*proxies, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(c)
		if err != nil {
			return exitError{2, "--trusted-proxies: not a CIDR prefix: " + c}
		}
		trustedNets = append(trustedNets, pfx.Masked())
	}
	api, err := httpapi.New(db, log, httpapi.Config{RateLimit: *rateLimit, BehindTLSProxy: *insecure, PublicURL: *publicURL,
		Keys: d.keys, ResetPage: *publicURL + "/reset-password", TrustedProxies: trustedNets})
	if err != nil {
		return exitError{2, err.Error()}
	}
	mailer, err := newMailer(d.dataDir, *mailDir)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute, // imports upload large files
		WriteTimeout:      10 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %v", *listen, err)
	}
	scheme := "http"
	if !*insecure {
		if *certFile == "" {
			*certFile = filepath.Join(d.dataDir, "tls-cert.pem")
			*keyFile = filepath.Join(d.dataDir, "tls-key.pem")
			host, _, _ := net.SplitHostPort(*listen)
			created, err := certs.EnsureSelfSigned(*certFile, *keyFile, host)
			if err != nil {
				return err
			}
			if created {
				log.Info("created a self-signed TLS certificate", "cert", *certFile)
			}
		}
		reloader, err := certs.NewReloader(*certFile, *keyFile)
		if err != nil {
			return err
		}
		srv.TLSConfig = certs.ServerConfig(reloader, *tls12)
		scheme = "https"
	} else {
		log.Warn("serving plain HTTP: only behind a TLS-terminating proxy")
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go purgeLoop(ctx, db, log)
	go housekeeping(ctx, db, log)
	go (&outbox.Worker{DB: db, Mailer: mailer, Log: log}).Run(ctx, 5*time.Second)

	errc := make(chan error, 1)
	go func() {
		if scheme == "https" {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	fmt.Fprintf(stderr, "mcrm listening on %s://%s (data: %s, database: %s)\n", scheme, ln.Addr(), d.dataDir, db.Dialect)
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	case <-ctx.Done():
	}
	// Graceful shutdown: stop accepting, let in-flight requests finish
	// (each runs in its own transaction, so none is left half-written).
	api.Drain()
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %v", err)
	}
	log.Info("stopped")
	return nil
}

// purgeLoop removes records past their 30-day restore window, hourly.
func purgeLoop(ctx context.Context, db interface {
	PurgeDeleted(context.Context, time.Time) (int64, error)
}, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if n, err := db.PurgeDeleted(ctx, now); err != nil {
				log.Error("purge failed", "error", strings.TrimSpace(err.Error()))
			} else if n > 0 {
				log.Info("purged deleted records", "count", n)
			}
		}
	}
}
