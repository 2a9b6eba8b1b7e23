-- Orientation toward certification (Pass Numérique: « orienter vers une certification »): when a
-- journey ends, the EPN says where the person may go next — PIX, PCIE, CléA numérique, a training
-- body, another scheme, or nowhere for now — with a free note. One per voucher; recording it again
-- replaces it (the audit log keeps each version). The note is about the person: erasure wipes it.
CREATE TABLE voucher_orientations (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    voucher_id  uuid NOT NULL,
    kind        text NOT NULL CONSTRAINT voucher_orientations_kind_known CHECK (
                    kind IN ('pix', 'pcie', 'clea_numerique', 'training_body', 'other_scheme', 'no_orientation')),
    note        text CONSTRAINT voucher_orientations_note_length CHECK (char_length(note) <= 1000),
    epn_id      uuid NOT NULL,
    recorded_by uuid,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, voucher_id),
    FOREIGN KEY (tenant_id, voucher_id) REFERENCES vouchers (tenant_id, id),
    FOREIGN KEY (tenant_id, epn_id) REFERENCES epns (tenant_id, id)
);
SELECT enable_tenant_isolation('voucher_orientations');
CREATE INDEX voucher_orientations_epn ON voucher_orientations (tenant_id, epn_id);
