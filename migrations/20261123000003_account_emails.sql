-- Emails about a portal account: the invitation a tenant admin sends to a new user, and the link to
-- choose a new password. Both carry a single-use link whose secret is made when the worker writes
-- the email (so it is never stored in clear): only its hash is kept, with its expiry and use.
CREATE TABLE account_links (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    id          uuid NOT NULL,
    user_id     uuid NOT NULL,
    purpose     text NOT NULL CONSTRAINT account_links_purpose_known CHECK (purpose IN ('invitation', 'password_reset')),
    secret_hash bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT account_links_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE UNIQUE INDEX account_links_secret_key ON account_links (tenant_id, secret_hash);
CREATE INDEX account_links_user_idx ON account_links (tenant_id, user_id);
SELECT enable_tenant_isolation('account_links');

ALTER TABLE email_outbox ADD COLUMN user_id uuid;
ALTER TABLE email_outbox
    ADD CONSTRAINT email_outbox_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id);
ALTER TABLE email_outbox DROP CONSTRAINT email_outbox_kind_known;
ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_kind_known
    CHECK (kind IN ('welcome', 'reminder', 'expired', 'prescriber_digest', 'invitation', 'password_reset'));
ALTER TABLE email_outbox DROP CONSTRAINT email_outbox_subject;
ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_subject CHECK (
    CASE WHEN kind = 'prescriber_digest' THEN prescriber_id IS NOT NULL AND digest_on IS NOT NULL AND voucher_id IS NULL AND user_id IS NULL
         WHEN kind IN ('invitation', 'password_reset') THEN user_id IS NOT NULL AND voucher_id IS NULL AND prescriber_id IS NULL
         ELSE voucher_id IS NOT NULL AND user_id IS NULL END);
-- One account email of each kind waiting per user: asking again before it leaves adds nothing.
CREATE UNIQUE INDEX email_outbox_account_pending_key ON email_outbox (tenant_id, user_id, kind)
    WHERE user_id IS NOT NULL AND status = 'pending';
CREATE INDEX email_outbox_user_idx ON email_outbox (tenant_id, user_id) WHERE user_id IS NOT NULL;
