-- Login history for risk assessment (AUTH-15), purpose "fraud" (PRV-05).
-- One row per login attempt that reached the risk rules, with the decision
-- and the signals behind it, so every decision can be explained later.
--
-- Personal data is minimised: the table holds no IP address, network
-- prefix or device identifier. ip_hash, network and device_key are
-- HMAC-SHA-256 values (128 bits, base64url) under a server key and the
-- tenant id (risk.Evaluator.Observe): the rules only test equality
-- ("seen before?"), and without the key the values cannot be reversed or
-- linked across tenants (a plain hash of an IPv4 address could be, by
-- hashing all 2^32). What stays readable is coarse: the country code and
-- the position rounded to a tenth of a degree (about 11 km, GeoIP's own
-- accuracy at best), which impossible_travel needs as numbers. Rows older
-- than the risk window (90 days) are deleted by PruneLoginHistory.
--
-- lat and lon are BIGINT tenths of a degree (NULL when the database had
-- no position); radius_km is the GeoIP accuracy radius; asn 0 = unknown.
-- signals is the JSON array of {name, detail}.
CREATE TABLE login_history (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    at TEXT NOT NULL,
    ip_hash TEXT NOT NULL,
    network TEXT NOT NULL,
    device_key TEXT NOT NULL,
    country TEXT NOT NULL,
    lat BIGINT,
    lon BIGINT,
    radius_km BIGINT NOT NULL,
    asn BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    level TEXT NOT NULL,
    signals TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
);
-- The baseline query: one user's successful logins, newest first.
CREATE INDEX login_history_user ON login_history (tenant_id, user_id, outcome, at);
-- Retention pruning across tenants.
CREATE INDEX login_history_at ON login_history (at);
