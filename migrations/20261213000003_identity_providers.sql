-- A territory's OpenID Connect provider, through which its agents sign in without a password of
-- this service (ProConnect, the State's federation for public agents, is the usual one). The
-- client secret is a credential: under row-level security, written, never read back by the API.
CREATE TABLE identity_providers (
    tenant_id     uuid PRIMARY KEY REFERENCES tenants (id),
    -- The button's name on the sign-in page, e.g. « ProConnect ».
    label         text NOT NULL CONSTRAINT identity_providers_label_length CHECK (char_length(label) BETWEEN 1 AND 60),
    issuer        text NOT NULL CONSTRAINT identity_providers_issuer_length CHECK (char_length(issuer) BETWEEN 8 AND 500),
    client_id     text NOT NULL CONSTRAINT identity_providers_client_id_length CHECK (char_length(client_id) BETWEEN 1 AND 200),
    client_secret text NOT NULL CONSTRAINT identity_providers_client_secret_length CHECK (char_length(client_secret) BETWEEN 1 AND 500),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
SELECT enable_tenant_isolation('identity_providers');

-- Which addresses may sign in through it, for which role: an invited user whose address ends in
-- one of the role's domains (and, for a prescriber agent, of their own organisation's). Removed
-- with the provider, by the code that removes it.
CREATE TABLE identity_provider_domains (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    id            uuid NOT NULL,
    domain        text NOT NULL CONSTRAINT identity_provider_domains_domain_format
                      CHECK (domain ~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$'),
    role          text NOT NULL CONSTRAINT identity_provider_domains_role_known
                      CHECK (role IN ('tenant_admin', 'prescriber', 'epn', 'finance', 'funder')),
    prescriber_id uuid,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT identity_provider_domains_prescriber_fkey FOREIGN KEY (tenant_id, prescriber_id) REFERENCES prescribers (tenant_id, id),
    CONSTRAINT identity_provider_domains_prescriber_role CHECK (prescriber_id IS NULL OR role = 'prescriber')
);
CREATE UNIQUE INDEX identity_provider_domains_key
    ON identity_provider_domains (tenant_id, domain, role, coalesce(prescriber_id, '00000000-0000-0000-0000-000000000000'));
SELECT enable_tenant_isolation('identity_provider_domains');
