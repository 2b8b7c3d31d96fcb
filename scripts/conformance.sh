#!/usr/bin/env bash
# SDK conformance suite for `llmload mock`: runs tests/conformance with the official
# openai and anthropic Python SDKs (versions pinned in tests/conformance/requirements.txt).
#
#   scripts/conformance.sh                 # uses target/release/llmload
#   LLMLOAD_BIN=path/to/llmload scripts/conformance.sh -k anthropic   # extra args go to pytest
#
# Builds nothing: build the binary first (cargo build --release).
set -euo pipefail

orig_pwd="$PWD"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

req="tests/conformance/requirements.txt"
venv="$root/.venv"
stamp="$venv/.conformance-requirements.sha256"

# The binary: $LLMLOAD_BIN (relative paths taken from the caller's directory) or the release build.
if [[ -n "${LLMLOAD_BIN:-}" ]]; then
  case "$LLMLOAD_BIN" in
    /*) bin="$LLMLOAD_BIN" ;;
    *) bin="$orig_pwd/$LLMLOAD_BIN" ;;
  esac
else
  bin="$root/target/release/llmload"
fi
if [[ ! -x "$bin" ]]; then
  echo "conformance: llmload binary not found or not executable: $bin" >&2
  echo "conformance: build it first (cargo build --release) or set LLMLOAD_BIN" >&2
  exit 2
fi
export LLMLOAD_BIN="$bin"

if [[ ! -x "$venv/bin/python" ]]; then
  echo "conformance: creating $venv" >&2
  python3 -m venv "$venv"
fi

want="$(sha256sum "$req" | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [[ "$want" != "$have" ]]; then
  echo "conformance: installing $req" >&2
  "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req"
  echo "$want" >"$stamp"
fi

set +e
"$venv/bin/python" -m pytest -q tests/conformance "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then
  echo "conformance: pytest collected no tests; treating that as a failure" >&2
  exit 1
fi
exit $rc
