#!/usr/bin/env bash
# `make run`: services, migrations, demo data, then the API and the worker until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=services.sh
source infra/local/services.sh
export API_ADDR="${API_ADDR:-127.0.0.1:8080}"
export MAIL_DIR="${MAIL_DIR:-$PWD/var/mail}"

port=${API_ADDR##*:}
host=${API_ADDR%:*}
if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  echo "error: $API_ADDR is already in use; choose another address, e.g. API_ADDR=127.0.0.1:8180 make run" >&2
  exit 1
fi

cargo build --quiet --bin passerelle
bin="${CARGO_TARGET_DIR:-target}/debug/passerelle"

"$bin" migrate
"$bin" seed-demo --tokens-file .demo-tokens

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

"$bin" serve & pids+=($!)
"$bin" work & pids+=($!)

echo
echo "Passerelle is starting:"
echo "  API            http://$API_ADDR/v1"
echo "  Documentation  http://$API_ADDR/docs"
echo "  OpenAPI        http://$API_ADDR/v1/openapi.json"
echo "  Readiness      http://$API_ADDR/readyz"
echo "  Demo tokens    .demo-tokens (try: curl -H \"Authorization: Bearer \$(grep ^TENANT_ADMIN_LOT= .demo-tokens | cut -d= -f2)\" http://$API_ADDR/v1/me)"
echo "Ctrl-C stops both."
wait -n "${pids[@]}"
