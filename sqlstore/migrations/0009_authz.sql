-- Access control (issue 4).
--
-- A user's region places them in a territory: a role with territory scope
-- reaches the records owned by users of the same region.
ALTER TABLE users ADD COLUMN region TEXT;
CREATE INDEX users_region ON users (tenant_id, region);

-- Tenant-defined roles (authz.Role as JSON). The builtin roles live in the
-- binary and cannot be changed; a tenant role may not take a builtin name.
-- version moves on every change so caches can tell a stale copy.
CREATE TABLE roles (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    definition TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- A record shared with a user or a team (exactly one of the two), for
-- reading or editing. The share reaches the record on every path that
-- pushes the scope into SQL.
CREATE TABLE record_shares (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    user_id TEXT,
    team_id TEXT,
    access TEXT NOT NULL CHECK (access IN ('read', 'edit')),
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CHECK ((user_id IS NULL) <> (team_id IS NULL))
);
CREATE UNIQUE INDEX record_shares_grantee ON record_shares (tenant_id, entity, record_id, user_id, team_id);
CREATE INDEX record_shares_user ON record_shares (tenant_id, user_id, entity);
CREATE INDEX record_shares_team ON record_shares (tenant_id, team_id, entity);

-- Account teams: membership gives access to the account and to its
-- contacts, opportunities and cases.
CREATE TABLE account_team (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    account_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    access TEXT NOT NULL CHECK (access IN ('read', 'edit')),
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (tenant_id, account_id, user_id),
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts(tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
);
CREATE INDEX account_team_user ON account_team (tenant_id, user_id);
