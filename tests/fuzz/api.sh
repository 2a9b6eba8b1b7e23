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

# shellcheck source=../../infra/local/demo-instance.sh
source infra/local/demo-instance.sh
out=var/fuzz
start_demo_instance "$out"

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
