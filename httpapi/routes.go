package httpapi

import (
	"net/http"

	"mcrm"
)

// route is one operation of the API: a ServeMux pattern "METHOD /path" and
// its handler.
type route struct {
	pattern string
	handler http.HandlerFunc
}

// routeTable lists every operation of the API; nothing else registers one.
// Registration and Routes() both read this one list, so the OpenAPI test
// compares the document with exactly what the mux serves.
func (s *Server) routeTable() []route {
	rs := []route{
		{"GET /healthz", s.healthz},
		{"GET /readyz", s.readyz},
		{"GET /api/v1/openapi.json", s.openapi},

		{"POST /api/v1/auth/login", s.login},
		{"POST /api/v1/auth/login/mfa", s.loginMFA},
		{"POST /api/v1/auth/refresh", s.refresh},
		{"POST /api/v1/auth/logout", s.enrolling(s.logout)},
		{"POST /api/v1/auth/step-up", s.authenticated(s.stepUpTOTP)},
		{"GET /api/v1/auth/sessions", s.authenticated(s.listSessions)},
		{"DELETE /api/v1/auth/sessions/{id}", s.authenticated(s.revokeOwnSession)},
		{"DELETE /api/v1/users/{id}/sessions", s.authenticated(s.revokeUserSessions)},
		{"GET /api/v1/me", s.enrolling(s.me)},
	}
	rs = append(rs, s.factorRoutes()...)
	rs = append(rs, s.accountRoutes()...)
	rs = append(rs, s.accessRoutes()...)
	for _, e := range mcrm.Entities {
		base := "/api/v1/" + e.Name
		rs = append(rs,
			route{"GET " + base, s.authenticated(s.listRecords(e))},
			route{"POST " + base, s.authenticated(s.createRecord(e))},
			route{"GET " + base + "/{id}", s.authenticated(s.getRecord(e))},
			route{"PATCH " + base + "/{id}", s.authenticated(s.updateRecord(e))},
			route{"DELETE " + base + "/{id}", s.authenticated(s.deleteRecord(e))},
			route{"POST " + base + "/{id}/restore", s.authenticated(s.restoreRecord(e))},
		)
		if e.Owned {
			rs = append(rs, route{"POST " + base + "/{id}/transfer", s.authenticated(s.transferRecord(e))})
		}
	}
	return append(rs,
		route{"POST /api/v1/leads/{id}/convert", s.authenticated(s.convertLead)},
		route{"POST /api/v1/imports/{entity}", s.authenticated(s.importFile)},
		route{"GET /api/v1/exports/{entity}", s.authenticated(s.exportFile)},
	)
}

// routes builds the mux from routeTable.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routeTable() {
		mux.HandleFunc(rt.pattern, rt.handler)
	}
	// Requests that match no route get a problem document instead of the
	// mux's plain text: 404 for an unknown path, 405 with Allow for a known
	// path asked with another method. The mux decides which (it knows the
	// methods of each path); its answer is captured, not sent.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		probe := &headerProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		if probe.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", probe.header.Get("Allow"))
			s.writeError(w, r, mcrm.Errorf(mcrm.EMethodNotAllowed, "method not allowed on this path"))
			return
		}
		s.writeError(w, r, mcrm.Errorf(mcrm.ENotFound, "no such route"))
	})
}

// headerProbe records the status and headers a handler would send.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header         { return p.header }
func (p *headerProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *headerProbe) WriteHeader(code int)        { p.status = code }

// Routes returns the pattern "METHOD /path" of every operation the API
// serves, in registration order. Building the table only creates handler
// closures, so a zero Server is enough and nothing is started.
func Routes() []string {
	table := (&Server{}).routeTable()
	out := make([]string, len(table))
	for i, rt := range table {
		out[i] = rt.pattern
	}
	return out
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 only while the database answers, so a load balancer
// stops sending traffic to a node that lost it (and during shutdown).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		s.writeError(w, r, mcrm.Errorf(mcrm.EUnavailable, "shutting down"))
		return
	}
	if err := s.db.Ping(r.Context()); err != nil {
		s.writeError(w, r, mcrm.Errorf(mcrm.EUnavailable, "database unavailable"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
