package httpapi

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"mcrm"
	"mcrm/dpop"
	"mcrm/sqlstore"
)

// Browser sessions live in one cookie. The __Host- prefix makes the
// browser refuse it unless it is Secure, host-only and Path=/, so no
// subdomain can plant or read it.
const (
	sessionCookie = "__Host-mcrm_session"
	csrfHeader    = "X-CSRF-Token"
)

// challenge writes the WWW-Authenticate header of a 401: both schemes the
// API accepts, and for a step-up the RFC 9470 error and max_age.
func challenge(w http.ResponseWriter, code mcrm.Code, fields []mcrm.FieldError) {
	if code == mcrm.EStepUpRequired {
		w.Header().Set("WWW-Authenticate", `Bearer realm="mcrm", error="insufficient_user_authentication", error_description="a recent strong authentication is required", max_age=300`)
		return
	}
	dpopErr := ""
	for _, f := range fields {
		if f.Field == "DPoP" {
			dpopErr = `, error="invalid_dpop_proof"`
			if f.Code == dpop.CodeUseNonce {
				dpopErr = `, error="use_dpop_nonce"`
			}
		}
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="mcrm", DPoP algs="`+dpop.SupportedAlgs+`"`+dpopErr)
}

func sessionOf(ctx context.Context) *sqlstore.Session {
	s, _ := ctx.Value(keySession).(*sqlstore.Session)
	return s
}

// authenticated is the authentication step for routes that need a full
// session.
func (s *Server) authenticated(next http.HandlerFunc) http.HandlerFunc { return s.authn(false, next) }

// enrolling admits also a session that must enrol a second factor before
// it may do anything else (AUTH-04: enrolment forced at next login).
func (s *Server) enrolling(next http.HandlerFunc) http.HandlerFunc { return s.authn(true, next) }

var (
	errNoCredentials = mcrm.Errorf(mcrm.EUnauthorized, "missing credentials: send Authorization: Bearer or DPoP, or the session cookie")
	errBoundToken    = &mcrm.Error{Code: mcrm.EUnauthorized, Message: "the token is bound to a key: use the DPoP scheme with a proof",
		Fields: []mcrm.FieldError{{Field: "Authorization", Code: "dpop_bound", Message: "present this token with the DPoP scheme"}}}
	errUnboundToken = &mcrm.Error{Code: mcrm.EUnauthorized, Message: "the token is not bound to a key: use the Bearer scheme",
		Fields: []mcrm.FieldError{{Field: "Authorization", Code: "not_dpop_bound", Message: "present this token with the Bearer scheme"}}}
	errCookieAsBearer = mcrm.Errorf(mcrm.EUnauthorized, "invalid or expired token")
	errCSRF           = &mcrm.Error{Code: mcrm.EForbidden, Message: "cross-site request refused",
		Fields: []mcrm.FieldError{{Field: csrfHeader, Code: "csrf", Message: "send the session's CSRF token in the X-CSRF-Token header from the same origin"}}}
	errEnrolFirst = &mcrm.Error{Code: mcrm.EForbidden, Message: "enrol a second factor first",
		Fields: []mcrm.FieldError{{Field: "session", Code: "enrolment_required", Message: "this session may only enrol a second factor"}}}
)

// authn resolves the request's credentials to a session: an access token
// (Bearer, or DPoP with a proof of the key it is bound to, RFC 9449) or
// the browser cookie with its CSRF token. Nothing later in the request
// reads credentials again.
func (s *Server) authn(allowEnrol bool, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.resolve(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if sess.Stage != sqlstore.StageFull && !allowEnrol {
			s.writeError(w, r, errEnrolFirst)
			return
		}
		p := &sess.Principal
		if err := s.resolveRole(r, p); err != nil {
			s.writeError(w, r, err)
			return
		}
		if ip, err := netip.ParseAddr(clientIP(r)); err == nil {
			p.IP = ip
			if err := s.sessionMoved(r, sess, ip); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		ctx := context.WithValue(r.Context(), keyPrincipal, p)
		ctx = context.WithValue(ctx, keySession, sess)
		next(w, r.WithContext(ctx))
	}
}

func (s *Server) resolve(r *http.Request) (*sqlstore.Session, error) {
	authz := r.Header.Get("Authorization")
	if authz == "" {
		c, err := r.Cookie(sessionCookie)
		if err != nil || c.Value == "" {
			return nil, errNoCredentials
		}
		sess, err := s.db.Authenticate(r.Context(), c.Value)
		if err != nil {
			return nil, err
		}
		if sess.Kind != sqlstore.SessionCookie {
			return nil, errCookieAsBearer
		}
		if !safeMethod(r.Method) && !s.sameOrigin(r, sess) {
			return nil, errCSRF
		}
		return sess, nil
	}
	// The scheme name is case-insensitive (RFC 9110 §11.1): some HTTP
	// stacks send "bearer".
	scheme, token, _ := strings.Cut(authz, " ")
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, errNoCredentials
	}
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		sess, err := s.db.Authenticate(r.Context(), token)
		if err != nil {
			return nil, err
		}
		if sess.Kind == sqlstore.SessionCookie {
			return nil, errCookieAsBearer
		}
		if sess.JKT != "" {
			// RFC 9449 §7.1: a bound token sent as a bearer token is
			// refused, or a thief would simply drop the proof.
			return nil, errBoundToken
		}
		return sess, nil
	case strings.EqualFold(scheme, "DPoP"):
		proof, err := s.proofHeader(r)
		if err != nil {
			return nil, err
		}
		// The proof is checked first: it costs a signature check but
		// no database read, and a request without a valid one learns
		// nothing about the token.
		jkt, err := s.dpop.VerifyContext(r.Context(), proof, r.Method, s.requestURL(r), token)
		if err != nil {
			return nil, err
		}
		sess, err := s.db.Authenticate(r.Context(), token)
		if err != nil {
			return nil, err
		}
		if sess.JKT == "" || sess.Kind == sqlstore.SessionCookie {
			return nil, errUnboundToken
		}
		if subtle.ConstantTimeCompare([]byte(sess.JKT), []byte(jkt)) != 1 {
			return nil, sqlstore.ErrKeyMismatch
		}
		return sess, nil
	}
	return nil, errNoCredentials
}

// proofHeader returns the single DPoP header of r ("" when absent); two
// are refused (RFC 9449 §4.3).
func (s *Server) proofHeader(r *http.Request) (string, error) {
	vs := r.Header.Values("DPoP")
	switch len(vs) {
	case 0:
		return "", &mcrm.Error{Code: mcrm.EUnauthorized, Message: "DPoP proof required",
			Fields: []mcrm.FieldError{{Field: "DPoP", Code: dpop.CodeInvalidProof, Message: "missing DPoP header"}}}
	case 1:
		return vs[0], nil
	}
	return "", &mcrm.Error{Code: mcrm.EUnauthorized, Message: "invalid DPoP proof",
		Fields: []mcrm.FieldError{{Field: "DPoP", Code: dpop.CodeInvalidProof, Message: "more than one DPoP header"}}}
}

// requestURL is the URL a DPoP proof must name: the configured public
// base URL and the request path. Without a configured one the request's
// own host is used (single-host installs); behind a proxy configure it.
func (s *Server) requestURL(r *http.Request) string {
	base := s.publicURL()
	if base == "" {
		base = "https://" + r.Host
	}
	return strings.TrimSuffix(base, "/") + r.URL.EscapedPath()
}

func (s *Server) publicURL() string {
	if v := s.public.Load(); v != nil {
		return *v
	}
	return s.cfg.PublicURL
}

// SetPublicURL sets the base URL clients reach the server at, for DPoP
// and browser origin checks, when it is known only after the listener
// started (tests on a random port).
func (s *Server) SetPublicURL(u string) { s.public.Store(&u) }

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// sameOrigin is the CSRF defence of cookie sessions: the per-session
// token in a header (a cross-site form cannot set headers, and a
// cross-origin script cannot read the token), and the browser's own
// Sec-Fetch-Site and Origin when it sends them.
func (s *Server) sameOrigin(r *http.Request, sess *sqlstore.Session) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		want := s.publicURL()
		if want == "" {
			want = "https://" + r.Host
		}
		if !strings.EqualFold(strings.TrimSuffix(want, "/"), o) {
			return false
		}
	}
	return sess.CheckCSRF(r.Header.Get(csrfHeader))
}

// errStepUp is the answer to a sensitive operation without a recent
// strong authentication (AUTH-09, RFC 9470).
var errStepUp = mcrm.Errorf(mcrm.EStepUpRequired, "this operation needs a strong authentication in the last 5 minutes: POST /api/v1/auth/step-up")

// stepUp refuses a sensitive operation unless the session authenticated
// strongly (second factor or passkey) within mcrm.StepUpMaxAge.
func (s *Server) stepUp(r *http.Request) error {
	if !principal(r.Context()).StrongAuthWithin(s.now(), mcrm.StepUpMaxAge) {
		return errStepUp
	}
	return nil
}

// now is the server's clock for its own time rules (step-up).
func (s *Server) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

// sessionMoved handles a request from another address than the session's
// previous one (AUTH-13). It never signs the user out: a move to another
// network is recorded (session_ip_change), and a move to another country
// within minutes also ends the step-up window. A move inside the same
// network is not even recorded.
func (s *Server) sessionMoved(r *http.Request, sess *sqlstore.Session, ip netip.Addr) error {
	prev, err := netip.ParseAddr(sess.LastIP)
	if err != nil || prev == ip {
		return nil
	}
	now := time.Now()
	change := s.risk.SessionIPChange(prev, now, ip, now)
	if len(change.Signals) == 0 {
		return nil
	}
	names := make([]string, len(change.Signals))
	for i, sig := range change.Signals {
		names[i] = sig.Name
	}
	ev := s.event(r, "session_ip_change", "success")
	ev.TenantID, ev.Actor = sess.Principal.TenantID, sess.Principal.UserID
	ev.Detail = "signals=" + strings.Join(names, ",") + " risk_delta=" + strconv.Itoa(change.RiskDelta) + " step_up=" + strconv.FormatBool(change.StepUp)
	if err := s.db.SessionMoved(r.Context(), sess.Principal.TenantID, sess.Principal.SessionID, ip.String(), change.StepUp, ev); err != nil {
		return err
	}
	if change.StepUp {
		sess.Principal.AuthTime = time.Time{}
	}
	return nil
}
