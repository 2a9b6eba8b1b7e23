-- Funders' money: the organisations that co-finance a tenant's schemes (the European social fund,
-- the State, the CAF, a commune), the versioned split of a scheme between them, the funders each
-- voucher was issued with, and each statement line's shares, frozen with the statement.

CREATE TABLE funders (
    tenant_id  uuid NOT NULL,
    id         uuid NOT NULL,
    name       text NOT NULL CONSTRAINT funders_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    kind       text NOT NULL CONSTRAINT funders_kind_known CHECK (kind IN
                   ('european_fund', 'state', 'family_allowance_fund', 'region', 'department', 'commune', 'other')),
    siret      text CONSTRAINT funders_siret_format CHECK (siret ~ '^[0-9]{14}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT funders_name_key UNIQUE (tenant_id, name)
);
SELECT enable_tenant_isolation('funders');
SELECT place_on_cluster('funders');
ALTER TABLE funders ADD CONSTRAINT funders_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id);

-- A scheme's split between its funders, versioned like its rules: a version applies to the
-- vouchers issued from its date on, and never changes once written.
CREATE TABLE scheme_fundings (
    tenant_id      uuid NOT NULL,
    scheme_id      uuid NOT NULL,
    version        integer NOT NULL CONSTRAINT scheme_fundings_version_positive CHECK (version >= 1),
    effective_from date NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     uuid,
    PRIMARY KEY (tenant_id, scheme_id, version),
    CONSTRAINT scheme_fundings_effective_key UNIQUE (tenant_id, scheme_id, effective_from)
);
SELECT enable_tenant_isolation('scheme_fundings');
SELECT place_on_cluster('scheme_fundings');
ALTER TABLE scheme_fundings
    ADD CONSTRAINT scheme_fundings_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    ADD CONSTRAINT scheme_fundings_scheme_fkey FOREIGN KEY (tenant_id, scheme_id) REFERENCES schemes (tenant_id, id);
REVOKE UPDATE, DELETE ON scheme_fundings FROM passerelle_app;

-- One funder's part of a version, in cascade order (`position`): a share of each line in basis
-- points or a fixed amount per voucher, an optional cap over everything it pays for the scheme,
-- an optional period of service, and the publics and prescribers it pays for (NULL: all).
CREATE TABLE scheme_funding_lines (
    tenant_id            uuid NOT NULL,
    scheme_id            uuid NOT NULL,
    version              integer NOT NULL,
    position             integer NOT NULL CONSTRAINT scheme_funding_lines_position_range CHECK (position BETWEEN 1 AND 20),
    funder_id            uuid NOT NULL,
    share_basis_points   integer CONSTRAINT scheme_funding_lines_share_range CHECK (share_basis_points BETWEEN 1 AND 10000),
    fixed_cents          bigint CONSTRAINT scheme_funding_lines_fixed_positive CHECK (fixed_cents > 0),
    cap_cents            bigint CONSTRAINT scheme_funding_lines_cap_positive CHECK (cap_cents >= 0),
    period_start         date,
    period_end           date,
    eligible_publics     text[],
    eligible_prescribers uuid[],
    PRIMARY KEY (tenant_id, scheme_id, version, position),
    CONSTRAINT scheme_funding_lines_funder_once UNIQUE (tenant_id, scheme_id, version, funder_id),
    CONSTRAINT scheme_funding_lines_share_or_fixed CHECK ((share_basis_points IS NULL) <> (fixed_cents IS NULL)),
    CONSTRAINT scheme_funding_lines_period_order CHECK (period_start IS NULL OR period_end IS NULL OR period_start <= period_end)
);
SELECT enable_tenant_isolation('scheme_funding_lines');
SELECT place_on_cluster('scheme_funding_lines');
ALTER TABLE scheme_funding_lines
    ADD CONSTRAINT scheme_funding_lines_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    ADD CONSTRAINT scheme_funding_lines_version_fkey FOREIGN KEY (tenant_id, scheme_id, version)
        REFERENCES scheme_fundings (tenant_id, scheme_id, version),
    ADD CONSTRAINT scheme_funding_lines_funder_fkey FOREIGN KEY (tenant_id, funder_id) REFERENCES funders (tenant_id, id);
REVOKE UPDATE, DELETE ON scheme_funding_lines FROM passerelle_app;

