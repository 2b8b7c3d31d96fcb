#!/usr/bin/env bash
# Scale: STREAMS concurrent SSE streams from one llmload worker against one mock worker, as
# users run it: a ramp, then a hold (`--stages 1..N:RAMP,N:HOLD`). Mock: TTFT 50 ms, ITL
# 200 ms, 100 tokens, so each request lasts ~20 s and the ramp's requests straddle the
# boundary into the hold. llmload on CLIENT_CPU (`--cores CLIENT_CPU`, the whole process
# pinned there), the mock on SERVER_CPU.
#
# Reports (issue 12, target 4):
#   * errors (failed requests) and cancellations per stage, and the worst progress-line `err`;
#   * connect p50/p99 and the most connects in progress at once (the connect cap paces a
#     stage's start), new connections per stage (persisting users keep theirs);
#   * TTFT p50 of the held stage and its error against the mock's 50 ms;
#   * client RSS per open stream: (VmRSS during the hold - VmRSS with one user) / streams open;
#   * the client's open fds and established connections during the hold, and the fd limit;
#   * a noise flag: CPU used by everything else on the machine during the run.
# Goals: 0 errors, held-stage TTFT p50 error <= 2 ms, RSS <= 16 KiB per stream.
#
# Usage: benches/scale_streams.sh [STREAMS]
# Env:   STREAMS (10000), RAMP (10s), HOLD (30s), GRACE (25s: every held-stage request ends;
#        with less, those still streaming at the end are cancelled, not failed), TTFT_MS (50),
#        ITL_MS (200), TOKENS (100), CLIENT_CPU (0), SERVER_CPU (1), NOISE_MAX (2.0 CPU-s),
#        QUIET_MAX (600: before the run, wait at most this long, polling every 30 s, until no
#        build or test runs and the machine is idle; 0 measures at once),
#        LLMLOAD_BIN (target/release/llmload), KEEP_TMP=1
set -euo pipefail
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

STREAMS=${1:-${STREAMS:-10000}}
RAMP=${RAMP:-10s}
HOLD=${HOLD:-30s}
GRACE=${GRACE:-25s}
TTFT_MS=${TTFT_MS:-50}
ITL_MS=${ITL_MS:-200}
TOKENS=${TOKENS:-100}
CLIENT_CPU=${CLIENT_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
NOISE_MAX=${NOISE_MAX:-2.0}
QUIET_MAX=${QUIET_MAX:-600}
BIN=${LLMLOAD_BIN:-target/release/llmload}
TCK=$(getconf CLK_TCK)

need_tools taskset python3 ss curl /usr/bin/time
init_bin

# One fd per stream on each side, plus slack; both processes inherit this limit.
want=$((STREAMS + 1024))
if (($(ulimit -n) < want)); then ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)"; fi
(($(ulimit -n) >= STREAMS + 64)) || { echo "ulimit -n $(ulimit -n) (hard $(ulimit -Hn)) is too low for $STREAMS streams" >&2; exit 1; }

make_tmp scale
wait_quiet

MOCK_ARGS=(mock --listen 127.0.0.1:0 --cores "$SERVER_CPU-$SERVER_CPU" --ttft "${TTFT_MS}ms" --itl "${ITL_MS}ms"
    --output-tokens "$TOKENS")
