#!/usr/bin/env bash
# Regenerates infra/data/communes.csv, the official commune list the service checks commune codes
# against, from @etalab/decoupage-administratif pinned by infra/data/cog/package-lock.json. The
# CSV is committed (builds and tests need neither npm nor the network); run this after changing
# the pinned version, and commit both. A test checks that the CSV's version is the pinned one.
set -euo pipefail
cd "$(dirname "$0")"
(cd cog && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
python3 communes.py cog/node_modules/@etalab/decoupage-administratif communes.csv
