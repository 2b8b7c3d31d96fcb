# shellcheck shell=bash
# Helpers shared by the benches/*.sh scripts. Sourced, not run:
#   source "$(dirname "$0")/lib.sh"     (before the script's `cd` to the repository root)
# Each function notes the globals it reads and sets. The scripts keep their own parameters
# (DURATION, CONNS, CLIENT_CPU, SERVER_CPU, BIN, MOCK_ARGS, ...) and their own output format.

# need_tools TOOL... : exit 1 with a hint unless every TOOL is on PATH (or an executable path).
need_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || { echo "missing $tool (run scripts/install-peers.sh)" >&2; exit 1; }
    done
}

# init_bin : exit 1 unless BIN is executable; then make BIN absolute and describe the build.
# Reads BIN (run from the repository root). Sets BIN, REV (short git rev, "+dirty" if src/ or
# Cargo.toml differ from HEAD) and BIN_SHA (first 12 hex of the binary's sha256 and its mtime).
# shellcheck disable=SC2034 # REV and BIN_SHA are read by the scripts' header lines
init_bin() {
    [[ -x $BIN ]] || { echo "missing $BIN (run cargo build --release)" >&2; exit 1; }
    BIN=$(realpath "$BIN")
    REV="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src Cargo.toml 2>/dev/null || echo +dirty)"
    BIN_SHA="$(sha256sum "$BIN" | cut -c1-12), built $(date -u -r "$BIN" +%FT%TZ)"
}

# machine_desc : print "<n> CPUs, <cpu model>, kernel <release>" (for the "machine :" header line).
machine_desc() {
    echo "$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), kernel $(uname -r)"
}

# make_tmp NAME : create the scratch dir /tmp/llmload-NAME.XXXXXX and an EXIT trap that sends
# SIGTERM to every pid in PIDS, waits, and removes the dir unless KEEP_TMP=1.
# Sets TMP and PIDS (empty; callers append the pids of the servers they start).
make_tmp() {
    TMP=$(mktemp -d "/tmp/llmload-$1.XXXXXX")
    PIDS=()
    trap cleanup EXIT
}
# shellcheck disable=SC2317 # invoked by the EXIT trap set in make_tmp
cleanup() { # reads PIDS, TMP, KEEP_TMP
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [[ ${KEEP_TMP:-0} == 1 ]] || rm -rf "$TMP"
}

# cpu_ticks PID... : print "utime stime" (fields 14, 15 of /proc/PID/stat) summed over the pids,
# in CLK_TCK ticks.
cpu_ticks() {
    local p
    for p in "$@"; do sed 's/^.*) //' "/proc/$p/stat"; done | awk '{u += $12; s += $13} END {print u + 0, s + 0}'
}

# busy_ticks : print machine-wide busy CPU (user+nice+system+irq+softirq+steal) from /proc/stat, in ticks.
busy_ticks() {
    awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat
}

# other_cpu BUSY_TICKS SERVER_TICKS CLIENT_CPU_S... : print (to 2 decimals, floored at 0) the CPU
# seconds used by everything else on the machine during a run: machine busy ticks minus the
# server's ticks, over TCK, minus the client's CPU seconds (the sum of the remaining arguments,
# e.g. user and system). Reads TCK.
other_cpu() {
    local b=$1 s=$2
    shift 2
    awk -v b="$b" -v s="$s" -v w="$*" -v t="$TCK" 'BEGIN{n = split(w, x, " "); for (i = 1; i <= n; i++) c += x[i]; o = (b - s) / t - c; printf "%.2f", (o < 0 ? 0 : o)}'
}

# is_noisy OTHER_CPU_S : succeed if OTHER_CPU_S is above NOISE_MAX (the run should be measured
# again). Reads NOISE_MAX.
is_noisy() {
    awk -v o="$1" -v m="$NOISE_MAX" 'BEGIN{exit !(o > m)}'
}

