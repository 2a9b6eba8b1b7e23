-- Accounts for the browser portal, next to the API tokens that stay for machines: a password kept
-- as an argon2id PHC string, the failed sign-ins in a row and the lock they lead to, and sessions
-- held here, the cookie carrying only a random secret whose hash is stored (as tokens are).
ALTER TABLE users
    ADD COLUMN password_hash   text,
    ADD COLUMN failed_sign_ins integer NOT NULL DEFAULT 0,
    ADD COLUMN locked_until    timestamptz;

CREATE TABLE web_sessions (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL,
    user_id      uuid NOT NULL,
    secret_hash  bytea NOT NULL,
    -- Sent back by every form of the session (synchroniser token pattern).
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    ended_at     timestamptz,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT web_sessions_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE UNIQUE INDEX web_sessions_secret_key ON web_sessions (tenant_id, secret_hash);
CREATE INDEX web_sessions_user_idx ON web_sessions (tenant_id, user_id);
SELECT enable_tenant_isolation('web_sessions');
