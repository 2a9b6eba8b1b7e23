-- The EPN network and delivery: EPN details from the open-data format, the schemes and modules
-- each EPN offers, registration of a voucher at an EPN after the positioning interview, sessions,
-- attendance (which debits a voucher's minutes), and competencies from shared referentials.

ALTER TABLE epns
    ADD COLUMN pivot text CONSTRAINT epns_pivot_format CHECK (pivot ~ '^([0-9]{14}|W[0-9A-Z]{9})$'),
    ADD COLUMN address text,
    ADD COLUMN postal_code text CONSTRAINT epns_postal_code_format CHECK (postal_code ~ '^[0-9]{5}$'),
    ADD COLUMN commune text,
    ADD COLUMN commune_insee text CONSTRAINT epns_commune_format CHECK (commune_insee ~ '^([0-9]{5}|2[AB][0-9]{3})$'),
    ADD COLUMN latitude double precision CONSTRAINT epns_latitude_range CHECK (latitude BETWEEN -90 AND 90),
    ADD COLUMN longitude double precision CONSTRAINT epns_longitude_range CHECK (longitude BETWEEN -180 AND 180),
    ADD COLUMN emails text[] NOT NULL DEFAULT '{}',
    ADD COLUMN phone text,
    ADD COLUMN website text,
    ADD COLUMN opening_hours text,
    ADD COLUMN services text[] NOT NULL DEFAULT '{}',
    ADD COLUMN typology text[] NOT NULL DEFAULT '{}',
    ADD COLUMN source text,
    ADD COLUMN source_id text,
    ADD COLUMN source_updated_on date,
    ADD COLUMN iban text,
    ADD COLUMN bic text CONSTRAINT epns_bic_format CHECK (bic ~ '^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$'),
    ADD COLUMN account_holder text,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
-- Re-importing the open-data file updates by (source, id).
CREATE UNIQUE INDEX epns_source_key ON epns (tenant_id, source, source_id);

CREATE TABLE epn_schemes (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    epn_id    uuid NOT NULL,
    scheme_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, epn_id, scheme_id),
    CONSTRAINT epn_schemes_epn_fkey FOREIGN KEY (tenant_id, epn_id) REFERENCES epns (tenant_id, id),
    CONSTRAINT epn_schemes_scheme_fkey FOREIGN KEY (tenant_id, scheme_id) REFERENCES schemes (tenant_id, id)
);
CREATE INDEX epn_schemes_scheme_idx ON epn_schemes (tenant_id, scheme_id);
SELECT enable_tenant_isolation('epn_schemes');

CREATE TABLE epn_modules (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    epn_id        uuid NOT NULL,
    scheme_id     uuid NOT NULL,
    module_number integer NOT NULL,
    PRIMARY KEY (tenant_id, epn_id, scheme_id, module_number),
    CONSTRAINT epn_modules_participation_fkey FOREIGN KEY (tenant_id, epn_id, scheme_id)
        REFERENCES epn_schemes (tenant_id, epn_id, scheme_id) ON DELETE CASCADE,
    CONSTRAINT epn_modules_module_fkey FOREIGN KEY (tenant_id, scheme_id, module_number)
        REFERENCES scheme_modules (tenant_id, scheme_id, number)
);
CREATE INDEX epn_modules_module_idx ON epn_modules (tenant_id, scheme_id, module_number);
SELECT enable_tenant_isolation('epn_modules');

