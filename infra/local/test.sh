#!/usr/bin/env bash
# `make test`: services, then every test of the workspace, the end-to-end tests of the pages in a
# browser, then the `make run` smoke test. The fault-injection suite (tests/faults) has its own
# target, `make test-faults`.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=services.sh
source infra/local/services.sh
infra/local/drop-test-databases.sh
# The SEPA test validates its file against the ISO 20022 schema with xmllint.
command -v xmllint >/dev/null 2>&1 || apt_install libxml2-utils
# The pages are drawn with the design system's files, which the API serves.
infra/local/web-assets.sh
# The statistics tests read the Parquet files back with an independent reader, pyarrow.
python3 -c 'import pyarrow' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check 'pyarrow==21.0.0'
# The credentials are verified by an independent implementation: PyJWT (EdDSA) and jsonschema.
python3 -c 'import jwt, jsonschema; jsonschema.Draft201909Validator; from cryptography.hazmat.primitives.asymmetric import ed25519' 2>/dev/null ||
  python3 -m pip install --quiet --disable-pip-version-check 'PyJWT[crypto]==2.10.1' 'jsonschema==4.26.0'

# Every test process records the statements of the product that do not name their tenant (as
# Citus needs to send each to one shard); one test reads them all after the run.
export PASSERELLE_STATEMENT_LOG="$PWD/var/statements"
rm -rf "$PASSERELLE_STATEMENT_LOG"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --exclude passerelle-faults --no-fail-fast
  cargo nextest run -p passerelle-core --run-ignored only every_statement_the_suite_sent_names_its_tenant
else
  cargo test --workspace --exclude passerelle-faults --no-fail-fast
  cargo test -p passerelle-core --test core -- --ignored every_statement_the_suite_sent_names_its_tenant
fi

# Clients generated from the committed OpenAPI document by the generators integrators use.
tests/openapi/clients.sh

# The pages in headless Chromium, driven by Playwright; screenshots in var/e2e/screenshots/.
tests/e2e/run.sh

tests/smoke/make-run.sh
