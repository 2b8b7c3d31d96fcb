#!/usr/bin/env bash
# Instructions (and allocations) per request counted by callgrind, for both halves of llmload
# beside their peers, in one run — the project's stable per-request figures:
#   client : `llmload run` vs wrk against one nginx worker (benches/callgrind_per_request.sh)
#   server : `llmload mock` vs nginx, loaded by wrk, plus the mock's cost per SSE event
#            (benches/instructions_server.sh)
# Each side counts the marginal instructions between a SHORT and a LONG run over the marginal
# requests, so start-up and shut-down cancel out; see each script for its commands and env.
#
# Usage: benches/instructions.sh          Env: CLIENTS ("llmload wrk"), SERVERS ("mock nginx sse"),
#        plus every variable the two scripts read (CONNS, SHORT, LONG, LLMLOAD_BIN, …).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== client: user-space instructions per request (llmload run vs wrk, nginx server)"
benches/callgrind_per_request.sh "${CLIENTS:-llmload wrk}"
echo
echo "== server: user-space instructions per request (llmload mock vs nginx, wrk load)"
benches/instructions_server.sh "${SERVERS:-mock nginx sse}"
