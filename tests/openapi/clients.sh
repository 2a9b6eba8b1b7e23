#!/usr/bin/env bash
# Generates a TypeScript client (openapi-typescript) and a Python client (openapi-python-client)
# from the committed OpenAPI document, the way integrators do, with the generators pinned here
# (tests/openapi/package-lock.json, OPENAPI_PYTHON_CLIENT below). Fails on any warning of either
# generator, then type-checks (tsc) and imports (python) a few typed calls. Run by `make test`.
set -euo pipefail
cd "$(dirname "$0")/../.."

OPENAPI_PYTHON_CLIENT=0.29.1
document=services/api/openapi.json
out=var/openapi
rm -rf "$out/python" "$out/api.d.ts"
mkdir -p "$out"

fail_on_warnings() {
  local generator=$1 log=$2
  if grep -qiE 'warn|error|⚠|skipp' <<<"$log"; then
    echo "$generator reported problems with $document:" >&2
    echo "$log" >&2
    exit 1
  fi
}

if ! [ -f tests/openapi/node_modules/openapi-typescript/package.json ] ||
  [ tests/openapi/package-lock.json -nt tests/openapi/node_modules/.package-lock.json ]; then
  (cd tests/openapi && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
log=$(tests/openapi/node_modules/.bin/openapi-typescript "$document" -o "$out/api.d.ts" 2>&1) || {
  echo "$log" >&2
  exit 1
}
fail_on_warnings openapi-typescript "$log"
tests/openapi/node_modules/.bin/tsc -p tests/openapi/tsconfig.json
echo "typescript client: typed calls compile"

venv="$out/venv"
if ! [ -x "$venv/bin/openapi-python-client" ] ||
  ! "$venv/bin/pip" show openapi-python-client 2>/dev/null | grep -qx "Version: $OPENAPI_PYTHON_CLIENT"; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "openapi-python-client==$OPENAPI_PYTHON_CLIENT"
fi
log=$("$venv/bin/openapi-python-client" generate --path "$document" --output-path "$out/python" \
  --config tests/openapi/python-client.yaml 2>&1) || {
  echo "$log" >&2
  exit 1
}
fail_on_warnings openapi-python-client "$log"
PYTHONPATH="$out/python" "$venv/bin/python" tests/openapi/typed_calls.py
