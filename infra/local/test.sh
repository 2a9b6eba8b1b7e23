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

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --exclude passerelle-faults --no-fail-fast
else
  cargo test --workspace --exclude passerelle-faults --no-fail-fast
fi

# Clients generated from the committed OpenAPI document by the generators integrators use.
tests/openapi/clients.sh

# The pages in headless Chromium, driven by Playwright; screenshots in var/e2e/screenshots/.
tests/e2e/run.sh

tests/smoke/make-run.sh
