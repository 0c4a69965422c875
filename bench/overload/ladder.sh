#!/usr/bin/env bash
# ladder.sh <calls|reg> [capacity]
#
# The overload ladder: switchyard's measured single-core capacity C, then offered loads of
# MULTIPLES × C (default 1 1.5 2 3) for STEP_SECONDS each (default 60), each followed by
# RECOVERY_SECONDS (default 20) at RECOVERY × C (default 0.5), for every proxy in PROXIES
# (default "switchyard kamailio": Kamailio 5.6 with one worker and the shared reference
# script), one fresh proxy per step (run.sh). Prints, and keeps in results/, the table of
# goodput, p99 latency of what completed, peak memory and recovery time of every step.
#
# C is the argument, else $CAPACITY, else the highest PASS of the last switchyard ladder of the
# same kind (bench/sip/sy_ladder.sh, as npm run bench runs it before this).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SIP=$HERE/../sip
KIND=${1:?usage: ladder.sh <calls|reg> [capacity]}
C=${2:-${CAPACITY:-}}
if [ -z "$C" ]; then
  LOG=$SIP/results/ladder-switchyard-1core-$KIND-c0.log
  C=$(grep -o 'HIGHEST PASS.*: [0-9]*' "$LOG" 2>/dev/null | tail -1 | grep -o '[0-9]*$')
  [ -n "$C" ] && [ "$C" -gt 0 ] || { echo "ladder.sh: no capacity given and none in $LOG (run bench/sip/sy_ladder.sh $KIND first)" >&2; exit 2; }
fi
MULTIPLES=${MULTIPLES:-1 1.5 2 3}
PROXIES=${PROXIES:-switchyard kamailio}
SECONDS_EACH=${STEP_SECONDS:-60}
RECOVERY_SECONDS=${RECOVERY_SECONDS:-20}
RECOVERY=${RECOVERY:-0.5}
STAMP=$(date +%Y%m%d-%H%M%S)
mkdir -p "$HERE/results"
TABLE=$HERE/results/ladder-$KIND-$STAMP.md
RRATE=$(python3 -c "print(round($C * $RECOVERY))")
DIRS=()
echo "overload ladder ($KIND): capacity $C/s, multiples $MULTIPLES, $SECONDS_EACH s each, then $RECOVERY_SECONDS s at $RRATE/s" | tee "$TABLE.log"
for m in $MULTIPLES; do
  RATE=$(python3 -c "print(round($C * $m))")
  for proxy in $PROXIES; do
    OUT=$HERE/results/$STAMP-$proxy-$KIND-x$m
    line=$(OUT=$OUT TAG="$proxy-$KIND-x$m" "$HERE/run.sh" "$proxy" "$KIND" "$RATE" "$SECONDS_EACH" "$RRATE" "$RECOVERY_SECONDS" 2>&1 | tail -1)
    echo "$(date +%T) x$m $line" | tee -a "$TABLE.log"
    [ -f "$OUT/summary.json" ] && DIRS+=("$OUT")
  done
done
python3 "$HERE/analyze.py" --ladder "$C" "${DIRS[@]}" | tee "$TABLE"
