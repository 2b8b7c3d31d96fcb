#!/usr/bin/env bash
# Installs the gateways the tests run for real (tests/gateway_litellm.rs: LiteLLM proxy,
# pinned in tests/gateway/requirements.txt) into the project's .venv, together with the
# conformance suite's SDKs (tests/conformance/requirements.txt) so pip resolves them as one
# set. Idempotent: a stamp of both files' hashes skips pip when nothing changed.
# scripts/test.sh runs it before `cargo test`; a fresh install takes minutes (~800 MB).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
reqs=(tests/conformance/requirements.txt tests/gateway/requirements.txt)
stamp="$venv/.gateway-requirements.sha256"
log() { printf 'install-gateway-deps: %s\n' "$*" >&2; }

if [[ ! -x "$venv/bin/python" ]]; then
    log "creating $venv"
    python3 -m venv "$venv"
fi
want="$(cat "${reqs[@]}" | sha256sum | cut -d' ' -f1)"
if [[ "$want" == "$(cat "$stamp" 2>/dev/null || true)" && -x "$venv/bin/litellm" ]]; then
    log "litellm already installed in $venv"
    exit 0
fi
log "installing ${reqs[*]} into $venv"
"$venv/bin/python" -m pip install --disable-pip-version-check -q -r "${reqs[0]}" -r "${reqs[1]}"
[[ -x "$venv/bin/litellm" ]] || { log "litellm missing from $venv/bin after install"; exit 1; }
echo "$want" >"$stamp"
# conformance.sh's own stamp: its requirements are installed now too.
sha256sum "${reqs[0]}" | cut -d' ' -f1 >"$venv/.conformance-requirements.sha256"
log "done"
