package httpapi

// factorRoutes are the second-factor routes: TOTP, recovery codes and
// passkeys (enrolment, passwordless sign-in, step-up).
func (s *Server) factorRoutes() []route { return nil }

// factorPaths documents factorRoutes in the OpenAPI document.
func factorPaths(paths, schemas obj) {}
