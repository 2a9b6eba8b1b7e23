-- Statistics for funders: one row per export (a scheme over a month, quarter or year) and one per
-- file it wrote. The files themselves live in the statistics storage folder.

-- Counts under this threshold are blanked in published files. The key makes the pseudonymous
-- holder key of the `vouchers` dataset: a keyed hash that no one outside the tenant can recompute
-- from a beneficiary id, and that changes if the key is rotated.
ALTER TABLE tenants
    ADD COLUMN statistics_threshold integer NOT NULL DEFAULT 5
        CONSTRAINT tenants_statistics_threshold_range CHECK (statistics_threshold BETWEEN 1 AND 100),
    ADD COLUMN statistics_key bytea NOT NULL
        DEFAULT uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid());

CREATE TABLE statistics_exports (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL,
    scheme_id    uuid NOT NULL,
    period_kind  text NOT NULL CONSTRAINT statistics_exports_period_kind_known CHECK (period_kind IN ('month', 'quarter', 'year')),
    period_start date NOT NULL,
    period_end   date NOT NULL,
    -- 'scheduled' for the monthly cron, 'on_demand' for a request through the API.
    origin       text NOT NULL CONSTRAINT statistics_exports_origin_known CHECK (origin IN ('scheduled', 'on_demand')),
    status       text NOT NULL DEFAULT 'queued' CONSTRAINT statistics_exports_status_known CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    error        text,
    requested_by uuid,
    requested_at timestamptz NOT NULL DEFAULT now(),
    relayed_at   timestamptz,
    started_at   timestamptz,
    finished_at  timestamptz,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT statistics_exports_scheme_fkey FOREIGN KEY (tenant_id, scheme_id) REFERENCES schemes (tenant_id, id),
    CONSTRAINT statistics_exports_period CHECK (period_end > period_start),
    CONSTRAINT statistics_exports_failure CHECK ((status = 'failed') = (error IS NOT NULL))
);
-- The cron asks once per scheme and period; on-demand exports may repeat a period.
CREATE UNIQUE INDEX statistics_exports_scheduled_once
    ON statistics_exports (tenant_id, scheme_id, period_kind, period_start) WHERE origin = 'scheduled';
CREATE INDEX statistics_exports_queued_idx ON statistics_exports (tenant_id, requested_at) WHERE status IN ('queued', 'running');
SELECT enable_tenant_isolation('statistics_exports');

CREATE TABLE statistics_files (
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    export_id  uuid NOT NULL,
    name       text NOT NULL CONSTRAINT statistics_files_name_format CHECK (name ~ '^[a-z_]+(-published)?\.(parquet|csv)$'),
    dataset    text NOT NULL,
    format     text NOT NULL CONSTRAINT statistics_files_format_known CHECK (format IN ('parquet', 'csv')),
    -- Published files have small counts blanked; the others are for the tenant admin only.
    published  boolean NOT NULL,
    row_count  bigint NOT NULL,
    byte_size  bigint NOT NULL,
    sha256     text NOT NULL,
    PRIMARY KEY (tenant_id, export_id, name),
    CONSTRAINT statistics_files_export_fkey FOREIGN KEY (tenant_id, export_id) REFERENCES statistics_exports (tenant_id, id)
);
SELECT enable_tenant_isolation('statistics_files');
