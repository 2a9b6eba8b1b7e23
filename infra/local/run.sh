#!/usr/bin/env bash
# `make run`: services, migrations, demo data, then the API and the worker until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=services.sh
source infra/local/services.sh
export API_ADDR="${API_ADDR:-127.0.0.1:8080}"
export MAIL_DIR="${MAIL_DIR:-$PWD/var/mail}"
export WORKER_HEALTH_ADDR="${WORKER_HEALTH_ADDR:-127.0.0.1:8081}"
export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://$API_ADDR}"

for addr_var in API_ADDR WORKER_HEALTH_ADDR; do
  addr=${!addr_var}
  if (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null; then
    echo "error: $addr is already in use; choose another address, e.g. $addr_var=127.0.0.1:$(( ${addr##*:} + 100 )) make run" >&2
    exit 1
  fi
done

infra/local/web-assets.sh
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
echo "  Portal         http://$API_ADDR/portail/lot/connexion (demo users <role>@lot.example, password demo-passerelle)"
echo "  Worker         http://$WORKER_HEALTH_ADDR/healthz"
if [ -z "${SMTP_URL:-}" ]; then
  echo "  Emails         written as .eml files under $MAIL_DIR (set SMTP_URL to send them)"
fi
echo "  Demo tokens    .demo-tokens (try: curl -H \"Authorization: Bearer \$(grep ^TENANT_ADMIN_LOT= .demo-tokens | cut -d= -f2)\" http://$API_ADDR/v1/me)"
echo "Ctrl-C stops both."
wait -n "${pids[@]}"
