-- Emails through a transactional outbox: the transaction that makes a message due writes its row,
-- a relay hands due rows to the queue, and the sending job marks each row sent, failed or
-- cancelled. The row, not the queue, is the truth: a job re-run finds a sent row and stops.

-- Time-ordered ids written by set-based SQL (the daily run), so that they page like the UUIDv7
-- the application generates.
CREATE FUNCTION uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;
GRANT EXECUTE ON FUNCTION uuid_v7() TO passerelle_app;

CREATE TABLE email_outbox (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    id               uuid NOT NULL,
    kind             text NOT NULL CONSTRAINT email_outbox_kind_known CHECK (kind IN ('welcome', 'reminder', 'expired', 'prescriber_digest')),
    -- Days before the end of validity, for a reminder only.
    reminder_days    integer CONSTRAINT email_outbox_reminder_days CHECK ((kind = 'reminder') = (reminder_days IS NOT NULL)),
    voucher_id       uuid,
    prescriber_id    uuid,
    -- The business day of a prescriber's digest.
    digest_on        date,
    status           text NOT NULL DEFAULT 'pending' CONSTRAINT email_outbox_status_known CHECK (status IN ('pending', 'sent', 'failed', 'cancelled')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    -- When the relay last handed the row to the queue; NULL while waiting for it.
    enqueued_at      timestamptz,
    recipient        text,
    last_error       text,
    -- Since the first transient failure of the current series: the retry window counts from it.
    retrying_since   timestamptz,
    smtp_message_id  text,
    smtp_response    text,
    -- The capability in the message's unsubscribe link: it can only withdraw the holder's consent.
    unsubscribe_key  uuid NOT NULL DEFAULT gen_random_uuid(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    finished_at      timestamptz,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT email_outbox_voucher_fkey FOREIGN KEY (tenant_id, voucher_id) REFERENCES vouchers (tenant_id, id),
    CONSTRAINT email_outbox_prescriber_fkey FOREIGN KEY (tenant_id, prescriber_id) REFERENCES prescribers (tenant_id, id),
    CONSTRAINT email_outbox_subject CHECK (
        CASE WHEN kind = 'prescriber_digest' THEN prescriber_id IS NOT NULL AND digest_on IS NOT NULL AND voucher_id IS NULL
             ELSE voucher_id IS NOT NULL END),
    CONSTRAINT email_outbox_sent_has_id CHECK (status <> 'sent' OR smtp_message_id IS NOT NULL)
);
-- Exactly one message per voucher and kind (and reminder day), one digest per prescriber and day.
CREATE UNIQUE INDEX email_outbox_voucher_kind_key ON email_outbox (tenant_id, voucher_id, kind, coalesce(reminder_days, 0))
    WHERE voucher_id IS NOT NULL;
CREATE UNIQUE INDEX email_outbox_digest_key ON email_outbox (tenant_id, prescriber_id, digest_on)
    WHERE kind = 'prescriber_digest';
CREATE UNIQUE INDEX email_outbox_unsubscribe_key ON email_outbox (tenant_id, unsubscribe_key);
CREATE INDEX email_outbox_due_idx ON email_outbox (tenant_id, next_attempt_at) WHERE status = 'pending';
CREATE INDEX email_outbox_status_idx ON email_outbox (tenant_id, status, id);
SELECT enable_tenant_isolation('email_outbox');
REVOKE DELETE ON email_outbox FROM passerelle_app;

-- Addresses that answered with a permanent failure: nothing more is sent to them until a tenant
-- admin retries a message to that address.
CREATE TABLE email_suppressions (
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    address    text NOT NULL CONSTRAINT email_suppressions_address_lower CHECK (address = lower(address)),
    reason     text NOT NULL,
    message_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, address)
);
SELECT enable_tenant_isolation('email_suppressions');

-- A voucher that needs its prescriber's attention because its holder gets no email: each alert is
-- listed in exactly one daily digest.
CREATE TABLE prescriber_alerts (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    voucher_id    uuid NOT NULL,
    reason        text NOT NULL CONSTRAINT prescriber_alerts_reason_known CHECK (reason IN ('expiring', 'not_registered')),
    -- Days before the end of validity, for an `expiring` alert.
    days_left     integer NOT NULL DEFAULT 0,
    prescriber_id uuid NOT NULL,
    digest_id     uuid NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, voucher_id, reason, days_left),
    CONSTRAINT prescriber_alerts_voucher_fkey FOREIGN KEY (tenant_id, voucher_id) REFERENCES vouchers (tenant_id, id),
    CONSTRAINT prescriber_alerts_prescriber_fkey FOREIGN KEY (tenant_id, prescriber_id) REFERENCES prescribers (tenant_id, id),
    CONSTRAINT prescriber_alerts_digest_fkey FOREIGN KEY (tenant_id, digest_id) REFERENCES email_outbox (tenant_id, id)
);
CREATE INDEX prescriber_alerts_digest_idx ON prescriber_alerts (tenant_id, digest_id);
SELECT enable_tenant_isolation('prescriber_alerts');

-- One row per scheduled job and business period: the guard that keeps two replicas, or a
-- restart, from running the same day twice.
CREATE TABLE scheduled_runs (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    job         text NOT NULL,
    period      date NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    summary     jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, job, period)
);
SELECT enable_tenant_isolation('scheduled_runs');
REVOKE DELETE ON scheduled_runs FROM passerelle_app;

-- The daily run looks vouchers up by status and end of validity.
CREATE INDEX vouchers_open_valid_until_idx ON vouchers (tenant_id, valid_until)
    WHERE status IN ('issued', 'registered', 'in_progress');