-- A voucher is registered at one EPN at a time; moving it ends the registration and starts another.
CREATE TABLE registrations (
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    id                uuid NOT NULL,
    voucher_id        uuid NOT NULL,
    epn_id            uuid NOT NULL,
    registered_at     timestamptz NOT NULL DEFAULT now(),
    registered_by     uuid,
    interview_on      date,
    interview_minutes integer CHECK (interview_minutes BETWEEN 0 AND 480),
    autonomy_level    text CONSTRAINT registrations_autonomy_known CHECK (autonomy_level IN ('none', 'beginner', 'intermediate', 'autonomous')),
    needs             text,
    notes             text,
    ended_at          timestamptz,
    end_reason        text,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT registrations_voucher_fkey FOREIGN KEY (tenant_id, voucher_id) REFERENCES vouchers (tenant_id, id),
    CONSTRAINT registrations_epn_fkey FOREIGN KEY (tenant_id, epn_id) REFERENCES epns (tenant_id, id)
);
CREATE UNIQUE INDEX registrations_one_active ON registrations (tenant_id, voucher_id) WHERE ended_at IS NULL;
CREATE INDEX registrations_epn_idx ON registrations (tenant_id, epn_id);
SELECT enable_tenant_isolation('registrations');

CREATE TABLE voucher_modules (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    voucher_id    uuid NOT NULL,
    scheme_id     uuid NOT NULL,
    module_number integer NOT NULL,
    PRIMARY KEY (tenant_id, voucher_id, module_number),
    CONSTRAINT voucher_modules_voucher_fkey FOREIGN KEY (tenant_id, voucher_id) REFERENCES vouchers (tenant_id, id),
    CONSTRAINT voucher_modules_module_fkey FOREIGN KEY (tenant_id, scheme_id, module_number)
        REFERENCES scheme_modules (tenant_id, scheme_id, number)
);
CREATE INDEX voucher_modules_module_idx ON voucher_modules (tenant_id, scheme_id, module_number);
SELECT enable_tenant_isolation('voucher_modules');

CREATE TABLE sessions (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    id               uuid NOT NULL,
    epn_id           uuid NOT NULL,
    scheme_id        uuid NOT NULL,
    module_number    integer,
    starts_at        timestamptz NOT NULL,
    duration_minutes integer NOT NULL CONSTRAINT sessions_duration_positive CHECK (duration_minutes BETWEEN 1 AND 1440),
    capacity         integer NOT NULL CONSTRAINT sessions_capacity_positive CHECK (capacity BETWEEN 1 AND 500),
    animator         text,
    place            text,
    status           text NOT NULL DEFAULT 'planned' CONSTRAINT sessions_status_known CHECK (status IN ('planned', 'held', 'cancelled')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT sessions_epn_fkey FOREIGN KEY (tenant_id, epn_id) REFERENCES epns (tenant_id, id),
    CONSTRAINT sessions_scheme_fkey FOREIGN KEY (tenant_id, scheme_id) REFERENCES schemes (tenant_id, id),
    CONSTRAINT sessions_module_fkey FOREIGN KEY (tenant_id, scheme_id, module_number) REFERENCES scheme_modules (tenant_id, scheme_id, number)
);
CREATE INDEX sessions_epn_idx ON sessions (tenant_id, epn_id, starts_at);
CREATE INDEX sessions_scheme_idx ON sessions (tenant_id, scheme_id, module_number);
SELECT enable_tenant_isolation('sessions');

CREATE TABLE session_enrolments (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    session_id  uuid NOT NULL,
    voucher_id  uuid NOT NULL,
    enrolled_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, session_id, voucher_id),
    CONSTRAINT session_enrolments_session_fkey FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, id),
    CONSTRAINT session_enrolments_voucher_fkey FOREIGN KEY (tenant_id, voucher_id) REFERENCES vouchers (tenant_id, id)
);
CREATE INDEX session_enrolments_voucher_idx ON session_enrolments (tenant_id, voucher_id);
SELECT enable_tenant_isolation('session_enrolments');

