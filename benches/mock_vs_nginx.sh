#!/usr/bin/env bash
# Side-by-side: `llmload mock` vs nginx, non-streaming chat, same load tool, same pinning.
#
#   load : wrk -t1 -c64, pinned to CPU0 (taskset -c 0), Lua POST of an 80-byte chat request
#   A    : llmload mock --cores 1-1 (one worker pinned to CPU1), zero timing, 16 output tokens,
#          POST /v1/chat/completions
#   B    : nginx, 1 worker pinned to CPU1 (worker_cpu_affinity 10), `return 200 '<json>'` with a
#          JSON body copied from a real mock reply (so both bodies have the same size)
#
# Rounds alternate A, B, A, B, ... so machine noise hits both. Each round starts a fresh
# server, runs a short warm-up, then the measured wrk run. Server CPU during the measured run
# is utime+stime from /proc/PID/stat (nginx: master + worker) before/after, in CLK_TCK ticks.
# Every server also runs under `/usr/bin/time -v`, whose whole-life CPU (warm-up included) is
# shown as a cross-check ("life_cpu"). "other_cpu" is CPU used by everything else on the machine
# during the run (a noise flag: it should be near 0). Result: requests per server-CPU-second and
# the mock/nginx ratio, per round and median.
#
# Usage: benches/mock_vs_nginx.sh [DURATION_S] [ROUNDS]
# Env:   DURATION (s, default 10), ROUNDS (3), CONNS (64), WARMUP (s, 1), CLIENT_CPU (0),
#        SERVER_CPU (1), LLMLOAD_BIN (target/release/llmload), NGINX_BIN (nginx), KEEP_TMP=1
# Needs: wrk, nginx, taskset, /usr/bin/time, curl, ss  (scripts/install-peers.sh installs the first four)
set -euo pipefail
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