# builders : print (at most 5) running build/test processes that would disturb a measurement.
builders() {
    { pgrep -a -x 'cargo|rustc|cc1|cc1plus|ld|rust-lld|clippy-driver|rustdoc|build-script-.*' 2>/dev/null || true
      pgrep -a -f '(^|[ /])py\.?test( |$)|-m py\.?test' 2>/dev/null || true; } | head -n 5
}

# wait_quiet : poll every 30 s (at most QUIET_MAX s) until no builds/tests run and the machine
# is idle (<= TCK/4 busy ticks in 1 s); progress and the give-up warning go to stderr.
# Reads TCK, QUIET_MAX.
wait_quiet() {
    local start=$SECONDS b0 b1 busy procs
    while :; do
        procs=$(builders)
        b0=$(busy_ticks); sleep 1; b1=$(busy_ticks)
        busy=$((b1 - b0)) # ticks used in 1 s by the whole machine (100 = one full core)
        if [[ -z $procs && $busy -le $((TCK / 4)) ]]; then return 0; fi
        if ((SECONDS - start >= QUIET_MAX)); then
            echo "WARNING: machine still busy after ${QUIET_MAX}s (busy ${busy}/${TCK} ticks/s; ${procs//$'\n'/; }); measuring anyway" >&2
            return 0
        fi
        echo "  waiting for a quiet machine: busy ${busy}/${TCK} ticks/s, load $(cut -d' ' -f1-3 /proc/loadavg)${procs:+, running: $(echo "$procs" | awk '{print $2}' | sort -u | tr '\n' ' ')}" >&2
        sleep 30
    done
}

# free_port : print a random TCP port in 20000-49999 that nothing listens on.
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 30000))
        ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
    done
}

# wait_http URL : wait (up to ~5 s) until URL answers; return 1 with a message if it never does.
wait_http() {
    local i
    for ((i = 0; i < 100; i++)); do
        curl -s -o /dev/null -m 1 "$1" && return 0
        sleep 0.05
    done
    echo "server at $1 did not come up" >&2
    return 1
}

