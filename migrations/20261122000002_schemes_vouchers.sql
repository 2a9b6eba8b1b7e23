-- Schemes with versioned rules, module catalogues, prescriber details and allocations,
-- beneficiaries, vouchers and the audit log.

-- For the no-overlap rule of allocation periods (a trusted extension: the owner may create it).
CREATE EXTENSION IF NOT EXISTS btree_gist;

-- A short uppercase prefix per tenant starts every voucher reference (LOT-7K3F-9QX2-M); the public
-- balance check finds the tenant from it, so it is unique across tenants.
ALTER TABLE tenants ADD COLUMN reference_prefix text;
UPDATE tenants SET reference_prefix = upper(left(regexp_replace(slug, '[^a-z]', '', 'g'), 3));
ALTER TABLE tenants
    ALTER COLUMN reference_prefix SET NOT NULL,
    ADD CONSTRAINT tenants_reference_prefix_format CHECK (reference_prefix ~ '^[A-Z]{2,5}$'),
    ADD CONSTRAINT tenants_reference_prefix_key UNIQUE (reference_prefix);

CREATE TABLE schemes (
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    id         uuid NOT NULL,
    code       text NOT NULL CONSTRAINT schemes_code_format CHECK (code ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    name       text NOT NULL CONSTRAINT schemes_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    status     text NOT NULL DEFAULT 'draft' CONSTRAINT schemes_status_known CHECK (status IN ('draft', 'active', 'closed')),
    preset     text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT schemes_code_key UNIQUE (tenant_id, code)
);
SELECT enable_tenant_isolation('schemes');

-- Rules are immutable once written: a change is a new version effective from a date, and a voucher
-- keeps the version it was issued under.
CREATE TABLE scheme_versions (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    scheme_id      uuid NOT NULL,
    version        integer NOT NULL CHECK (version >= 1),
    effective_from date NOT NULL,
    rules          jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     uuid,
    PRIMARY KEY (tenant_id, scheme_id, version),
    CONSTRAINT scheme_versions_scheme_fkey FOREIGN KEY (tenant_id, scheme_id) REFERENCES schemes (tenant_id, id),
    CONSTRAINT scheme_versions_effective_key UNIQUE (tenant_id, scheme_id, effective_from)
);
SELECT enable_tenant_isolation('scheme_versions');
REVOKE UPDATE, DELETE ON scheme_versions FROM passerelle_app;

CREATE TABLE scheme_modules (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    scheme_id      uuid NOT NULL,
    number         integer NOT NULL CHECK (number BETWEEN 1 AND 999),
    title          text NOT NULL CONSTRAINT scheme_modules_title_length CHECK (char_length(title) BETWEEN 1 AND 300),
    family         text NOT NULL CONSTRAINT scheme_modules_family_length CHECK (char_length(family) BETWEEN 1 AND 100),
    resource_links text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, scheme_id, number),
    CONSTRAINT scheme_modules_scheme_fkey FOREIGN KEY (tenant_id, scheme_id) REFERENCES schemes (tenant_id, id)
);
SELECT enable_tenant_isolation('scheme_modules');

ALTER TABLE prescribers
    ADD COLUMN siret text CONSTRAINT prescribers_siret_format CHECK (siret ~ '^[0-9]{14}$'),
    ADD COLUMN contact_email text,
    ADD COLUMN contact_phone text;

-- A quantity of vouchers for one prescriber, scheme and period. `issued` only moves through a
-- guarded increment, so concurrent issuance can never exceed `quantity`.
CREATE TABLE allocations (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    id            uuid NOT NULL,
    prescriber_id uuid NOT NULL,
    scheme_id     uuid NOT NULL,
    period_start  date NOT NULL,
    period_end    date NOT NULL,
    quantity      integer NOT NULL CONSTRAINT allocations_quantity_positive CHECK (quantity >= 0),
    issued        integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT allocations_prescriber_fkey FOREIGN KEY (tenant_id, prescriber_id) REFERENCES prescribers (tenant_id, id),
    CONSTRAINT allocations_scheme_fkey FOREIGN KEY (tenant_id, scheme_id) REFERENCES schemes (tenant_id, id),
    CONSTRAINT allocations_period_order CHECK (period_start <= period_end),
    CONSTRAINT allocations_within_quantity CHECK (issued BETWEEN 0 AND quantity),
    CONSTRAINT allocations_no_overlap EXCLUDE USING gist (
        tenant_id WITH =, prescriber_id WITH =, scheme_id WITH =, daterange(period_start, period_end, '[]') WITH &&)
);
CREATE INDEX allocations_prescriber_idx ON allocations (tenant_id, prescriber_id, scheme_id);
CREATE INDEX allocations_scheme_idx ON allocations (tenant_id, scheme_id);
SELECT enable_tenant_isolation('allocations');

