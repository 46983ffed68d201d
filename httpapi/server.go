// Package httpapi is mcrm's HTTPS REST API. Every request takes the same
// path: outer (request id, headers, rate limit, log) → authentication →
// handler → store; all routes are registered in routes().
package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"mcrm"
	"mcrm/dpop"
	"mcrm/passkey"
	"mcrm/password"
	"mcrm/risk"
	"mcrm/sqlstore"
	"mcrm/throttle"
)

// Config tunes the API.
type Config struct {
	MaxBodyBytes   int64   // JSON bodies; default 1 MiB
	MaxImportBytes int64   // import uploads; default 64 MiB
	RateLimit      float64 // requests per second per client IP; default 50, negative disables
	RateBurst      int     // default 200
	BehindTLSProxy bool    // send HSTS although the listener is plain HTTP

	// PublicURL is the origin clients reach the API at (https://host[:port]);
	// DPoP proofs must name it and browser requests must come from it.
	// Empty: the request's Host (one server, no proxy).
	PublicURL string
	// Keys derives the server's secret keys by purpose (throttle and risk
	// hashes, DPoP nonces). Nil: random keys, for tests; then counters and
	// login history do not survive a restart.
	Keys interface{ Derive(purpose string) []byte }
	// Argon2 are the password hashing parameters; zero means
	// password.Default. A change re-hashes each password at its next login.
	Argon2 password.Params
	// Passkey is the WebAuthn relying party; zero means passkey.DefaultConfig
	// with PublicURL as the origin.
	Passkey passkey.Config
	// Geo resolves client addresses for the country and travel signals;
	// nil leaves them out.
	Geo risk.Geo
	// ResetPage is the web page a password reset mail links to; the
	// token is appended as a URL fragment.
	ResetPage string
	// DPoPNonces makes servers nonces mandatory in DPoP proofs.
	DPoPNonces bool
	// Now is the clock of the step-up window; nil means time.Now (tests
	// move it forward).
	Now func() time.Time
	// TrustedProxies are the networks of reverse proxies whose
	// X-Forwarded-For is believed; empty: the connection's peer is the
	// client (the safe default: a header anyone can send).
	TrustedProxies []netip.Prefix
	// LoginLimits overrides the sign-in throttle (zero: throttle.DefaultLimits).
	LoginLimits sqlstore.ThrottleLimits
}

// Server serves the API.
type Server struct {
	db       *sqlstore.DB
	log      *slog.Logger
	cfg      Config
	limiter  *ipLimiter
	tenants  sync.Map // tenant id → sqlstore.Tenant
	handler  http.Handler
	draining atomic.Bool
	public   atomic.Pointer[string]

	throttle *throttle.Limiter
	risk     *risk.Evaluator
	passkeys *passkey.Service
	dpop     *dpop.Verifier
}

// Drain makes /readyz fail so load balancers stop routing here before
// shutdown.
func (s *Server) Drain() { s.draining.Store(true) }

// New builds the API server over db.
func New(db *sqlstore.DB, log *slog.Logger, cfg Config) (*Server, error) {
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.MaxImportBytes == 0 {
		cfg.MaxImportBytes = 64 << 20
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = 50
	}
	if cfg.RateBurst == 0 {
		cfg.RateBurst = 200
	}
	if cfg.Argon2 == (password.Params{}) {
		cfg.Argon2 = password.Default
	}
	if cfg.Keys == nil {
		cfg.Keys = randomKeys{}
	}
	s := &Server{db: db, log: log, cfg: cfg, limiter: newIPLimiter(cfg.RateLimit, cfg.RateBurst)}
	var err error
	if s.throttle, err = throttle.New(db, cfg.Keys.Derive("throttle")); err != nil {
		return nil, err
	}
	if cfg.LoginLimits != (sqlstore.ThrottleLimits{}) {
		s.throttle.Limits = cfg.LoginLimits
	}
	if s.risk, err = risk.New(risk.Config{HashKey: cfg.Keys.Derive("fraud"), Geo: cfg.Geo}); err != nil {
		return nil, err
	}
	pk := cfg.Passkey
	if pk.RPID == "" {
		pk = passkey.DefaultConfig()
		if cfg.PublicURL != "" {
			u, err := url.Parse(cfg.PublicURL)
			if err != nil || u.Scheme != "https" || u.Host == "" {
				return nil, errors.New("httpapi: public URL must be https://host[:port]")
			}
			pk.RPID, pk.Origins = u.Hostname(), []string{"https://" + u.Host}
		}
	}
	if s.passkeys, err = passkey.New(db, pk); err != nil {
		return nil, err
	}
	// Phones' clocks drift: 30 s either way is tolerated, on top of the
	// 60 s a proof lives (RFC 9449 §11.1 leaves both to the server).
	s.dpop = &dpop.Verifier{Replay: dpop.NewMemoryReplayCache(1<<20, nil), MaxAge: dpop.DefaultMaxAge, Leeway: 30 * time.Second}
	if cfg.DPoPNonces {
		if s.dpop.Nonces, err = dpop.NewHMACNonces(cfg.Keys.Derive("dpop-nonce"), time.Minute); err != nil {
			return nil, err
		}
	}
	s.handler = s.outer(s.routes())
	return s, nil
}

// randomKeys derives fresh random keys: for tests and throwaway servers.
type randomKeys struct{}

func (randomKeys) Derive(string) []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) tenant(ctx context.Context, id string) (sqlstore.Tenant, error) {
	if t, ok := s.tenants.Load(id); ok {
		return t.(sqlstore.Tenant), nil
	}
	t, err := s.db.TenantByID(ctx, id)
	if err != nil {
		return t, err
	}
	s.tenants.Store(id, t)
	return t, nil
}

