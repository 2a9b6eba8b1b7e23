-- Who must use a second factor: finance officers and tenant admins always (they move public
-- money); the territory may extend it to every role of its portal.
ALTER TABLE tenants ADD COLUMN second_factor_for_all boolean NOT NULL DEFAULT false;
