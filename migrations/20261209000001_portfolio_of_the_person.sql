-- A holder's private link opens the person's portfolio across all their vouchers (a Ticket Net,
-- then a Pass Numérique project, then an accompaniment), not one voucher's.

-- The backfill reads across tenants: the owner role is exempt from row-level security only
-- while it is not forced, inside this migration's transaction.
ALTER TABLE portfolio_links NO FORCE ROW LEVEL SECURITY;
ALTER TABLE vouchers NO FORCE ROW LEVEL SECURITY;

ALTER TABLE portfolio_links ADD COLUMN beneficiary_id uuid;
UPDATE portfolio_links l SET beneficiary_id = v.beneficiary_id
  FROM vouchers v WHERE v.tenant_id = l.tenant_id AND v.id = l.voucher_id;

ALTER TABLE portfolio_links FORCE ROW LEVEL SECURITY;
ALTER TABLE vouchers FORCE ROW LEVEL SECURITY;

-- `voucher_id` stays on the links made before, as the voucher they were made from.
-- `letter_code`: the link's code is derived from its id with the service's key
-- (PORTFOLIO_LINK_KEY), so that a letter printed again and the welcome email carry it without
-- the code being stored; only its hash is.
ALTER TABLE portfolio_links
    ALTER COLUMN beneficiary_id SET NOT NULL,
    ALTER COLUMN voucher_id DROP NOT NULL,
    ADD COLUMN letter_code boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT portfolio_links_beneficiary_fkey
        FOREIGN KEY (tenant_id, beneficiary_id) REFERENCES beneficiaries (tenant_id, id);
CREATE INDEX portfolio_links_beneficiary_idx ON portfolio_links (tenant_id, beneficiary_id)
    WHERE revoked_at IS NULL;
