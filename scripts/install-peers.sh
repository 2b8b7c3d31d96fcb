#!/usr/bin/env bash
# Install the peer tools used by benches/ (Debian/Ubuntu, run as root):
#   nginx-light (or nginx)  - reference HTTP server for benches/mock_vs_nginx.sh
#   wrk                     - load tool for both benches
#   time                    - /usr/bin/time -v, the public way to read a process's CPU time
# Idempotent: installs only what is missing. Never leaves the system nginx service running:
# package start-up is blocked with a temporary policy-rc.d, and the service is stopped and
# disabled afterwards in case it was started anyway. The benches run their own nginx from a
# temp dir with their own nginx.conf.
set -euo pipefail
# shellcheck source=scripts/lib-apt.sh
source "$(dirname "$0")/lib-apt.sh"

log() { printf 'install-peers: %s\n' "$*"; }

if [[ $(id -u) -ne 0 ]]; then
    SUDO=sudo
else
    SUDO=
fi

missing=()
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
[[ -x /usr/bin/time ]] || missing+=(time)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)

if [[ ${#missing[@]} -eq 0 ]]; then
    log "nginx, wrk, /usr/bin/time and taskset already installed"
else
    pkgs=()
    for m in "${missing[@]}"; do
        if [[ $m == nginx ]]; then
            if apt-cache show nginx-light >/dev/null 2>&1; then pkgs+=(nginx-light); else pkgs+=(nginx); fi
        else
            pkgs+=("$m")
        fi
    done
    log "installing: ${pkgs[*]}"
    # Block service start-up by maintainer scripts (invoke-rc.d honours policy-rc.d exit 101),
    # unless the admin already has their own policy-rc.d.
    block_service_starts
    if ! $SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1; then
        $SUDO apt-get update -qq >/dev/null
        $SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    fi
    unblock_service_starts
fi

# Whatever happened above (or in an earlier install), keep the system nginx stopped.
if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
else
    if [[ -x /etc/init.d/nginx ]]; then
        $SUDO /etc/init.d/nginx stop >/dev/null 2>&1 || true
        command -v update-rc.d >/dev/null 2>&1 && { $SUDO update-rc.d nginx disable >/dev/null 2>&1 || true; }
    fi
fi
# A stray system nginx (pid file from the package's config) would share CPUs with the benches.
if [[ -s /run/nginx.pid ]] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
    $SUDO kill -QUIT "$(cat /run/nginx.pid)" 2>/dev/null || true
fi

log "ready: $(nginx -v 2>&1 | tr -d '\n'), $(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}'), /usr/bin/time"
