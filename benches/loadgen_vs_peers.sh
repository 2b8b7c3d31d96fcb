#!/usr/bin/env bash
# Load generator efficiency: `llmload run` vs wrk, oha, hey and h2load, side by side in ONE run.
#
#   client : each tool pinned to CPU0 (taskset -c 0; llmload also --cores 0-0), 64 connections,
#            closed loop, POST /v1/chat/completions with the request body llmload itself sends
#            (184 bytes; captured from llmload: a fixed conversation id replaces the per-request one)
#   server : the SAME server for every client, pinned to CPU1, started fresh per round:
#            nginx  - 1 worker (worker_cpu_affinity -> CPU1), `return 200 '<json>'` with a real
#                     non-streaming mock reply as body (about 650 bytes), access_log off,
#                     keepalive_requests 100000000
#            mock   - llmload mock --cores 1-1 --ttft 0 --itl 0 --output-tokens 16 --nonstream-delay none
#
# Per client run: successful responses, req/s (= successes / DURATION), CLIENT CPU seconds
# (utime+stime of the client process over its whole life, from `/usr/bin/time -f '%e %U %S'`,
# i.e. wait4 rusage: start-up, connection set-up and report writing included), then requests per
# client-CPU-second and microseconds of client CPU per request; server CPU util (from
# /proc/PID/stat) shows whether the server was the bottleneck; `other_cpu` is CPU used by
# everything else on the machine during the run (noise flag, should be near 0).
# Result: llmload's ratio to each peer in requests per client-CPU-second (per round and median).
# Project goals: >= 1.25x wrk and >= 3x oha.
#
# Order: servers alternate per round (nginx first in odd rounds); clients rotate one place per
# round, so every client takes every slot. Before each measured run the script waits (polls every
# 30 s, at most QUIET_MAX s) until no cargo/rustc/cc/ld/pytest process runs and the machine is idle;
# a run whose other_cpu exceeds NOISE_MAX is measured again (the table shows the last attempt).
#
# Usage: benches/loadgen_vs_peers.sh [DURATION_S] [ROUNDS]
# Env:   DURATION (s, 10), ROUNDS (3), CONNS (64), WARMUP (s, 1; wrk against the fresh server),
#        SERVERS ("nginx mock"), CLIENTS ("llmload llmload-nojsonl wrk oha hey h2load"; llmload-nojsonl only
#        if the build has --no-jsonl), LLMLOAD_ARGS (extra `llmload run` flags), CLIENT_CPU (0),
#        SERVER_CPU (1), LLMLOAD_BIN (target/release/llmload), NGINX_BIN, OHA_BIN, QUIET_MAX (1200),
#        NOISE_MAX (0.5 s of other_cpu: a run above it is measured again, at most RETRIES=2 times), KEEP_TMP=1
# Needs: scripts/install-peers.sh (nginx, wrk, /usr/bin/time, taskset), plus
#        apt-get install -y hey nghttp2-client   and   cargo install oha --version 1.16.0 --locked
#        Missing peers are skipped with a note. Also curl, ss, python3.
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
SERVERS=${SERVERS:-nginx mock}
LLMLOAD_ARGS=${LLMLOAD_ARGS:-}
QUIET_MAX=${QUIET_MAX:-1200}
NOISE_MAX=${NOISE_MAX:-0.5}
RETRIES=${RETRIES:-2}
BIN=${LLMLOAD_BIN:-target/release/llmload}
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
OHA_BIN=${OHA_BIN:-$(command -v oha || echo "$HOME/.cargo/bin/oha")}
TCK=$(getconf CLK_TCK)

need_tools taskset curl ss python3 /usr/bin/time
init_bin
# llmload-nojsonl: the same run without per-request results.jsonl (if this build has --no-jsonl)
if [[ -z ${CLIENTS:-} ]]; then
    CLIENTS="llmload wrk oha hey h2load"
    if "$BIN" run --help 2>/dev/null | grep -q -- '--no-jsonl'; then CLIENTS="llmload llmload-nojsonl wrk oha hey h2load"; fi
