-- A territory's branding, shown on its pages, letters and emails: the name people know it by
-- (e.g. « Lot numérique » for the Département du Lot), and its logo.
--
-- The logo's bytes are tenant data, under row-level security, in a table of their own so that
-- reading a tenant (every request does) never carries them; the tenant's row says which logo is
-- current (format and digest), for the pages' addresses and the caches that key on it.
ALTER TABLE tenants
    ADD COLUMN display_name text
        CONSTRAINT tenants_display_name_length CHECK (display_name IS NULL OR char_length(display_name) BETWEEN 1 AND 120),
    ADD COLUMN logo_format text
        CONSTRAINT tenants_logo_format_known CHECK (logo_format IN ('png', 'svg')),
    ADD COLUMN logo_sha256 text
        CONSTRAINT tenants_logo_sha256_format CHECK (logo_sha256 ~ '^[0-9a-f]{64}$'),
    ADD CONSTRAINT tenants_logo_described CHECK ((logo_format IS NULL) = (logo_sha256 IS NULL));

CREATE TABLE tenant_logos (
    tenant_id  uuid PRIMARY KEY REFERENCES tenants (id),
    format     text NOT NULL CONSTRAINT tenant_logos_format_known CHECK (format IN ('png', 'svg')),
    content    bytea NOT NULL CONSTRAINT tenant_logos_content_size CHECK (octet_length(content) BETWEEN 1 AND 524288),
    sha256     text NOT NULL CONSTRAINT tenant_logos_sha256_format CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    -- A PNG's size in pixels; an SVG scales.
    width      integer CONSTRAINT tenant_logos_width_positive CHECK (width > 0),
    height     integer CONSTRAINT tenant_logos_height_positive CHECK (height > 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
SELECT enable_tenant_isolation('tenant_logos');
