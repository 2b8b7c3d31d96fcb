#!/usr/bin/env bash
# Open-loop accuracy of `llmload run`: does it send at the rate it was asked for, on time?
#
#   client : llmload run --stages @RATE:DURATIONs --cores 0-0 (one worker pinned to CPU0, and the
#            whole process under taskset -c 0), constant arrivals, non-streaming openai-chat POSTs
#   server : nginx, 1 worker pinned to CPU1, `return 200 '<a real ~650-byte mock chat reply>'`
#            (SERVER=mock: llmload mock --cores 1-1 --ttft 0 --itl 0 --output-tokens 16 --nonstream-delay none)
#
# Per rate, from <out>/<run>/summary.json (stages[0]): achieved rate = all.requests / steady_s
# and its error vs the target (goal: within 0.5 %), the reported rps, send lag p50/p99/max
# (how late each request went out vs its intended time; goal p99 < 1 ms), latency p50/p99,
# dropped, errors, llmload's worker CPU and whole-process CPU (/usr/bin/time), server CPU util
# (/proc/PID/stat), and `other_cpu` (CPU used by everything else on the machine: noise flag).
# Before each run the script waits (polls every 30 s, at most QUIET_MAX s) until no
# cargo/rustc/cc/ld/pytest process runs and the machine is idle.
#
# Usage: benches/open_loop_accuracy.sh [DURATION_S] [ROUNDS]
# Env:   DURATION (s, 10), ROUNDS (1), RATES ("2000 10000 20000"), SERVER (nginx|mock),
#        CLIENT_CPU (0), SERVER_CPU (1), EXTRA_ARGS (extra llmload run flags, e.g. "--arrival poisson"),
#        LLMLOAD_BIN (target/release/llmload), NGINX_BIN, QUIET_MAX (1200),
#        NOISE_MAX (0.5 s of other_cpu: a run above it is measured again, at most RETRIES=2 times), KEEP_TMP=1
# Needs: nginx, taskset, /usr/bin/time (scripts/install-peers.sh), curl, ss, python3
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-${DURATION:-10}}
ROUNDS=${2:-${ROUNDS:-1}}
RATES=${RATES:-2000 10000 20000}
SERVER=${SERVER:-nginx}
CLIENT_CPU=${CLIENT_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
EXTRA_ARGS=${EXTRA_ARGS:-}
QUIET_MAX=${QUIET_MAX:-1200}
NOISE_MAX=${NOISE_MAX:-0.5}
RETRIES=${RETRIES:-2}
BIN=${LLMLOAD_BIN:-target/release/llmload}
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
TCK=$(getconf CLK_TCK)

for tool in taskset curl ss python3 /usr/bin/time; do
    command -v "$tool" >/dev/null 2>&1 || { echo "missing $tool (run scripts/install-peers.sh)" >&2; exit 1; }
done
[[ $SERVER == mock ]] || [[ -x $NGINX_BIN ]] || { echo "missing nginx (run scripts/install-peers.sh) or use SERVER=mock" >&2; exit 1; }
[[ -x $BIN ]] || { echo "missing $BIN (run cargo build --release)" >&2; exit 1; }
BIN=$(realpath "$BIN")
REV="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src Cargo.toml 2>/dev/null || echo +dirty)"
BIN_SHA="$(sha256sum "$BIN" | cut -c1-12), built $(date -u -r "$BIN" +%FT%TZ)"

TMP=$(mktemp -d /tmp/llmload-openloop.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [[ ${KEEP_TMP:-0} == 1 ]] || rm -rf "$TMP"
}
trap cleanup EXIT

cpu_ticks() {
    local p
    for p in "$@"; do sed 's/^.*) //' "/proc/$p/stat"; done | awk '{u += $12; s += $13} END {print u + 0, s + 0}'
}
busy_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
builders() {
    { pgrep -a -x 'cargo|rustc|cc1|cc1plus|ld|rust-lld|clippy-driver|rustdoc|build-script-.*' 2>/dev/null || true
      pgrep -a -f '(^|[ /])py\.?test( |$)|-m py\.?test' 2>/dev/null || true; } | head -n 5
}
wait_quiet() {
    local start=$SECONDS b0 b1 busy procs
    while :; do
        procs=$(builders)
        b0=$(busy_ticks); sleep 1; b1=$(busy_ticks)
        busy=$((b1 - b0))
        if [[ -z $procs && $busy -le $((TCK / 4)) ]]; then return 0; fi
        if ((SECONDS - start >= QUIET_MAX)); then
            echo "WARNING: machine still busy after ${QUIET_MAX}s (busy ${busy}/${TCK} ticks/s; ${procs//$'\n'/; }); measuring anyway" >&2
            return 0
        fi
        echo "  waiting for a quiet machine: busy ${busy}/${TCK} ticks/s, load $(cut -d' ' -f1-3 /proc/loadavg)${procs:+, running: $(echo "$procs" | awk '{print $2}' | sort -u | tr '\n' ' ')}" >&2
        sleep 30
    done
}
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 30000))
        ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
    done
}
wait_http() {
    local i
    for ((i = 0; i < 100; i++)); do
        curl -s -o /dev/null -m 1 "$1" && return 0
        sleep 0.05
    done
    echo "server at $1 did not come up" >&2
    return 1
}

