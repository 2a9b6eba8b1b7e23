-- A funder's staff belong to one funder organisation: what they read (the dashboard, the
-- statistics files computed for a funder) is that funder's scope, the vouchers it co-finances.
-- A funder user bound to no funder reads the territory's published figures, as before.
ALTER TABLE users
    ADD COLUMN funder_id uuid,
    ADD CONSTRAINT users_funder_fkey FOREIGN KEY (tenant_id, funder_id) REFERENCES funders (tenant_id, id),
    ADD CONSTRAINT users_funder_binding CHECK (funder_id IS NULL OR role = 'funder');
CREATE INDEX users_funder_idx ON users (tenant_id, funder_id);

-- An export computed for one funder's scope (the vouchers it co-finances); NULL: the territory's.
ALTER TABLE statistics_exports
    ADD COLUMN funder_id uuid,
    ADD CONSTRAINT statistics_exports_funder_fkey FOREIGN KEY (tenant_id, funder_id) REFERENCES funders (tenant_id, id);
