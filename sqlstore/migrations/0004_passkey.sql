-- Passkeys (WebAuthn). Challenges live server side so a client can neither
-- choose nor replay one: each row is consumed by a single conditional
-- UPDATE (used_at IS NULL AND expires_at > now), so two requests carrying
-- the same challenge cannot both pass. user_id is empty for a passwordless
-- (discoverable) login, where the user is known only from the assertion.
CREATE TABLE auth_challenges (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    user_id TEXT,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
);
CREATE INDEX auth_challenges_expires ON auth_challenges (expires_at);

-- Registered WebAuthn credentials. credential_id is the authenticator's
-- credential id (base64url), unique per tenant so one key cannot be bound
-- to two accounts; data is go-webauthn's Credential record as JSON (public
-- key, AAGUID, flags, transports: nothing secret). sign_count and
-- backup_eligible are columns because the login path compares and swaps
-- them atomically.
CREATE TABLE webauthn_credentials (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    credential_id TEXT NOT NULL,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    sign_count BIGINT NOT NULL,
    backup_eligible BOOLEAN NOT NULL,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
);
CREATE UNIQUE INDEX webauthn_credentials_credential_id ON webauthn_credentials (tenant_id, credential_id);
CREATE INDEX webauthn_credentials_user ON webauthn_credentials (tenant_id, user_id);
