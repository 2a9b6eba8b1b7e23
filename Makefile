# Build artefacts live outside the clone so that fresh clones (CI) reuse them.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/passerelle/target

.PHONY: run test test-faults fuzz-api lint fmt openapi bench

## Bring up PostgreSQL and Redis if needed, migrate, seed the demo tenants, run the API and the worker.
run:
	@infra/local/run.sh

## Every test of the workspace against real PostgreSQL and Redis, then the `make run` smoke test.
test:
	@infra/local/test.sh

## The fault-injection suite: the real binaries while Redis, PostgreSQL, SMTP and the worker are
## stopped, restarted or killed, under concurrent and sustained load (RELIABILITY.md).
test-faults:
	@infra/local/test-faults.sh

## Formatting and clippy, warnings as errors.
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

## Rewrite services/api/openapi.json from the code.
openapi:
	cargo run --quiet --bin passerelle -- openapi > services/api/openapi.json

## Benchmarks (release build), one after the other, their tables written into BENCHMARKS.md
## (latest run): request cost of auth, RLS and idempotency; voucher issuance and attendance through
## the API against pgbench baselines; the daily email run and delivery; the monthly reimbursements
## against the bare SQL; the statistics job over a tenant at national volume against the bare COPY.
bench:
	@infra/bench/run.sh

## Fuzzing of the whole API from its OpenAPI document with schemathesis, bounded (FUZZ_EXAMPLES per
## operation, fixed seed), with the two demo tenants' tokens; report under var/fuzz/.
fuzz-api:
	@tests/fuzz/api.sh
