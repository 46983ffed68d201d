package httpapi

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"mcrm"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyPrincipal
	keySession
	keyClientIP
)

func requestID(ctx context.Context) string {
	s, _ := ctx.Value(keyRequestID).(string)
	return s
}

func principal(ctx context.Context) *mcrm.Principal {
	p, _ := ctx.Value(keyPrincipal).(*mcrm.Principal)
	return p
}

// statusRecorder remembers the status for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// outer is the first step of every request: request id, security headers,
// panic recovery, rate limit and the access log. The log names the route
// pattern, never the raw URL, because query strings can hold personal
// data (?email=...).
func (s *Server) outer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := rand.Text()[:20]
		ctx := context.WithValue(r.Context(), keyRequestID, id)
		ctx = context.WithValue(ctx, keyClientIP, s.forwardedFor(r))
		r = r.WithContext(ctx)
		h := w.Header()
		h.Set("X-Request-Id", id)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		h.Set("Cache-Control", "no-store")
		if r.TLS != nil || s.cfg.BehindTLSProxy {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic", slog.String("request_id", id), slog.Any("panic", p))
				if rec.status == 0 {
					s.writeError(rec, r, mcrm.Errorf(mcrm.EInternal, "internal error"))
				}
			}
			s.log.Info("request", slog.String("request_id", id), slog.String("method", r.Method), slog.String("route", r.Pattern),
				slog.Int("status", rec.status), slog.Int64("bytes", rec.bytes), slog.Duration("duration", time.Since(start)))
		}()
		if !s.limiter.allow(clientIP(r)) {
			s.writeError(rec, r, mcrm.Errorf(mcrm.ERateLimited, "too many requests"))
			return
		}
		next.ServeHTTP(rec, r)
	})
}

// clientIP is the address of the client: the connection's peer, or, when
// the peer is a configured trusted proxy, the nearest address in
// X-Forwarded-For that is not one (outer resolves it once per request).
func clientIP(r *http.Request) string {
	if ip, ok := r.Context().Value(keyClientIP).(string); ok {
		return ip
	}
	return peerIP(r)
}

func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// forwardedFor walks X-Forwarded-For from the right (the entries the
// trusted proxies appended) past trusted proxies; the first other address
// is the client. Entries a client wrote itself sit further left and are
// never reached unless every proxy on the way is trusted.
func (s *Server) forwardedFor(r *http.Request) string {
	peer := peerIP(r)
	if len(s.cfg.TrustedProxies) == 0 || !trusted(s.cfg.TrustedProxies, peer) {
		return peer
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		for _, part := range strings.Split(h, ",") {
			hops = append(hops, strings.TrimSpace(part))
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(hops[i])
		if err != nil {
			return peer // a malformed chain: trust only the peer
		}
		if !trusted(s.cfg.TrustedProxies, ip.String()) {
			return ip.Unmap().String()
		}
	}
	return peer
}

func trusted(nets []netip.Prefix, addr string) bool {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	for _, n := range nets {
		if n.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// ipLimiter is a token bucket per client address. In memory: correct for
// one node; the scale-out path moves it to Redis behind the same method.
type ipLimiter struct {
	mu      sync.Mutex
	rps     rate.Limit
	burst   int
	buckets map[string]*bucket
	sweep   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newIPLimiter(rps float64, burst int) *ipLimiter {
	return &ipLimiter{rps: rate.Limit(rps), burst: burst, buckets: map[string]*bucket{}, sweep: time.Now()}
}

func (l *ipLimiter) allow(ip string) bool {
	if l.rps <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.sweep) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 5*time.Minute {
				delete(l.buckets, k)
			}
		}
		l.sweep = now
	}
	b := l.buckets[ip]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.rps, l.burst)}
		l.buckets[ip] = b
	}
	b.seen = now
	return b.lim.Allow()
}

// limitBody caps a request body; reading past the cap fails and the
// handler answers 413.
func limitBody(w http.ResponseWriter, r *http.Request, n int64) {
	if r.ContentLength > n {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, n)
}
