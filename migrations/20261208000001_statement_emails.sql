-- The EPN's contact is told when its statement is approved and when it is paid. The address is
-- read at send time from the EPN (a corrected address counts), so the message names the statement.
ALTER TABLE email_outbox ADD COLUMN statement_id uuid;
ALTER TABLE email_outbox
    ADD CONSTRAINT email_outbox_statement_fkey FOREIGN KEY (tenant_id, statement_id)
        REFERENCES statements (tenant_id, id);
ALTER TABLE email_outbox DROP CONSTRAINT email_outbox_kind_known;
ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_kind_known
    CHECK (kind IN ('welcome', 'reminder', 'expired', 'prescriber_digest', 'invitation', 'password_reset',
                    'request_received', 'request_declined', 'statement_approved', 'statement_paid'));
ALTER TABLE email_outbox DROP CONSTRAINT email_outbox_subject;
ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_subject CHECK (
    CASE WHEN kind = 'prescriber_digest' THEN prescriber_id IS NOT NULL AND digest_on IS NOT NULL AND voucher_id IS NULL AND user_id IS NULL
         WHEN kind IN ('invitation', 'password_reset') THEN user_id IS NOT NULL AND voucher_id IS NULL AND prescriber_id IS NULL
         WHEN kind IN ('request_received', 'request_declined')
             THEN accompaniment_request_id IS NOT NULL AND recipient IS NOT NULL AND voucher_id IS NULL AND user_id IS NULL
         WHEN kind IN ('statement_approved', 'statement_paid')
             THEN statement_id IS NOT NULL AND voucher_id IS NULL AND user_id IS NULL AND prescriber_id IS NULL
         ELSE voucher_id IS NOT NULL AND user_id IS NULL END);
-- One message of each kind per statement: a statement is approved once and paid once.
CREATE UNIQUE INDEX email_outbox_statement_kind_key ON email_outbox (tenant_id, statement_id, kind)
    WHERE statement_id IS NOT NULL;
