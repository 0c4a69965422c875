#!/usr/bin/env bash
# warm-up.sh <rate> [pairs=2] [seconds=60]
#
# Does the start-up warm-up (cli/warm-up) still pay for itself now that overload control holds
# the line? A fresh switchyard is met by SIPp calls at <rate> from its first second, with the
# warm-up and without it (--no-warm-up), in interleaved pairs (run.sh). Goodput is counted from
# the moment the proxy process starts, so the time the warm-up keeps the listeners closed counts
# against it: calls completed in the first minute of the proxy's life, and in its first 10 s.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
RATE=${1:?usage: warm-up.sh <rate> [pairs] [seconds]}
PAIRS=${2:-2}
DUR=${3:-60}
STAMP=$(date +%Y%m%d-%H%M%S)
DIRS=()
for i in $(seq 1 "$PAIRS"); do
  for mode in warm cold; do
    OUT=$HERE/results/$STAMP-warmup-$mode-$i
    ARGS=--warm-up
    [ "$mode" = cold ] && ARGS=--no-warm-up
    SY_ARGS=$ARGS OUT=$OUT TAG="warmup-$mode-$i" "$HERE/run.sh" switchyard calls "$RATE" "$DUR" 0 0 > /dev/null 2>&1
    DIRS+=("$OUT")
  done
done
python3 - "$DUR" "${DIRS[@]}" <<'PY'
import json, os, sys
dur = float(sys.argv[1])
print("| start | run | listening after s | completed in the proxy's first 10 s | in its first minute | per second over the minute | failed in the first 10 s |")
print("|---|---|---|---|---|---|---|")
for d in sys.argv[2:]:
    if not os.path.exists(os.path.join(d, "summary.json")):
        continue
    s = json.load(open(os.path.join(d, "summary.json")))
    t = json.load(open(os.path.join(d, "times.json")))
    offset = t["load_started"] - t["proxy_started"]  # seconds of the proxy's life before SIPp's first call
    first10 = sum(c for end, c, f in s["goodput_series"] if end + offset <= 10.5)
    failed10 = sum(f for end, c, f in s["goodput_series"] if end + offset <= 10.5)
    minute = sum(c for end, c, f in s["goodput_series"] if end + offset <= 60.5)
    mode = "warm-up" if "warm" in s["meta"]["tag"] and "cold" not in s["meta"]["tag"] else "--no-warm-up"
    print(f"| {mode} | {s['meta']['tag']} | {t['proxy_ready'] - t['proxy_started']:.1f} | {first10} | {minute} | {minute / 60:.0f} | {failed10} |")
PY
