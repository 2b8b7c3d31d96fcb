#!/usr/bin/env bash
# Heap allocations per request of a load generator, counted by valgrind's dhat: the same set-up
# and marginal method as callgrind_per_request.sh (nginx server; the client under valgrind for a
# SHORT and a LONG run; (blocks(LONG) - blocks(SHORT)) / (requests(LONG) - requests(SHORT))), so
# start-up and report writing cancel out. The goal for a single-turn scenario is 0.
#
# Usage: benches/alloc_per_request.sh [CLIENTS]      (default: "llmload wrk")
# Env:   as callgrind_per_request.sh.
set -euo pipefail
COUNT=allocs exec "$(dirname "$0")/callgrind_per_request.sh" "$@"
