#!/usr/bin/env bash
# User-space instructions per request of a load generator, counted by callgrind: a count, not
# a time, so it repeats exactly whatever else the machine does (the project's stable figure).
#
#   server : one nginx worker (the same `return 200 '<mock reply>'` as loadgen_vs_peers.sh),
#            not under valgrind.
#   client : `llmload run` (epoll driver: valgrind does not support io_uring) or wrk, each under
#            `valgrind --tool=callgrind`, CONNS connections, closed loop, for SHORT and LONG
#            seconds. Start-up, connection set-up and report writing are the same in both runs,
#            so (Ir(LONG) − Ir(SHORT)) / (requests(LONG) − requests(SHORT)) is the cost of one
#            more request in the steady state. Ir = instructions executed (all threads).
#
# With COUNT=allocs (benches/alloc_per_request.sh) the clients run under `valgrind --tool=dhat`
# instead and the figure is heap allocations (blocks) per request, by the same difference.
#
# Usage: benches/callgrind_per_request.sh [CLIENTS]      (default: "llmload wrk")
# Env:   CONNS (16), SHORT (2), LONG (5), LLMLOAD_BIN (target/release/llmload), LLMLOAD_ARGS,
#        NGINX_BIN, SERVER_CPU (1), COUNT (instructions | allocs), KEEP_TMP=1
# Needs: valgrind, nginx, wrk (scripts/install-peers.sh; apt-get install -y valgrind).
set -euo pipefail
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

CLIENTS=${1:-llmload wrk}
CONNS=${CONNS:-16}
SHORT=${SHORT:-2}
LONG=${LONG:-5}
SERVER_CPU=${SERVER_CPU:-1}
LLMLOAD_ARGS=${LLMLOAD_ARGS:-}
BIN=${LLMLOAD_BIN:-target/release/llmload}
COUNT=${COUNT:-instructions}
case $COUNT in
    instructions) TOOL=(--tool=callgrind) UNIT=Ir DIGITS=0 ;;
    allocs) TOOL=(--tool=dhat) UNIT=allocs DIGITS=2 ;;
    *) echo "COUNT must be instructions or allocs, not $COUNT" >&2; exit 1 ;;
esac
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}

need_tools valgrind curl python3 wrk /usr/bin/time
init_bin
make_tmp callgrind

CONV=b9ed69e5-6a13-4591-931e-315b981ee152
BODY="{\"model\":\"mock-gpt\",\"messages\":[{\"role\":\"user\",\"content\":\"[conversation $CONV] Say something short about load testing.\"}],\"max_tokens\":64,\"stream\":false}"
printf '%s' "$BODY" >"$TMP/body.json"
write_wrk_lua "$TMP/post.lua" "x-request-id=$CONV"

# nginx answers with a real mock reply to this very request.
MOCK_ARGS=(mock --listen 127.0.0.1:0 --cores "$SERVER_CPU-$SERVER_CPU" --ttft 0 --itl 0 --output-tokens 16 --nonstream-delay none)
start_mock probe
curl -s -X POST -H 'content-type: application/json' --data-binary @"$TMP/body.json" "$BASE/v1/chat/completions" >"$TMP/reply.json"
stop_server TERM
write_nginx_conf 8192
start_nginx cg
URL=$BASE

echo "build  : $REV ($BIN_SHA)"
echo "machine: $(machine_desc)"
echo "method : valgrind ${TOOL[*]}, $CONNS connections, ${SHORT}s and ${LONG}s runs against nginx"

# run_client CLIENT SECONDS -> prints "count requests" (instructions, or heap blocks allocated)
run_client() {
    local c=$1 secs=$2 out=$TMP/cg.$1.$2 n
    rm -rf "$TMP/lr" && mkdir -p "$TMP/lr"
    case $c in
        llmload)
            # shellcheck disable=SC2086 # LLMLOAD_ARGS: extra flags, split on spaces
            LLMLOAD_DRIVER=epoll valgrind "${TOOL[@]}" "--${TOOL[0]#--tool=}-out-file=$out.%p" \
                "$BIN" run --target "$URL/v1" --stages "$CONNS:${secs}s" --cores 1 --grace 30s \
                --out "$TMP/lr" $LLMLOAD_ARGS >"$out.log" 2>&1 || true
            n=$(python3 -c 'import json,glob,sys; s=json.load(open(glob.glob(sys.argv[1]+"/*/summary.json")[0])); print(sum(st["all"]["ok"] for st in s["stages"]))' "$TMP/lr")
            ;;
        wrk)
            valgrind "${TOOL[@]}" "--${TOOL[0]#--tool=}-out-file=$out.%p" \
                wrk -t1 -c"$CONNS" -d"${secs}s" -s "$TMP/post.lua" "$URL/v1/chat/completions" >"$out.log" 2>&1
            n=$(awk '/requests in/{print $1}' "$out.log")
            ;;
    esac
    local count
    if [[ $COUNT == allocs ]]; then
        # dhat's "Total: B bytes in N blocks" line, in the client's log.
        count=$(grep -h 'Total: .* blocks' "$out.log" | awk '{gsub(",", ""); s += $(NF-1)} END {print s}')
    else
        count=$(grep -h '^summary:' "$out".* | awk '{s += $2} END {print s}')
    fi
    echo "$count $n"
}

printf '\n%-10s %14s %10s %14s %10s %16s\n' client "$UNIT(${SHORT}s)" "req" "$UNIT(${LONG}s)" "req" "$UNIT per request"
for c in $CLIENTS; do
    read -r ir1 n1 < <(run_client "$c" "$SHORT")
    read -r ir2 n2 < <(run_client "$c" "$LONG")
    per=$(python3 -c "import sys; a,b,c,d=map(float,sys.argv[1:]); print(f'{(c-a)/(d-b):.${DIGITS}f}' if d>b else 'n/a')" "$ir1" "$n1" "$ir2" "$n2")
    printf '%-10s %14s %10s %14s %10s %16s\n' "$c" "$ir1" "$n1" "$ir2" "$n2" "$per"
done
stop_server QUIT
