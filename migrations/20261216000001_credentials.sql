-- Open Badges 3.0 credentials: what a holder reached, signed by their territory, verifiable by
-- anyone without calling the territory.

-- A territory's Ed25519 keys. One signs at a time; a retired key signs no more but stays
-- published, so that what it signed still verifies. The secret half is stored sealed with the
-- service's key (PORTFOLIO_LINK_KEY): a copy of the database alone cannot sign.
CREATE TABLE credential_keys (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    id            uuid NOT NULL,
    public_key    bytea NOT NULL CONSTRAINT credential_keys_public_key_length CHECK (length(public_key) = 32),
    sealed_secret bytea NOT NULL CONSTRAINT credential_keys_sealed_secret_length CHECK (length(sealed_secret) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    retired_at    timestamptz,
    PRIMARY KEY (tenant_id, id)
);
-- At most one key signs.
CREATE UNIQUE INDEX credential_keys_signing_key ON credential_keys (tenant_id) WHERE retired_at IS NULL;
SELECT enable_tenant_isolation('credential_keys');

-- A credential as it was handed out: its compact JWS is kept whole, so that a second download
-- gives the same bytes and the verification page finds what was signed; it is forgotten (NULL)
-- when the person's data is erased, as it may name them. The holder's copy still verifies. `status_index` is its
-- bit in the territory's Bitstring Status List (drawn at random, as the specification advises, so
-- that its position says nothing of when it was issued).
CREATE TABLE credentials (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    id             uuid NOT NULL,
    beneficiary_id uuid NOT NULL,
    achievement    text NOT NULL CONSTRAINT credentials_achievement_format CHECK (achievement ~ '^[a-z0-9][a-z0-9.-]{0,80}$'),
    name           text NOT NULL CONSTRAINT credentials_name_length CHECK (char_length(name) BETWEEN 1 AND 300),
    subject_kind   text NOT NULL CONSTRAINT credentials_subject_kind_known CHECK (subject_kind IN ('pseudonym', 'email', 'name')),
    -- For an email: a keyed digest of it (the service's key), so that asking again with the same
    -- address gives the same credential without the address being stored.
    subject_digest bytea,
    key_id         uuid NOT NULL,
    status_index   integer NOT NULL CONSTRAINT credentials_status_index_range CHECK (status_index >= 0),
    issued_at      timestamptz NOT NULL,
    compact_jws    text,
    revoked_at     timestamptz,
    revoked_reason text CONSTRAINT credentials_revoked_reason_length CHECK (char_length(revoked_reason) <= 500),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT credentials_status_index_key UNIQUE (tenant_id, status_index),
    CONSTRAINT credentials_beneficiary_fkey FOREIGN KEY (tenant_id, beneficiary_id) REFERENCES beneficiaries (tenant_id, id),
    CONSTRAINT credentials_key_fkey FOREIGN KEY (tenant_id, key_id) REFERENCES credential_keys (tenant_id, id),
    CONSTRAINT credentials_revocation_whole CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
CREATE INDEX credentials_beneficiary_idx ON credentials (tenant_id, beneficiary_id, achievement);
SELECT enable_tenant_isolation('credentials');
