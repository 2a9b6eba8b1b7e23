-- A territory's archive asked for through the API: the worker writes the zip under ARCHIVE_DIR
-- (tenant/archive.zip), the tenant admin downloads it. An archive holds every person's data, so its
-- file is kept a few days only (`expires_at`), then deleted by the daily run; the row stays, with
-- the manifest's figures, as the record of what left and when.
CREATE TABLE tenant_archives (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL,
    status       text NOT NULL DEFAULT 'queued'
                     CONSTRAINT tenant_archives_status_known CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'expired')),
    error        text,
    requested_by uuid,
    actor_role   text NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    relayed_at   timestamptz,
    started_at   timestamptz,
    finished_at  timestamptz,
    -- What the worker wrote, from the archive's manifest.
    schema_version bigint,
    table_count  integer,
    row_count    bigint,
    byte_size    bigint CONSTRAINT tenant_archives_byte_size_positive CHECK (byte_size >= 0),
    sha256       text CONSTRAINT tenant_archives_sha256_format CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    expires_at   timestamptz,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT tenant_archives_failure CHECK ((status = 'failed') = (error IS NOT NULL)),
    CONSTRAINT tenant_archives_written CHECK (
        (status IN ('succeeded', 'expired')) = (sha256 IS NOT NULL AND byte_size IS NOT NULL AND expires_at IS NOT NULL)
    ),
    CONSTRAINT tenant_archives_finished CHECK ((status IN ('succeeded', 'failed', 'expired')) = (finished_at IS NOT NULL))
);
-- One archive at a time per tenant: each reads every table and writes its size again on disk.
CREATE UNIQUE INDEX tenant_archives_one_under_way ON tenant_archives (tenant_id) WHERE status IN ('queued', 'running');
CREATE INDEX tenant_archives_recent ON tenant_archives (tenant_id, requested_at DESC);
SELECT enable_tenant_isolation('tenant_archives');
