#!/usr/bin/env bash
# join.sh RUN_DIR — put llmload's client-side view of every turn next to the gateway's own
# request log, joined in PostgreSQL by the conversation UUID (the correlation header,
# x-request-id by default, that llmload sends with every turn of a conversation).
#
# A TEMPLATE: edit the variables below (or set them in the environment) to match your
# gateway's request-log table. Each *_COL is an SQL expression over that table: a column
# name, or e.g. "duration_us / 1000.0"; use NULL for a figure your log does not have.
#
#   scripts/join.sh runs/20260101T120000Z-ab12cd                     # PG* env vars / ~/.pgpass
#   DATABASE_URL=postgresql://reader@db:5432/gateway scripts/join.sh runs/…
#   JOIN_TABLE=audit.requests JOIN_LATENCY_COL='duration_us / 1000.0' scripts/join.sh runs/…
#
# What it does:
#   1. `llmload export-ids RUN_DIR --format csv` → one row per (non-warmup) turn, loaded with
#      psql \copy into a TEMP table (nothing is written to the database).
#   2. The gateway rows of the run's conversations, inside the run's time window widened by
#      JOIN_WINDOW_SLACK, are numbered per conversation in arrival order (JOIN_TIME_COL): the
#      n-th request the gateway logged for a conversation is the client's turn n. (A
#      conversation ends at its first failed turn, so the client never skips a turn; the
#      gateway must log every request it receives — with sampled logs, join single-turn
#      scenarios only.) Clock skew between the hosts only has to stay under the slack.
#   3. Prints each turn: client latency (from the intended send time, so it includes any
#      send lag), server latency, their delta, upstream time, tokens on both sides, cache
#      status; then per stage (and ALL): turns, joined, missing, client and server p50, and
#      p50/p95 of the client−server delta, merged from the rows (never averaged); then the
#      same by cache status.
#
# The delta is what happens outside the gateway's handler timer: network, accept/TLS,
# queueing in the kernel or the load balancer, the client itself. Compare it with the
# run's send lag and generator health before blaming the gateway.
#
# Connection: standard libpq environment (PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD,
# PGSERVICE, ~/.pgpass) or DATABASE_URL. Nothing of it is printed; prefer ~/.pgpass or
# PGPASSWORD to a password inside DATABASE_URL (which is visible in the process list).
# Needs psql (PostgreSQL 12+ for JOIN_OUTPUT=csv) and llmload (LLMLOAD_BIN, PATH, or this
# repository's target/release or target/debug build).
set -euo pipefail

# ---- the gateway's request log ------------------------------------------------------------
JOIN_TABLE=${JOIN_TABLE:-request_log}                   # table, schema-qualified if needed
JOIN_ID_COL=${JOIN_ID_COL:-request_id}                  # the correlation header's value (uuid or text)
JOIN_TIME_COL=${JOIN_TIME_COL:-created_at}              # when the request arrived (timestamptz)
JOIN_LATENCY_COL=${JOIN_LATENCY_COL:-latency_ms}        # server-measured latency, milliseconds
JOIN_UPSTREAM_COL=${JOIN_UPSTREAM_COL:-upstream_ms}     # time waiting on the upstream, milliseconds
JOIN_TOKENS_COL=${JOIN_TOKENS_COL:-completion_tokens}   # completion tokens the gateway accounted
JOIN_CACHE_COL=${JOIN_CACHE_COL:-cache_status}          # cache status (hit, miss, …)
# ---- options -----------------------------------------------------------------------------
JOIN_WINDOW_SLACK=${JOIN_WINDOW_SLACK:-5 minutes}       # clock skew + queueing allowed around the run
JOIN_ROWS=${JOIN_ROWS:-50}                              # per-turn rows printed; 0 = all
JOIN_OUTPUT=${JOIN_OUTPUT:-aligned}                     # aligned (for people) or csv (for scripts)
JOIN_INCLUDE_WARMUP=${JOIN_INCLUDE_WARMUP:-0}           # 1: join warmup turns too

die() { printf 'join.sh: %s\n' "$*" >&2; exit 2; }

[[ $# -eq 1 ]] || die "usage: scripts/join.sh RUN_DIR|results.jsonl (see the comments at the top)"
run=$1
[[ -e $run ]] || die "$run: no such run directory or file"
[[ $JOIN_ROWS =~ ^[0-9]+$ ]] || die "JOIN_ROWS must be a number (0 = all), not '$JOIN_ROWS'"
case $JOIN_OUTPUT in
    aligned) out_flags=() ;;
    csv) out_flags=(--csv) ;;
    *) die "JOIN_OUTPUT must be aligned or csv, not '$JOIN_OUTPUT'" ;;
esac
limit=$JOIN_ROWS
[[ $limit -eq 0 ]] && limit=ALL

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
command -v psql >/dev/null 2>&1 || die "psql not found (apt-get install postgresql-client)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmload-join.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

