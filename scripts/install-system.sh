#!/usr/bin/env bash
# Installs the Debian packages tidal's tests, demo and benchmarks use, only where missing.
set -euo pipefail
need=()
command -v hey >/dev/null 2>&1 || need+=(hey)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v curl >/dev/null 2>&1 || need+=(curl)
# the dashboard's browser test drives Debian's chromium headless
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# npm installs the dashboard's chart library (scripts/install-dashboard-assets.sh)
command -v npm >/dev/null 2>&1 || need+=(npm)
# each pod in its own mount namespace, the plane's home hidden (docs/PODS.md)
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
echo "installing Debian packages: ${need[*]}" >&2
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts nginx/prometheus as services where it can; tidal runs its own instances.
for svc in nginx prometheus; do $SUDO service "$svc" stop >/dev/null 2>&1 || true; done
