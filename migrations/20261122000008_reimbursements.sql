-- Monthly reimbursements owed to EPNs: one statement per (EPN, scheme, month), its lines, and the
-- tenant's treasury account that pays them by SEPA transfer.
--
-- Lines form a ledger: what a source (an attendance, a positioning interview) is owed is the sum of
-- its lines over every statement. A draft statement is recomputed as "what is owed minus what other
-- statements account for"; approved and paid statements never change, so a late record or a void
-- in an approved month shows up as an adjustment line in a later month.

ALTER TABLE tenants
    ADD COLUMN treasury_iban text,
    ADD COLUMN treasury_bic text CONSTRAINT tenants_treasury_bic_format CHECK (treasury_bic ~ '^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$'),
    ADD COLUMN treasury_holder text;

CREATE TABLE statements (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    id             uuid NOT NULL,
    -- Also the SEPA EndToEndId: at most 35 characters.
    reference      text NOT NULL CONSTRAINT statements_reference_length CHECK (char_length(reference) <= 35),
    epn_id         uuid NOT NULL,
    scheme_id      uuid NOT NULL,
    month          date NOT NULL CONSTRAINT statements_month_first_day CHECK (extract(day FROM month) = 1),
    status         text NOT NULL DEFAULT 'draft' CONSTRAINT statements_status_known CHECK (status IN ('draft', 'approved', 'paid')),
    total_cents    bigint NOT NULL DEFAULT 0,
    line_count     integer NOT NULL DEFAULT 0,
    computed_at    timestamptz NOT NULL DEFAULT now(),
    approved_at    timestamptz,
    approved_by    uuid,
    paid_on        date,
    bank_reference text,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT statements_epn_fkey FOREIGN KEY (tenant_id, epn_id) REFERENCES epns (tenant_id, id),
    CONSTRAINT statements_scheme_fkey FOREIGN KEY (tenant_id, scheme_id) REFERENCES schemes (tenant_id, id),
    CONSTRAINT statements_period_key UNIQUE (tenant_id, epn_id, scheme_id, month),
    CONSTRAINT statements_reference_key UNIQUE (tenant_id, reference),
    CONSTRAINT statements_approval CHECK ((status = 'draft') = (approved_at IS NULL)),
    CONSTRAINT statements_payment CHECK ((status = 'paid') = (paid_on IS NOT NULL AND bank_reference IS NOT NULL))
);
CREATE INDEX statements_month_idx ON statements (tenant_id, month, status);
SELECT enable_tenant_isolation('statements');

CREATE TABLE statement_lines (
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    statement_id      uuid NOT NULL,
    line_no           integer NOT NULL,
    kind              text NOT NULL CONSTRAINT statement_lines_kind_known CHECK (kind IN ('attendance', 'interview', 'adjustment')),
    source_kind       text NOT NULL CONSTRAINT statement_lines_source_known CHECK (source_kind IN ('attendance', 'interview')),
    -- The attendance, or the registration whose positioning interview it was.
    source_id         uuid NOT NULL,
    occurred_on       date NOT NULL,
    session_id        uuid,
    module_number     integer,
    voucher_id        uuid NOT NULL,
    voucher_reference text NOT NULL,
    minutes           integer NOT NULL,
    rate_cents        bigint NOT NULL,
    amount_cents      bigint NOT NULL,
    -- For an adjustment: the month of the line it corrects.
    adjusts_month     date,
    PRIMARY KEY (tenant_id, statement_id, line_no),
    CONSTRAINT statement_lines_adjustment CHECK ((kind = 'adjustment') = (adjusts_month IS NOT NULL))
);
-- No row-by-row foreign keys here: a month writes up to millions of lines in one statement, and a
-- per-row check (and row lock) on `statements` and `vouchers` would cost more than the month
-- itself. The trigger below checks, once per statement, that every new line belongs to an existing
-- draft statement; the voucher is copied by id and reference, as the record of what was paid.
SELECT enable_tenant_isolation('statement_lines');

-- Approved and paid statements are immutable for everyone but the owner: the only change left is
-- approved → paid, which records the payment and nothing else.
CREATE FUNCTION statements_keep_approved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'statement % is %: it cannot be deleted', OLD.reference, OLD.status
                USING ERRCODE = 'check_violation', CONSTRAINT = 'statements_immutable';
        END IF;
        DELETE FROM statement_lines WHERE tenant_id = OLD.tenant_id AND statement_id = OLD.id;
        RETURN OLD;
    END IF;
    IF OLD.status = 'approved' AND NEW.status = 'paid'
       AND (NEW.tenant_id, NEW.id, NEW.reference, NEW.epn_id, NEW.scheme_id, NEW.month, NEW.total_cents, NEW.line_count,
            NEW.computed_at, NEW.approved_at, NEW.approved_by)
           IS NOT DISTINCT FROM
           (OLD.tenant_id, OLD.id, OLD.reference, OLD.epn_id, OLD.scheme_id, OLD.month, OLD.total_cents, OLD.line_count,
            OLD.computed_at, OLD.approved_at, OLD.approved_by) THEN
        RETURN NEW;
    END IF;
    IF OLD.status <> 'draft' THEN
        RAISE EXCEPTION 'statement % is %: it cannot change', OLD.reference, OLD.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'statements_immutable';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER statements_keep_approved BEFORE UPDATE OR DELETE ON statements
    FOR EACH ROW EXECUTE FUNCTION statements_keep_approved();

-- Checked once per statement (not per row) over the rows it touched, so that computing a month of a
-- million lines pays one lookup per statement touched, not one per line.
CREATE FUNCTION statement_lines_keep_approved() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    locked text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT coalesce(s.reference || ' is ' || s.status, r.statement_id || ' does not exist') INTO locked
          FROM (SELECT DISTINCT tenant_id, statement_id FROM new_rows) r
          LEFT JOIN statements s ON s.tenant_id = r.tenant_id AND s.id = r.statement_id
         WHERE s.id IS NULL OR s.status <> 'draft' LIMIT 1;
    ELSE
        SELECT s.reference || ' is ' || s.status INTO locked
          FROM statements s JOIN (SELECT DISTINCT tenant_id, statement_id FROM old_rows) r
            ON s.tenant_id = r.tenant_id AND s.id = r.statement_id
         WHERE s.status <> 'draft' LIMIT 1;
    END IF;
    IF locked IS NOT NULL THEN
        RAISE EXCEPTION 'the lines of statement % cannot change', locked
            USING ERRCODE = 'check_violation', CONSTRAINT = 'statements_immutable';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER statement_lines_keep_approved_insert AFTER INSERT ON statement_lines
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION statement_lines_keep_approved();
CREATE TRIGGER statement_lines_keep_approved_update AFTER UPDATE ON statement_lines
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION statement_lines_keep_approved();
CREATE TRIGGER statement_lines_keep_approved_delete AFTER DELETE ON statement_lines
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION statement_lines_keep_approved();
