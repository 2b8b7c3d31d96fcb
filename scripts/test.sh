#!/usr/bin/env bash
# Every test llmload has: Rust unit + integration tests over loopback, then the conformance
# suite that drives the mock with the official openai and anthropic Python SDKs (installed
# into .venv by scripts/conformance.sh). LiteLLM proxy, which tests/gateway_litellm.rs runs
# in front of the mock, goes into the same .venv first (scripts/install-gateway-deps.sh).
# Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== test dependencies (promtool, chromium, postgresql)"
scripts/install-test-deps.sh

echo "== gateway test dependencies (LiteLLM proxy into .venv)"
scripts/install-gateway-deps.sh

echo "== cargo build --release"
cargo build --release --locked

echo "== cargo test"
cargo test --locked --all-targets

echo "== SDK conformance (openai + anthropic Python SDKs against llmload mock)"
LLMLOAD_BIN="$PWD/target/release/llmload" scripts/conformance.sh
