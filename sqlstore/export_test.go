package sqlstore

// ForgetCachedToken drops one access token from the session cache, so
// the next Authenticate reads the database (for the uncached benchmark).
func (db *DB) ForgetCachedToken(token string) { db.auth.evictToken(TokenHash(token)) }