start_mock run # sets BASE, MPID, TIMEPID
PORT=${BASE##*:}
STAGES="1..$STREAMS:$RAMP,$STREAMS:$HOLD"
RUN=(taskset -c "$CLIENT_CPU" /usr/bin/time -v -o "$TMP/time.run" "$BIN" run --target "$BASE/v1" --stream --max-tokens "$TOKENS" --stages "$STAGES"
    --grace "$GRACE" --cores "$CLIENT_CPU" --out "$TMP/runs")

echo "== llmload scale: $STREAMS SSE streams, --stages $STAGES, mock TTFT ${TTFT_MS} ms ITL ${ITL_MS} ms x $TOKENS tokens"
echo "machine : $(machine_desc), ulimit -n $(ulimit -n) (hard $(ulimit -Hn)), somaxconn $(cat /proc/sys/net/core/somaxconn), ports $(tr '\t' '-' </proc/sys/net/ipv4/ip_local_port_range)"
echo "build   : llmload git $REV, binary sha256 $BIN_SHA ($("$BIN" --version 2>/dev/null || echo '?'))"
echo "commands:"
echo "  mock : $BIN ${MOCK_ARGS[*]}"
echo "  load : ${RUN[*]}"
busy=$(builders)
[[ -z $busy ]] || echo "note    : builds/tests running: $(echo "$busy" | awk '{n = split($2, p, "/"); print p[n]}' | sort | uniq -c | tr -s ' \n' ' ')"

secs() { python3 -c "import re,sys; t=sys.argv[1]; m=re.fullmatch(r'([0-9.]+)(ms|s|m)', t); print(float(m[1]) * {'ms': 0.001, 's': 1, 'm': 60}[m[2]])" "$1"; }
ramp_s=$(secs "$RAMP")
hold_s=$(secs "$HOLD")

curl -s "$BASE/metrics" >"$TMP/metrics.before"
b0=$(busy_ticks)
s0=$(cpu_ticks "$MPID")
"${RUN[@]}" >"$TMP/run.out" 2>"$TMP/run.err" &
RPID=$!
PIDS+=("$RPID")
# One user open (the ramp starts at 1): the baseline RSS.
sleep 0.3
LPID=$(pgrep -P "$RPID")
rss0=$(awk '/^VmRSS/{print $2}' "/proc/$LPID/status")
# Mid-hold: every stream open.
sleep "$(python3 -c "print($ramp_s + $hold_s / 2 - 0.3)")"
rss1=$(awk '/^VmRSS/{print $2}' "/proc/$LPID/status")
fds=$(find "/proc/$LPID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
estab=$(ss -Htn state established "( dport = :$PORT )" | wc -l)
wait "$RPID" || echo "note    : llmload exited $?"
b1=$(busy_ticks)
s1=$(cpu_ticks "$MPID")
curl -s "$BASE/metrics" >"$TMP/metrics.after"
read -r cu cs < <(awk '/User time/{u=$4} /System time/{s=$4} END{print u+0, s+0}' "$TMP/time.run")
dir=$(reports_dir "$TMP/run.out")
[[ -f $dir/summary.json ]] || { echo "no summary.json" >&2; show_output "$TMP/run.out" "$TMP/run.err"; exit 1; }
other=$(other_cpu "$((b1 - b0))" "$(($(echo "$s1" | awk '{print $1 + $2}') - $(echo "$s0" | awk '{print $1 + $2}')))" "$cu" "$cs")

python3 - "$dir/summary.json" "$TMP/run.err" "$STREAMS" "$rss0" "$rss1" "$TTFT_MS" <<'EOF'
import json, re, sys
summary, err, streams, rss0, rss1, ttft_ms = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
s = json.load(open(summary))
def ms(us): return "-" if us is None else f"{us / 1000:.2f} ms"
for i, st in enumerate(s["stages"]):
    a = st["all"]
    us = a["us"]
    print(f"stage {i + 1} {st['stage']:>16}: requests {a['requests']} ok {a['ok']} failed {a['failed']} cancelled {a['cancelled']} "
          f"late {a['late']}; new connections {a['connects']} (connect p50 {ms(us['connect']['p50'])} p99 {ms(us['connect']['p99'])}, "
          f"at most {max(st.get('connecting_peak') or [0])} connecting at once); ttft p50 {ms(us['ttft']['p50'])} p99 {ms(us['ttft']['p99'])}")
held = s["stages"][-1]["all"]["us"]["ttft"]["p50"]
errs = [int(m) for m in re.findall(r" err (\d+) ", open(err).read())]
print(f"held-stage TTFT p50 {ms(held)}: error {ms(None if held is None else held - ttft_ms * 1000)} (goal <= 2 ms)")
print(f"errors: {sum(st['all']['failed'] for st in s['stages'])} failed; progress line err at most {max(errs, default=0)}; "
      f"cancelled {sum(st['all']['cancelled'] for st in s['stages'])}")
print(f"client RSS: {rss0} KiB with 1 user, {rss1} KiB with {streams} streams: {(rss1 - rss0) / streams:.1f} KiB per stream (goal <= 16)")
EOF
# The mock's own pacing lag tells a late server from a late client.
python3 - "$TMP/metrics.before" "$TMP/metrics.after" <<'EOF'
import re, sys
def buckets(path):
    out = {}
    for line in open(path):
        m = re.match(r'llmload_mock_pacing_lag_seconds_bucket\{.*le="([^"]+)".*\} (\S+)', line)
        if m:
            out[m[1]] = out.get(m[1], 0) + float(m[2])
    return out
a, b = buckets(sys.argv[1]), buckets(sys.argv[2])
les = sorted(b, key=lambda le: float("inf") if le == "+Inf" else float(le))
delta = {le: b[le] - a.get(le, 0) for le in les}
total = delta.get("+Inf", 0)
def q(x):
    for le in les:
        if total and delta[le] >= x * total:
            return "> " + les[-2] + " s" if le == "+Inf" else f"<= {float(le) * 1000:g} ms"
    return "n/a"
share = 100 * delta.get("0.001", 0) / total if total else 0
print(f"mock pacing lag: {int(total)} token events, {share:.1f}% within 1 ms, p50 {q(0.5)}, p99 {q(0.99)}")
EOF
echo "client fds during the hold: $fds of limit $(ulimit -n); established connections to the mock: $estab"
echo "client cpu: user ${cu} s, system ${cs} s (whole run); mock cpu: $(awk -v a="$s0" -v b="$s1" -v t="$TCK" 'BEGIN{split(a, x, " "); split(b, y, " "); printf "%.2f", (y[1] + y[2] - x[1] - x[2]) / t}') s"
echo "noise   : other processes used ${other} CPU-s during the run$(is_noisy "$other" && echo " — NOISY (> $NOISE_MAX): measure again")"