-- Minimal personal data; erased in place (fields set to NULL) on request.
CREATE TABLE beneficiaries (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    id               uuid NOT NULL,
    first_name       text,
    last_name        text,
    match_key        text,
    birth_year       smallint CONSTRAINT beneficiaries_birth_year_range CHECK (birth_year BETWEEN 1900 AND 2100),
    commune_insee    text CONSTRAINT beneficiaries_commune_format CHECK (commune_insee ~ '^([0-9]{5}|2[AB][0-9]{3})$'),
    public_category  text NOT NULL CONSTRAINT beneficiaries_category_known CHECK (public_category IN
                         ('minima_sociaux', 'single_parent', 'senior', 'low_qualified_employee',
                          'spouse_of_self_employed', 'parent_of_pupil', 'social_insurance_user', 'other')),
    email            text,
    phone            text,
    email_consent    boolean NOT NULL DEFAULT false,
    email_consent_at timestamptz,
    prescriber_id    uuid NOT NULL,
    created_by       uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    erased_at        timestamptz,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT beneficiaries_prescriber_fkey FOREIGN KEY (tenant_id, prescriber_id) REFERENCES prescribers (tenant_id, id),
    CONSTRAINT beneficiaries_present_or_erased CHECK (erased_at IS NOT NULL OR (last_name IS NOT NULL AND first_name IS NOT NULL))
);
CREATE INDEX beneficiaries_match_idx ON beneficiaries (tenant_id, match_key);
CREATE INDEX beneficiaries_prescriber_idx ON beneficiaries (tenant_id, prescriber_id);
SELECT enable_tenant_isolation('beneficiaries');

CREATE TABLE vouchers (
    tenant_id               uuid NOT NULL REFERENCES tenants (id),
    id                      uuid NOT NULL,
    reference               text NOT NULL,
    scheme_id               uuid NOT NULL,
    rules_version           integer NOT NULL,
    beneficiary_id          uuid NOT NULL,
    prescriber_id           uuid NOT NULL,
    allocation_id           uuid NOT NULL,
    issued_by               uuid,
    issued_on               date NOT NULL,
    valid_until             date NOT NULL,
    status                  text NOT NULL DEFAULT 'issued' CONSTRAINT vouchers_status_known CHECK (status IN
                                ('issued', 'registered', 'in_progress', 'completed', 'expired', 'cancelled')),
    minutes_total           integer NOT NULL CHECK (minutes_total > 0),
    minutes_left            integer NOT NULL,
    face_value_cents        bigint NOT NULL CHECK (face_value_cents >= 0),
    participation_fee_cents bigint NOT NULL DEFAULT 0 CHECK (participation_fee_cents >= 0),
    cancelled_at            timestamptz,
    cancel_reason           text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT vouchers_reference_key UNIQUE (tenant_id, reference),
    CONSTRAINT vouchers_rules_fkey FOREIGN KEY (tenant_id, scheme_id, rules_version) REFERENCES scheme_versions (tenant_id, scheme_id, version),
    CONSTRAINT vouchers_beneficiary_fkey FOREIGN KEY (tenant_id, beneficiary_id) REFERENCES beneficiaries (tenant_id, id),
    CONSTRAINT vouchers_prescriber_fkey FOREIGN KEY (tenant_id, prescriber_id) REFERENCES prescribers (tenant_id, id),
    CONSTRAINT vouchers_allocation_fkey FOREIGN KEY (tenant_id, allocation_id) REFERENCES allocations (tenant_id, id),
    CONSTRAINT vouchers_minutes_within CHECK (minutes_left BETWEEN 0 AND minutes_total),
    CONSTRAINT vouchers_cancel_reason CHECK ((status = 'cancelled') = (cancel_reason IS NOT NULL))
);
CREATE INDEX vouchers_scheme_idx ON vouchers (tenant_id, scheme_id, status);
CREATE INDEX vouchers_prescriber_idx ON vouchers (tenant_id, prescriber_id, status);
CREATE INDEX vouchers_beneficiary_idx ON vouchers (tenant_id, beneficiary_id);
CREATE INDEX vouchers_valid_until_idx ON vouchers (tenant_id, valid_until);
CREATE INDEX vouchers_allocation_idx ON vouchers (tenant_id, allocation_id);
SELECT enable_tenant_isolation('vouchers');

-- Nominative: a voucher's holder never changes.
CREATE FUNCTION vouchers_keep_holder() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.beneficiary_id IS DISTINCT FROM OLD.beneficiary_id THEN
        RAISE EXCEPTION 'a voucher is nominative: its beneficiary cannot change' USING ERRCODE = 'check_violation',
            CONSTRAINT = 'vouchers_nominative';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER vouchers_keep_holder BEFORE UPDATE OF beneficiary_id ON vouchers
    FOR EACH ROW EXECUTE FUNCTION vouchers_keep_holder();

-- Append-only: the application role may add and read entries, never change or remove them.
CREATE TABLE audit_log (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    id          uuid NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    actor_id    uuid,
    actor_role  text NOT NULL,
    action      text NOT NULL,
    object_type text NOT NULL,
    object_id   text NOT NULL,
    details     jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_log_object_idx ON audit_log (tenant_id, object_type, object_id);
CREATE INDEX audit_log_action_idx ON audit_log (tenant_id, action, occurred_at);
SELECT enable_tenant_isolation('audit_log');
REVOKE UPDATE, DELETE ON audit_log FROM passerelle_app;
