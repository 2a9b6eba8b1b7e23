-- A tenant's secrets leave the tenant registry: `tenants` has no row-level security (the operator
-- lists it, every tenant's transactions read their own settings through it), so a query that
-- forgot its WHERE would read every tenant's statistics key and treasury account. They move to
-- `tenant_secrets`, one row per tenant under row-level security like every tenant table, made the
-- first time the tenant needs it.
--
-- The statistics pseudonym becomes HMAC-SHA-256(key, holder id) (pgcrypto's `hmac`): a keyed hash
-- by construction, instead of sha256(key ‖ id).
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE tenant_secrets (
    tenant_id       uuid PRIMARY KEY REFERENCES tenants (id),
    statistics_key  bytea NOT NULL DEFAULT gen_random_bytes(32)
        CONSTRAINT tenant_secrets_statistics_key_length CHECK (length(statistics_key) >= 32),
    treasury_iban   text,
    treasury_bic    text CONSTRAINT tenant_secrets_treasury_bic_format CHECK (treasury_bic ~ '^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$'),
    treasury_holder text
);
INSERT INTO tenant_secrets (tenant_id, statistics_key, treasury_iban, treasury_bic, treasury_holder)
SELECT id, statistics_key, treasury_iban, treasury_bic, treasury_holder FROM tenants;
SELECT enable_tenant_isolation('tenant_secrets');

ALTER TABLE tenants
    DROP COLUMN statistics_key,
    DROP COLUMN treasury_iban,
    DROP COLUMN treasury_bic,
    DROP COLUMN treasury_holder;