fi

have() { # client name -> is its tool installed?
    case $1 in
        llmload | llmload-nojsonl) return 0 ;;
        oha) [[ -x $OHA_BIN ]] ;;
        nginx) [[ -x $NGINX_BIN ]] || command -v "$NGINX_BIN" >/dev/null 2>&1 ;;
        *) command -v "$1" >/dev/null 2>&1 ;;
    esac
}
command -v wrk >/dev/null 2>&1 || { echo "missing wrk (used for the warm-up; run scripts/install-peers.sh)" >&2; exit 1; }
clients=()
for c in $CLIENTS; do
    if have "$c"; then clients+=("$c"); else echo "NOTE: $c not installed, skipped" >&2; fi
done
servers=()
for s in $SERVERS; do
    if [[ $s == mock ]] || have "$s"; then servers+=("$s"); else echo "NOTE: server $s not installed, skipped" >&2; fi
done

make_tmp peers

# ------------------------------------------------------------------------- request (as llmload)
CONV=b9ed69e5-6a13-4591-931e-315b981ee152
BODY="{\"model\":\"mock-gpt\",\"messages\":[{\"role\":\"user\",\"content\":\"[conversation $CONV] Say something short about load testing.\"}],\"max_tokens\":64,\"stream\":false}"
printf '%s' "$BODY" >"$TMP/body.json"
RID="x-request-id: $CONV"
write_wrk_lua "$TMP/post.lua" "x-request-id=$CONV"

# ---------------------------------------------------------------------------------- servers
MOCK_ARGS=(mock --listen 127.0.0.1:0 --cores "$SERVER_CPU-$SERVER_CPU" --ttft 0 --itl 0 --output-tokens 16 --nonstream-delay none)

# nginx serves the body of a real mock reply to this very request
start_mock probe
curl -s -X POST -H 'content-type: application/json' --data-binary @"$TMP/body.json" "$BASE/v1/chat/completions" >"$TMP/reply.json"
stop_server TERM
grep -q '"choices"' "$TMP/reply.json" || { echo "mock probe reply is not a chat completion: $(head -c 300 "$TMP/reply.json")" >&2; exit 1; }
write_nginx_conf 8192 # 1 worker on SERVER_CPU; sets NGX_MASK, NGX_PORT, NGX_CMD
if [[ " ${servers[*]} " == *" nginx "* ]]; then "${NGX_CMD[@]}" -t -q; fi

# ---------------------------------------------------------------------------------- clients
# shellcheck disable=SC2206 # LLMLOAD_ARGS: extra flags, split on spaces
client_cmd() { # client url_base -> sets CMD (and ENVS)
    local url="$2/v1/chat/completions"
    ENVS=()
    case $1 in
        llmload) CMD=("$BIN" run --target "$2/v1" --stages "$CONNS:${DURATION}s" --cores "$CLIENT_CPU-$CLIENT_CPU" --out "$TMP/lr" $LLMLOAD_ARGS) ;;
        llmload-nojsonl) CMD=("$BIN" run --target "$2/v1" --stages "$CONNS:${DURATION}s" --cores "$CLIENT_CPU-$CLIENT_CPU" --out "$TMP/lr" --no-jsonl $LLMLOAD_ARGS) ;;
        wrk) CMD=(wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$TMP/post.lua" "$url") ;;
        oha) ENVS=(TOKIO_WORKER_THREADS=1)
             CMD=("$OHA_BIN" -c "$CONNS" -z "${DURATION}s" --no-tui --output-format json -m POST -H 'content-type: application/json' -H "$RID" -D "$TMP/body.json" "$url") ;;
        hey) CMD=(hey -c "$CONNS" -cpus 1 -z "${DURATION}s" -m POST -T application/json -H "$RID" -D "$TMP/body.json" "$url") ;;
        h2load) CMD=(h2load --h1 -t1 -c"$CONNS" -D "$DURATION" -d "$TMP/body.json" -H 'content-type: application/json' -H "$RID" "$url") ;;
    esac
}

