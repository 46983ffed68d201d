package httpapi

import (
	"net/http"

	"mcrm"
)

// routes registers every route of the API; nothing else calls Handle.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /api/v1/openapi.json", s.openapi)

	mux.HandleFunc("POST /api/v1/auth/login", s.login)
	mux.HandleFunc("POST /api/v1/auth/logout", s.authenticated(s.logout))
	mux.HandleFunc("GET /api/v1/me", s.authenticated(s.me))

	for _, e := range mcrm.Entities {
		base := "/api/v1/" + e.Name
		mux.HandleFunc("GET "+base, s.authenticated(s.listRecords(e)))
		mux.HandleFunc("POST "+base, s.authenticated(s.createRecord(e)))
		mux.HandleFunc("GET "+base+"/{id}", s.authenticated(s.getRecord(e)))
		mux.HandleFunc("PATCH "+base+"/{id}", s.authenticated(s.updateRecord(e)))
		mux.HandleFunc("DELETE "+base+"/{id}", s.authenticated(s.deleteRecord(e)))
		mux.HandleFunc("POST "+base+"/{id}/restore", s.authenticated(s.restoreRecord(e)))
		if e.Owned {
			mux.HandleFunc("POST "+base+"/{id}/transfer", s.authenticated(s.transferRecord(e)))
		}
	}
	mux.HandleFunc("POST /api/v1/leads/{id}/convert", s.authenticated(s.convertLead))
	mux.HandleFunc("POST /api/v1/imports/{entity}", s.authenticated(s.importFile))
	mux.HandleFunc("GET /api/v1/exports/{entity}", s.authenticated(s.exportFile))

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, mcrm.Errorf(mcrm.ENotFound, "no such route"))
	})
	return mux
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
