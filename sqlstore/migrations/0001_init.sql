-- mcrm schema, version 1. One file for SQLite and PostgreSQL: only types
-- both accept (TEXT, BIGINT, BOOLEAN), partial indexes and composite foreign
-- keys. Every table carries tenant_id, is keyed by (tenant_id, id), and every
-- reference is a composite (tenant_id, x) foreign key, so the database itself
-- refuses a link to another tenant's record. Instants are TEXT in the fixed
-- width UTC form 2006-01-02T15:04:05.000000Z (sortable as text on both
-- databases); money is BIGINT minor units; lists are JSON text.

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    default_region TEXT NOT NULL,
    default_currency TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- users comes before teams because teams reference their manager; the
-- reverse link users.team_id is checked by the store in the same transaction
-- (PostgreSQL cannot create two tables that reference each other in one
-- statement, and SQLite cannot add a constraint afterwards).
CREATE TABLE users (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    team_id TEXT,
    time_zone TEXT,
    active BOOLEAN,
    deleted_at TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX users_email ON users (tenant_id, email) WHERE deleted_at IS NULL;
CREATE INDEX users_name ON users (tenant_id, name);
CREATE INDEX users_team_id ON users (tenant_id, team_id);

CREATE TABLE teams (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    name TEXT NOT NULL,
    parent_team_id TEXT,
    manager_id TEXT,
    deleted_at TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, parent_team_id) REFERENCES teams(tenant_id, id),
    FOREIGN KEY (tenant_id, manager_id) REFERENCES users(tenant_id, id)
);
CREATE UNIQUE INDEX teams_name ON teams (tenant_id, name) WHERE deleted_at IS NULL;
CREATE INDEX teams_parent_team_id ON teams (tenant_id, parent_team_id);
CREATE INDEX teams_manager_id ON teams (tenant_id, manager_id);

