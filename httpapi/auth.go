package httpapi

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"time"

	"mcrm"
	"mcrm/password"
	"mcrm/sqlstore"
)

type loginRequest struct {
	Tenant   string `json:"tenant"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

type loginResponse struct {
	AccessToken string  `json:"access_token"`
	TokenType   string  `json:"token_type"`
	ExpiresIn   int64   `json:"expires_in"`
	User        *object `json:"user"`
}

// newToken returns 256 random bits, base64url: the bearer token. Only its
// SHA-256 is stored.
func newToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

var errBadLogin = mcrm.Errorf(mcrm.EUnauthorized, "invalid tenant, email or password")

// login verifies a password. Unknown tenant, unknown user, deactivated user
// and wrong password give the same status and body, and each path runs one
// argon2id verification, so neither the answer nor its timing tells which.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Tenant == "" || req.Email == "" || req.Password == "" {
		s.writeError(w, r, mcrm.Errorf(mcrm.EInvalid, "tenant, email and password are required"))
		return
	}
	if len(req.Password) > 4*password.MaxLength {
		s.writeError(w, r, mcrm.FieldErr("password", "too_long", "longer than any accepted password"))
		return
	}
	ctx := r.Context()
	ev := sqlstore.Event{Action: "authn_login_fail", Object: "session", Outcome: "failure", IP: clientIP(r), RequestID: requestID(ctx), Actor: "unknown"}
	// unknown answers a login whose tenant or user does not exist after
	// spending one verification, like a wrong password would.
	unknown := func(err error) {
		if err != nil && mcrm.ErrorCode(err) != mcrm.ENotFound {
			s.writeError(w, r, err)
			return
		}
		password.VerifyDummy(ctx)
		_ = s.db.RecordEvent(ctx, ev)
		s.writeError(w, r, errBadLogin)
	}
	t, err := s.db.TenantByName(ctx, req.Tenant)
	if err != nil {
		unknown(err)
		return
	}
	ev.TenantID = t.ID
	u, err := s.db.UserForLogin(ctx, t.ID, req.Email)
	if err != nil || u.PasswordHash == "" {
		unknown(err)
		return
	}
	ev.Actor = u.ID
	rehash, err := password.Verify(ctx, req.Password, u.PasswordHash, password.Default)
	if err != nil || !u.Active {
		ev.Detail = "reason=bad_password"
		if err == nil {
			ev.Detail = "reason=inactive"
		}
		_ = s.db.RecordEvent(ctx, ev)
		s.writeError(w, r, errBadLogin)
		return
	}
	if rehash {
		if h, err := password.Hash(ctx, req.Password, password.Default); err == nil {
			_ = s.db.RehashPassword(ctx, t.ID, u.ID, u.PasswordHash, h)
		}
	}
	token := newToken()
	ev.Action, ev.Outcome, ev.Detail = "authn_login_success", "success", ""
	_, exp, err := s.db.CreateSession(ctx, t.ID, u.ID, token, ev)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p := &mcrm.Principal{TenantID: t.ID, UserID: u.ID, Role: u.Role}
	user, err := s.db.Get(ctx, p, mcrm.EntityByName("users"), u.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := present(p, mcrm.EntityByName("users"), user)
	out.Set("tenant_id", t.ID)
	writeJSON(w, http.StatusOK, loginResponse{AccessToken: token, TokenType: "Bearer", ExpiresIn: int64(time.Until(exp).Seconds()), User: out})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	p := principal(r.Context())
	ev := sqlstore.Event{TenantID: p.TenantID, Actor: p.UserID, SessionID: p.SessionID, Action: "authn_logout", Object: "session", Outcome: "success", IP: clientIP(r), RequestID: requestID(r.Context())}
	if err := s.db.RevokeSession(r.Context(), p, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	p := principal(r.Context())
	users := mcrm.EntityByName("users")
	v, err := s.db.Get(r.Context(), p, users, p.UserID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := present(p, users, v)
	out.Set("tenant_id", p.TenantID)
	writeJSON(w, http.StatusOK, out)
}
