-- The check that keeps an approved statement's lines unchanged reads the statements its rows
-- belong to. On a Citus cluster the trigger fires on a shard of statement_lines (named
-- statement_lines_<shard id>), where neither a join of its transition table with a distributed
-- table nor a distributed query at all can run. There it reads the co-located shard of statements,
-- which is on the same node, as the plain table it is. On a single node it reads statements.
-- Same rule, same message.
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
    IF TG_TABLE_NAME <> 'statement_lines' THEN
        -- Every tenant of one shard of statement_lines has its statements in the same co-located
        -- shard of statements.
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

-- A table created after the schema was spread over a Citus cluster (`passerelle cluster
-- distribute`) is placed like the others: a tenant table distributed by tenant_id and co-located
-- with them, another table made a reference table. Nothing happens on a single node, nor on a
-- cluster whose tables are not placed yet (the command will place it with the rest). A migration
-- creates the table without foreign keys, calls enable_tenant_isolation (for a tenant table), then
-- place_on_cluster, then adds its foreign keys: Citus refuses keys from a table it has not placed
-- to a distributed one.
CREATE FUNCTION place_on_cluster(target regclass) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    colocated text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    EXECUTE $q$SELECT logicalrelid::regclass::text FROM pg_dist_partition
                WHERE partmethod = 'h' ORDER BY logicalrelid::regclass::text LIMIT 1$q$
       INTO colocated;
    IF colocated IS NULL THEN
        RETURN;
    END IF;
    -- The migration's transaction then adds foreign keys, which Citus allows after placing a
    -- table only over one connection per node.
    PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
    IF EXISTS (SELECT 1 FROM pg_attribute
                WHERE attrelid = target AND attname = 'tenant_id' AND NOT attisdropped) THEN
        EXECUTE 'SELECT create_distributed_table($1, ''tenant_id'', colocate_with => $2)'
          USING target, colocated;
    ELSE
        EXECUTE 'SELECT create_reference_table($1)' USING target;
    END IF;
END
$$;
