# shellcheck shell=bash
# Helpers shared by scripts/install-peers.sh and scripts/install-test-deps.sh (Debian/Ubuntu).
# Sourced, not run:   source "$(dirname "$0")/lib-apt.sh"

# block_service_starts : before `apt-get install`, stop package maintainer scripts from starting
# services: exports DEBIAN_FRONTEND=noninteractive and, unless the admin already has their own
# /usr/sbin/policy-rc.d, writes a temporary one that exits 101 (invoke-rc.d honours that).
# Sets an EXIT trap that calls unblock_service_starts. Reads SUDO ("" as root, else "sudo").
# Sets POLICY_RC_D (its path) and OWN_POLICY_RC_D (1 if this script wrote it).
block_service_starts() {
    export DEBIAN_FRONTEND=noninteractive
    POLICY_RC_D=/usr/sbin/policy-rc.d
    OWN_POLICY_RC_D=0
    if [[ ! -e $POLICY_RC_D ]]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY_RC_D" >/dev/null
        $SUDO chmod 755 "$POLICY_RC_D"
        OWN_POLICY_RC_D=1
    fi
    trap unblock_service_starts EXIT
}

# unblock_service_starts : remove the policy-rc.d written by block_service_starts (only if it
# wrote one) and drop the EXIT trap. Reads SUDO, POLICY_RC_D; sets OWN_POLICY_RC_D=0.
unblock_service_starts() {
    if [[ ${OWN_POLICY_RC_D:-0} -eq 1 ]]; then
        $SUDO rm -f "$POLICY_RC_D"
        OWN_POLICY_RC_D=0
    fi
    trap - EXIT
}
