#!/usr/bin/env bash
# Installs the files the portal serves — the French State's design system, DSFR, under
# /static/dsfr/, and the QR decoder of the animator's phone app, jsQR — pinned by
# infra/web/package-lock.json, into infra/web/node_modules, with npm (installed
# with apt when missing). Does nothing when they are there and the lock has not changed since.
# DSFR's own install script wants a project configuration that only its generator writes; the
# built files in its dist/ folder need none of it, so install scripts are skipped.
set -euo pipefail
cd "$(dirname "$0")/../web"
installed=node_modules/.package-lock.json
if [ -f node_modules/@gouvfr/dsfr/dist/dsfr.min.css ] && [ -f node_modules/jsqr/dist/jsQR.js ] && [ -f "$installed" ] && ! [ package-lock.json -nt "$installed" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "error: npm is needed to install the design system; install it (as root: apt-get install -y npm)" >&2
    exit 1
  fi
  echo "installing npm with apt…" >&2
  apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >&2
fi
echo "installing the design system (DSFR) and the QR decoder with npm…" >&2
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2
