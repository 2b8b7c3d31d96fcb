#!/usr/bin/env bash
# multi-service.sh PROFILE STAGES ROUNDS — same-window comparison of several gateways.
#
# Each round starts one `llmload run` per gateway, all at the same wall-clock instant
# (--start-at a few seconds ahead), waits for all of them, and prints the side-by-side table
# of `llmload summary --table` (TTFT p50/p95, latency p95, rps, errors, and each gateway's
# TTFT p50 delta against the fastest of the round). After the last round: the delta of every
# gateway across rounds (median, min, max). The upstream's drift is common-mode when the
# gateways run in the same window, so it cancels in the per-round delta; see
# docs/multi-service.md.
#
#   SERVICES_FILE=gateways.txt scripts/multi-service.sh profiles/realistic.json 50:60s 3
#   SERVICES=$'a|http://a:4000/v1/chat/completions|gpt-4o|A_KEY\nb|http://b:8080/v1|gpt-4o|B_KEY' \
#   A_KEY=… B_KEY=… scripts/multi-service.sh - 20:30s 5        # - : the flags-built profile
#
# Arguments:
#   PROFILE  a profile (JSON), or - for llmload's one-scenario profile built from the flags
#            (openai-chat, not streamed unless EXTRA_ARGS has --stream; see `llmload run --help`)
#   STAGES   the stages of every run, e.g. 20:60s or @50:60s (replaces the profile's)
#   ROUNDS   how many rounds (each one window with every gateway at once)
#
# Gateways: SERVICES (the text) or SERVICES_FILE (a file), one gateway per line:
#   name|target|model|key-env-var
#   name         [A-Za-z0-9._-], unique: the table's row and the run directory's name
#   target       http(s) URL; replaces the profile's default target and every scenario
#                target that inherited it (scenarios with a target of their own keep it)
#   model        replaces the default model the same way; - keeps the profile's models
#   key-env-var  the NAME of the environment variable that holds this gateway's key, which
#                reaches only that gateway's llmload, as LLMLOAD_VK in its environment (never
#                on a command line, never printed); - means no key (e.g. a local mock)
# Blank lines and lines starting with # are skipped. Every line is checked (fields, names,
# URLs, that each key variable is set and not empty) before any load is sent.
#
# Environment:
#   CORES_PER_RUN  passed to every run as --cores (a count picks the first N cores for every
#                  run, so the runs share them; or a list like 2-3)
#   OUT            output directory (default runs/multi-<UTC time>): OUT/round-R/NAME/<run>/,
#                  OUT/round-R/NAME.log (the run's stdout and stderr), OUT/round-R/table.txt,
#                  OUT/round-R/exit-codes, OUT/summary.txt
#   EXTRA_ARGS     more `llmload run` arguments for every run, split on whitespace (e.g.
#                  "--stream --seed 7"); --vk, --target, --model, --stages, --start-at and
#                  --out are refused (the script sets them)
#   START_DELAY    seconds between computing a round's start time and the start (default 3)
#   LLMLOAD_BIN    the llmload binary (default: PATH, then target/release, target/debug)
#
# Exit codes of each run: 0 fine; 1 with a summary: a threshold failed (noted, kept); 3 the
# run is not valid, e.g. generator-bound (warned, kept: the table marks it); 2 bad usage or
# profile: the script stops (it would fail the same way every round); no summary.json at
# all: the round is incomplete, warned, and left out of the across-rounds summary.
# In round 1 the script also warns when a profile scenario kept a target of its own (its
# share of the load did not go to the gateway).
# The script exits 0 when every round was complete, 1 when one was not, 2 on bad usage, 130
# when interrupted (the runs are stopped with SIGTERM and write their reports).
set -euo pipefail

prog=scripts/multi-service.sh