MOCK_ARGS=(mock --listen 127.0.0.1:0 --cores "$SERVER_CPU-$SERVER_CPU" --ttft 0 --itl 0 --output-tokens 16 --nonstream-delay none)
start_mock() { # sets SPIDS, BASE, TIMEPID
    local out=$TMP/mock.$1.out i
    /usr/bin/time -v -o "$TMP/time.mock.$1" "$BIN" "${MOCK_ARGS[@]}" >"$out" 2>"$TMP/mock.$1.err" &
    TIMEPID=$!
    PIDS+=("$TIMEPID")
    for ((i = 0; i < 100; i++)); do
        grep -q 'listening on' "$out" 2>/dev/null && break
        sleep 0.05
    done
    BASE="$(head -n1 "$out" | sed 's/.*listening on //')"
    SPIDS=("$(pgrep -P "$TIMEPID")")
    PIDS+=("${SPIDS[0]}")
}

# Server: nginx returns the body of a real mock reply (so llmload parses a real completion)
start_mock probe
BODY='{"model":"mock-gpt","messages":[{"role":"user","content":"Say something short about load testing."}],"max_tokens":64,"stream":false}'
curl -s -X POST -H 'content-type: application/json' --data-binary "$BODY" "$BASE/v1/chat/completions" >"$TMP/reply.json"
if [[ $SERVER == mock ]]; then
    SERVER_DESC="$BIN ${MOCK_ARGS[*]}"
