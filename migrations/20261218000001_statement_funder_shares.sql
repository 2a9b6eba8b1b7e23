-- The funders' shares of a statement's lines, one row per statement and funder instead of one per
-- line and funder. A monthly run writes about as many shares as lines (a co-financed scheme's
-- every line has one or two); as rows, with their key and their funder index, writing them cost
-- as much again as writing the lines (BENCHMARKS.md, "Monthly reimbursements"). Here a statement's
-- shares are two arrays per funder: the numbers of the lines it pays for, in order, and its cents
-- of each. What readers see does not change: `statement_line_shares` becomes a view with the same
-- rows and columns.
CREATE TABLE statement_funder_shares (
    tenant_id    uuid NOT NULL,
    statement_id uuid NOT NULL,
    funder_id    uuid NOT NULL,
    line_nos     integer[] NOT NULL,
    cents        bigint[] NOT NULL,
    PRIMARY KEY (tenant_id, statement_id, funder_id),
    CONSTRAINT statement_funder_shares_aligned
        CHECK (array_ndims(line_nos) = 1 AND array_ndims(cents) = 1
               AND cardinality(line_nos) = cardinality(cents) AND cardinality(line_nos) > 0)
);

-- The shares written so far, moved as they are. The owner reads every tenant's rows for the move:
-- the old table's isolation is no longer forced on its owner, and the new one's is set after.
ALTER TABLE statement_line_shares NO FORCE ROW LEVEL SECURITY;
INSERT INTO statement_funder_shares (tenant_id, statement_id, funder_id, line_nos, cents)
SELECT tenant_id, statement_id, funder_id, array_agg(line_no ORDER BY line_no), array_agg(amount_cents ORDER BY line_no)
  FROM statement_line_shares
 GROUP BY tenant_id, statement_id, funder_id;
DROP TABLE statement_line_shares;

SELECT enable_tenant_isolation('statement_funder_shares');
SELECT place_on_cluster('statement_funder_shares');

-- One row per line and funder, as before; its readers name the tenant, which reaches the table's
-- key, and the table's row-level security applies to whoever reads the view.
CREATE VIEW statement_line_shares WITH (security_invoker = true) AS
SELECT s.tenant_id, s.statement_id, x.line_no, s.funder_id, x.amount_cents
  FROM statement_funder_shares s
 CROSS JOIN LATERAL unnest(s.line_nos, s.cents) AS x(line_no, amount_cents);
GRANT SELECT ON statement_line_shares TO passerelle_app;

-- The check that keeps an approved statement's lines unchanged keeps the new table too: same
-- function, same message; on a Citus shard it reads the co-located shard of statements.
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
    IF TG_TABLE_NAME NOT IN ('statement_lines', 'statement_funder_shares') THEN
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
CREATE TRIGGER statement_funder_shares_keep_approved_insert AFTER INSERT ON statement_funder_shares
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION statement_lines_keep_approved();
CREATE TRIGGER statement_funder_shares_keep_approved_update AFTER UPDATE ON statement_funder_shares
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION statement_lines_keep_approved();
CREATE TRIGGER statement_funder_shares_keep_approved_delete AFTER DELETE ON statement_funder_shares
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION statement_lines_keep_approved();

-- A draft statement deleted takes its lines' shares with its lines.
CREATE OR REPLACE FUNCTION statements_keep_approved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'statement % is %: it cannot be deleted', OLD.reference, OLD.status
                USING ERRCODE = 'check_violation', CONSTRAINT = 'statements_immutable';
        END IF;
        DELETE FROM statement_funder_shares WHERE tenant_id = OLD.tenant_id AND statement_id = OLD.id;
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
