#!/usr/bin/env bash
# `make bench`: every benchmark, in release mode, one after the other (they share the 2 cores),
# then their figures written into BENCHMARKS.md between the "latest run" markers: machine, date,
# command and each benchmark's table (figure, same-run baseline, ratio, target, met or not).
# The full output stays in var/bench/.
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
  "passerelle-worker emails"
  "passerelle-worker reimbursements"
  "passerelle-statistics statistics"
)
# Built package by package, as `cargo bench -p` builds them: a build of the three together unifies
# other features and would be rebuilt by the first `cargo bench`.
for package in passerelle-api passerelle-worker passerelle-statistics; do
  cargo build --release --benches -p "$package"
done
started=$(date +%s)
for bench in "${benches[@]}"; do
  set -- $bench
  echo "== cargo bench -p $1 --bench $2" >&2
  begun=$(date +%s)
  cargo bench -q -p "$1" --bench "$2" 2>&1 | tee "$out/$2.txt"
  echo "took $(( $(date +%s) - begun )) s" >>"$out/$2.txt"
  infra/local/drop-test-databases.sh
done
total=$(( $(date +%s) - started ))

python3 infra/bench/report.py "$out" "$total" "${benches[@]}"
