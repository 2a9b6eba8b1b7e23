-- A changed IBAN is the classic public-payment fraud: an EPN's bank details change only when a
-- tenant admin or finance officer other than the person who submitted them confirms them. Until
-- then the change waits here, and `epns.iban` (what the SEPA file is built on) keeps the confirmed
-- account. Each change keeps its outcome: confirmed, rejected (with the reason), or superseded by
-- a later submission. One change waits per EPN at a time.
CREATE TABLE epn_bank_changes (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    id             uuid NOT NULL,
    epn_id         uuid NOT NULL,
    iban           text NOT NULL,
    bic            text,
    account_holder text NOT NULL CONSTRAINT epn_bank_changes_holder_length
                       CHECK (char_length(account_holder) BETWEEN 1 AND 140),
    status         text NOT NULL DEFAULT 'pending' CONSTRAINT epn_bank_changes_status_known
                       CHECK (status IN ('pending', 'confirmed', 'rejected', 'superseded')),
    submitted_by   uuid,
    submitted_at   timestamptz NOT NULL DEFAULT now(),
    decided_by     uuid,
    decided_at     timestamptz,
    reason         text CONSTRAINT epn_bank_changes_reason_length CHECK (char_length(reason) <= 500),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, epn_id) REFERENCES epns (tenant_id, id),
    CONSTRAINT epn_bank_changes_decided CHECK ((status = 'pending') = (decided_at IS NULL))
);
SELECT enable_tenant_isolation('epn_bank_changes');
CREATE UNIQUE INDEX epn_bank_changes_one_pending ON epn_bank_changes (tenant_id, epn_id) WHERE status = 'pending';
CREATE INDEX epn_bank_changes_epn ON epn_bank_changes (tenant_id, epn_id, submitted_at DESC);
