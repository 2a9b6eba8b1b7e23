-- The Pass Numérique's public side: the awareness kit's texts, the request form as people fill it,
-- requests that expire, and the emails that tell the person what happened to their request.

-- A module's short text in the public awareness kit: what the person will learn there.
ALTER TABLE scheme_modules ADD COLUMN description text
    CONSTRAINT scheme_modules_description_length CHECK (char_length(description) BETWEEN 1 AND 1000);

-- Where the person says they live, as they typed it: people do not know their commune's INSEE code,
-- so the form asks for the postal code and the commune's name, and staff give the code when they
-- accept the request. A pending public request expires (its details wiped) when nobody answered.
ALTER TABLE accompaniment_requests
    ADD COLUMN postal_code text CONSTRAINT accompaniment_postal_code_format CHECK (postal_code ~ '^[0-9]{5}$'),
    ADD COLUMN commune_name text CONSTRAINT accompaniment_commune_name_length CHECK (char_length(commune_name) BETWEEN 1 AND 100),
    ADD COLUMN expires_at timestamptz;
ALTER TABLE accompaniment_requests DROP CONSTRAINT accompaniment_status_known;
ALTER TABLE accompaniment_requests ADD CONSTRAINT accompaniment_status_known
    CHECK (status IN ('pending', 'accepted', 'declined', 'expired'));
CREATE INDEX accompaniment_expiry_idx ON accompaniment_requests (tenant_id, expires_at) WHERE status = 'pending';

-- The person who asked is told by email, when they gave an address: their request was received,
-- then declined (with the reason). The address is kept on the message itself, because a decided
-- request's personal details are wiped.
ALTER TABLE email_outbox ADD COLUMN accompaniment_request_id uuid;
ALTER TABLE email_outbox
    ADD CONSTRAINT email_outbox_request_fkey FOREIGN KEY (tenant_id, accompaniment_request_id)
        REFERENCES accompaniment_requests (tenant_id, id);
ALTER TABLE email_outbox DROP CONSTRAINT email_outbox_kind_known;
ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_kind_known
    CHECK (kind IN ('welcome', 'reminder', 'expired', 'prescriber_digest', 'invitation', 'password_reset',
                    'request_received', 'request_declined'));
ALTER TABLE email_outbox DROP CONSTRAINT email_outbox_subject;
ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_subject CHECK (
    CASE WHEN kind = 'prescriber_digest' THEN prescriber_id IS NOT NULL AND digest_on IS NOT NULL AND voucher_id IS NULL AND user_id IS NULL
         WHEN kind IN ('invitation', 'password_reset') THEN user_id IS NOT NULL AND voucher_id IS NULL AND prescriber_id IS NULL
         WHEN kind IN ('request_received', 'request_declined')
             THEN accompaniment_request_id IS NOT NULL AND recipient IS NOT NULL AND voucher_id IS NULL AND user_id IS NULL
         ELSE voucher_id IS NOT NULL AND user_id IS NULL END);
CREATE UNIQUE INDEX email_outbox_request_kind_key ON email_outbox (tenant_id, accompaniment_request_id, kind)
    WHERE accompaniment_request_id IS NOT NULL;
