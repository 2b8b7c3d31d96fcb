#!/usr/bin/env bash
# Streaming pacing under load: STREAMS concurrent SSE chat streams of TOKENS tokens at ITL ms
# (default 1,000 x 100 tokens at 10 ms, TTFT 10 ms) against one mock worker pinned to CPU1,
# with wrk -t1 pinned to CPU0 (one closed-loop stream per connection; wrk reads chunked bodies).
#
# Reports, from the mock's own /metrics (delta over the run):
#   * pacing lag = how late each streamed token event went out vs its deadline
#     (llmload_mock_pacing_lag_seconds, cumulative buckets): share of events <= 1 ms and an
#     upper bound for p50/p99/p99.9 (smallest bucket bound whose cumulative count >= q);
#   * token events sent per second;
#   * the mock's CPU during the run (utime+stime from /proc/PID/stat; /usr/bin/time -v wraps it).
# Goal stated by the project: pacing-lag p99 < 1 ms.
#
# Usage: benches/mock_streaming.sh [DURATION_S]
# Env:   DURATION (s, 10), STREAMS (1000), TOKENS (100), ITL_MS (10), TTFT_MS (10),
#        CLIENT_CPU (0), SERVER_CPU (1), LLMLOAD_BIN (target/release/llmload), KEEP_TMP=1
set -euo pipefail
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