-- The funding lines a voucher was issued with: those of the version in force on its issue date
-- whose publics and prescribers include it. A voucher without any is paid by the territory alone.
CREATE TABLE voucher_funders (
    tenant_id       uuid NOT NULL,
    voucher_id      uuid NOT NULL,
    scheme_id       uuid NOT NULL,
    funding_version integer NOT NULL,
    position        integer NOT NULL,
    funder_id       uuid NOT NULL,
    PRIMARY KEY (tenant_id, voucher_id, position)
);
CREATE INDEX voucher_funders_funder_idx ON voucher_funders (tenant_id, funder_id);
SELECT enable_tenant_isolation('voucher_funders');
SELECT place_on_cluster('voucher_funders');
ALTER TABLE voucher_funders
    ADD CONSTRAINT voucher_funders_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    ADD CONSTRAINT voucher_funders_voucher_fkey FOREIGN KEY (tenant_id, voucher_id) REFERENCES vouchers (tenant_id, id),
    ADD CONSTRAINT voucher_funders_line_fkey FOREIGN KEY (tenant_id, scheme_id, funding_version, position)
        REFERENCES scheme_funding_lines (tenant_id, scheme_id, version, position);
REVOKE UPDATE ON voucher_funders FROM passerelle_app;

-- Each funder's cents of a statement line; the territory pays the rest of the line. Written with
-- the lines by the monthly run, a month at a time, so checked like them: the tenant and the
-- statement once per statement by the trigger below, not once per row by a key.
CREATE TABLE statement_line_shares (
    tenant_id    uuid NOT NULL,
    statement_id uuid NOT NULL,
    line_no      integer NOT NULL,
    funder_id    uuid NOT NULL,
    amount_cents bigint NOT NULL,
    PRIMARY KEY (tenant_id, statement_id, line_no, funder_id)
);
CREATE INDEX statement_line_shares_funder_idx ON statement_line_shares (tenant_id, funder_id);
SELECT enable_tenant_isolation('statement_line_shares');
SELECT place_on_cluster('statement_line_shares');

-- The check that keeps an approved statement's lines unchanged now keeps their shares too: same
-- function, same message; on a Citus shard (statement_lines_<id>, statement_line_shares_<id>) it
-- reads the co-located shard of statements.
CREATE OR REPLACE FUNCTION statement_lines_keep_approved() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    locked text;
    tenants uuid[];
    touched uuid[];
    statements_table text := 'statements';
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT r.tenant_id), array_agg(r.statement_id) INTO tenants, touched
          FROM (SELECT DISTINCT tenant_id, statement_id FROM new_rows) r;
    ELSE
        SELECT array_agg(DISTINCT r.tenant_id), array_agg(r.statement_id) INTO tenants, touched
          FROM (SELECT DISTINCT tenant_id, statement_id FROM old_rows) r;
    END IF;
    IF touched IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME NOT IN ('statement_lines', 'statement_line_shares') THEN
        statements_table := shard_name('statements'::regclass,
                                       get_shard_id_for_distribution_column('statements', tenants[1]));
    END IF;
    IF TG_OP = 'INSERT' THEN
        EXECUTE format(
            'SELECT coalesce(s.reference || '' is '' || s.status, t.id || '' does not exist'')
               FROM unnest($2) AS t(id)
               LEFT JOIN %s s ON s.tenant_id = ANY ($1) AND s.id = t.id
              WHERE s.id IS NULL OR s.status <> ''draft'' LIMIT 1',
            statements_table)
          INTO locked USING tenants, touched;
    ELSE
        EXECUTE format(
            'SELECT s.reference || '' is '' || s.status FROM %s s
              WHERE s.tenant_id = ANY ($1) AND s.id = ANY ($2) AND s.status <> ''draft'' LIMIT 1',
            statements_table)
          INTO locked USING tenants, touched;
    END IF;
    IF locked IS NOT NULL THEN
        RAISE EXCEPTION 'the lines of statement % cannot change', locked
            USING ERRCODE = 'check_violation', CONSTRAINT = 'statements_immutable';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER statement_line_shares_keep_approved_insert AFTER INSERT ON statement_line_shares
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION statement_lines_keep_approved();
CREATE TRIGGER statement_line_shares_keep_approved_update AFTER UPDATE ON statement_line_shares
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION statement_lines_keep_approved();
CREATE TRIGGER statement_line_shares_keep_approved_delete AFTER DELETE ON statement_line_shares
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION statement_lines_keep_approved();

-- A draft statement deleted takes its lines' shares with its lines.
CREATE OR REPLACE FUNCTION statements_keep_approved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'statement % is %: it cannot be deleted', OLD.reference, OLD.status
                USING ERRCODE = 'check_violation', CONSTRAINT = 'statements_immutable';
        END IF;
        DELETE FROM statement_line_shares WHERE tenant_id = OLD.tenant_id AND statement_id = OLD.id;
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
