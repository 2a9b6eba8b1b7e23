# Sourced (after services.sh) by the scripts that test a running service: `start_demo_instance OUT`
# builds `passerelle`, creates a database of its own, migrates it, seeds the two demo tenants
# (tokens in OUT/tokens), starts `passerelle serve` on a free loopback port (log in OUT/api.log)
# and waits for it to listen. It exports API_ADDR and the service's settings; the instance is
# stopped and its database dropped when the calling script exits.

start_demo_instance() {
  local out=$1
  cargo build --quiet --bin passerelle
  demo_bin="${CARGO_TARGET_DIR:-target}/debug/passerelle"
  mkdir -p "$out"
  infra/local/web-assets.sh

  demo_database="passerelle_demo_$(date +%s)_$$"
  local owner_base="${MIGRATION_DATABASE_URL%/*}"
  local app_base="${DATABASE_URL%/*}"
  psql "$TEST_DATABASE_URL" -q -c "CREATE DATABASE $demo_database"
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

  export DATABASE_URL="$app_base/$demo_database"
  export MIGRATION_DATABASE_URL="$owner_base/$demo_database"
  export API_ADDR="127.0.0.1:$port"
  export PUBLIC_BASE_URL="http://$API_ADDR"
  export STATISTICS_DIR="$PWD/$out/statistics"
  export MAIL_DIR="$PWD/$out/mail"
  export LOG_LEVEL=warn

  demo_pid=
  trap stop_demo_instance EXIT
  "$demo_bin" migrate >/dev/null 2>&1
  "$demo_bin" seed-demo --tokens-file "$out/tokens" >/dev/null
  "$demo_bin" serve >"$out/api.log" 2>&1 &
  demo_pid=$!
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.2
  done
  echo "error: the service did not listen on $API_ADDR; see $out/api.log" >&2
  return 1
}

stop_demo_instance() {
  [ -n "${demo_pid:-}" ] && kill -TERM "$demo_pid" 2>/dev/null && wait "$demo_pid" 2>/dev/null || true
  psql "$TEST_DATABASE_URL" -q -c "DROP DATABASE IF EXISTS $demo_database WITH (FORCE)" || true
}