warmup=()
[[ $JOIN_INCLUDE_WARMUP == 1 ]] && warmup=(--include-warmup)
# Exported in full first: a bad results line stops here, before anything reaches psql.
"$llmload" export-ids "$run" --format csv "${warmup[@]}" >"$tmp/turns.csv" ||
    die "$llmload export-ids failed (see above; an llmload without export-ids? set LLMLOAD_BIN)"
turns=$(($(wc -l <"$tmp/turns.csv") - 1))
printf 'join.sh: %s client turns from %s\n' "$turns" "$run" >&2

cat >"$tmp/join.sql" <<'SQL'
CREATE TEMP TABLE client_turns (
    conv_uuid text, turn int, stage int, scenario text, intended_start_us bigint,
    latency_us bigint, ttft_us bigint, status int, error text, completion_tokens bigint);
\copy client_turns FROM pstdin WITH (FORMAT csv, HEADER true)

CREATE TEMP TABLE gw AS
WITH win AS (
    SELECT to_timestamp(min(intended_start_us) / 1e6) - :'slack'::interval AS lo,
           to_timestamp(max(intended_start_us + latency_us) / 1e6) + :'slack'::interval AS hi
    FROM client_turns)
SELECT id, t, server_ms, upstream_ms, tokens, cache,
       row_number() OVER (PARTITION BY id ORDER BY t) AS turn
FROM (
    SELECT lower((:id_col)::text) AS id, (:time_col)::timestamptz AS t,
           (:latency_col)::float8 AS server_ms, (:upstream_col)::float8 AS upstream_ms,
           (:tokens_col)::bigint AS tokens, (:cache_col)::text AS cache
    FROM :table
    WHERE (:time_col)::timestamptz BETWEEN (SELECT lo FROM win) AND (SELECT hi FROM win)
) s
WHERE id IN (SELECT lower(conv_uuid) FROM client_turns);

CREATE TEMP TABLE joined AS
SELECT c.stage, c.scenario, c.conv_uuid, c.turn, c.intended_start_us, c.status, c.error,
       c.latency_us / 1000.0 AS client_ms, g.id IS NOT NULL AS matched, g.server_ms,
       c.latency_us / 1000.0 - g.server_ms AS delta_ms, g.upstream_ms,
       c.completion_tokens AS client_tokens, g.tokens AS server_tokens, g.cache
FROM client_turns c
LEFT JOIN gw g ON g.id = lower(c.conv_uuid) AND g.turn = c.turn;

\echo '== joined turns'
SELECT stage, scenario, conv_uuid, turn, status,
       round(client_ms, 3) AS client_ms, round(server_ms::numeric, 3) AS server_ms,
       round(delta_ms::numeric, 3) AS delta_ms, round(upstream_ms::numeric, 3) AS upstream_ms,
       client_tokens, server_tokens, cache
FROM joined WHERE matched
ORDER BY intended_start_us, conv_uuid, turn
LIMIT :limit;

\echo '== per stage'
SELECT coalesce(stage::text, 'ALL') AS stage,
       count(*) AS client_turns,
       count(*) FILTER (WHERE matched) AS joined,
       count(*) FILTER (WHERE NOT matched) AS missing,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY client_ms)::numeric, 3) AS client_p50_ms,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY server_ms)::numeric, 3) AS server_p50_ms,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY delta_ms)::numeric, 3) AS delta_p50_ms,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY delta_ms)::numeric, 3) AS delta_p95_ms,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY upstream_ms)::numeric, 3) AS upstream_p50_ms
FROM joined
GROUP BY GROUPING SETS ((stage), ())
ORDER BY joined.stage NULLS LAST;

\echo '== by cache status'
SELECT coalesce(cache, '(none)') AS cache, count(*) AS joined,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY server_ms)::numeric, 3) AS server_p50_ms,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY delta_ms)::numeric, 3) AS delta_p50_ms
FROM joined WHERE matched
GROUP BY 1 ORDER BY 2 DESC, 1;
SQL

conn=()
[[ -n ${DATABASE_URL:-} ]] && conn=(--dbname="$DATABASE_URL")
psql "${conn[@]}" -X -q -w "${out_flags[@]}" -v ON_ERROR_STOP=1 \
    -v table="$JOIN_TABLE" -v id_col="$JOIN_ID_COL" -v time_col="$JOIN_TIME_COL" \
    -v latency_col="$JOIN_LATENCY_COL" -v upstream_col="$JOIN_UPSTREAM_COL" \
    -v tokens_col="$JOIN_TOKENS_COL" -v cache_col="$JOIN_CACHE_COL" \
    -v slack="$JOIN_WINDOW_SLACK" -v limit="$limit" \
    -f "$tmp/join.sql" <"$tmp/turns.csv"