DURATION=${1:-${DURATION:-10}}
STREAMS=${STREAMS:-1000}
TOKENS=${TOKENS:-100}
ITL_MS=${ITL_MS:-10}
TTFT_MS=${TTFT_MS:-10}
CLIENT_CPU=${CLIENT_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
BIN=${LLMLOAD_BIN:-target/release/llmload}
TCK=$(getconf CLK_TCK)

need_tools wrk taskset curl /usr/bin/time
init_bin

# One fd per connection on each side, plus slack. The mock and wrk inherit this limit.
want=$((STREAMS * 4 + 1024)); ((want < 65536)) && want=65536
if (($(ulimit -Hn) < want)); then ulimit -Hn "$want" 2>/dev/null || true; fi
ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
(($(ulimit -n) >= STREAMS * 2 + 64)) || { echo "ulimit -n $(ulimit -n) is too low for $STREAMS streams" >&2; exit 1; }

make_tmp stream

BODY='{"model":"mock-gpt","messages":[{"role":"user","content":"hi"}],"max_tokens":'"$TOKENS"',"stream":true}'
printf '%s' "$BODY" >"$TMP/body.json"
write_wrk_lua "$TMP/stream.lua" "x-mock-ttft-ms=$TTFT_MS" "x-mock-itl-ms=$ITL_MS" "x-mock-output-tokens=$TOKENS"

MOCK_ARGS=(mock --listen 127.0.0.1:0 --cores "$SERVER_CPU-$SERVER_CPU")
start_mock run # sets BASE, MPID, TIMEPID
URL="$BASE/v1/chat/completions"

WRK=(taskset -c "$CLIENT_CPU" wrk -t1 -c"$STREAMS" -d"${DURATION}s" --timeout 30s --latency -s "$TMP/stream.lua")
ideal_ms=$((TTFT_MS + (TOKENS - 1) * ITL_MS))

echo "== llmload mock streaming pacing: $STREAMS streams x $TOKENS tokens, TTFT ${TTFT_MS} ms, ITL ${ITL_MS} ms, ${DURATION}s"
echo "machine : $(machine_desc), ulimit -n $(ulimit -n)"
echo "build   : llmload git $REV, binary sha256 $BIN_SHA ($("$BIN" --version 2>/dev/null || echo '?'))"
echo "commands:"
echo "  mock : $BIN ${MOCK_ARGS[*]}"
echo "  load : ${WRK[*]} $URL"
echo "  lua  : headers x-mock-ttft-ms: $TTFT_MS, x-mock-itl-ms: $ITL_MS, x-mock-output-tokens: $TOKENS; body $BODY"
echo "  ideal stream time: ~${ideal_ms} ms (TTFT + (tokens-1) x ITL)"
echo

curl -s "$BASE/metrics" >"$TMP/metrics.before"
read -r u0 s0 < <(cpu_ticks "$MPID"); c0=$((u0 + s0)); b0=$(busy_ticks)
t0=$(date +%s.%N)
/usr/bin/time -f '%U %S' -o "$TMP/wrk.cpu" "${WRK[@]}" "$URL" >"$TMP/wrk.out" 2>&1
t1=$(date +%s.%N)
read -r u1 s1 < <(cpu_ticks "$MPID"); c1=$((u1 + s1)); b1=$(busy_ticks)
curl -s "$BASE/metrics" >"$TMP/metrics.after"
stop_server TERM

echo "-- wrk output (latency = whole stream duration)"
sed 's/^/  /' "$TMP/wrk.out"
echo

awk -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v tck="$TCK" -v busy="$((b1 - b0))" -v wrkcpu="$(awk '{print $1 + $2}' "$TMP/wrk.cpu")" '
FNR == 1 { file++ }
/^llmload_mock_pacing_lag_seconds_bucket/ {
    le = $1; sub(/.*le="/, "", le); sub(/".*/, "", le)
    if (file == 1) before[le] = $2; else { after[le] = $2; if (!(le in seen)) { seen[le] = 1; order[++nb] = le } }
}
/^llmload_mock_pacing_lag_seconds_sum/   { if (file == 1) s0 = $2; else s1 = $2 }
/^llmload_mock_tokens_emitted_total/     { if (file == 1) k0 = $2; else k1 = $2 }
/^llmload_mock_requests_total\{route="chat_completions"/ { if (file == 1) r0 += $NF; else r1 += $NF }
/^llmload_mock_faults_injected_total/    { if (file == 2) faults = $2 }
END {
    wall = t1 - t0; cpu = (c1 - c0) / tck
    total = after["+Inf"] - before["+Inf"]
    printf "-- mock /metrics, delta over the run (%.1f s wall)\n", wall
    printf "  %-10s %12s %8s\n", "le (s)", "cumulative", "share"
    for (i = 1; i <= nb; i++) {
        le = order[i]; c = after[le] - before[le]
        printf "  %-10s %12d %7.2f%%\n", le, c, total ? 100 * c / total : 0
    }
    split("0.5 0.99 0.999", qs, " ")
    for (j = 1; j <= 3; j++) {
        q[j] = "n/a"
        for (i = 1; i <= nb; i++) {
            le = order[i]
            if (total && after[le] - before[le] >= qs[j] * total) { q[j] = (le == "+Inf") ? "> " order[nb - 1] " s" : "<= " le * 1000 " ms"; break }
        }
    }
    within = total ? 100 * (after["0.001"] - before["0.001"]) / total : 0
    printf "\n-- summary\n"
    printf "  token events          : %d (%.0f events/s)\n", total, total / wall
    printf "  tokens emitted        : %d (%.0f tokens/s)\n", k1 - k0, (k1 - k0) / wall
    printf "  chat requests (mock)  : %d (counted when the response starts, incl. streams cut at the end)\n", r1 - r0
    printf "  pacing lag <= 1 ms    : %.2f%% of events\n", within
    printf "  pacing lag mean       : %.3f ms\n", total ? 1000 * (s1 - s0) / total : 0
    printf "  pacing lag p50        : %s\n", q[1]
    printf "  pacing lag p99        : %s   (goal: < 1 ms -> %s)\n", q[2], (total && within >= 99) ? "MET" : "NOT MET"
    printf "  pacing lag p99.9      : %s\n", q[3]
    printf "  mock CPU (CPU%s)       : %.2f s over %.1f s = %.0f%% of one core; %.2f us per event\n", "'"$SERVER_CPU"'", cpu, wall, 100 * cpu / wall, total ? 1e6 * cpu / total : 0
    printf "  wrk CPU (CPU%s)        : %.2f s = %.0f%% of one core\n", "'"$CLIENT_CPU"'", wrkcpu, 100 * wrkcpu / wall
    other = busy / tck - cpu - wrkcpu; if (other < 0) other = 0
    printf "  other CPU on machine  : %.2f s (noise flag; should be near 0)\n", other
    printf "  faults injected       : %s\n", faults
}' "$TMP/metrics.before" "$TMP/metrics.after"

echo "  mock whole life (/usr/bin/time -v): user $(awk -F': ' '/User time/{print $2}' "$TMP/time.mock.run") s, sys $(awk -F': ' '/System time/{print $2}' "$TMP/time.mock.run") s, max RSS $(awk -F': ' '/Maximum resident/{print $2}' "$TMP/time.mock.run") KiB"
if grep -qE 'Non-2xx|Socket errors' "$TMP/wrk.out"; then
    echo "WARNING: wrk reported errors or non-2xx responses (see wrk output above)" >&2
fi
[[ ${KEEP_TMP:-0} == 1 ]] && echo "raw outputs kept in $TMP"
exit 0
