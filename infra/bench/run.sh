#!/usr/bin/env bash
# `make bench`: every benchmark, in release mode, one after the other (they share the 2 cores),
# then their figures written into BENCHMARKS.md between the "latest run" markers: machine, date,
# command and each benchmark's table (figure, same-run baseline, ratio, target, met or not).
# The full output stays in var/bench/.
#
# The benchmarks start from national-scale data (tests/support/src/national.rs), generated once
# here, before them, and copied by each: 20 tenants with 1,000,000 vouchers for all of them but
# statistics, which takes one tenant of the same volume (issue 7's shape), then generates one five
# times larger in its own database (about 20 GB, dropped with it). The generated databases
# (passerelle_national_*, about 4 GiB each) are dropped at the end; BENCH_KEEP_DATA=1 keeps them
# and lets the next run start from them.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=../local/services.sh
source infra/local/services.sh
infra/local/drop-test-databases.sh
out=var/bench
mkdir -p "$out"

benches=(
  "passerelle-api requests"
  "passerelle-api issuance"
  "passerelle-api attendance"
  "passerelle-api http_load"
  "passerelle-api sign_in"
  "passerelle-api epn_import"
  "passerelle-worker emails"
  "passerelle-worker reimbursements"
  "passerelle-statistics statistics"
)
# Built package by package, as `cargo bench -p` builds them: a build of the three together unifies
# other features and would be rebuilt by the first `cargo bench`.
for package in passerelle-api passerelle-worker passerelle-statistics; do
  cargo build --release --benches -p "$package"
done
cargo build --release -p passerelle-test-support --bin seed-bench
# http_load runs the service's own release build in a process of its own, loaded by wrk.
cargo build --release -p passerelle
command -v wrk >/dev/null 2>&1 || apt_install wrk

url="${TEST_DATABASE_URL:-postgres://passerelle_owner:passerelle@127.0.0.1:5432/postgres}"
drop_national_data() {
  psql "$url" -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'passerelle\_national\_%'" </dev/null |
    while read -r name; do
      [ -n "$name" ] && psql "$url" -q -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" </dev/null
    done
}
[ "${BENCH_KEEP_DATA:-}" = 1 ] || drop_national_data

started=$(date +%s)
echo "== national data" >&2
{
  cargo run -q --release -p passerelle-test-support --bin seed-bench -- --keep
  cargo run -q --release -p passerelle-test-support --bin seed-bench -- --keep \
    --tenants 1 --epns-per-tenant 4000 --vouchers-per-tenant 1000000
} 2>&1 | tee "$out/national.txt"
echo "took $(( $(date +%s) - started )) s" >>"$out/national.txt"
for bench in "${benches[@]}"; do
  set -- $bench
  echo "== cargo bench -p $1 --bench $2" >&2
  begun=$(date +%s)
  cargo bench -q -p "$1" --bench "$2" 2>&1 | tee "$out/$2.txt"
  echo "took $(( $(date +%s) - begun )) s" >>"$out/$2.txt"
  infra/local/drop-test-databases.sh
done
total=$(( $(date +%s) - started ))
[ "${BENCH_KEEP_DATA:-}" = 1 ] || drop_national_data

python3 infra/bench/report.py "$out" "$total" "${benches[@]}"
