-- A second factor for browser sign-ins (TOTP, RFC 6238): where money moves, a password alone is
-- not enough. API tokens are for machines and are not concerned.
--
-- A user's authenticator secret, under row-level security like every tenant row; `confirmed_at`
-- is set once a code computed from it was typed back (an enrolment not confirmed protects
-- nothing). `last_step` is the time step of the last code accepted: a code is good once.
CREATE TABLE totp_factors (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    user_id      uuid NOT NULL,
    secret       bytea NOT NULL CONSTRAINT totp_factors_secret_length CHECK (octet_length(secret) BETWEEN 16 AND 64),
    created_at   timestamptz NOT NULL DEFAULT now(),
    confirmed_at timestamptz,
    last_step    bigint,
    PRIMARY KEY (tenant_id, user_id),
    CONSTRAINT totp_factors_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
SELECT enable_tenant_isolation('totp_factors');

-- Single-use codes for a lost phone, shown once at enrolment; only their hash is kept.
CREATE TABLE recovery_codes (
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    user_id    uuid NOT NULL,
    code_hash  bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz,
    PRIMARY KEY (tenant_id, user_id, code_hash),
    CONSTRAINT recovery_codes_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
SELECT enable_tenant_isolation('recovery_codes');

-- When the session proved the second factor (NULL: not yet); a money-moving action asks again
-- when this is older than a quarter of an hour.
ALTER TABLE web_sessions ADD COLUMN second_factor_at timestamptz;

-- Wrong codes typed in this session: at five the session ends and the password is asked again
-- (itself slowed down after failures), so a code cannot be guessed by trying them all.
ALTER TABLE web_sessions ADD COLUMN second_factor_failures integer NOT NULL DEFAULT 0;