# reversed WORD... : print the words in reverse order, one per line.
reversed() {
    local i
    for ((i = $#; i >= 1; i--)); do echo "${!i}"; done
}

# write_wrk_lua FILE [NAME=VALUE]... : write a wrk Lua script that POSTs $TMP/body.json as
# application/json, with the extra request headers NAME: VALUE. Reads TMP.
write_wrk_lua() {
    local out=$1 h
    shift
    {
        echo 'wrk.method = "POST"'
        echo 'wrk.headers["Content-Type"] = "application/json"'
        for h in "$@"; do echo "wrk.headers[\"${h%%=*}\"] = \"${h#*=}\""; done
        echo "local f = assert(io.open(\"$TMP/body.json\", \"rb\")); wrk.body = f:read(\"*a\"); f:close()"
    } >"$out"
}

# wrk_warmup URL : unmeasured warm-up of a fresh server, wrk -t1 -cCONNS for WARMUP s on
# CLIENT_CPU with $TMP/post.lua. Reads CLIENT_CPU, CONNS, WARMUP, TMP.
wrk_warmup() {
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${WARMUP}s" -s "$TMP/post.lua" "$1" >/dev/null
}

# reports_dir OUTFILE : print the run directory from the last "reports: DIR" line of a saved
# `llmload run` stdout.
reports_dir() {
    sed -n 's/^reports: //p' "$1" | tail -n1
}

# show_output FILE... : the last 30 lines of each FILE, indented, on stderr (after a WARNING).
show_output() {
    tail -n 30 "$@" | sed 's/^/    /' >&2
}

# start_mock TAG : start `BIN MOCK_ARGS` under /usr/bin/time -v (-> $TMP/time.mock.TAG; stdout
# $TMP/mock.TAG.out, stderr $TMP/mock.TAG.err) and wait (up to ~5 s) for its "listening on" line.
# Reads BIN, MOCK_ARGS, TMP. Sets TIMEPID (the time wrapper), MPID (the mock), SPIDS=(MPID),
# BASE (http://host:port); appends both pids to PIDS.
start_mock() {
    local out=$TMP/mock.$1.out i
    /usr/bin/time -v -o "$TMP/time.mock.$1" "$BIN" "${MOCK_ARGS[@]}" >"$out" 2>"$TMP/mock.$1.err" &
    TIMEPID=$!
    PIDS+=("$TIMEPID")
    for ((i = 0; i < 100; i++)); do
        grep -q 'listening on' "$out" 2>/dev/null && break
        sleep 0.05
    done
    BASE="$(head -n1 "$out" | sed 's/.*listening on //')"
    MPID=$(pgrep -P "$TIMEPID")
    SPIDS=("$MPID")
    PIDS+=("$MPID")
}

# write_nginx_conf WORKER_CONNECTIONS [RLIMIT_NOFILE [BACKLOG]] : write $TMP/nginx/nginx.conf for
# one nginx worker pinned to SERVER_CPU that answers every request on a free 127.0.0.1 port with
# `return 200 '<$TMP/reply.json>'` (a real mock reply, so both servers send the same body), no
# access log. RLIMIT_NOFILE adds worker_rlimit_nofile, BACKLOG a listen backlog.
# Reads TMP, SERVER_CPU, NGINX_BIN. Sets NGX_MASK (worker_cpu_affinity bit string), NGX_PORT,
# NGX_CMD (the nginx command line, to run under /usr/bin/time).
write_nginx_conf() {
    local worker_conns=$1 rlimit=${2:-} backlog=${3:+ backlog=$3} body i
    NGX_MASK=1
    for ((i = 0; i < SERVER_CPU; i++)); do NGX_MASK+=0; done
    body=$(sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g" -e 's/\$/S/g' "$TMP/reply.json")
    NGX_PORT=$(free_port)
    mkdir -p "$TMP/nginx/logs"
    {
        cat <<EOF
daemon off;
master_process on;
worker_processes 1;
worker_cpu_affinity $NGX_MASK;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections $worker_conns; }
EOF
        if [[ -n $rlimit ]]; then echo "worker_rlimit_nofile $rlimit;"; fi
        cat <<EOF
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
        listen 127.0.0.1:$NGX_PORT$backlog;
        location / {
            default_type application/json;
            return 200 '$body';
        }
    }
}
EOF
    } >"$TMP/nginx/nginx.conf"
    NGX_CMD=("$NGINX_BIN" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf")
}

# start_nginx TAG : start NGX_CMD under /usr/bin/time -v (-> $TMP/time.nginx.TAG; stderr
# $TMP/nginx.TAG.err) and wait until it answers. Reads NGX_CMD, NGX_PORT, TMP.
# Sets TIMEPID, BASE (http://127.0.0.1:NGX_PORT), SPIDS=(master worker...); appends the
# time wrapper and the master to PIDS.
start_nginx() {
    /usr/bin/time -v -o "$TMP/time.nginx.$1" "${NGX_CMD[@]}" 2>"$TMP/nginx.$1.err" &
    TIMEPID=$!
    PIDS+=("$TIMEPID")
    BASE="http://127.0.0.1:$NGX_PORT"
    wait_http "$BASE/"
    local master
    master=$(pgrep -P "$TIMEPID")
    mapfile -t SPIDS < <(echo "$master"; pgrep -P "$master")
    PIDS+=("$master")
}

# stop_server [SIGNAL] : send SIGNAL (default TERM; nginx: QUIT = graceful) to SPIDS[0], then
# wait for its /usr/bin/time wrapper TIMEPID (which writes the whole-life CPU).
stop_server() {
    kill "-${1:-TERM}" "${SPIDS[0]}" 2>/dev/null || true
    wait "$TIMEPID" 2>/dev/null || true
}
