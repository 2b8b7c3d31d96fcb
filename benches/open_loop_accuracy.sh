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
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"
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

need_tools taskset curl ss python3 /usr/bin/time
[[ $SERVER == mock ]] || [[ -x $NGINX_BIN ]] || { echo "missing nginx (run scripts/install-peers.sh) or use SERVER=mock" >&2; exit 1; }
init_bin

make_tmp openloop

MOCK_ARGS=(mock --listen 127.0.0.1:0 --cores "$SERVER_CPU-$SERVER_CPU" --ttft 0 --itl 0 --output-tokens 16 --nonstream-delay none)

# Server: nginx returns the body of a real mock reply (so llmload parses a real completion)
start_mock probe
BODY='{"model":"mock-gpt","messages":[{"role":"user","content":"Say something short about load testing."}],"max_tokens":64,"stream":false}'
curl -s -X POST -H 'content-type: application/json' --data-binary "$BODY" "$BASE/v1/chat/completions" >"$TMP/reply.json"
if [[ $SERVER == mock ]]; then
    SERVER_DESC="$BIN ${MOCK_ARGS[*]}"
else
    stop_server TERM
    grep -q '"choices"' "$TMP/reply.json" || { echo "mock probe reply is not a chat completion" >&2; exit 1; }
    write_nginx_conf 16384 20000 4096 # 1 worker on SERVER_CPU; sets NGX_MASK, NGX_PORT, NGX_CMD
    "${NGX_CMD[@]}" -t -q
    start_nginx run # sets BASE, SPIDS, TIMEPID
    SERVER_DESC="${NGX_CMD[*]}   # 1 worker, worker_cpu_affinity $NGX_MASK, return 200 <$(wc -c <"$TMP/reply.json")-byte mock reply>"
fi

echo "== llmload open-loop accuracy against $SERVER: rates $RATES req/s, ${DURATION}s each, $ROUNDS round(s)"
echo "machine : $(machine_desc), CLK_TCK $TCK, ulimit -n $(ulimit -n)"
echo "build   : llmload git $REV, binary sha256 $BIN_SHA"
echo "server  : $SERVER_DESC   (CPU$SERVER_CPU)"
echo "client  : taskset -c $CLIENT_CPU $BIN run --target $BASE/v1 --stages @RATE:${DURATION}s --cores $CLIENT_CPU-$CLIENT_CPU --out $TMP/lr $EXTRA_ARGS"
echo

RESULTS=$TMP/results.tsv
: >"$RESULTS"
for ((r = 1; r <= ROUNDS; r++)); do
    # alternate the order of rates across rounds
    read -ra rates <<<"$RATES"
    if ((r % 2 == 0)); then mapfile -t rates < <(reversed "${rates[@]}"); fi
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
            dir=$(reports_dir "$TMP/out.$tag")
            if [[ -z $dir || ! -s $dir/summary.json ]]; then
                echo "WARNING: llmload exited $rc at @$rate (round $r) without a summary.json; output:" >&2
                show_output "$TMP/out.$tag" "$TMP/err.$tag"
                continue 2
            fi
            read -r _ ut st < <(tail -n1 "$TMP/cpu.$tag")
            other=$(other_cpu "$((b1 - b0))" "$((u1 + s1 - u0 - s0))" "$ut" "$st")
            if is_noisy "$other" && ((attempt <= RETRIES)); then
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
