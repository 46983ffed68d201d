-- Sessions become token families (AUTH-05..AUTH-08): one row per sign-in,
-- its tokens in session_tokens. The foundation's single-token sessions
-- are dropped, so every user signs in again after this upgrade; that is
-- the safe direction and no other table refers to them.
--   kind: token (API and mobile: access + rotating refresh tokens) or
--         cookie (browser: one __Host- cookie and a CSRF token).
--   stage: mfa (password accepted, second factor pending: only the mfa
--         token exists), enrol (a second factor is required and none is
--         enrolled: the access token reaches only enrolment), full.
--   jkt: RFC 7638 thumbprint of the DPoP key every token of the session
--         is bound to; NULL for unbound sessions.
--   csrf_hash: SHA-256 of the CSRF token of a cookie session.
--   amr: space-separated methods (pwd, otp, rec, hwk, swk, user).
--   strong_at: last strong authentication (second factor or passkey):
--         the step-up clock.
--   idle_seconds, expires_at: the tenant's limits for the user's role at
--         sign-in time.
--   last_ip, user_agent: shown to the user in their session list.
DROP TABLE sessions;
CREATE TABLE sessions (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('token', 'cookie')),
    stage TEXT NOT NULL CHECK (stage IN ('mfa', 'enrol', 'full')),
    jkt TEXT,
    csrf_hash TEXT,
    amr TEXT NOT NULL,
    auth_time TEXT NOT NULL,
    strong_at TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    idle_seconds BIGINT NOT NULL,
    last_seen_at TEXT NOT NULL,
    last_ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    revoked_at TEXT,
    revoked_reason TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
);
CREATE INDEX sessions_user ON sessions (tenant_id, user_id);

-- Tokens are stored as SHA-256 only.
--   kind: access (10 minutes; a cookie session's lives as long as the
--         session), refresh (single use: used_at is set when it is
--         exchanged, and presenting it again revokes the session), mfa
--         (the pending second-factor step, 5 minutes, single use).
CREATE TABLE session_tokens (
    token_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('access', 'refresh', 'mfa')),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    FOREIGN KEY (tenant_id, session_id) REFERENCES sessions(tenant_id, id)
);
CREATE INDEX session_tokens_session ON session_tokens (tenant_id, session_id);
