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
cargo build --release --benches -p passerelle-api -p passerelle-worker -p passerelle-statistics
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

python3 - "$out" "$total" "${benches[@]}" <<'PY'
import os, platform, re, subprocess, sys
out, total, benches = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
date = subprocess.run(["date", "-u", "+%Y-%m-%d %H:%M UTC"], capture_output=True, text=True).stdout.strip()
lines = [
    "<!-- latest run: written by `make bench`; the sections below it keep the history -->",
    "## Latest run of `make bench`",
    "",
    f"**Machine:** {os.cpu_count()} vCPU {cpu}, {mem / 1048576:.0f} GiB RAM, {platform.platform()}; "
    f"{pg}; {rustc}. **Date:** {date}. **Whole run:** {total // 60} min {total % 60} s "
    "(release build before it not counted).",
    "",
]
for bench in benches:
    package, name = bench.split()
    text = open(os.path.join(out, f"{name}.txt")).read()
    took = re.search(r"took (\d+) s", text)
    lines.append(f"### `cargo bench -p {package} --bench {name}`" + (f" ({took.group(1)} s)" if took else ""))
    lines.append("")
    table = [l for l in text.splitlines() if l.startswith("|")]
    lines.extend(table or ["(no table printed; see var/bench/" + name + ".txt)"])
    lines.append("")
lines.append("<!-- end of latest run -->")
block = "\n".join(lines)
doc = open("BENCHMARKS.md").read()
start, end = "<!-- latest run:", "<!-- end of latest run -->"
if start in doc:
    before = doc[: doc.index(start)]
    after = doc[doc.index(end) + len(end):]
    doc = before + block + after
else:
    head, _, rest = doc.partition("\n## ")
    doc = head + "\n" + block + "\n\n## " + rest
open("BENCHMARKS.md", "w").write(doc)
print(f"BENCHMARKS.md updated ({total} s)")
PY
