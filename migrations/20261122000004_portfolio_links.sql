-- The holder's private portfolio links.

-- A link the holder keeps: only the hash of its token is stored; renewing revokes the previous one.
CREATE TABLE portfolio_links (
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    id         uuid NOT NULL,
    voucher_id uuid NOT NULL,
    token_hash bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT portfolio_links_voucher_fkey FOREIGN KEY (tenant_id, voucher_id) REFERENCES vouchers (tenant_id, id),
    CONSTRAINT portfolio_links_token_key UNIQUE (tenant_id, token_hash)
);
CREATE INDEX portfolio_links_voucher_idx ON portfolio_links (tenant_id, voucher_id);
SELECT enable_tenant_isolation('portfolio_links');
