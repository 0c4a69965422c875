#!/usr/bin/env bash
# sy_ladder.sh <calls|reg> <call_ms> <duration_s> <rate> [rate...]
# ladder.sh for switchyard: steps the rate up, stops at the first FAIL, bisects twice,
# prints the highest PASS.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/ladder.sh"
KIND=$1 CMS=$2 DUR=$3; shift 3
LOG=$HERE/results/ladder-switchyard-1core-$KIND-c$CMS.log
mkdir -p "$HERE/results"
sy_step() { "$HERE/switchyard_bench.sh" "$KIND" "$1" "$DUR" "$CMS"; }
climb_ladder "$LOG" sy_step -- "$@"
echo "$(date +%T) HIGHEST PASS switchyard 1core $KIND call_ms=$CMS: $best (first fail: ${fail:-none})" | tee -a "$LOG"