-- One live attendance per (session, voucher); a voided one stays, with its reason, beside the
-- record that may replace it. `minutes_debited` is what the voucher lost (0 when absent).
CREATE TABLE attendances (
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    id              uuid NOT NULL,
    session_id      uuid NOT NULL,
    voucher_id      uuid NOT NULL,
    epn_id          uuid NOT NULL,
    status          text NOT NULL CONSTRAINT attendances_status_known CHECK (status IN ('present', 'absent', 'excused')),
    minutes_debited integer NOT NULL CHECK (minutes_debited >= 0),
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    recorded_by     uuid,
    voided_at       timestamptz,
    void_reason     text,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT attendances_session_fkey FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, id),
    CONSTRAINT attendances_voucher_fkey FOREIGN KEY (tenant_id, voucher_id) REFERENCES vouchers (tenant_id, id),
    CONSTRAINT attendances_epn_fkey FOREIGN KEY (tenant_id, epn_id) REFERENCES epns (tenant_id, id),
    CONSTRAINT attendances_void_reason CHECK ((voided_at IS NULL) = (void_reason IS NULL))
);
CREATE UNIQUE INDEX attendances_once ON attendances (tenant_id, session_id, voucher_id) WHERE voided_at IS NULL;
CREATE INDEX attendances_voucher_idx ON attendances (tenant_id, voucher_id);
CREATE INDEX attendances_epn_idx ON attendances (tenant_id, epn_id, recorded_at);
SELECT enable_tenant_isolation('attendances');

-- Competency referentials are shared by every tenant: reference tables, read-only to the app.
CREATE TABLE referentials (
    code    text PRIMARY KEY,
    name    text NOT NULL,
    source  text NOT NULL
);
CREATE TABLE competences (
    referential_code text NOT NULL REFERENCES referentials (code),
    code             text NOT NULL,
    area             text NOT NULL,
    title            text NOT NULL,
    PRIMARY KEY (referential_code, code)
);
GRANT SELECT ON referentials, competences TO passerelle_app;

INSERT INTO referentials (code, name, source) VALUES
    ('crcn', 'Cadre de référence des compétences numériques (CRCN)', 'Décret n° 2019-919 du 30 août 2019; utilisé par Pix');
INSERT INTO competences (referential_code, code, area, title) VALUES
    ('crcn', '1.1', 'Information et données', 'Mener une recherche et une veille d''information'),
    ('crcn', '1.2', 'Information et données', 'Gérer des données'),
    ('crcn', '1.3', 'Information et données', 'Traiter des données'),
    ('crcn', '2.1', 'Communication et collaboration', 'Interagir'),
    ('crcn', '2.2', 'Communication et collaboration', 'Partager et publier'),
    ('crcn', '2.3', 'Communication et collaboration', 'Collaborer'),
    ('crcn', '2.4', 'Communication et collaboration', 'S''insérer dans le monde numérique'),
    ('crcn', '3.1', 'Création de contenus', 'Développer des documents textuels'),
    ('crcn', '3.2', 'Création de contenus', 'Développer des documents multimédia'),
    ('crcn', '3.3', 'Création de contenus', 'Adapter les documents à leur finalité'),
    ('crcn', '3.4', 'Création de contenus', 'Programmer'),
    ('crcn', '4.1', 'Protection et sécurité', 'Sécuriser l''environnement numérique'),
    ('crcn', '4.2', 'Protection et sécurité', 'Protéger les données personnelles et la vie privée'),
    ('crcn', '4.3', 'Protection et sécurité', 'Protéger la santé, le bien-être et l''environnement'),
    ('crcn', '5.1', 'Environnement numérique', 'Résoudre des problèmes techniques'),
    ('crcn', '5.2', 'Environnement numérique', 'Construire un environnement numérique');

ALTER TABLE schemes ADD COLUMN referential_code text NOT NULL DEFAULT 'crcn' REFERENCES referentials (code);

CREATE TABLE attendance_competences (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    attendance_id    uuid NOT NULL,
    referential_code text NOT NULL,
    competence_code  text NOT NULL,
    level            text NOT NULL CONSTRAINT attendance_competences_level_known CHECK (level IN ('discovered', 'practised', 'acquired')),
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, attendance_id, competence_code),
    CONSTRAINT attendance_competences_attendance_fkey FOREIGN KEY (tenant_id, attendance_id) REFERENCES attendances (tenant_id, id),
    CONSTRAINT attendance_competences_competence_fkey FOREIGN KEY (referential_code, competence_code) REFERENCES competences (referential_code, code)
);
SELECT enable_tenant_isolation('attendance_competences');
