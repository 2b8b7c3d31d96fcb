#!/usr/bin/env bash
# Trace replay in bounded memory: a generated Mooncake trace of RECORDS records (default
# 1,000,000, ~140 MB) replayed by one llmload worker against one mock worker, compressed by
# --time-scale into about DURATION_S seconds, beside a replay of the same trace's first SMALL
# records. Each worker streams the file (never held whole); records it cannot send in time are
# dropped and counted, so every record is accounted: sent + dropped = records.
#
# Both replays reach the same steady state (the in-flight limit holds INFLIGHT prompts), so
# what a longer trace adds to the peak is what streaming failed to bound.
# Reports: records, requests sent, dropped; llmload's peak RSS (/usr/bin/time -v) for the big
# and the small replay, and the difference per million records (goal: flat, i.e. the peak does
# not grow with the trace); a noise flag (builds running).
#
# Usage: benches/trace_memory.sh
# Env:   RECORDS (1000000), SMALL (100000), RATE (500: the trace's arrivals/s), DURATION_S (20),
#        INFLIGHT (256: --max-inflight, which bounds the prompts held; generated prompts reach
#        ~100k tokens), CLIENT_CPU (0), SERVER_CPU (1), LLMLOAD_BIN (target/release/llmload),
#        KEEP_TMP=1
set -euo pipefail
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

RECORDS=${RECORDS:-1000000}
SMALL=${SMALL:-100000}
RATE=${RATE:-500}
INFLIGHT=${INFLIGHT:-256}
SECONDS_WANTED=${DURATION_S:-20}
CLIENT_CPU=${CLIENT_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
BIN=${LLMLOAD_BIN:-target/release/llmload}

need_tools taskset python3 /usr/bin/time
init_bin
make_tmp trace-mem

echo "== llmload trace memory: $RECORDS Mooncake records at $RATE/s, replayed in ~${SECONDS_WANTED}s"
echo "machine : $(machine_desc)"
echo "build   : llmload git $REV, binary sha256 $BIN_SHA"
busy=$(builders)
[[ -z $busy ]] && echo "noise   : quiet (no build or test running)" || echo "noise   : NOISY, builds/tests running"

scripts/gen-trace.py --format mooncake --records "$RECORDS" --rate "$RATE" --seed 1 --out "$TMP/big.jsonl"
echo "trace   : $(du -m "$TMP/big.jsonl" | cut -f1) MB"
# The trace spans about RECORDS / RATE seconds; scale it into SECONDS_WANTED.
SCALE=$(python3 -c "print($SECONDS_WANTED / ($RECORDS / $RATE))")
# The small replay uses the same scale: the same arrival rate, a tenth of the length.

MOCK_ARGS=(mock --listen 127.0.0.1:0 --cores "$SERVER_CPU-$SERVER_CPU" --ttft 0 --itl 0 --output-tokens 4)
start_mock run

replay() { # NAME LIMIT_ARGS...
    local name=$1
    shift
    echo "  load : $BIN run --target $BASE/v1/chat/completions --model mock-gpt --trace $TMP/big.jsonl --trace-format mooncake --time-scale $SCALE $* --cores $CLIENT_CPU"
    taskset -c "$CLIENT_CPU" /usr/bin/time -v -o "$TMP/time.$name" "$BIN" run --target "$BASE/v1/chat/completions" \
        --model mock-gpt --trace "$TMP/big.jsonl" --trace-format mooncake --time-scale "$SCALE" "$@" \
        --cores "$CLIENT_CPU" --max-inflight "$INFLIGHT" --out "$TMP/runs-$name" >"$TMP/run.$name.out" 2>"$TMP/run.$name.err" || true
}
echo "commands:"
replay small --trace-limit "$SMALL"
replay big

python3 - "$TMP" "$RECORDS" "$SMALL" <<'PY'
import glob, json, re, sys
tmp, records, small = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def peak(name):
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(f"{tmp}/time.{name}").read())[1])
def figures(name):
    s = json.load(open(glob.glob(f"{tmp}/runs-{name}/*/summary.json")[0]))
    a = s["stages"][0]["all"]
    return a["requests"], a["dropped"], a.get("dropped_behind", 0)
for name, n in (("small", small), ("big", records)):
    req, dropped, behind = figures(name)
    print(f"{name:5}: {n} records: {req} sent, {dropped} dropped ({behind} behind schedule), "
          f"accounted {req + dropped == n}; peak RSS {peak(name) / 1024:.1f} MiB")
growth = (peak("big") - peak("small")) / ((records - small) / 1e6)
print(f"RSS growth: {growth / 1024:.2f} MiB per million records (goal: flat; what grows with requests sent, not records)")
PY
