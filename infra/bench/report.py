"""Writes the tables of the benchmark outputs under var/bench/ into BENCHMARKS.md (latest run).

Usage: report.py OUT_DIR TOTAL_SECONDS "package bench"...
"""
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
national = os.path.join(out, "national.txt")
if os.path.exists(national):
    text = open(national).read()
    took = re.search(r"took (\d+) s", text)
    lines.append("### National data: `cargo run --release -p passerelle-test-support --bin seed-bench -- --keep`"
                 + (f" ({took.group(1)} s)" if took else ""))
    lines.append("")
    rows = [l for l in text.splitlines() if l.startswith("|")]
    # Both runs print the same header: keep it once.
    lines.extend(rows[:2] + [l for l in rows if not l.startswith("| Data") and not l.startswith("|---")])
    lines.append("")
for bench in benches:
    package, name = bench.split()
    text = open(os.path.join(out, f"{name}.txt")).read()
    took = re.search(r"took (\d+) s", text)
    lines.append(f"### `cargo bench -p {package} --bench {name}`" + (f" ({took.group(1)} s)" if took else ""))
    lines.append("")
    table = [l for l in text.splitlines() if l.startswith("|")]
    lines.extend(table or ["(no table printed; see var/bench/" + name + ".txt)"])
    lines.append("")
    # The API benchmarks print their ratio, target and checks after their table.
    verdicts = [l for l in text.splitlines() if l.startswith(("API / baseline", "over-spent", "attendance API / baseline"))]
    if verdicts:
        lines.append("; ".join(verdicts) + ".")
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
