"""Writes infra/data/communes.csv from the pinned @etalab/decoupage-administratif package.

One row per commune code people may write: today's communes and Paris, Lyon and Marseille's
municipal districts (each its own), and the codes of communes merged since (delegated and
associated communes, and former codes), each mapped to today's commune, with the groupings that
say which places are near one another: its EPCI (the intercommunality, by SIREN) and its
arrondissement. Usage: communes.py PACKAGE_DIR OUT_CSV.
"""
import csv, json, sys

package_dir, out = sys.argv[1], sys.argv[2]
version = json.load(open(f"{package_dir}/package.json"))["version"]
communes = json.load(open(f"{package_dir}/data/communes.json"))
epci_of = {
    member["code"]: epci["code"]
    for epci in json.load(open(f"{package_dir}/data/epci.json"))
    for member in epci["membres"]
}

rows = {}
for c in communes:
    if c["type"] in ("commune-actuelle", "arrondissement-municipal"):
        # A municipal district (Paris, Lyon, Marseille) shares its city's EPCI.
        city = c.get("commune", c["code"])
        rows[c["code"]] = (c["nom"], c["departement"], c["code"], epci_of.get(city, ""), c.get("arrondissement", ""))
current = dict(rows)
for c in communes:
    if c["type"] in ("commune-deleguee", "commune-associee") and c["code"] not in rows:
        parent = c["chefLieu"]
        rows[c["code"]] = (c["nom"], *current[parent][1:])
for c in communes:
    if c["type"] == "commune-actuelle":
        for old in c.get("anciensCodes", []):
            if old not in rows:
                rows[old] = ("", *current[c["code"]][1:])

with open(out, "w", newline="", encoding="utf-8") as f:
    f.write(f"# @etalab/decoupage-administratif {version}\n")
    w = csv.writer(f, delimiter=";", lineterminator="\n")
    w.writerow(["code", "nom", "departement", "commune_actuelle", "epci", "arrondissement"])
    for code in sorted(rows):
        w.writerow([code, *rows[code]])
print(f"{out}: {len(rows)} codes ({len(current)} communes of today) from @etalab/decoupage-administratif {version}")
