package outbox_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mcrm/certs"
	"mcrm/outbox"
)

var ctx = context.Background()

// smtpServer is a real SMTP server (go-smtp) in the test process that
// records what it is told.
type smtpServer struct {
	mu       sync.Mutex
	auths    []string // "user:pass"
	from     []string
	rcpts    []string
	data     []string
	rejectTo string // RCPT TO this address gets 550
	tempFail bool   // every RCPT gets 451
	addr     string
}

type smtpSession struct{ s *smtpServer }

func (b *smtpServer) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSession{b}, nil }

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		s.s.mu.Lock()
		defer s.s.mu.Unlock()
		s.s.auths = append(s.s.auths, user+":"+pass)
		if user != "mailer" || pass != "s3cret" {
			return errors.New("bad credentials")
		}
		return nil
	}), nil
}
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	s.s.from = append(s.s.from, from)
	return nil
}
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	if s.s.tempFail {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later " + to}
	}
	if to == s.s.rejectTo {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user " + to}
	}
	s.s.rcpts = append(s.s.rcpts, to)
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	s.s.data = append(s.s.data, string(b))
	return nil
}
func (s *smtpSession) Reset()        {}
func (s *smtpSession) Logout() error { return nil }

// startSMTP runs a server on a loopback port; with withTLS it offers
// STARTTLS under a self-signed certificate and returns a client TLS
// config trusting it.
func startSMTP(t *testing.T, withTLS bool) (*smtpServer, *tls.Config) {
	t.Helper()
	b := &smtpServer{}
	srv := smtp.NewServer(b)
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	var client *tls.Config
	if withTLS {
		dir := t.TempDir()
		cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
		if _, err := certs.EnsureSelfSigned(cf, kf, "localhost"); err != nil {
			t.Fatal(err)
		}
		pair, err := tls.LoadX509KeyPair(cf, kf)
		if err != nil {
			t.Fatal(err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pair}}
		pem, _ := os.ReadFile(cf)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		client = &tls.Config{RootCAs: pool}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return b, client
}

func port(t *testing.T, addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	var n int
	for _, c := range p {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestSMTPDeliversOverSTARTTLSWithAuth(t *testing.T) {
	srv, tc := startSMTP(t, true)
	m, err := outbox.NewSMTP(outbox.SMTPConfig{Host: "127.0.0.1", Port: port(t, srv.addr), TLSConfig: tc,
		Username: "mailer", Password: "s3cret", From: "noreply@mcrm.example"})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(ctx, outbox.Message{ID: "01JTESTMAIL", To: "alice@example.com", Subject: "Reset your password", Text: "Open https://crm.example/reset#tok\n"})
	if err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.auths) != 1 || srv.auths[0] != "mailer:s3cret" {
		t.Fatalf("auth: %q", srv.auths)
	}
	if len(srv.from) != 1 || srv.from[0] != "noreply@mcrm.example" || len(srv.rcpts) != 1 || srv.rcpts[0] != "alice@example.com" || len(srv.data) != 1 {
		t.Fatalf("envelope: from %q rcpt %q data %d", srv.from, srv.rcpts, len(srv.data))
	}
	d := srv.data[0]
	for _, want := range []string{"Subject: Reset your password\r\n", "To: <alice@example.com>\r\n", "Message-ID: <01JTESTMAIL@mcrm.example>\r\n", "https://crm.example/reset#tok"} {
		if !strings.Contains(d, want) {
			t.Errorf("message lacks %q:\n%s", want, d)
		}
	}
}

// Under the default policy a server that does not offer STARTTLS gets
// neither the credentials nor the message.
func TestSMTPRefusesCleartextServer(t *testing.T) {
	srv, _ := startSMTP(t, false)
	m, err := outbox.NewSMTP(outbox.SMTPConfig{Host: "127.0.0.1", Port: port(t, srv.addr), Username: "mailer", Password: "s3cret", From: "noreply@mcrm.example"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(ctx, outbox.Message{ID: "X1", To: "alice@example.com", Subject: "s", Text: "secret body"}); err == nil {
		t.Fatal("sent without TLS")
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.auths) != 0 || len(srv.data) != 0 || len(srv.rcpts) != 0 {
		t.Fatalf("leaked in clear: auths %d rcpts %d data %d", len(srv.auths), len(srv.rcpts), len(srv.data))
	}
}

func TestSMTPRejectedRecipientIsPermanent(t *testing.T) {
	srv, tc := startSMTP(t, true)
	srv.rejectTo = "gone@example.com"
	m, _ := outbox.NewSMTP(outbox.SMTPConfig{Host: "127.0.0.1", Port: port(t, srv.addr), TLSConfig: tc, From: "noreply@mcrm.example"})
	err := m.Send(ctx, outbox.Message{ID: "X2", To: "gone@example.com", Subject: "s", Text: "t"})
	if err == nil || !outbox.IsPermanent(err) {
		t.Fatalf("550 on RCPT: %v (permanent %v)", err, outbox.IsPermanent(err))
	}
	srv.tempFail = true
	err = m.Send(ctx, outbox.Message{ID: "X3", To: "bob@example.com", Subject: "s", Text: "t"})
	if err == nil || outbox.IsPermanent(err) {
		t.Fatalf("451 on RCPT: %v (permanent %v)", err, outbox.IsPermanent(err))
	}
}

func TestHeaderInjectionRefused(t *testing.T) {
	dir := t.TempDir()
	f, _ := outbox.NewFileSink(dir, "noreply@mcrm.example")
	for _, m := range []outbox.Message{
		{ID: "A", To: "a@example.com", Subject: "hi\r\nBcc: evil@example.com", Text: "t"},
		{ID: "B", To: "a@example.com\r\nBcc: evil@example.com", Subject: "hi", Text: "t"},
	} {
		if err := f.Send(ctx, m); !outbox.IsPermanent(err) {
			t.Fatalf("%s: %v", m.ID, err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("%d files written", len(ents))
	}
}

func TestFileSink(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail")
	f, err := outbox.NewFileSink(dir, "noreply@mcrm.example")
	if err != nil {
		t.Fatal(err)
	}
	msg := outbox.Message{ID: "01JFILE", To: "alice@example.com", Subject: "Grüße", Text: "Token: abc\n"}
	if err := f.Send(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if err := f.Send(ctx, msg); err != nil { // a redelivery replaces the file
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "01JFILE.eml" {
		t.Fatalf("files: %v", ents)
	}
	st, _ := os.Stat(filepath.Join(dir, "01JFILE.eml"))
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v", st.Mode().Perm())
	}
	ds, _ := os.Stat(dir)
	if ds.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v", ds.Mode().Perm())
	}
	b, _ := os.ReadFile(filepath.Join(dir, "01JFILE.eml"))
	for _, want := range []string{"To: <alice@example.com>\r\n", "From: <noreply@mcrm.example>\r\n", "Subject: =?UTF-8?q?Gr=C3=BC=C3=9Fe?=\r\n", "Token: abc"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("file lacks %q:\n%s", want, b)
		}
	}
}

func TestPasswordResetMail(t *testing.T) {
	m := outbox.PasswordResetMail("https://crm.example/reset", "alice@example.com", "Acme")("TOKEN123")
	if m.To != "alice@example.com" || m.Subject != "Reset your mcrm password" {
		t.Fatalf("%+v", m)
	}
	if !strings.Contains(m.Text, "\nhttps://crm.example/reset#token=TOKEN123\n") || !strings.Contains(m.Text, "within 15 minutes") || strings.Contains(m.Text, "?") {
		t.Fatalf("text:\n%s", m.Text)
	}
}