else
    kill -TERM "${SPIDS[0]}"; wait "$TIMEPID" 2>/dev/null || true
    grep -q '"choices"' "$TMP/reply.json" || { echo "mock probe reply is not a chat completion" >&2; exit 1; }
    NGX_MASK=1
    for ((i = 0; i < SERVER_CPU; i++)); do NGX_MASK+=0; done
    NGX_BODY=$(sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g" -e 's/\$/S/g' "$TMP/reply.json")
    NGX_PORT=$(free_port)
    mkdir -p "$TMP/nginx/logs"
    cat >"$TMP/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
worker_cpu_affinity $NGX_MASK;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 16384; }
worker_rlimit_nofile 20000;
http {
    access_log off;
    server_tokens off;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path $TMP/nginx/client_body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    server {
        listen 127.0.0.1:$NGX_PORT backlog=4096;
        location / {
            default_type application/json;
            return 200 '$NGX_BODY';
        }
    }
}
EOF
    NGX_CMD=("$NGINX_BIN" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf")
    "${NGX_CMD[@]}" -t -q
    /usr/bin/time -v -o "$TMP/time.nginx" "${NGX_CMD[@]}" 2>"$TMP/nginx.err" &
    TIMEPID=$!
    PIDS+=("$TIMEPID")
    BASE="http://127.0.0.1:$NGX_PORT"
    wait_http "$BASE/"
    master=$(pgrep -P "$TIMEPID")
    SPIDS=("$master" $(pgrep -P "$master"))
    PIDS+=("$master")
    SERVER_DESC="${NGX_CMD[*]}   # 1 worker, worker_cpu_affinity $NGX_MASK, return 200 <$(wc -c <"$TMP/reply.json")-byte mock reply>"
fi

echo "== llmload open-loop accuracy against $SERVER: rates $RATES req/s, ${DURATION}s each, $ROUNDS round(s)"
echo "machine : $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), kernel $(uname -r), CLK_TCK $TCK, ulimit -n $(ulimit -n)"
echo "build   : llmload git $REV, binary sha256 $BIN_SHA"
echo "server  : $SERVER_DESC   (CPU$SERVER_CPU)"
echo "client  : taskset -c $CLIENT_CPU $BIN run --target $BASE/v1 --stages @RATE:${DURATION}s --cores $CLIENT_CPU-$CLIENT_CPU --out $TMP/lr $EXTRA_ARGS"
echo

RESULTS=$TMP/results.tsv
: >"$RESULTS"
for ((r = 1; r <= ROUNDS; r++)); do
    # alternate the order of rates across rounds
    rates=($RATES)
    if ((r % 2 == 0)); then rev=(); for ((i = ${#rates[@]} - 1; i >= 0; i--)); do rev+=("${rates[i]}"); done; rates=("${rev[@]}"); fi
    for rate in "${rates[@]}"; do
        tag=$r.$rate
        for ((attempt = 1; ; attempt++)); do
            wait_quiet
            read -r u0 s0 < <(cpu_ticks "${SPIDS[@]}"); b0=$(busy_ticks)
            rc=0
            # shellcheck disable=SC2086
            /usr/bin/time -f '%e %U %S' -o "$TMP/cpu.$tag" taskset -c "$CLIENT_CPU" "$BIN" run --target "$BASE/v1" --stages "@$rate:${DURATION}s" \
                --cores "$CLIENT_CPU-$CLIENT_CPU" --out "$TMP/lr" $EXTRA_ARGS >"$TMP/out.$tag" 2>"$TMP/err.$tag" || rc=$?
            read -r u1 s1 < <(cpu_ticks "${SPIDS[@]}"); b1=$(busy_ticks)
            dir=$(sed -n 's/^reports: //p' "$TMP/out.$tag" | tail -n1)
            if [[ -z $dir || ! -s $dir/summary.json ]]; then
                echo "WARNING: llmload exited $rc at @$rate (round $r) without a summary.json; output:" >&2
                tail -n 30 "$TMP/out.$tag" "$TMP/err.$tag" | sed 's/^/    /' >&2
                continue 2
            fi
            other=$(awk -v b="$((b1 - b0))" -v s="$((u1 + s1 - u0 - s0))" -v t="$TCK" '{o = (b - s) / t - $2 - $3; printf "%.2f", (o < 0 ? 0 : o)}' <(tail -n1 "$TMP/cpu.$tag"))
            if awk -v o="$other" -v m="$NOISE_MAX" 'BEGIN{exit !(o > m)}' && ((attempt <= RETRIES)); then
                echo "  round $r @$rate: other_cpu ${other}s > ${NOISE_MAX}s (noisy), measuring again" >&2
                continue
            fi
            break
        done
        # exit 3 = llmload's own verdict GENERATOR-BOUND (the run completed; figures are kept)
        if [[ $rc != 0 ]]; then
            echo "  note: llmload exit $rc at @$rate (round $r): $(grep -m1 'verdict:' "$TMP/out.$tag" | sed 's/^ *//')" >&2
        fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$rate" "$dir/summary.json" "$(tail -n1 "$TMP/cpu.$tag")" \
            "$((u1 + s1 - u0 - s0))" "$((b1 - b0))" "$rc" >>"$RESULTS"
        echo "  round $r @$rate done: $(grep -m1 'ALL:' "$TMP/out.$tag" | sed 's/^ *//')" >&2
    done
done
echo

python3 - "$RESULTS" "$TCK" <<'PY'
import json, sys
path, tck = sys.argv[1], float(sys.argv[2])
print("%5s  %7s  %9s  %10s  %8s  %9s  %7s  %-9s  %22s  %17s  %7s  %6s  %8s  %8s  %8s  %9s  %s" % (
    "round", "target", "requests", "achieved", "error", "rps(rep)", "dropped", "failed", "send lag p50/p99/max", "latency p50/p99", "wall_s",
    "util", "wkr_cpu", "proc_cpu", "srv_util", "other_cpu", "exit"))
fails = []
for line in open(path):
    r, rate, summ, cpu, sticks, busy, rc = line.rstrip("\n").split("\t")
    rate = float(rate)
    wall, ut, st = (float(v) for v in cpu.split())
    s = json.load(open(summ))["stages"][0]
    a = s["all"]
    us = a["us"]
    dur = s["duration_s"]
    # requests counts arrivals sent in the steady window (after --warmup, if any)
    achieved = a["requests"] / s["steady_s"]
    err = 100 * (achieved - rate) / rate
    wcpu = sum(s["worker_cpu_s"])
    pcpu = ut + st
    scpu = int(sticks) / tck
    other = max(0.0, int(busy) / tck - scpu - pcpu)
    lag = us["send_lag"]
    ok_rate = abs(err) <= 0.5
    ok_lag = lag["p99"] < 1000
    if not ok_rate or not ok_lag:
        fails.append("round %s @%d: %s%s" % (r, rate, "" if ok_rate else "rate error %.2f%% " % err, "" if ok_lag else "send-lag p99 %d us" % lag["p99"]))
    print("%5s  %7d  %9d  %10.1f  %+7.3f%%  %9.1f  %7d  %-9s  %22s  %17s  %7.2f  %5.0f%%  %8.2f  %8.2f  %7.0f%%  %9.2f  %s" % (
        r, rate, a["requests"], achieved, err, a["rps"], a["dropped"], "%d/%d" % (a["failed"], a["cancelled"]),
        "%dus/%dus/%dus" % (lag["p50"], lag["p99"], lag["max"]), "%dus/%dus" % (us["latency"]["p50"], us["latency"]["p99"]),
        s["wall_s"], 100 * wcpu / dur, wcpu, pcpu, 100 * scpu / wall, other, rc))
    if s.get("generator_findings"):
        print("       generator findings: %s" % s["generator_findings"])
    conn = us["connect"]
    if conn["count"] > 1000:
        print("       connections opened: %d (connect p50 %d us, p99 %d us)" % (conn["count"], conn["p50"], conn["p99"]))
print()
print("achieved = all.requests / steady_s (goal: within 0.5 % of target); send lag goal: p99 < 1 ms (1000 us)")
print("util/wkr_cpu = llmload worker CPU (summary.json worker_cpu_s); proc_cpu = whole llmload process (utime+stime)")
print("failed column = failed/cancelled; exit = llmload exit status (3 = its own verdict GENERATOR-BOUND)")
print("goals: " + ("all met" if not fails else "NOT met in: " + "; ".join(fails)))
PY

[[ ${KEEP_TMP:-0} == 1 ]] && echo "raw outputs kept in $TMP"
exit 0
