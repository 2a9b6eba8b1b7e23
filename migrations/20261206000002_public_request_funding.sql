-- The prescriber whose allocation funds the requests that reach a scheme through the public form,
-- chosen by the tenant admin: with it, the EPN accepts such a request itself, without asking the
-- territory each time; without it, only a tenant admin accepts them, choosing the funder.
ALTER TABLE schemes ADD COLUMN public_requests_funded_by uuid;
ALTER TABLE schemes
    ADD CONSTRAINT schemes_public_funding_fkey FOREIGN KEY (tenant_id, public_requests_funded_by)
        REFERENCES prescribers (tenant_id, id);
