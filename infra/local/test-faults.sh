#!/usr/bin/env bash
# `make test-faults`: builds the `passerelle` binary, then runs the fault-injection suite, whose
# tests start that binary against Redis, SMTP (and for one test PostgreSQL) servers of their own.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=services.sh
source infra/local/services.sh
infra/local/drop-test-databases.sh
command -v redis-server >/dev/null 2>&1 || apt_install redis-server
infra/local/web-assets.sh

cargo build --bin passerelle
export PASSERELLE_BIN="${CARGO_TARGET_DIR:-target}/debug/passerelle"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run -p passerelle-faults --no-fail-fast --success-output final
else
  cargo test -p passerelle-faults --no-fail-fast -- --nocapture
fi
