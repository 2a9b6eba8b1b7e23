-- How long a holder's personal data is kept after their last voucher ended: the daily run erases
-- it past this many years (audited). Three years by default; a tenant admin sets it.
ALTER TABLE tenants
    ADD COLUMN retention_years integer NOT NULL DEFAULT 3
        CONSTRAINT tenants_retention_years_range CHECK (retention_years BETWEEN 1 AND 10);
