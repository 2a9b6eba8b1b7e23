#!/usr/bin/env bash
# Smoke test of `make run`: starts it in the background on a free port, waits for /readyz, calls
# /v1/me with a demo token it wrote to .demo-tokens, then stops it (Ctrl-C equivalent) and checks
# that both processes are gone. Runs it twice to prove the seed does not duplicate demo data.
set -euo pipefail
cd "$(dirname "$0")/../.."
# The same environment as `make run` (services up, local URLs), for the CLI checks below.
# shellcheck source=../../infra/local/services.sh
source infra/local/services.sh

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

# The operator's CLI: a platform token works on the API until it is revoked.
check_operator_cli() {
  local port=$1 bin err secret id me status tenants
  bin="${CARGO_TARGET_DIR:-target}/debug/passerelle"
  err=$(mktemp)
  secret=$("$bin" token create-platform --email smoke@passerelle.example --name smoke 2>"$err")
  id=$(sed -n 's/^token \([0-9a-f-]*\) created.*/\1/p' "$err")
  me=$(curl -sf -H "Authorization: Bearer $secret" "http://127.0.0.1:$port/v1/me")
  echo "$me" | grep -q '"role":"platform_admin"' || { echo "FAIL: CLI platform token: $me"; return 1; }
  tenants=$("$bin" tenant list)
  grep -q $'\tlot\t' <<<"$tenants" || { echo "FAIL: tenant list lacks the Lot: $tenants"; return 1; }
  check_new_territory "$bin" || return 1
  "$bin" token revoke --id "$id" 2>/dev/null
  status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $secret" "http://127.0.0.1:$port/v1/me")
  [ "$status" = 401 ] || { echo "FAIL: revoked CLI token still answers $status"; return 1; }
  rm -f "$err"
}

# A new territory with its first tenant admin invited, as the operator starts one, in a database
# of its own (migrated by the CLI, dropped after) so that no run leaves a tenant behind.
check_new_territory() {
  local bin=$1 db created
  db="passerelle_smoke_$$"
  psql "$TEST_DATABASE_URL" -q -c "CREATE DATABASE $db" </dev/null
  MIGRATION_DATABASE_URL="${MIGRATION_DATABASE_URL%/*}/$db" "$bin" migrate >/dev/null 2>&1 ||
    { echo "FAIL: migrate a new database"; psql "$TEST_DATABASE_URL" -q -c "DROP DATABASE $db WITH (FORCE)" </dev/null; return 1; }
  local url="${DATABASE_URL%/*}/$db"
  if DATABASE_URL="$url" "$bin" tenant create --slug cantal --name "Cantal" --kind departement --insee-code 15 \
      --sender-name Cantal --sender-email numerique@cantal.example --admin-email "pas-une-adresse" >/dev/null 2>&1; then
    echo "FAIL: tenant create accepted a bad --admin-email"; created=""
  else
    created=$(DATABASE_URL="$url" "$bin" tenant create --slug cantal --name "Cantal" --kind departement --insee-code 15 \
      --sender-name Cantal --sender-email numerique@cantal.example \
      --admin-email admin@cantal.example --admin-name "Première administratrice" 2>&1) || true
  fi
  psql "$TEST_DATABASE_URL" -q -c "DROP DATABASE $db WITH (FORCE)" </dev/null
  grep -q $'\tcantal\tCantal' <<<"$created" || { echo "FAIL: tenant create: $created"; return 1; }
  grep -q $'\tadmin@cantal.example\tinvited' <<<"$created" || { echo "FAIL: the first admin was not invited: $created"; return 1; }
}

run_once() {
  local port worker_port log pid status me
  port=$(free_port)
  worker_port=$(free_port)
  log=$(mktemp)
  API_ADDR="127.0.0.1:$port" WORKER_HEALTH_ADDR="127.0.0.1:$worker_port" setsid make run >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 240); do
    status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true)
    [ "$status" = 200 ] && break
    if ! kill -0 "$pid" 2>/dev/null; then cat "$log"; echo "FAIL: make run exited early"; return 1; fi
    sleep 0.5
  done
  if [ "$status" != 200 ]; then cat "$log"; echo "FAIL: /readyz never answered 200"; kill -TERM -- "-$pid"; return 1; fi

  token=$(grep '^TENANT_ADMIN_LOT=' .demo-tokens | cut -d= -f2-)
  me=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/me")
  echo "$me" | grep -q '"tenant_slug":"lot"' || { echo "FAIL: unexpected /v1/me: $me"; kill -TERM -- "-$pid"; return 1; }
  echo "$me" | grep -q '"role":"tenant_admin"' || { echo "FAIL: unexpected /v1/me: $me"; kill -TERM -- "-$pid"; return 1; }
  network=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/epns?limit=100")
  echo "$network" | grep -q '"source_id":"lot-epn-002"' || { echo "FAIL: the Lot's open-data network is not seeded: $network"; kill -TERM -- "-$pid"; return 1; }
  grep -q "http://127.0.0.1:$port/docs" "$log" || { cat "$log"; echo "FAIL: docs URL not printed"; kill -TERM -- "-$pid"; return 1; }
  grep -q "http://127.0.0.1:$port/portail/lot/connexion" "$log" || { cat "$log"; echo "FAIL: portal URL not printed"; kill -TERM -- "-$pid"; return 1; }
  if grep -q "API_ADDR/portail" "$log"; then cat "$log"; echo "FAIL: a portal address printed literally"; kill -TERM -- "-$pid"; return 1; fi

  check_operator_cli "$port" || { kill -TERM -- "-$pid"; return 1; }
  for _ in $(seq 1 60); do
    status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$worker_port/healthz" || true)
    [ "$status" = 200 ] && break
    sleep 0.5
  done
  [ "$status" = 200 ] || { cat "$log"; echo "FAIL: the worker's /healthz answered $status"; kill -TERM -- "-$pid"; return 1; }

  kill -INT -- "-$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then echo "FAIL: make run did not stop on Ctrl-C"; kill -KILL -- "-$pid"; return 1; fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "FAIL: the API still listens after Ctrl-C"; return 1; fi
  rm -f "$log"
}

run_once
run_once
count=$(psql "${MIGRATION_DATABASE_URL:-postgres://passerelle_owner:passerelle@127.0.0.1:5432/passerelle}" -tAc \
  "SELECT count(*) FROM tenants WHERE slug IN ('lot', 'auvergne-rhone-alpes')" </dev/null)
[ "$count" = 2 ] || { echo "FAIL: expected the 2 demo tenants once, found $count"; exit 1; }
echo "1 passed, 0 failed: make run smoke test (started twice, /readyz, /v1/me, operator CLI, worker /healthz, Ctrl-C)"
