#!/usr/bin/env bash
# Drops the per-test databases left by earlier test runs (tests cannot drop their own while they
# still hold connections to them).
set -euo pipefail
url="${TEST_DATABASE_URL:-postgres://passerelle_owner:passerelle@127.0.0.1:5432/postgres}"
psql "$url" -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'passerelle\_test\_%'" </dev/null |
  while read -r name; do
    [ -n "$name" ] && psql "$url" -q -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" </dev/null
  done
