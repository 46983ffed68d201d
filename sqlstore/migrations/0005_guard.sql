-- Login throttling, the mail outbox and password reset tokens (issue 3).

-- One row per login attempt that has not (yet) succeeded. A row is written
-- when an attempt is let through, before the password is checked, so
-- concurrent attempts count at once; a success deletes the (account, IP)
-- rows. Counting rows over a rolling window is exact and needs no
-- background roll-over; the rows are tiny and pruned after the longest
-- window (24 h), and refused attempts write nothing, so an attacker cannot
-- grow the table faster than the limits let attempts through.
--
-- account_key is the user id, or a keyed hash of tenant and email for an
-- unknown account; addr_key and net_key are keyed hashes of the IP and its
-- /24 or /64: the table holds no email addresses or IP addresses.
-- tenant_id has no foreign key on purpose: a login naming an unknown
-- tenant is throttled too (under a keyed hash of the name), and the rows
-- expire on their own.
CREATE TABLE auth_failures (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    account_key TEXT NOT NULL,
    addr_key TEXT NOT NULL,
    net_key TEXT NOT NULL,
    at TEXT NOT NULL,
    pending BOOLEAN NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX auth_failures_account ON auth_failures (tenant_id, account_key, at);
-- Covering, so the distinct-accounts count reads the index alone.
CREATE INDEX auth_failures_net ON auth_failures (net_key, at, tenant_id, account_key);
CREATE INDEX auth_failures_at ON auth_failures (at);

-- Mail written in the same transaction as the change that causes it and
-- delivered afterwards by a worker. The message (recipient, subject, body)
-- is sealed: a reset mail carries a live token, and the outbox must not be
-- a second place to read one. The sealed payload is erased once sent or
-- given up. expires_at, when set, is when a message stops being worth
-- sending (a reset mail after its token expired).
CREATE TABLE mail_outbox (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    expires_at TEXT,
    attempts BIGINT NOT NULL,
    last_error TEXT NOT NULL,
    sent_at TEXT,
    failed_at TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

-- Password reset tokens, looked up by the SHA-256 of the token; the token
-- itself is only in the (sealed) mail.
CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
);
CREATE INDEX password_resets_user ON password_resets (tenant_id, user_id, created_at);
