-- A monthly run writes every line of a month in one statement. The per-row key on `tenants` checked
-- (and share-locked) the tenant's row once per line: about 40 % of the time spent writing the lines
-- at national scale. A line's tenant is its statement's, which `statement_lines_keep_approved`
-- already checks once per statement (a line whose (tenant_id, statement_id) names no statement is
-- refused), and `statements` keeps its own key on `tenants`.
ALTER TABLE statement_lines DROP CONSTRAINT statement_lines_tenant_id_fkey;
