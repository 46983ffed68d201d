package outbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wneessen/go-mail"
)

// Why go-mail and not net/smtp: net/smtp is frozen and only speaks the
// protocol; the message itself (RFC 5322 headers, RFC 2047 encoded
// subjects, quoted-printable UTF-8 bodies, a Message-ID, a Date) would be
// ours to assemble and to keep free of header injection. go-mail builds
// the message, enforces STARTTLS when asked (it refuses to authenticate
// or send in clear under TLSMandatory), and the file sink writes the very
// same bytes, so what a developer reads locally is what SMTP would send.

// TLS modes for SMTPConfig.TLS.
const (
	// TLSStartTLS requires STARTTLS (port 587 by default): the default.
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (port 465 by default).
	TLSImplicit = "tls"
	// TLSNone sends in clear: only for a relay on the same host.
	TLSNone = "none"
)

// SMTPConfig configures the SMTP adapter.
type SMTPConfig struct {
	Host string
	Port int // 0: 587, 465 for TLSImplicit, 25 for TLSNone
	// TLS is one of the TLS constants; "" means TLSStartTLS.
	TLS string
	// TLSConfig overrides the TLS settings (a private CA); ServerName
	// defaults to Host.
	TLSConfig *tls.Config
	// Username and Password, when set, authenticate with the strongest
	// mechanism the server offers (never over a clear connection unless
	// TLS is TLSNone).
	Username string
	Password string
	From     string
	// HELO is the name announced (default: go-mail's, the host name).
	HELO    string
	Timeout time.Duration // default 30 s
}

// SMTP sends mail through an SMTP server (submission).
type SMTP struct {
	cfg  SMTPConfig
	opts []mail.Option
}

// NewSMTP checks cfg and returns the adapter. It does not connect.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" || cfg.From == "" {
		return nil, errors.New("smtp: host and from address are required")
	}
	if err := mail.NewMsg().From(cfg.From); err != nil {
		return nil, errors.New("smtp: the from address is invalid")
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	opts := []mail.Option{mail.WithTimeout(timeout)}
	tc := cfg.TLSConfig
	if tc == nil {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	} else {
		tc = tc.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = cfg.Host
	}
	port := cfg.Port
	switch cfg.TLS {
	case "", TLSStartTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory), mail.WithTLSConfig(tc))
		port = cmp(port, 587)
	case TLSImplicit:
		opts = append(opts, mail.WithSSL(), mail.WithTLSConfig(tc))
		port = cmp(port, 465)
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
		port = cmp(port, 25)
	default:
		return nil, fmt.Errorf("smtp: unknown TLS mode %q (starttls, tls or none)", cfg.TLS)
	}
	opts = append(opts, mail.WithPort(port))
	if cfg.HELO != "" {
		opts = append(opts, mail.WithHELO(cfg.HELO))
	}
	if cfg.Username != "" {
		auth := mail.SMTPAuthAutoDiscover
		if cfg.TLS == TLSNone {
			// go-mail's PLAIN refuses a clear connection; the operator
			// chose one for a local relay.
			auth = mail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, mail.WithSMTPAuth(auth), mail.WithUsername(cfg.Username), mail.WithPassword(cfg.Password))
	}
	return &SMTP{cfg: cfg, opts: opts}, nil
}

func cmp(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Send delivers m in one SMTP session. A client per message keeps Send
// safe for concurrent use and costs nothing next to the round trips.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg, err := compose(s.cfg.From, m, time.Now())
	if err != nil {
		return err
	}
	c, err := mail.NewClient(s.cfg.Host, s.opts...)
	if err != nil {
		return &classError{"smtp_config", err}
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		var se *mail.SendError
		if errors.As(err, &se) {
			if !se.IsTemp() && se.Reason == mail.ErrSMTPRcptTo {
				return Permanent(&classError{"smtp_rejected", err})
			}
			if se.IsTemp() {
				return &classError{"smtp_temporary", err}
			}
			return &classError{"smtp_permanent", err}
		}
		return &classError{"smtp", err}
	}
	return nil
}

// compose builds the message both adapters send. Header values come from
// the store and templates; CR and LF are refused in them outright rather
// than trusted to encoding, so no value can add a header.
func compose(from string, m Message, now time.Time) (*mail.Msg, error) {
	if strings.ContainsAny(m.To, "\r\n") || strings.ContainsAny(m.Subject, "\r\n") || strings.ContainsAny(m.ID, "\r\n<>@ ") {
		return nil, Permanent(&classError{"bad_header", errors.New("line break in a header value")})
	}
	msg := mail.NewMsg()
	if err := msg.From(from); err != nil {
		return nil, Permanent(&classError{"bad_sender", errors.New("invalid from address")})
	}
	if err := msg.To(m.To); err != nil {
		return nil, Permanent(&classError{"bad_recipient", errors.New("invalid recipient address")})
	}
	msg.Subject(m.Subject)
	msg.SetDateWithValue(now)
	if m.ID != "" {
		msg.SetMessageIDWithValue(m.ID + "@" + domainOf(from))
	} else {
		msg.SetMessageID()
	}
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	return msg, nil
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.Trim(addr[i+1:], "> ")
	}
	return "mcrm.invalid"
}