parse_client() { # client outfile errfile -> "ok errors extra" (errfile: unused)
    local c=$1 out=$2
    case $c in
        llmload | llmload-nojsonl)
            local dir
            dir=$(reports_dir "$out")
            python3 - "$dir/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["stages"][0]
a = s["all"]
print(a["ok"], a["failed"] + a["dropped"] + a["cancelled"], "worker_cpu=%.2f" % sum(s["worker_cpu_s"]))
PY
            ;;
        wrk)
            awk '/requests in/{n=$1} /Non-2xx/{x=$NF} /Socket errors/{gsub(/[^0-9 ]/," "); split($0,a," "); e=a[1]+a[2]+a[3]+a[4]}
                 END{printf "%d %d -\n", n-x, x+e}' "$out" ;;
        oha)
            python3 - "$out" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
codes = j.get("statusCodeDistribution", {})
ok = sum(v for k, v in codes.items() if str(k).startswith("2"))
bad = sum(v for k, v in codes.items() if not str(k).startswith("2"))
errs = j.get("errorDistribution", {})
# in-flight requests cut at the deadline are not errors of the server
e = sum(v for k, v in errs.items() if "deadline" not in k.lower())
print(ok, bad + e, "deadline_cut=%d" % sum(v for k, v in errs.items() if "deadline" in k.lower()))
PY
            ;;
        hey)
            awk '/Status code distribution/{s=1; next} /Error distribution/{s=0; e=1; next}
                 s && /\[[0-9]+\]/{c=$1; gsub(/[^0-9]/,"",c); if (c ~ /^2/) ok+=$2; else bad+=$2}
                 e && /\[[0-9]+\]/{v=$1; gsub(/[^0-9]/,"",v); errs+=v}
                 END{printf "%d %d -\n", ok, bad+errs}' "$out" ;;
        h2load)
            awk '/^requests:/{f=$12} /^status codes:/{ok=$3; o=$5+$7+$9} END{printf "%d %d -\n", ok, f+o}' "$out" ;;
    esac
}

RESULTS=$TMP/results.tsv
: >"$RESULTS"

run_client() { # server client round
    local s=$1 c=$2 r=$3 tag="$1.$2.$3" attempt
    client_cmd "$c" "$BASE"
    local u0 s0 u1 s1 b0 b1 rc ok errs extra wall ccpu cusr csys other
    for ((attempt = 1; ; attempt++)); do
        wait_quiet
        rc=0
        read -r u0 s0 < <(cpu_ticks "${SPIDS[@]}"); b0=$(busy_ticks)
        env "${ENVS[@]}" /usr/bin/time -f '%e %U %S' -o "$TMP/cpu.$tag" taskset -c "$CLIENT_CPU" "${CMD[@]}" >"$TMP/out.$tag" 2>"$TMP/err.$tag" || rc=$?
        read -r u1 s1 < <(cpu_ticks "${SPIDS[@]}"); b1=$(busy_ticks)
        read -r ok errs extra < <(parse_client "$c" "$TMP/out.$tag" "$TMP/err.$tag" 2>/dev/null || echo "0 -1 parse-failed")
        read -r wall ccpu cusr csys < <(awk '{printf "%s %.2f %s %s\n", $1, $2 + $3, $2, $3}' <(tail -n1 "$TMP/cpu.$tag"))
        other=$(other_cpu "$((b1 - b0))" "$((u1 + s1 - u0 - s0))" "$ccpu")
        # another process took CPU during the run: measure again (at most RETRIES times)
        if is_noisy "$other" && ((attempt <= RETRIES)); then
            echo "  round $r $s $c: other_cpu ${other}s > ${NOISE_MAX}s (noisy), measuring again" >&2
            cp "$TMP/out.$tag" "$TMP/out.$tag.noisy$attempt" 2>/dev/null || true
            continue
        fi
        break
    done
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$s" "$c" "$ok" "$errs" "$ccpu" "$((u1 + s1 - u0 - s0))" "$other" "$wall" "$rc" "$extra" "$cusr" "$csys" >>"$RESULTS"
    printf '  round %s %-5s %-7s ok %9s  errors %s  client cpu %6ss  wall %6ss  other_cpu %ss %s\n' "$r" "$s" "$c" "$ok" "$errs" "$ccpu" "$wall" "$other" "$extra" >&2
    if [[ $c == llmload* && $rc == 3 && $errs == 0 ]]; then
        # exit 3 = llmload's own verdict GENERATOR-BOUND: expected when the client core is the bottleneck
        echo "  note: llmload exit 3: $(grep -m1 'verdict:' "$TMP/out.$tag" | sed 's/^ *//')" >&2
    elif [[ $rc != 0 || $errs != 0 ]]; then
        echo "WARNING: $c against $s (round $r): exit $rc, errors $errs; output:" >&2
        show_output "$TMP/out.$tag" "$TMP/err.$tag"
    fi
}

