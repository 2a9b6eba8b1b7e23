-- Signing in through the territory's OpenID Connect provider.
--
-- An identity of the provider (its issuer and the `sub` it gives a person) linked to a user of
-- the tenant, at that person's first sign-in through it. The key holds the tenant: the same
-- identity linked in another territory is another row of that territory, and a lookup under
-- row-level security never sees it. A user has at most one identity per issuer.
CREATE TABLE user_identities (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    issuer    text NOT NULL CONSTRAINT user_identities_issuer_length CHECK (char_length(issuer) BETWEEN 8 AND 500),
    subject   text NOT NULL CONSTRAINT user_identities_subject_length CHECK (char_length(subject) BETWEEN 1 AND 255),
    user_id   uuid NOT NULL,
    linked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, issuer, subject),
    CONSTRAINT user_identities_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE UNIQUE INDEX user_identities_user_key ON user_identities (tenant_id, user_id, issuer);
SELECT enable_tenant_isolation('user_identities');

-- How a session was opened: with the password (then the second factor applies) or through the
-- provider, whose ID token is kept until sign-out to end the provider's session too
-- (`id_token_hint`).
ALTER TABLE web_sessions ADD COLUMN opened_by text NOT NULL DEFAULT 'password'
    CONSTRAINT web_sessions_opened_by_known CHECK (opened_by IN ('password', 'identity_provider'));
ALTER TABLE web_sessions ADD COLUMN provider_id_token text
    CONSTRAINT web_sessions_provider_id_token_length CHECK (char_length(provider_id_token) <= 16384);
ALTER TABLE web_sessions ADD CONSTRAINT web_sessions_provider_id_token_origin
    CHECK (provider_id_token IS NULL OR opened_by = 'identity_provider');
