package httpapi

import "net/http"

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {}