# ---------------------------------------------------------------------------------- header
ver() {
    case $1 in
        llmload | llmload-nojsonl) "$BIN" --version 2>/dev/null | head -n1 ;;
        wrk) wrk -v 2>&1 | head -n1 | awk '{print $1, $2}' ;;
        oha) "$OHA_BIN" --version 2>/dev/null | head -n1 ;;
        hey) echo "hey $(dpkg-query -W -f='${Version}' hey 2>/dev/null || echo '?')" ;;
        h2load) h2load --version 2>/dev/null | head -n1 ;;
    esac
}
echo "== load generators side by side: ${#clients[@]} clients x ${#servers[@]} servers, $ROUNDS rounds x ${DURATION}s, $CONNS connections"
echo "machine : $(machine_desc), CLK_TCK $TCK, ulimit -n $(ulimit -n)"
echo "build   : llmload git $REV, binary sha256 $BIN_SHA"
echo "tools   : $(for c in "${clients[@]}"; do printf '%s; ' "$(ver "$c")"; done)nginx $("$NGINX_BIN" -v 2>&1 | sed 's/.*: //')"
echo "servers (CPU$SERVER_CPU):"
echo "  nginx : ${NGX_CMD[*]}   # 1 worker, worker_cpu_affinity $NGX_MASK, return 200 <$(wc -c <"$TMP/reply.json")-byte mock reply>"
echo "  mock  : $BIN ${MOCK_ARGS[*]}"
echo "clients (CPU$CLIENT_CPU, each under /usr/bin/time -f '%e %U %S'):"
for c in "${clients[@]}"; do
    client_cmd "$c" "http://127.0.0.1:PORT"
    printf '  %-15s: %s%staskset -c %s' "$c" "${ENVS[*]}" "${ENVS[*]:+ }" "$CLIENT_CPU"; printf ' %q' "${CMD[@]}"; echo
done
echo "  body   : $(wc -c <"$TMP/body.json") bytes: $BODY"
echo "  wrk warm-up per fresh server: wrk -t1 -c$CONNS -d${WARMUP}s (not measured)"
echo

