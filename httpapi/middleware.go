package httpapi

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net"
	"net/http"
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

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
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