// decodeJSON reads a JSON object body into a map with numbers kept exact.
// It enforces the content type and the size limit, and rejects trailing
// data and repeated member names, so that a body means exactly one thing
// (encoding/json keeps the last of two equal keys, while a proxy or log
// reader in front of the API may take the first).
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" {
		return mcrm.Errorf(mcrm.EUnsupportedMedia, "send application/json")
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return mcrm.Errorf(mcrm.ETooLarge, "body larger than %d bytes", s.cfg.MaxBodyBytes)
	}
	// The body is at most MaxBodyBytes, so it is read whole: the duplicate
	// check and the decode then walk the same bytes.
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return mcrm.Errorf(mcrm.ETooLarge, "body larger than %d bytes", s.cfg.MaxBodyBytes)
		}
		return mcrm.Errorf(mcrm.EInvalid, "could not read the body")
	}
	// Record bodies (maps) have these refused per field by record.Decode,
	// which can name the field; fixed-shape bodies are checked here.
	if _, isMap := dst.(*map[string]any); !isMap && (!utf8.Valid(data) || loneSurrogate(data)) {
		return mcrm.Errorf(mcrm.EInvalid, "the body is not valid UTF-8 (or has half a UTF-16 surrogate pair)")
	}
	if name := duplicateKey(data); name != "" {
		return mcrm.FieldErr(name, "duplicate_field", "the field is given twice in one object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if _, strict := dst.(*map[string]any); !strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(dst); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return mcrm.FieldErr(name, "unknown_field", "no such field")
		}
		return mcrm.Errorf(mcrm.EInvalid, "body is not valid JSON of the expected shape")
	}
	if _, err := dec.Token(); err != io.EOF {
		return mcrm.Errorf(mcrm.EInvalid, "unexpected data after the JSON value")
	}
	return nil
}

// duplicateKey returns the first member name that occurs twice in one
// object of the JSON text data, at any depth, or "". Invalid JSON yields
// "" here: the decoder reports it.
// foldKey maps names that encoding/json would match to one field to one
// key: upper then lower case folds ſ (U+017F) to s and K (U+212A) to k.
func foldKey(k string) string { return strings.ToLower(strings.ToUpper(k)) }

// loneSurrogate reports whether a JSON text has a \u escape of half a
// UTF-16 surrogate pair: decoding turns it into U+FFFD silently.
func loneSurrogate(data []byte) bool {
	hex := func(b []byte) (rune, bool) {
		if len(b) < 4 {
			return 0, false
		}
		var r rune
		for _, c := range b[:4] {
			r <<= 4
			switch {
			case c >= '0' && c <= '9':
				r |= rune(c - '0')
			case c >= 'a' && c <= 'f':
				r |= rune(c-'a') + 10
			case c >= 'A' && c <= 'F':
				r |= rune(c-'A') + 10
			default:
				return 0, false
			}
		}
		return r, true
	}
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' || i+1 >= len(data) {
			continue
		}
		if data[i+1] != 'u' {
			i++ // an escaped character: skip it (it may be a backslash)
			continue
		}
		r, ok := hex(data[i+2:])
		if !ok {
			continue
		}
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return true
		case r >= 0xD800 && r <= 0xDBFF:
			j := i + 6
			if j+1 >= len(data) || data[j] != '\\' || data[j+1] != 'u' {
				return true
			}
			if lo, ok := hex(data[j+2:]); !ok || lo < 0xDC00 || lo > 0xDFFF {
				return true
			}
			i = j + 5
			continue
		}
		i += 5
	}
	return false
}

func duplicateKey(data []byte) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type object struct {
		keys    map[string]bool
		wantKey bool
	}
	var stack []*object // nil marks an array
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1] != nil {
			stack[n-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, &object{keys: map[string]bool{}, wantKey: true})
			case '[':
				stack = append(stack, nil)
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1] != nil && stack[n-1].wantKey {
				// encoding/json matches member names to struct fields
				// case-insensitively (with Unicode folding: "ſ" is "s"),
				// so "role" and "ROLE" are the same member to it.
				top, k := stack[n-1], foldKey(t)
				if top.keys[k] {
					return t
				}
				top.keys[k], top.wantKey = true, false
				continue
			}
			valueDone()
		default:
			valueDone()
		}
	}
}

// ifMatch reads the If-Match version. required makes a missing header a
// 428, so a client cannot overwrite a change it has not seen by omission.
func ifMatch(r *http.Request, required bool) (int64, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" {
		if required {
			return 0, mcrm.Errorf(mcrm.EPreconditionRequired, "send If-Match with the ETag of the version you are changing")
		}
		return -1, nil
	}
	if h == "*" {
		return -1, nil
	}
	if strings.HasPrefix(h, "W/") {
		// If-Match uses the strong comparison (RFC 9110 13.1.1): a weak
		// tag never matches, so the answer is 412, not a syntax error.
		return 0, nil
	}
	v, err := strconv.ParseInt(strings.Trim(h, `"`), 10, 64)
	if err != nil || !strings.HasPrefix(h, `"`) || !strings.HasSuffix(h, `"`) || v < 1 {
		return 0, mcrm.FieldErr("If-Match", "invalid_etag", `expected a strong ETag such as "3"`)
	}
	return v, nil
}

func etag(version any) string {
	v, _ := version.(int64)
	return `"` + strconv.FormatInt(v, 10) + `"`
}

// queryParams parses the query string strictly: r.URL.Query() silently
// drops what it cannot parse (a ";" in a value, a bad escape), which would
// turn "?deleted=true;x" into no filter at all.
func queryParams(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, mcrm.Errorf(mcrm.EInvalid, "malformed query string (escape ; and %% as %%3B and %%25)")
	}
	return q, nil
}