DURATION=${1:-${DURATION:-10}}
ROUNDS=${2:-${ROUNDS:-3}}
CONNS=${CONNS:-64}
WARMUP=${WARMUP:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
BIN=${LLMLOAD_BIN:-target/release/llmload}
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
TCK=$(getconf CLK_TCK)

need_tools wrk taskset curl ss "$NGINX_BIN" /usr/bin/time
init_bin
make_tmp bench

BODY='{"model":"mock-gpt","messages":[{"role":"user","content":"hi"}],"max_tokens":16}'
printf '%s' "$BODY" >"$TMP/body.json"
write_wrk_lua "$TMP/post.lua"

MOCK_ARGS=(mock --listen 127.0.0.1:0 --cores "$SERVER_CPU-$SERVER_CPU" --ttft 0 --itl 0 --output-tokens 16 --nonstream-delay none)

start_server() { # mock|nginx round: start_mock/start_nginx, set URL; the mock gets one request first
    if [[ $1 == mock ]]; then
        start_mock "$2"
        URL="$BASE/v1/chat/completions"
        curl -s -o /dev/null -m 2 -X POST -H 'content-type: application/json' --data-binary @"$TMP/body.json" "$URL"
    else
        start_nginx "$2"
        URL="$BASE/v1/chat/completions"
    fi
}

# --- nginx config: body is a real mock reply, so both servers send the same body size -----
start_server mock probe
curl -s -X POST -H 'content-type: application/json' --data-binary @"$TMP/body.json" "$URL" >"$TMP/reply.json"
curl -s -D "$TMP/mock.headers" -o /dev/null -X POST -H 'content-type: application/json' --data-binary @"$TMP/body.json" "$URL"
stop_server TERM
write_nginx_conf 8192 # 1 worker on SERVER_CPU; sets NGX_MASK, NGX_PORT, NGX_CMD
"${NGX_CMD[@]}" -t -q

WRK=(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$TMP/post.lua")

echo "== llmload mock vs nginx: non-streaming chat, $ROUNDS rounds x ${DURATION}s per side (warm-up ${WARMUP}s)"
echo "machine : $(machine_desc), CLK_TCK $TCK"
echo "wrk     : $(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}'); nginx: $("$NGINX_BIN" -v 2>&1 | sed 's/.*: //')"
echo "build   : llmload git $REV, binary sha256 $BIN_SHA ($("$BIN" --version 2>/dev/null || echo '?'))"
echo "commands:"
echo "  A (mock) : $BIN ${MOCK_ARGS[*]}"
echo "  B (nginx): ${NGX_CMD[*]}   # 1 worker, worker_cpu_affinity $NGX_MASK (CPU$SERVER_CPU)"
echo "  load     : ${WRK[*]} <url>"
echo "  body     : $BODY"
echo "  reply    : mock body $(wc -c <"$TMP/reply.json") B (+$(wc -c <"$TMP/mock.headers") B headers); nginx returns the same body"
echo "  CPU      : utime+stime from /proc/PID/stat around the wrk run (nginx: master+worker); /usr/bin/time -v wraps each server"
echo

RESULTS=$TMP/results.tsv
: >"$RESULTS"

run_side() { # name round
    local name=$1 r=$2
    start_server "$name" "$r"
    if [[ $WARMUP != 0 ]]; then wrk_warmup "$URL"; fi
    local c0 c1 b0 b1 u0 s0 u1 s1
    read -r u0 s0 < <(cpu_ticks "${SPIDS[@]}"); b0=$(busy_ticks)
    /usr/bin/time -f '%U %S' -o "$TMP/wrk.cpu.$name.$r" "${WRK[@]}" "$URL" >"$TMP/wrk.$name.$r"
    read -r u1 s1 < <(cpu_ticks "${SPIDS[@]}"); b1=$(busy_ticks)
    c0=$((u0 + s0)); c1=$((u1 + s1))
    if [[ $name == mock ]]; then stop_server TERM; else stop_server QUIT; fi
    local out=$TMP/wrk.$name.$r
    local reqs rps non2xx sockerr life ccpu p50 p99 other
    reqs=$(awk '/requests in/{print $1}' "$out")
    rps=$(awk '/^Requests\/sec/{print $2}' "$out")
    non2xx=$(awk '/Non-2xx/{print $NF}' "$out"); non2xx=${non2xx:-0}
    sockerr=$(awk -F'Socket errors: ' '/Socket errors/{print $2}' "$out" | tr -d ' ')
    sockerr=${sockerr:-none}
    p50=$(awk '$1=="50%"{print $2}' "$out"); p99=$(awk '$1=="99%"{print $2}' "$out")
    life=$(awk -F': ' '/User time/{u=$2} /System time/{s=$2} END{printf "%.2f", u+s}' "$TMP/time.$name.$r")
    ccpu=$(awk '{printf "%.2f", $1+$2}' "$TMP/wrk.cpu.$name.$r")
    # CPU used by everything else on the machine during the run (noise indicator)
    other=$(other_cpu "$((b1 - b0))" "$((c1 - c0))" "$ccpu")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$r" "$name" "$reqs" "$rps" "$((c1 - c0))" "$non2xx" "$sockerr" "$life" "$ccpu" "$p50" "$p99" "$other" "$((u1 - u0))" "$((s1 - s0))" >>"$RESULTS"
    if [[ $non2xx != 0 || $sockerr != none ]]; then
        echo "WARNING: $name round $r: non-2xx=$non2xx socket errors: $sockerr" >&2
        sed 's/^/    /' "$out" >&2
    fi
}

for ((r = 1; r <= ROUNDS; r++)); do
    run_side mock "$r"
    run_side nginx "$r"
done

awk -F'\t' -v tck="$TCK" -v dur="$DURATION" '
function median(a, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
    cpu = $5 / tck; eff = (cpu > 0) ? $3 / cpu : 0
    row[NR] = sprintf("%5s  %-5s  %9.0f  %10d  %7.2f  %5.0f%%  %8.2f  %12.0f  %6s  %11s  %7s  %9s  %6s  %s/%s",
        $1, $2, $4, $3, cpu, 100 * cpu / dur, $8, eff, (cpu > 0) ? sprintf("%.2f", 1e6 * cpu / $3) : "-",
        sprintf("%.2f/%.2f", 1e6 * $13 / tck / $3, 1e6 * $14 / tck / $3), $9, $12, $6, $10, $11)
    if ($2 == "mock") { mr[$1] = $4; me[$1] = eff } else { nr[$1] = $4; ne[$1] = eff }
    n = $1
}
END {
    printf "%5s  %-5s  %9s  %10s  %7s  %6s  %8s  %12s  %6s  %11s  %7s  %9s  %6s  %s\n", "round", "srv", "req/s", "requests", "srv_cpu", "util", "life_cpu", "req/cpu-sec", "us/req", "usr/sys us", "wrk_cpu", "other_cpu", "non2xx", "wrk p50/p99"
    for (i = 1; i <= NR; i++) print row[i]
    print ""
    printf "%5s  %12s  %12s  %12s  %12s  %14s\n", "round", "mock req/s", "nginx req/s", "rps ratio", "eff ratio", "(eff = req/server-cpu-s)"
    for (r = 1; r <= n; r++) {
        rr[r] = mr[r] / nr[r]; er[r] = me[r] / ne[r]
        m1[r] = mr[r]; n1[r] = nr[r]; m2[r] = me[r]; n2[r] = ne[r]; r1[r] = rr[r]; r2[r] = er[r]
        printf "%5d  %12.0f  %12.0f  %11.3fx  %11.3fx\n", r, mr[r], nr[r], rr[r], er[r]
    }
    printf "%5s  %12.0f  %12.0f  %11.3fx  %11.3fx\n", "median", median(m1, n), median(n1, n), median(r1, n), median(r2, n)
    printf "\nmedian req/server-cpu-sec: mock %.0f, nginx %.0f  ->  mock/nginx = %.3fx (goal >= 1.0x)\n", median(m2, n), median(n2, n), median(r2, n)
}' "$RESULTS"

[[ ${KEEP_TMP:-0} == 1 ]] && echo "raw outputs kept in $TMP"
exit 0
