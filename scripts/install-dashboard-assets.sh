#!/usr/bin/env bash
# The dashboard's chart library (uPlot, pinned) from the npm registry into build/dashboard-assets/
# (ignored by git); a no-op when it is there. The plane serves it from there: no CDN at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=$(sed -n 's/^UPLOT_VERSION = "\(.*\)"/\1/p' src/tidal/dashboard/assets.py)
DEST=build/dashboard-assets
if [ -f "$DEST/node_modules/uplot/dist/uPlot.iife.min.js" ] \
   && grep -q "\"version\": \"$VERSION\"" "$DEST/node_modules/uplot/package.json"; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "installing Debian package: npm (for the dashboard's chart library)" >&2
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
mkdir -p "$DEST"
echo "installing uplot@$VERSION from npm into $DEST" >&2
npm install --prefix "$DEST" --no-audit --no-fund --no-save --loglevel=error "uplot@$VERSION" >/dev/null
test -f "$DEST/node_modules/uplot/dist/uPlot.iife.min.js"
