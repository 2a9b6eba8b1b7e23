-- Requests for a personalised accompaniment (Pass Numérique: two hours at an EPN), made by a
-- prescriber for a person or by the person through the public form. Accepting one issues a voucher
-- registered at that EPN. The person's details from a public form wait on the request until the
-- decision, then move to a beneficiary record (accepted) or are wiped (declined).
CREATE TABLE accompaniment_requests (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    id               uuid NOT NULL,
    scheme_id        uuid NOT NULL,
    epn_id           uuid NOT NULL,
    channel          text NOT NULL CONSTRAINT accompaniment_channel_known CHECK (channel IN ('prescriber', 'public_form')),
    prescriber_id    uuid,
    beneficiary_id   uuid,
    first_name       text,
    last_name        text,
    birth_year       smallint,
    commune_insee    text,
    public_category  text,
    email            text,
    phone            text,
    email_consent    boolean NOT NULL DEFAULT false,
    message          text,
    status           text NOT NULL DEFAULT 'pending' CONSTRAINT accompaniment_status_known CHECK (status IN ('pending', 'accepted', 'declined')),
    decision_reason  text,
    voucher_id       uuid,
    decided_by       uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    decided_at       timestamptz,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT accompaniment_scheme_fkey FOREIGN KEY (tenant_id, scheme_id) REFERENCES schemes (tenant_id, id),
    CONSTRAINT accompaniment_epn_fkey FOREIGN KEY (tenant_id, epn_id) REFERENCES epns (tenant_id, id),
    CONSTRAINT accompaniment_prescriber_fkey FOREIGN KEY (tenant_id, prescriber_id) REFERENCES prescribers (tenant_id, id),
    CONSTRAINT accompaniment_beneficiary_fkey FOREIGN KEY (tenant_id, beneficiary_id) REFERENCES beneficiaries (tenant_id, id),
    CONSTRAINT accompaniment_voucher_fkey FOREIGN KEY (tenant_id, voucher_id) REFERENCES vouchers (tenant_id, id),
    CONSTRAINT accompaniment_channel_prescriber CHECK ((channel = 'prescriber') = (prescriber_id IS NOT NULL))
);
CREATE INDEX accompaniment_epn_idx ON accompaniment_requests (tenant_id, epn_id, status);
CREATE INDEX accompaniment_prescriber_idx ON accompaniment_requests (tenant_id, prescriber_id);
SELECT enable_tenant_isolation('accompaniment_requests');