CREATE TABLE products (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    name TEXT NOT NULL,
    code TEXT,
    family TEXT,
    price BIGINT,
    currency TEXT,
    active BOOLEAN,
    description TEXT,
    deleted_at TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX products_name ON products (tenant_id, name) WHERE deleted_at IS NULL;

CREATE TABLE pipelines (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    name TEXT NOT NULL,
    is_default BOOLEAN,
    stages TEXT,
    deleted_at TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX pipelines_name ON pipelines (tenant_id, name) WHERE deleted_at IS NULL;

CREATE TABLE accounts (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    name TEXT NOT NULL,
    parent_id TEXT,
    industry TEXT,
    website TEXT,
    phones TEXT,
    employees BIGINT,
    annual_revenue BIGINT,
    currency TEXT,
    year_established BIGINT,
    country TEXT,
    city TEXT,
    external_id TEXT,
    description TEXT,
    deleted_at TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES users(tenant_id, id),
    FOREIGN KEY (tenant_id, parent_id) REFERENCES accounts(tenant_id, id)
);
CREATE INDEX accounts_owner ON accounts (tenant_id, owner_id);
CREATE INDEX accounts_name ON accounts (tenant_id, name);
CREATE INDEX accounts_parent_id ON accounts (tenant_id, parent_id);
CREATE UNIQUE INDEX accounts_external_id ON accounts (tenant_id, external_id) WHERE external_id IS NOT NULL AND deleted_at IS NULL;

CREATE TABLE contacts (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    first_name TEXT,
    last_name TEXT NOT NULL,
    account_id TEXT,
    company TEXT,
    title TEXT,
    emails TEXT,
    phones TEXT,
    street TEXT,
    city TEXT,
    region TEXT,
    postal_code TEXT,
    country TEXT,
    website TEXT,
    birthday TEXT,
    subscribed_on TEXT,
    external_id TEXT,
    notes TEXT,
    deleted_at TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES users(tenant_id, id),
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts(tenant_id, id)
);
CREATE INDEX contacts_owner ON contacts (tenant_id, owner_id);
CREATE INDEX contacts_account_id ON contacts (tenant_id, account_id);
CREATE UNIQUE INDEX contacts_external_id ON contacts (tenant_id, external_id) WHERE external_id IS NOT NULL AND deleted_at IS NULL;

CREATE TABLE opportunities (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    name TEXT NOT NULL,
    account_id TEXT,
    pipeline_id TEXT,
    stage TEXT,
    amount BIGINT,
    currency TEXT,
    probability BIGINT,
    expected_close_date TEXT,
    engage_date TEXT,
    close_date TEXT,
    line_items TEXT,
    external_id TEXT,
    description TEXT,
    deleted_at TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES users(tenant_id, id),
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts(tenant_id, id),
    FOREIGN KEY (tenant_id, pipeline_id) REFERENCES pipelines(tenant_id, id)
);
CREATE INDEX opportunities_owner ON opportunities (tenant_id, owner_id);
CREATE INDEX opportunities_name ON opportunities (tenant_id, name);
CREATE INDEX opportunities_account_id ON opportunities (tenant_id, account_id);
CREATE INDEX opportunities_pipeline_id ON opportunities (tenant_id, pipeline_id);
CREATE UNIQUE INDEX opportunities_external_id ON opportunities (tenant_id, external_id) WHERE external_id IS NOT NULL AND deleted_at IS NULL;

CREATE TABLE leads (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    first_name TEXT,
    last_name TEXT NOT NULL,
    company TEXT NOT NULL,
    title TEXT,
    emails TEXT,
    phones TEXT,
    status TEXT,
    source TEXT,
    external_id TEXT,
    converted_at TEXT,
    converted_contact_id TEXT,
    converted_account_id TEXT,
    converted_opportunity_id TEXT,
    deleted_at TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES users(tenant_id, id),
    FOREIGN KEY (tenant_id, converted_contact_id) REFERENCES contacts(tenant_id, id),
    FOREIGN KEY (tenant_id, converted_account_id) REFERENCES accounts(tenant_id, id),
    FOREIGN KEY (tenant_id, converted_opportunity_id) REFERENCES opportunities(tenant_id, id)
);
CREATE INDEX leads_owner ON leads (tenant_id, owner_id);
CREATE UNIQUE INDEX leads_external_id ON leads (tenant_id, external_id) WHERE external_id IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX leads_converted_contact_id ON leads (tenant_id, converted_contact_id);
CREATE INDEX leads_converted_account_id ON leads (tenant_id, converted_account_id);
CREATE INDEX leads_converted_opportunity_id ON leads (tenant_id, converted_opportunity_id);

CREATE TABLE activities (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    type TEXT NOT NULL,
    subject TEXT NOT NULL,
    status TEXT,
    due_at TEXT,
    end_at TEXT,
    account_id TEXT,
    contact_id TEXT,
    opportunity_id TEXT,
    description TEXT,
    deleted_at TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES users(tenant_id, id),
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts(tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts(tenant_id, id),
    FOREIGN KEY (tenant_id, opportunity_id) REFERENCES opportunities(tenant_id, id)
);
CREATE INDEX activities_owner ON activities (tenant_id, owner_id);
CREATE INDEX activities_account_id ON activities (tenant_id, account_id);
CREATE INDEX activities_contact_id ON activities (tenant_id, contact_id);
CREATE INDEX activities_opportunity_id ON activities (tenant_id, opportunity_id);

CREATE TABLE cases (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    status TEXT,
    priority TEXT,
    sla_due_at TEXT,
    account_id TEXT,
    contact_id TEXT,
    external_id TEXT,
    description TEXT,
    deleted_at TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES users(tenant_id, id),
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts(tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts(tenant_id, id)
);
CREATE INDEX cases_owner ON cases (tenant_id, owner_id);
CREATE INDEX cases_account_id ON cases (tenant_id, account_id);
CREATE INDEX cases_contact_id ON cases (tenant_id, contact_id);
CREATE UNIQUE INDEX cases_external_id ON cases (tenant_id, external_id) WHERE external_id IS NOT NULL AND deleted_at IS NULL;

CREATE TABLE notes (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    parent_type TEXT NOT NULL,
    parent_id TEXT NOT NULL,
    body TEXT NOT NULL,
    deleted_at TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES users(tenant_id, id)
);
CREATE INDEX notes_owner ON notes (tenant_id, owner_id);
CREATE INDEX notes_parent ON notes (tenant_id, parent_type, parent_id);

-- Secrets bound to a user (password hash today; TOTP seeds and passkeys
-- later). Kept out of the users table so no generic read can reach them.
CREATE TABLE credentials (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, kind),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
);

-- Sessions are looked up by the SHA-256 of the bearer token; the token
-- itself is never stored.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    user_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    revoked_at TEXT,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
);
CREATE INDEX sessions_user ON sessions (tenant_id, user_id);

-- Normalised email addresses and phone numbers of contacts and leads, for
-- exact lookups and duplicate detection without scanning JSON. Maintained by
-- the store in the same transaction as the record. On SQLite the table is
-- its primary key (WITHOUT ROWID): rows are small and written three per
-- imported contact, so one b-tree fewer per row counts.
CREATE TABLE contact_points (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    value_key TEXT NOT NULL,
    PRIMARY KEY (tenant_id, entity, record_id, kind, value_key)
) {{WITHOUT_ROWID}};
CREATE INDEX contact_points_lookup ON contact_points (tenant_id, entity, kind, value_key);

-- Security events, written in the same transaction as the change they
-- describe. Never holds personal values or secrets.
CREATE TABLE security_events (
    id TEXT PRIMARY KEY,
    tenant_id TEXT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    outcome TEXT NOT NULL,
    ip TEXT NOT NULL,
    request_id TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX security_events_tenant ON security_events (tenant_id, at);
