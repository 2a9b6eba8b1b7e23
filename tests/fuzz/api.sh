#!/usr/bin/env bash
# `make fuzz-api`: property-based fuzzing of the whole API from its OpenAPI document with
# schemathesis, against a running `passerelle serve` on a database of its own seeded with the two
# demo tenants. Every request carries a token of the Lot's or of Auvergne-Rhône-Alpes's admin,
# prescriber, EPN, finance officer or funder (Web Fuzzing Commons auth file), so the object-level
# authorization check replays each tenant's reads with the other tenant's tokens.
#
# Bounded: FUZZ_EXAMPLES examples per operation (default 25) and a fixed seed (FUZZ_SEED), so the
# run takes minutes and a failure can be replayed; one worker (FUZZ_WORKERS), since schemathesis
# 4.32.5 sometimes stops an operation with an internal error when several run. The report goes to
# var/fuzz/.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=../../infra/local/services.sh
source infra/local/services.sh
command -v st >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check 'schemathesis==4.32.5'

cargo build --quiet --bin passerelle
bin="${CARGO_TARGET_DIR:-target}/debug/passerelle"
out=var/fuzz
mkdir -p "$out"

database="passerelle_fuzz_$(date +%s)_$$"
owner_base="${MIGRATION_DATABASE_URL%/*}"
app_base="${DATABASE_URL%/*}"
psql "$TEST_DATABASE_URL" -q -c "CREATE DATABASE $database"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

export DATABASE_URL="$app_base/$database"
export MIGRATION_DATABASE_URL="$owner_base/$database"
export API_ADDR="127.0.0.1:$port"
export PUBLIC_BASE_URL="http://$API_ADDR"
export STATISTICS_DIR="$PWD/$out/statistics"
export LOG_LEVEL=warn

api_pid=
cleanup() {
  [ -n "$api_pid" ] && kill -TERM "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null || true
  psql "$TEST_DATABASE_URL" -q -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" || true
}
trap cleanup EXIT

infra/local/web-assets.sh
"$bin" migrate >/dev/null 2>&1
"$bin" seed-demo --tokens-file "$out/tokens" >/dev/null
"$bin" serve >"$out/api.log" 2>&1 &
api_pid=$!
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.2
done

python3 - "$out/tokens" "$out/auth.json" <<'PY'
import json, sys
tokens = dict(line.strip().split("=", 1) for line in open(sys.argv[1]) if "=" in line)
users = [
    {"name": label.lower(), "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {tokens[label]}"}]}
    for label in ["TENANT_ADMIN_LOT", "TENANT_ADMIN_ARA", "PRESCRIBER_LOT", "PRESCRIBER_ARA", "EPN_LOT", "EPN_ARA",
                  "FINANCE_LOT", "FINANCE_ARA", "FUNDER_LOT", "FUNDER_ARA"]
]
json.dump({"auth": users}, open(sys.argv[2], "w"), indent=2)
PY

st run services/api/openapi.json \
  --url "http://$API_ADDR" \
  --auth-wfc "$out/auth.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection,object_level_authorization,ignored_auth \
  --phases examples,coverage,fuzzing \
  --max-examples "${FUZZ_EXAMPLES:-25}" \
  --seed "${FUZZ_SEED:-20261122}" \
  --generation-deterministic \
  --request-timeout 30 \
  --workers "${FUZZ_WORKERS:-1}" \
  --report junit \
  --report-dir "$out" \
  "$@"
