-- Imports run in the background: the national open-data file of *lieux de médiation numérique*
-- (tens of thousands of places, tens of megabytes) and prescribers' bulk voucher files. The upload
-- is kept in PostgreSQL in chunks while it streams in, so that whichever process runs the import
-- (the API right away, or the worker taking over a stalled one) reads the same bytes; the chunks
-- are deleted when the import ends. Progress is committed with each batch of rows, which lets an
-- interrupted import resume where it stopped without importing a row twice.
CREATE TABLE imports (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    id            uuid NOT NULL,
    kind          text NOT NULL CONSTRAINT imports_kind_known CHECK (kind IN ('epns', 'vouchers')),
    status        text NOT NULL DEFAULT 'queued'
                      CONSTRAINT imports_status_known CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    file_name     text CONSTRAINT imports_file_name_length CHECK (char_length(file_name) <= 255),
    byte_size     bigint NOT NULL CONSTRAINT imports_byte_size_positive CHECK (byte_size >= 0),
    file_sha256   text NOT NULL,
    -- A bulk voucher file is issued for one scheme by one prescriber organisation.
    scheme_id     uuid,
    prescriber_id uuid,
    rows_read     integer NOT NULL DEFAULT 0,
    -- How far into the file the rows read reach, for a progress bar (the row count is not known
    -- before the end).
    bytes_read    bigint NOT NULL DEFAULT 0,
    created       integer NOT NULL DEFAULT 0,
    updated       integer NOT NULL DEFAULT 0,
    refused       integer NOT NULL DEFAULT 0,
    warnings      integer NOT NULL DEFAULT 0,
    error         text,
    requested_by  uuid,
    actor_role    text NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    -- Renewed by the process running the import; an import whose heartbeat stopped is taken over.
    heartbeat_at  timestamptz,
    -- When the worker's relay last queued it for taking over.
    relayed_at    timestamptz,
    finished_at   timestamptz,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT imports_scheme_fkey FOREIGN KEY (tenant_id, scheme_id) REFERENCES schemes (tenant_id, id),
    CONSTRAINT imports_prescriber_fkey FOREIGN KEY (tenant_id, prescriber_id) REFERENCES prescribers (tenant_id, id),
    CONSTRAINT imports_vouchers_target CHECK ((kind = 'vouchers') = (scheme_id IS NOT NULL AND prescriber_id IS NOT NULL)),
    CONSTRAINT imports_failure CHECK ((status = 'failed') = (error IS NOT NULL)),
    CONSTRAINT imports_finished CHECK ((status IN ('succeeded', 'failed')) = (finished_at IS NOT NULL))
);
CREATE INDEX imports_recent ON imports (tenant_id, kind, requested_at DESC);
CREATE INDEX imports_unfinished ON imports (tenant_id, heartbeat_at) WHERE status IN ('queued', 'running');
SELECT enable_tenant_isolation('imports');

CREATE TABLE import_chunks (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    import_id uuid NOT NULL,
    seq       integer NOT NULL CONSTRAINT import_chunks_seq_positive CHECK (seq >= 0),
    data      bytea NOT NULL,
    PRIMARY KEY (tenant_id, import_id, seq),
    CONSTRAINT import_chunks_import_fkey FOREIGN KEY (tenant_id, import_id) REFERENCES imports (tenant_id, id) ON DELETE CASCADE
);
SELECT enable_tenant_isolation('import_chunks');

-- The report. For places: one line per refused row, and per row imported with a warning (hours
-- kept as text); places imported cleanly are only counted, as a national file would otherwise
-- write tens of thousands of lines nobody reads. For vouchers: every row, with the reference issued.
CREATE TABLE import_lines (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    import_id uuid NOT NULL,
    line      bigint NOT NULL,
    outcome   text NOT NULL CONSTRAINT import_lines_outcome_known
                  CHECK (outcome IN ('created', 'updated', 'refused', 'already_held')),
    source_id text,
    object_id uuid,
    reference text,
    field     text,
    message   text CONSTRAINT import_lines_message_length CHECK (char_length(message) <= 2000),
    warning   text CONSTRAINT import_lines_warning_length CHECK (char_length(warning) <= 2000),
    PRIMARY KEY (tenant_id, import_id, line),
    CONSTRAINT import_lines_import_fkey FOREIGN KEY (tenant_id, import_id) REFERENCES imports (tenant_id, id) ON DELETE CASCADE
);
SELECT enable_tenant_isolation('import_lines');

-- Every field of the published schema is kept: those this platform does not use yet go here, under
-- their names in the schema (multi-valued ones as arrays).
ALTER TABLE epns ADD COLUMN open_data jsonb NOT NULL DEFAULT '{}';

-- `source` is optional in the schema: a place without one is found again by its id alone.
CREATE UNIQUE INDEX epns_unsourced_key ON epns (tenant_id, source_id) WHERE source IS NULL AND source_id IS NOT NULL;
