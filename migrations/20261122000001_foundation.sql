-- Foundation: tenants, the operator's own accounts, users, API tokens and idempotency keys.
--
-- Conventions every later migration follows (checked by the schema test in services/core):
-- * a tenant-owned table has `tenant_id` leading its primary key, every unique key and every index;
-- * foreign keys between tenant-owned tables are composite `(tenant_id, x_id)`;
-- * `SELECT enable_tenant_isolation('table')` turns on RLS (ENABLE + FORCE), adds the policy and
--   grants the application role its rights. The policy fails closed: with no tenant set, nothing
--   is visible and nothing can be written.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'passerelle_app') THEN
        RAISE EXCEPTION 'the role passerelle_app is missing: create it before migrating (see infra/local/postgres.sh)';
    END IF;
END
$$;

GRANT SELECT ON _sqlx_migrations TO passerelle_app;

CREATE FUNCTION enable_tenant_isolation(tbl regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
    EXECUTE format(
        'CREATE POLICY tenant_isolation ON %s '
        'USING (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid) '
        'WITH CHECK (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid)',
        tbl);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO passerelle_app', tbl);
END
$$;
REVOKE ALL ON FUNCTION enable_tenant_isolation(regclass) FROM PUBLIC;

-- The tenant registry itself is not tenant-owned: the platform admin lists it, and a tenant's
-- own settings (time zone, sender) are read through it.
CREATE TABLE tenants (
    id           uuid PRIMARY KEY,
    slug         text NOT NULL CONSTRAINT tenants_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    name         text NOT NULL CONSTRAINT tenants_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    kind         text NOT NULL CONSTRAINT tenants_kind_known CHECK (kind IN ('departement', 'region')),
    insee_code   text NOT NULL CONSTRAINT tenants_insee_code_format CHECK (insee_code ~ '^([0-9]{2,3}|2A|2B)$'),
    time_zone    text NOT NULL DEFAULT 'Europe/Paris',
    sender_name  text NOT NULL,
    sender_email text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenants_slug_key UNIQUE (slug),
    CONSTRAINT tenants_kind_insee_code_key UNIQUE (kind, insee_code)
);
GRANT SELECT, INSERT, UPDATE ON tenants TO passerelle_app;

-- The operator's accounts: they belong to no tenant.
CREATE TABLE platform_admins (
    id           uuid PRIMARY KEY,
    email        text NOT NULL,
    display_name text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX platform_admins_email_key ON platform_admins (lower(email));

CREATE TABLE platform_tokens (
    id           uuid PRIMARY KEY,
    admin_id     uuid NOT NULL REFERENCES platform_admins (id) ON DELETE CASCADE,
    name         text NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz
);

CREATE TABLE platform_idempotency_keys (
    key              text PRIMARY KEY,
    fingerprint      bytea NOT NULL,
    state            text NOT NULL CHECK (state IN ('running', 'completed')),
    response_status  smallint,
    response_headers jsonb,
    response_body    bytea,
    created_at       timestamptz NOT NULL DEFAULT now(),
    locked_until     timestamptz NOT NULL
);
CREATE INDEX platform_idempotency_keys_created_at_idx ON platform_idempotency_keys (created_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON platform_admins, platform_tokens, platform_idempotency_keys TO passerelle_app;

-- Prescriber organisations and EPNs: the anchors prescriber and EPN users are bound to.
-- Later migrations add their business columns.
CREATE TABLE prescribers (
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    id         uuid NOT NULL,
    name       text NOT NULL CONSTRAINT prescribers_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    kind       text NOT NULL CONSTRAINT prescribers_kind_known CHECK (kind IN
                   ('caf', 'cpam', 'france_travail', 'ccas', 'mission_locale', 'association', 'employer', 'other')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
SELECT enable_tenant_isolation('prescribers');

CREATE TABLE epns (
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    id         uuid NOT NULL,
    name       text NOT NULL CONSTRAINT epns_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
SELECT enable_tenant_isolation('epns');

CREATE TABLE users (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    id            uuid NOT NULL,
    email         text NOT NULL,
    display_name  text NOT NULL CONSTRAINT users_display_name_length CHECK (char_length(display_name) BETWEEN 1 AND 200),
    role          text NOT NULL CONSTRAINT users_role_known CHECK (role IN ('tenant_admin', 'prescriber', 'epn', 'finance', 'funder')),
    prescriber_id uuid,
    epn_id        uuid,
    disabled_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT users_prescriber_fkey FOREIGN KEY (tenant_id, prescriber_id) REFERENCES prescribers (tenant_id, id),
    CONSTRAINT users_epn_fkey FOREIGN KEY (tenant_id, epn_id) REFERENCES epns (tenant_id, id),
    CONSTRAINT users_prescriber_binding CHECK ((role = 'prescriber') = (prescriber_id IS NOT NULL)),
    CONSTRAINT users_epn_binding CHECK ((role = 'epn') = (epn_id IS NOT NULL))
);
CREATE UNIQUE INDEX users_email_key ON users (tenant_id, lower(email));
CREATE INDEX users_prescriber_idx ON users (tenant_id, prescriber_id);
CREATE INDEX users_epn_idx ON users (tenant_id, epn_id);
SELECT enable_tenant_isolation('users');

CREATE TABLE api_tokens (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL,
    user_id      uuid NOT NULL,
    name         text NOT NULL CONSTRAINT api_tokens_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    token_hash   bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT api_tokens_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT api_tokens_token_hash_key UNIQUE (tenant_id, token_hash)
);
CREATE INDEX api_tokens_user_idx ON api_tokens (tenant_id, user_id);
SELECT enable_tenant_isolation('api_tokens');

CREATE TABLE idempotency_keys (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    key              text NOT NULL,
    fingerprint      bytea NOT NULL,
    state            text NOT NULL CHECK (state IN ('running', 'completed')),
    response_status  smallint,
    response_headers jsonb,
    response_body    bytea,
    created_at       timestamptz NOT NULL DEFAULT now(),
    locked_until     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (tenant_id, created_at);
SELECT enable_tenant_isolation('idempotency_keys');
