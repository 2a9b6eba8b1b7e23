#!/usr/bin/env bash
# End-to-end tests of the pages, in headless Chromium (Debian's package, no browser download)
# driven by Playwright (playwright-core, pinned by tests/e2e/package-lock.json), against the real
# `passerelle serve` on a database of its own seeded with the two demo tenants. Run by `make test`.
# Each test writes screenshots of the pages it visits to var/e2e/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=../../infra/local/services.sh
source infra/local/services.sh
command -v chromium >/dev/null 2>&1 || apt_install chromium
infra/local/web-assets.sh
if ! [ -f tests/e2e/node_modules/playwright-core/package.json ] ||
  [ tests/e2e/package-lock.json -nt tests/e2e/node_modules/.package-lock.json ]; then
  (cd tests/e2e && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

cargo build --quiet --bin passerelle
bin="${CARGO_TARGET_DIR:-target}/debug/passerelle"
out=var/e2e
rm -rf "$out"
mkdir -p "$out/screenshots"

database="passerelle_e2e_$(date +%s)_$$"
owner_base="${MIGRATION_DATABASE_URL%/*}"
app_base="${DATABASE_URL%/*}"
psql "$TEST_DATABASE_URL" -q -c "CREATE DATABASE $database"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

export DATABASE_URL="$app_base/$database"
export MIGRATION_DATABASE_URL="$owner_base/$database"
export API_ADDR="127.0.0.1:$port"
export PUBLIC_BASE_URL="http://$API_ADDR"
export STATISTICS_DIR="$PWD/$out/statistics"
export MAIL_DIR="$PWD/$out/mail"
export LOG_LEVEL=warn

api_pid=
cleanup() {
  [ -n "$api_pid" ] && kill -TERM "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null || true
  psql "$TEST_DATABASE_URL" -q -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" || true
}
trap cleanup EXIT

"$bin" migrate >/dev/null 2>&1
"$bin" seed-demo --tokens-file "$out/tokens" >/dev/null
"$bin" serve >"$out/api.log" 2>&1 &
api_pid=$!
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.2
done

E2E_BASE_URL="http://$API_ADDR" E2E_TOKENS="$PWD/$out/tokens" E2E_SCREENSHOTS="$PWD/$out/screenshots" \
  node --test --test-concurrency=1 tests/e2e/
