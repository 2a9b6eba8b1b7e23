"""Writes infra/data/communes.csv from the pinned @etalab/decoupage-administratif package.

One row per commune code people may write: today's communes and Paris, Lyon and Marseille's
municipal districts (each its own), and the codes of communes merged since (delegated and
associated communes, and former codes), each mapped to today's commune. Usage: communes.py
PACKAGE_DIR OUT_CSV.
"""
import csv, json, sys

package_dir, out = sys.argv[1], sys.argv[2]
version = json.load(open(f"{package_dir}/package.json"))["version"]
communes = json.load(open(f"{package_dir}/data/communes.json"))

rows = {}
for c in communes:
    if c["type"] in ("commune-actuelle", "arrondissement-municipal"):
        rows[c["code"]] = (c["nom"], c["departement"], c["code"])
current = dict(rows)
for c in communes:
    if c["type"] in ("commune-deleguee", "commune-associee") and c["code"] not in rows:
        parent = c["chefLieu"]
        rows[c["code"]] = (c["nom"], current[parent][1], parent)
for c in communes:
    if c["type"] == "commune-actuelle":
        for old in c.get("anciensCodes", []):
            if old not in rows:
                rows[old] = ("", c["departement"], c["code"])

with open(out, "w", newline="", encoding="utf-8") as f:
    f.write(f"# @etalab/decoupage-administratif {version}\n")
    w = csv.writer(f, delimiter=";", lineterminator="\n")
    w.writerow(["code", "nom", "departement", "commune_actuelle"])
    for code in sorted(rows):
        w.writerow([code, *rows[code]])
print(f"{out}: {len(rows)} codes ({len(current)} communes of today) from @etalab/decoupage-administratif {version}")
