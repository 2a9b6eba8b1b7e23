#!/usr/bin/env bash
# End-to-end tests of the pages, in headless Chromium (Debian's package, no browser download)
# driven by Playwright (playwright-core, pinned by tests/e2e/package-lock.json), against the real
# `passerelle serve` on a database of its own seeded with the two demo tenants. Run by `make test`.
# Each test writes screenshots of the pages it visits to var/e2e/screenshots/. Arguments, if any,
# name the test files to run (`bash tests/e2e/run.sh tests/e2e/phone.test.mjs`).
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=../../infra/local/services.sh
source infra/local/services.sh
command -v chromium >/dev/null 2>&1 || apt_install chromium
# Printed documents are read back with poppler (pdftotext, pdfinfo, pdftoppm) and zbar (zbarimg).
command -v pdftotext >/dev/null 2>&1 || apt_install poppler-utils
command -v zbarimg >/dev/null 2>&1 || apt_install zbar-tools
if ! [ -f tests/e2e/node_modules/playwright-core/package.json ] ||
  [ tests/e2e/package-lock.json -nt tests/e2e/node_modules/.package-lock.json ]; then
  (cd tests/e2e && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

out=var/e2e
rm -rf "$out"
mkdir -p "$out/screenshots"
# shellcheck source=../../infra/local/demo-instance.sh
source infra/local/demo-instance.sh
start_demo_instance "$out"

E2E_BASE_URL="http://$API_ADDR" E2E_TOKENS="$PWD/$out/tokens" E2E_SCREENSHOTS="$PWD/$out/screenshots" \
  E2E_MAIL_DIR="$MAIL_DIR" \
  node --test --test-concurrency=1 "${@:-tests/e2e/}"
