#!/usr/bin/env bash
# User-space instructions per request of a server (`llmload mock` vs nginx), counted by
# callgrind: a count, not a time, so it repeats whatever else the machine does.
#
#   load   : wrk -t1 -cCONNS, not under valgrind, pinned to CLIENT_CPU, POSTing the same 80-byte
#            chat request as mock_vs_nginx.sh.
#   mock   : `llmload mock --cores 1-1 --ttft 0 --itl 0 --output-tokens 16 --nonstream-delay none`
#            with LLMLOAD_DRIVER=epoll (valgrind does not support io_uring), under
#            `valgrind --tool=callgrind`.
#   sse    : the same mock streaming: SSE_STREAMS (200) connections of chat streams, 100 tokens,
#            TTFT and ITL 10 ms (x-mock-* headers), one event per token; "req" is then the SSE
#            events sent (the mock's pacing-lag count from /metrics), so the row is Ir per event.
#   nginx  : one process (master_process off) answering `return 200 '<a real mock reply>'` (the
#            same body size), under `valgrind --tool=callgrind`.
#   method : each server is started twice, loaded for SHORT and for LONG seconds, then stopped.
#            Start-up, the probe request and shut-down are the same in both lives, so
#            (Ir(LONG) − Ir(SHORT)) / (requests(LONG) − requests(SHORT)) is the cost of one more
#            request in the steady state. Ir = instructions executed (all threads); requests
#            are wrk's count. The server is the bottleneck under valgrind, so it never idles.
#            allocs/request: calls to malloc/calloc/realloc, marginal the same way (from the
#            call records of the same callgrind output).
#
# Usage: benches/instructions_server.sh [SERVERS]      (default: "mock nginx sse")
# Env:   CONNS (16), SHORT (2), LONG (6), SSE_STREAMS (200), SSE_SHORT (4), SSE_LONG (12), LLMLOAD_BIN (target/release/llmload), NGINX_BIN,
#        CLIENT_CPU (0), SERVER_CPU (1), ANNOTATE=1 (also print callgrind_annotate of the LONG
#        mock run, top 40 functions, inclusive off), KEEP_TMP=1
# Needs: valgrind, nginx, wrk, curl.
set -euo pipefail
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

SERVERS=${1:-mock nginx sse}
SSE_STREAMS=${SSE_STREAMS:-200}
# Streams last ~1 s each, so the SSE lives are longer: start-up and the streams cut at the
# end weigh less against the steady state.
SSE_SHORT=${SSE_SHORT:-4}
SSE_LONG=${SSE_LONG:-12}
CONNS=${CONNS:-16}
SHORT=${SHORT:-2}
LONG=${LONG:-6}
CLIENT_CPU=${CLIENT_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
BIN=${LLMLOAD_BIN:-target/release/llmload}
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}

need_tools valgrind wrk curl taskset "$NGINX_BIN" /usr/bin/time
init_bin
make_tmp instr

BODY='{"model":"mock-gpt","messages":[{"role":"user","content":"hi"}],"max_tokens":16}'
printf '%s' "$BODY" >"$TMP/body.json"
write_wrk_lua "$TMP/post.lua"
printf '%s' '{"model":"mock-gpt","messages":[{"role":"user","content":"hi"}],"max_tokens":100,"stream":true}' >"$TMP/sse.json"
write_wrk_lua "$TMP/sse.lua" x-mock-ttft-ms=10 x-mock-itl-ms=10 x-mock-output-tokens=100
sed -i "s|$TMP/body.json|$TMP/sse.json|" "$TMP/sse.lua"

MOCK_ARGS=(mock --listen 127.0.0.1:0 --cores "$SERVER_CPU-$SERVER_CPU" --ttft 0 --itl 0 --output-tokens 16 --nonstream-delay none)
# nginx answers with a real mock reply, so both servers send the same body size.
start_mock probe
curl -s -X POST -H 'content-type: application/json' --data-binary @"$TMP/body.json" "$BASE/v1/chat/completions" >"$TMP/reply.json"
stop_server TERM
write_nginx_conf 8192
sed -i 's/^master_process on;/master_process off;/' "$TMP/nginx/nginx.conf"

CG=(valgrind --tool=callgrind)
echo "== server user-space instructions per request (callgrind), $CONNS connections, ${SHORT}s and ${LONG}s lives"
echo "machine : $(machine_desc)"
echo "build   : llmload git $REV, binary sha256 $BIN_SHA"
echo "peers   : $(valgrind --version); $("$NGINX_BIN" -v 2>&1 | sed 's/.*: //'); $(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}')"
echo "commands:"
echo "  mock : LLMLOAD_DRIVER=epoll ${CG[*]} --callgrind-out-file=OUT $BIN ${MOCK_ARGS[*]}"
echo "  nginx: ${CG[*]} --callgrind-out-file=OUT ${NGX_CMD[*]}   # master_process off, 1 process"
echo "  load : taskset -c $CLIENT_CPU wrk -t1 -c$CONNS -dSECS -s post.lua URL   # body: $BODY"
echo "  sse  : the mock as above, taskset -c $CLIENT_CPU wrk -t1 -c$SSE_STREAMS -dSECS --timeout 30s -s sse.lua URL   # 100-token streams, TTFT/ITL 10 ms"
echo "  reply: $(wc -c <"$TMP/reply.json") B body"

