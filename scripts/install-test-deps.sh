#!/usr/bin/env bash
# Installs what the test suite needs besides Rust (Debian/Ubuntu; as root or with sudo):
#   promtool                  - `promtool check metrics` on metrics.prom and the live /metrics
#   chromium-headless-shell   - renders report.html in tests and for docs/img screenshots
#   postgresql                - the server-side join test (scripts/join.sh)
# Idempotent: installs only what is missing; never leaves a package's service running
# (start-up blocked by a temporary policy-rc.d, services stopped afterwards).
# The Python SDKs live in .venv (scripts/conformance.sh), not here.
# shellcheck source=scripts/lib-apt.sh
source "$(dirname "$0")/lib-apt.sh"
set -euo pipefail

log() { printf 'install-test-deps: %s\n' "$*"; }
SUDO=
[[ $(id -u) -ne 0 ]] && SUDO=sudo

have_pg() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; }
have_chromium() { command -v chromium-headless-shell >/dev/null 2>&1 || command -v chromium >/dev/null 2>&1 || [[ -x /usr/lib/chromium/chrome-headless-shell ]] || [[ -x /usr/lib/chromium/chromium ]]; }

pkgs=()
command -v promtool >/dev/null 2>&1 || pkgs+=(prometheus)
have_chromium || pkgs+=(chromium-headless-shell fonts-dejavu-core)
have_pg || pkgs+=(postgresql)

if [[ ${#pkgs[@]} -eq 0 ]]; then
    log "promtool, chromium and postgresql already installed"
    exit 0
fi
log "installing: ${pkgs[*]}"
block_service_starts # temporary policy-rc.d, removed on exit
$SUDO apt-get update -qq || log "apt-get update failed; trying with the current lists"
$SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
for svc in prometheus prometheus-node-exporter postgresql; do
    if command -v systemctl >/dev/null 2>&1; then
        $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
    fi
done
command -v promtool >/dev/null 2>&1 || { log "promtool missing after install"; exit 1; }
have_chromium || { log "chromium missing after install"; exit 1; }
have_pg || { log "postgresql missing after install"; exit 1; }
log "done"