usage() {
    cat <<EOF
usage: $prog PROFILE STAGES ROUNDS

Runs PROFILE against every gateway at once, ROUNDS times (one shared --start-at per
round), and prints each round's side-by-side table and the TTFT p50 delta across rounds.

  PROFILE  a profile (JSON), or - for llmload's one-scenario profile built from the flags
  STAGES   stages of every run, e.g. 20:60s or @50:60s
  ROUNDS   number of rounds

Gateways, one per line in SERVICES (env) or SERVICES_FILE (file):
  name|target|model|key-env-var      (model -: keep the profile's; key-env-var -: no key)
Keys are read from the named environment variables and given to that gateway's run only,
as LLMLOAD_VK in its environment. Lines starting with # are comments.

Environment: CORES_PER_RUN (--cores), OUT (default runs/multi-<UTC time>), EXTRA_ARGS,
START_DELAY (seconds, default 3), LLMLOAD_BIN. Details: the comments at the top of the
script and docs/multi-service.md.
EOF
}

die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 2; }
warn() { printf '%s: warning: %s\n' "$prog" "$*" >&2; }
trim() {
    local s=$1
    s=${s#"${s%%[![:space:]]*}"}
    printf '%s' "${s%"${s##*[![:space:]]}"}"
}

case ${1:-} in
-h | --help) usage; exit 0 ;;
'') usage >&2; exit 2 ;;
esac
[[ $# -eq 3 ]] || { usage >&2; exit 2; }
profile=$1
stages=$2
rounds=$3

[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive whole number, not '$rounds'"
[[ -n $stages ]] || die "STAGES is empty (e.g. 20:60s)"
start_delay=${START_DELAY:-3}
[[ $start_delay =~ ^[1-9][0-9]*$ ]] || die "START_DELAY must be a positive whole number of seconds"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -n ${LLMLOAD_BIN:-} ]]; then
    llmload=$LLMLOAD_BIN
elif command -v llmload >/dev/null 2>&1; then
    llmload=$(command -v llmload)
elif [[ -x $root/target/release/llmload ]]; then
    llmload=$root/target/release/llmload
elif [[ -x $root/target/debug/llmload ]]; then
    llmload=$root/target/debug/llmload
else
    die "llmload not found: set LLMLOAD_BIN, put it on PATH, or cargo build --release"
fi

# ---- the gateways ------------------------------------------------------------------------
if [[ -n ${SERVICES:-} && -n ${SERVICES_FILE:-} ]]; then
    die "set SERVICES or SERVICES_FILE, not both"
elif [[ -n ${SERVICES_FILE:-} ]]; then
    [[ -f $SERVICES_FILE && -r $SERVICES_FILE ]] || die "SERVICES_FILE $SERVICES_FILE: not a readable file"
    services_text=$(<"$SERVICES_FILE")
    origin="SERVICES_FILE $SERVICES_FILE"
elif [[ -n ${SERVICES:-} ]]; then
    services_text=$SERVICES
    origin=SERVICES
else
    die "no gateways: set SERVICES or SERVICES_FILE (lines of name|target|model|key-env-var)"
fi

names=() targets=() models=() keyvars=()
errors=0
bad() { printf '%s: %s line %d: %s\n' "$prog" "$origin" "$lineno" "$*" >&2; errors=$((errors + 1)); }
lineno=0
while IFS= read -r line || [[ -n $line ]]; do
    lineno=$((lineno + 1))
    trimmed=$(trim "$line")
    [[ -z $trimmed || $trimmed == '#'* ]] && continue
    IFS='|' read -ra f <<<"$trimmed"
    # `read` drops one trailing empty field ("a|b|c|"): count the separators instead.
    seps=${trimmed//[^|]/}
    nf=$((${#seps} + 1))
    name=$(trim "${f[0]:-}")
    if ((nf != 4)); then
        # The line itself is not echoed: a key pasted by mistake must not reach the terminal.
        bad "gateway '${name}': $nf field(s), expected 4: name|target|model|key-env-var" \
            "(the 4th names the environment variable holding the key; - for none)"
        continue
    fi
    target=$(trim "${f[1]}") model=$(trim "${f[2]}") keyvar=$(trim "${f[3]:-}")
    if [[ ! $name =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]]; then
        bad "gateway name '$name' must be letters, digits, '.', '_' or '-'"
        continue
    fi
    for n in "${names[@]}"; do
        [[ $n == "$name" ]] && { bad "gateway name '$name' appears twice"; continue 2; }
    done
    [[ $target =~ ^https?://[^/]+ ]] || bad "gateway '$name': target '$target' is not an http(s) URL"
    [[ -n $model ]] || bad "gateway '$name': empty model (- keeps the profile's models)"
    if [[ -z $keyvar ]]; then
        bad "gateway '$name': no key variable (4th field): name the environment variable" \
            "holding its key, or write - if it needs none"
    elif [[ $keyvar != - ]]; then
        if [[ ! $keyvar =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
            # Not echoed: this is what a key pasted in place of its variable's name looks like.
            bad "gateway '$name': the 4th field must be the NAME of an environment variable" \
                "holding the key (or -), and this one is not a valid variable name"
        elif [[ -z ${!keyvar+set} ]]; then
            bad "gateway '$name': key variable $keyvar is not set"
        elif [[ -z ${!keyvar} ]]; then
            bad "gateway '$name': key variable $keyvar is empty"
        fi
    fi
    names+=("$name") targets+=("$target") models+=("$model") keyvars+=("$keyvar")
done <<<"$services_text"
((errors == 0)) || die "$errors error(s) in $origin; nothing was run"
((${#names[@]} > 0)) || die "$origin lists no gateway"

# ---- the runs' arguments -----------------------------------------------------------------
read -ra extra <<<"${EXTRA_ARGS:-}"
for a in "${extra[@]}"; do
    case $a in
    --vk | --vk=*) die "EXTRA_ARGS: --vk is refused (keys come from the SERVICES key variables)" ;;
    --target | --target=* | --model | --model=* | --stages | --stages=* | --start-at | --start-at=* | \
        --out | --out=* | --config | --config=* | --mock)
        die "EXTRA_ARGS: ${a%%=*} is set by the script" ;;
    esac
done
common=()
if [[ $profile == - ]]; then
    :
elif [[ -f $profile ]]; then
    "$llmload" validate "$profile" >/dev/null || die "$profile: not a valid profile (see above)"
    common+=("$profile")
else
    die "PROFILE $profile: no such file (or - for the flags-built profile)"
fi
[[ -n ${CORES_PER_RUN:-} ]] && common+=(--cores "$CORES_PER_RUN")
common+=(--stages "$stages")

out=${OUT:-runs/multi-$(date -u +%Y%m%dT%H%M%SZ)}
[[ -e $out/round-1 ]] && die "OUT $out already holds a multi-service run; choose another OUT"
mkdir -p "$out"

# ---- the rounds --------------------------------------------------------------------------
pids=()
interrupted=0
stop_runs() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
}
on_signal() { interrupted=1; stop_runs; }
trap on_signal INT TERM
trap stop_runs EXIT

# The one run directory under DIR (llmload run --out DIR writes DIR/<UTC time>-<id>/).
run_dir() {
    local found=("$1"/*/summary.json)
    [[ ${#found[@]} -eq 1 && -f ${found[0]} ]] && printf '%s\n' "${found[0]%/summary.json}"
}

# --target replaces only the targets a profile's scenarios inherited: a scenario with a target
# of its own keeps it, and would send that gateway's share of the load elsewhere. The run's
# "… against URL, URL on N worker(s) …" line says where it went.
check_targets() {
    local name=$1 target=${2%/} log=$3 line urls url
    line=$(grep -m 1 ' scenario(s) against ' "$log" 2>/dev/null) || return 0
    urls=${line#* scenario(s) against }
    urls=${urls% on * worker(s)*}
    IFS=',' read -ra urls <<<"$urls"
    for url in "${urls[@]}"; do
        url=$(trim "$url")
        [[ $url == "$target"* ]] ||
            warn "$name: the profile sends some scenarios to $url, not to $target (scenarios" \
                "with a target of their own keep it; see docs/multi-service.md)"
    done
}

complete_rounds=()
across=()
for ((r = 1; r <= rounds; r++)); do
    dir=$out/round-$r
    mkdir -p "$dir"
    at=$(($(date +%s) + start_delay))
    printf '== round %d/%d: %d gateways at %s\n' "$r" "$rounds" "${#names[@]}" "$(date -u -d "@$at" +%FT%TZ)"
    pids=()
    for i in "${!names[@]}"; do
        args=(run "${common[@]}" --target "${targets[$i]}")
        [[ ${models[$i]} != - ]] && args+=(--model "${models[$i]}")
        args+=(--start-at "$at" --out "$dir/${names[$i]}" "${extra[@]}")
        (
            # The key reaches this one child only, through its environment.
            unset LLMLOAD_VK
            if [[ ${keyvars[$i]} != - ]]; then
                LLMLOAD_VK=${!keyvars[$i]}
                export LLMLOAD_VK
            fi
            exec "$llmload" "${args[@]}"
        ) </dev/null >"$dir/${names[$i]}.log" 2>&1 &
        pids+=($!)
    done
    codes=()
    for i in "${!pids[@]}"; do
        while :; do
            rc=0
            wait "${pids[$i]}" || rc=$?
            # A trapped signal interrupts `wait`; the run itself is still going.
            if ((rc > 128)) && kill -0 "${pids[$i]}" 2>/dev/null; then continue; fi
            break
        done
        codes+=("$rc")
    done
    pids=()
    : >"$dir/exit-codes"
    table=()
    abort=0
    for i in "${!names[@]}"; do
        name=${names[$i]} rc=${codes[$i]} log=$dir/${names[$i]}.log
        printf '%s %s\n' "$name" "$rc" >>"$dir/exit-codes"
        rd=$(run_dir "$dir/$name") || rd=
        ((r == 1)) && check_targets "$name" "${targets[$i]}" "$log"
        if ((rc == 2)); then
            warn "round $r: $name: llmload run exited 2 (bad usage or profile); last lines of $log:"
            tail -n 5 "$log" >&2 || true
            abort=1
        elif [[ -z $rd ]]; then
            warn "round $r: $name: llmload run exited $rc without a summary.json; last lines of $log:"
            tail -n 5 "$log" >&2 || true
        else
            case $rc in
            0) ;;
            1) warn "round $r: $name: a threshold failed (exit 1; see $rd/report.txt)" ;;
            3) warn "round $r: $name: the run is not valid (exit 3: generator-bound or interrupted;" \
                "see $rd/report.txt): its figures may describe llmload, not the gateway" ;;
            *) warn "round $r: $name: llmload run exited $rc (see $log)" ;;
            esac
            table+=("$name=$rd")
        fi
    done
    ((abort == 0)) || die "stopped in round $r: fix the arguments or the profile (logs in $dir)"
    if ((${#table[@]} > 0)); then
        "$llmload" summary --table "${table[@]}" | tee "$dir/table.txt" ||
            warn "round $r: llmload summary failed"
    fi
    if ((${#table[@]} == ${#names[@]})); then
        complete_rounds+=("$r")
        across+=("${table[@]}")
    else
        warn "round $r is incomplete: left out of the across-rounds summary"
    fi
    ((interrupted == 0)) || { warn "interrupted after round $r; results in $out"; exit 130; }
    echo
done

# ---- across rounds -----------------------------------------------------------------------
if ((${#complete_rounds[@]} > 1)); then
    printf '== across rounds %s\n' "${complete_rounds[*]}"
    # Only the across-rounds part: the per-round tables were printed above.
    if all=$("$llmload" summary --table "${across[@]}"); then
        show=0
        while IFS= read -r line; do
            [[ $line == across* ]] && show=1
            ((show == 0)) || printf '%s\n' "$line"
        done <<<"$all" | tee "$out/summary.txt"
    else
        warn "llmload summary failed on the across-rounds table"
    fi
elif ((rounds > 1)); then
    warn "fewer than two complete rounds: no across-rounds summary"
fi
echo "results: $out"
((${#complete_rounds[@]} == rounds)) || exit 1