# allocs CALLGRIND_OUT : calls to malloc, calloc and realloc (the allocations), from the call records.
allocs() {
    python3 - "$1" <<'PY'
import re, sys
names, calls, cfn = {}, 0, None
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line)
    if m:
        if m.group(2):
            names[m.group(1)] = m.group(2).strip()
        if line.startswith("cfn="):
            cfn = names.get(m.group(1), "")
        continue
    if line.startswith("calls=") and cfn is not None:
        if re.fullmatch(r"(malloc|calloc|realloc)", cfn):
            calls += int(line.split()[0][6:])
        cfn = None
print(calls)
PY
}

# life SERVER SECONDS -> prints "instructions requests allocations"
life() {
    local s=$1 secs=$2 out=$TMP/cg.$1.$2 url pid i
    case $s in
        mock | sse)
            LLMLOAD_DRIVER=epoll "${CG[@]}" --callgrind-out-file="$out" "$BIN" "${MOCK_ARGS[@]}" >"$out.stdout" 2>"$out.log" &
            pid=$!
            for ((i = 0; i < 400; i++)); do
                grep -q 'listening on' "$out.stdout" 2>/dev/null && break
                sleep 0.05
            done
            url="$(head -n1 "$out.stdout" | sed 's/.*listening on //')/v1/chat/completions"
            ;;
        nginx)
            "${CG[@]}" --callgrind-out-file="$out" "${NGX_CMD[@]}" >"$out.stdout" 2>"$out.log" &
            pid=$!
            url="http://127.0.0.1:$NGX_PORT/v1/chat/completions"
            ;;
    esac
    PIDS+=("$pid")
    for ((i = 0; i < 400; i++)); do
        curl -s -o /dev/null -m 2 -X POST -H 'content-type: application/json' --data-binary @"$TMP/body.json" "$url" && break
        sleep 0.05
    done
    local n
    if [[ $s == sse ]]; then
        taskset -c "$CLIENT_CPU" wrk -t1 -c"$SSE_STREAMS" -d"${secs}s" --timeout 30s -s "$TMP/sse.lua" "$url" >"$out.wrk"
        n=$(curl -s "${url%/v1/*}/metrics" | awk '/^llmload_mock_pacing_lag_seconds_count/{print $2}')
    else
        taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${secs}s" -s "$TMP/post.lua" "$url" >"$out.wrk"
        n=$(awk '/requests in/{print $1}' "$out.wrk")
    fi
    if [[ $s == nginx ]]; then kill -QUIT "$pid"; else kill -TERM "$pid"; fi
    wait "$pid" 2>/dev/null || true
    local ir bad
    bad=$(awk '/Non-2xx|Socket errors/' "$out.wrk")
    [[ -z $bad ]] || echo "WARNING: $s ${secs}s: $bad" >&2
    ir=$(awk '/^summary:/{s += $2} END {print s + 0}' "$out")
    echo "$ir $n $(allocs "$out")"
}

printf '\n%-6s %14s %9s %14s %9s %12s %14s\n' server "Ir(${SHORT}s)" req "Ir(${LONG}s)" req "Ir/request" "allocs/request"
echo "       (sse: ${SSE_SHORT}s and ${SSE_LONG}s lives, req = SSE events, so the figures are per event)"
for s in $SERVERS; do
    short=$SHORT long=$LONG
    if [[ $s == sse ]]; then short=$SSE_SHORT long=$SSE_LONG; fi
    read -r ir1 n1 a1 < <(life "$s" "$short")
    read -r ir2 n2 a2 < <(life "$s" "$long")
    per=$(awk -v a="$ir1" -v b="$n1" -v c="$ir2" -v d="$n2" 'BEGIN{if (d > b) printf "%.0f", (c - a) / (d - b); else print "n/a"}')
    apr=$(awk -v a="$a1" -v b="$n1" -v c="$a2" -v d="$n2" 'BEGIN{if (d > b) printf "%.3f", (c - a) / (d - b); else print "n/a"}')
    printf '%-6s %14s %9s %14s %9s %12s %14s\n' "$s" "$ir1" "$n1" "$ir2" "$n2" "$per" "$apr"
done
if [[ ${ANNOTATE:-0} == 1 && -f $TMP/cg.mock.$LONG ]]; then # the non-streaming mock's LONG life
    echo
    callgrind_annotate --inclusive=no "$TMP/cg.mock.$LONG" 2>/dev/null | head -n 60
fi
[[ ${KEEP_TMP:-0} == 1 ]] && echo "raw outputs kept in $TMP"
exit 0
