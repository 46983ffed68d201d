-- Authentication factors beside the password: TOTP seeds, recovery codes
-- and (for the passkey layer) WebAuthn credentials, one row each.
--   secret: TOTP: the seed sealed by the store's Sealer (AAD tenant /
--           auth_factors / secret / id), base64; recovery: hex SHA-256 of
--           the normalised code; webauthn: empty.
--   last_step: TOTP: highest RFC 6238 time step accepted, advanced only
--           upwards (UPDATE ... WHERE last_step < $step) so a code is used once.
--   failed_count, throttled_until: wrong codes in a row and the end of the
--           throttle they triggered (5 wrong codes: 15 minutes).
--   confirmed_at: NULL while a TOTP enrolment waits for its first code.
--   last_used_at: recovery: set once when the code is consumed.
--   data: kind-specific JSON (webauthn credential).
CREATE TABLE auth_factors (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('totp', 'recovery', 'webauthn')),
    name TEXT NOT NULL,
    secret TEXT NOT NULL,
    last_step BIGINT NOT NULL,
    failed_count BIGINT NOT NULL,
    throttled_until TEXT,
    confirmed_at TEXT,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    data TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
);
CREATE INDEX auth_factors_user ON auth_factors (tenant_id, user_id, kind);
-- At most one confirmed TOTP per user: login asks for "the" code.
CREATE UNIQUE INDEX auth_factors_one_totp ON auth_factors (tenant_id, user_id) WHERE kind = 'totp' AND confirmed_at IS NOT NULL;
-- Recovery codes are found by their hash.
CREATE UNIQUE INDEX auth_factors_recovery ON auth_factors (tenant_id, user_id, secret) WHERE kind = 'recovery';
