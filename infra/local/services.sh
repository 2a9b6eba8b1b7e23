#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis are reachable for local runs and tests, and that the database
# roles and the `passerelle` database exist. Source it: it exports DATABASE_URL and friends when
# they are not set already.
#
# - DATABASE_URL set: that PostgreSQL is used as it is (MIGRATION_DATABASE_URL must be set too).
# - otherwise PostgreSQL on 127.0.0.1:5432; if it does not answer and we are root on Debian, it is
#   installed with apt and started. Same for Redis on 127.0.0.1:6379 unless REDIS_URL is set.

set -euo pipefail

reachable() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_for() {
  local host=$1 port=$2 what=$3
  for _ in $(seq 1 60); do
    reachable "$host" "$port" && return 0
    sleep 0.5
  done
  echo "error: $what is still not reachable on $host:$port" >&2
  return 1
}

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "error: $* is needed and not reachable; install it (as root: apt-get install -y $*) or set the URL" >&2
    return 1
  fi
  echo "installing $* with apt…" >&2
  apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

ensure_postgres() {
  reachable 127.0.0.1 5432 && return 0
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    apt_install postgresql
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if [ -z "$(pg_lsclusters -h 2>/dev/null | awk '$2 == "main"')" ]; then
    pg_createcluster "$version" main >&2
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
  wait_for 127.0.0.1 5432 PostgreSQL
}

ensure_redis() {
  reachable 127.0.0.1 6379 && return 0
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp --logfile /tmp/passerelle-redis.log >&2
  wait_for 127.0.0.1 6379 Redis
}

# Runs SQL as a PostgreSQL superuser: over TCP when trust allows it, else through the local
# socket as the postgres system user (Debian's peer authentication).
superuser_psql() {
  if command -v psql >/dev/null 2>&1 && psql -h 127.0.0.1 -U postgres -d postgres -tAc 'SELECT 1' >/dev/null 2>&1 </dev/null; then
    psql -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 -q "$@"
  elif [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- psql -d postgres -v ON_ERROR_STOP=1 -q "$@"
  else
    echo "error: cannot reach PostgreSQL as a superuser to create the passerelle roles" >&2
    return 1
  fi
}

ensure_roles_and_database() {
  superuser_psql <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'passerelle_owner') THEN
    CREATE ROLE passerelle_owner LOGIN CREATEDB PASSWORD 'passerelle';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'passerelle_app') THEN
    CREATE ROLE passerelle_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD 'passerelle';
  END IF;
END
$$;
SELECT 'CREATE DATABASE passerelle OWNER passerelle_owner'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'passerelle') \gexec
SQL
}

if [ -z "${DATABASE_URL:-}" ]; then
  ensure_postgres
  ensure_roles_and_database
  export DATABASE_URL="postgres://passerelle_app:passerelle@127.0.0.1:5432/passerelle"
  export MIGRATION_DATABASE_URL="${MIGRATION_DATABASE_URL:-postgres://passerelle_owner:passerelle@127.0.0.1:5432/passerelle}"
  export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://passerelle_owner:passerelle@127.0.0.1:5432/postgres}"
fi
if [ -z "${REDIS_URL:-}" ]; then
  ensure_redis
  export REDIS_URL="redis://127.0.0.1:6379"
fi
