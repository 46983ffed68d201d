-- A tenant's authentication policy (mcrm.AuthPolicy) as JSON. A tenant
-- without a row uses mcrm.DefaultAuthPolicy, so new rules reach existing
-- tenants with their secure default.
CREATE TABLE auth_policies (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
    policy TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);