# ---------------------------------------------------------------------------------- rounds
nc=${#clients[@]}
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then order_s=("${servers[@]}"); else mapfile -t order_s < <(reversed "${servers[@]}"); fi
    order_c=()
    for ((i = 0; i < nc; i++)); do order_c+=("${clients[(i + r - 1) % nc]}"); done
    for s in "${order_s[@]}"; do
        if [[ $s == mock ]]; then start_mock "$r"; else start_nginx "$r"; fi
        if [[ $WARMUP != 0 ]]; then wrk_warmup "$BASE/v1/chat/completions"; fi
        for c in "${order_c[@]}"; do run_client "$s" "$c" "$r"; done
        if [[ $s == mock ]]; then stop_server TERM; else stop_server QUIT; fi
    done
done
echo

# ---------------------------------------------------------------------------------- report
python3 - "$RESULTS" "$TCK" "$DURATION" "$NOISE_MAX" <<'PY'
import sys, statistics as st
path, tck, dur, noise = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
rows = []
for line in open(path):
    r, s, c, ok, errs, ccpu, sticks, other, wall, rc, extra, cusr, csys = line.rstrip("\n").split("\t")
    ok, ccpu = int(ok), float(ccpu)
    rows.append(dict(r=int(r), s=s, c=c, ok=ok, errs=errs, ccpu=ccpu, scpu=int(sticks) / tck,
                     usr=1e6 * float(cusr) / ok if ok else float("nan"), sys=1e6 * float(csys) / ok if ok else float("nan"),
                     other=float(other), wall=float(wall), rc=rc, extra=extra,
                     eff=ok / ccpu if ccpu > 0 else 0.0, us=1e6 * ccpu / ok if ok else float("nan")))
print("%5s  %-5s  %-7s  %10s  %9s  %7s  %6s  %13s  %7s  %11s  %8s  %9s  %6s  %s" % (
    "round", "srv", "client", "ok", "req/s", "cli_cpu", "util", "req/cli-cpu-s", "us/req", "usr/sys us", "srv_util", "other_cpu", "errors", "extra"))
for x in rows:
    print("%5d  %-5s  %-7s  %10d  %9.0f  %7.2f  %5.0f%%  %13.0f  %7.2f  %11s  %7.0f%%  %8.2f%s  %6s  %s" % (
        x["r"], x["s"], x["c"], x["ok"], x["ok"] / dur, x["ccpu"], 100 * x["ccpu"] / x["wall"], x["eff"], x["us"],
        "%.2f/%.2f" % (x["usr"], x["sys"]), 100 * x["scpu"] / x["wall"], x["other"], "*" if x["other"] > noise else " ", x["errs"], x["extra"]))
print()
servers = list(dict.fromkeys(x["s"] for x in rows))
clients = list(dict.fromkeys(x["c"] for x in sorted(rows, key=lambda x: not x["c"].startswith("llmload"))))
mine = [c for c in clients if c.startswith("llmload")]
goals = {"wrk": 1.25, "oha": 3.0}
for s in servers:
    print("-- server %s: medians over rounds" % s)
    print("   %-15s  %9s  %13s  %7s  %11s  %s" % ("client", "req/s", "req/cli-cpu-s", "us/req", "usr/sys us", "  ".join("%-44s" % ("%s/peer (per-round ratios)" % m) for m in mine)))
    eff = {(x["c"], x["r"]): x["eff"] for x in rows if x["s"] == s}
    for c in clients:
        xs = [x for x in rows if x["s"] == s and x["c"] == c]
        if not xs:
            continue
        cols = []
        for m in mine:
            ratios = [eff[(m, x["r"])] / x["eff"] for x in xs if (m, x["r"]) in eff and x["eff"] > 0]
            if c.startswith("llmload") or not ratios:
                cols.append("%-44s" % "-")
                continue
            med = st.median(ratios)
            txt = "%.2fx (%s)" % (med, " ".join("%.2f" % v for v in ratios))
            if c in goals:
                txt += " goal>=%.2fx: %s" % (goals[c], "met" if med >= goals[c] else "NOT met")
            cols.append("%-44s" % txt)
        print("   %-15s  %9.0f  %13.0f  %7.2f  %11s  %s" % (
            c, st.median(x["ok"] / dur for x in xs), st.median(x["eff"] for x in xs), st.median(x["us"] for x in xs),
            "%.2f/%.2f" % (st.median(x["usr"] for x in xs), st.median(x["sys"] for x in xs)), "  ".join(cols)))
    print()
if any(x["other"] > noise for x in rows):
    print("* other_cpu above %.2f s even after retries: that run was disturbed by another process" % noise)
print("req/cli-cpu-s = successful responses / (utime+stime of the client process, whole life);")
print("ratio = median over rounds of llmload's req/cli-cpu-s divided by the peer's in the same round and server;")
print("llmload-nojsonl = the same llmload run with --no-jsonl (no per-request results.jsonl).")
PY

[[ ${KEEP_TMP:-0} == 1 ]] && echo "raw outputs kept in $TMP"
exit 0
