-- An Idempotency-Key belongs to the caller who sent it, not to the whole tenant: two users of a
-- tenant may pick the same key and never see each other's responses. Keys already stored (kept
-- 24 hours at most) get the nil caller, which no user has: they are simply never replayed again.
--
-- A response that carried a secret shown once (a new API token, a private portfolio link) is not
-- kept: only the fact that the request succeeded, so that a retry is told so instead of getting
-- the secret a second time.
ALTER TABLE idempotency_keys ADD COLUMN caller_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
ALTER TABLE idempotency_keys ALTER COLUMN caller_id DROP DEFAULT;
ALTER TABLE idempotency_keys ADD COLUMN response_withheld boolean NOT NULL DEFAULT false;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (tenant_id, caller_id, key);

ALTER TABLE platform_idempotency_keys ADD COLUMN caller_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
ALTER TABLE platform_idempotency_keys ALTER COLUMN caller_id DROP DEFAULT;
ALTER TABLE platform_idempotency_keys ADD COLUMN response_withheld boolean NOT NULL DEFAULT false;
ALTER TABLE platform_idempotency_keys DROP CONSTRAINT platform_idempotency_keys_pkey;
ALTER TABLE platform_idempotency_keys ADD PRIMARY KEY (caller_id, key);
