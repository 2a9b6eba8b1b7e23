# Sourced (after services.sh) by the scripts that test a running service: `start_demo_instance OUT`
# builds `passerelle`, creates a database of its own, starts a Redis of its own (so that its
# worker's queues and its rate limits meet no other process's), migrates, seeds the two demo
# tenants (tokens in OUT/tokens), starts `passerelle serve` on a free loopback port (log in
# OUT/api.log) and `passerelle work` (log in OUT/worker.log), and waits for the API to listen. It
# exports API_ADDR and the service's settings; everything it started is stopped and its database
# dropped when the calling script exits.

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
  local port redis_port health_port
  port=$(free_port)
  redis_port=$(free_port)
  health_port=$(free_port)

  export DATABASE_URL="$app_base/$demo_database"
  export MIGRATION_DATABASE_URL="$owner_base/$demo_database"
  export API_ADDR="127.0.0.1:$port"
  export PUBLIC_BASE_URL="http://$API_ADDR"
  export STATISTICS_DIR="$PWD/$out/statistics"
  export ARCHIVE_DIR="$PWD/$out/archives"
  export MAIL_DIR="$PWD/$out/mail"
  export REDIS_URL="redis://127.0.0.1:$redis_port"
  export WORKER_HEALTH_ADDR="127.0.0.1:$health_port"
  export LOG_LEVEL=warn
  # The end-to-end tests start an OpenID Connect provider of their own on 127.0.0.1.
  export OIDC_LOCAL_ISSUERS=true

  demo_pid= demo_worker_pid= demo_redis_pid=
  trap stop_demo_instance EXIT
  redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
    --logfile "$PWD/$out/redis.log" &
  demo_redis_pid=$!
  wait_for_port "$redis_port" || return 1
  "$demo_bin" migrate >/dev/null 2>&1
  "$demo_bin" seed-demo --tokens-file "$out/tokens" >/dev/null
  "$demo_bin" serve >"$out/api.log" 2>&1 &
  demo_pid=$!
  "$demo_bin" work >"$out/worker.log" 2>&1 &
  demo_worker_pid=$!
  wait_for_port "$port" && return 0
  echo "error: the service did not listen on $API_ADDR; see $out/api.log" >&2
  return 1
}

wait_for_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop_demo_instance() {
  local pid
  for pid in "${demo_pid:-}" "${demo_worker_pid:-}" "${demo_redis_pid:-}"; do
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  psql "$TEST_DATABASE_URL" -q -c "DROP DATABASE IF EXISTS $demo_database WITH (FORCE)" || true
}
