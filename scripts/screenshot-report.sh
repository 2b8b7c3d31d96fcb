#!/usr/bin/env bash
# Screenshots a run's report.html with headless Chromium (scripts/install-test-deps.sh
# installs chromium-headless-shell):  scripts/screenshot-report.sh RUN_DIR OUT.png [WxH]
set -euo pipefail
if [[ $# -lt 2 ]]; then
    echo "usage: $0 RUN_DIR OUT.png [WIDTHxHEIGHT]" >&2
    exit 2
fi
run_dir=$1
out=$2
size=${3:-1400x2400}
report=$(cd "$run_dir" && pwd)/report.html
[[ -f $report ]] || { echo "$0: no report.html in $run_dir" >&2; exit 1; }
chrome=$(command -v chromium-headless-shell || command -v chromium || true)
[[ -n $chrome ]] || { echo "$0: chromium-headless-shell missing; run scripts/install-test-deps.sh" >&2; exit 1; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
out_abs=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
timeout 120 "$chrome" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$profile" --screenshot="$out_abs" --window-size="${size/x/,}" \
    "file://$report" 2>/dev/null
[[ -s $out_abs ]] || { echo "$0: chromium wrote no screenshot" >&2; exit 1; }
echo "$out_abs"
