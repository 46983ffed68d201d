package httpapi

// accountRoutes are password change and reset, and the tenant's
// authentication policy.
func (s *Server) accountRoutes() []route { return nil }

// accountPaths documents accountRoutes in the OpenAPI document.
func accountPaths(paths, schemas obj) {}
