#!/usr/bin/env bash
# sy_ladder.sh <calls|reg> <call_ms> <duration_s> <rate> [rate...]
# ladder.sh for switchyard: steps the rate up, stops at the first FAIL, bisects twice,
# prints the highest PASS.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
KIND=$1 CMS=$2 DUR=$3; shift 3
LOG=$HERE/results/ladder-switchyard-1core-$KIND-c$CMS.log
mkdir -p "$HERE/results"
step() {
  local r=$1 line
  line=$("$HERE/switchyard_bench.sh" "$KIND" "$r" "$DUR" "$CMS" 2>&1 | grep -E '^(PASS|FAIL) ' | tail -1)
  [ -z "$line" ] && line="FAIL harness-error rate=$r"
  echo "$(date +%T) $line" | tee -a "$LOG"
  [[ $line == PASS* ]]
}
best=0; fail=
for r in "$@"; do
  if step "$r"; then best=$r; else fail=$r; break; fi
done
if [ -n "$fail" ] && [ "$best" -gt 0 ]; then
  for _ in 1 2; do
    mid=$(( (best + fail) / 2 ))
    mid=$(( mid / 50 * 50 ))
    [ "$mid" -le "$best" ] || [ "$mid" -ge "$fail" ] && break
    if step "$mid"; then best=$mid; else fail=$mid; fi
  done
fi
echo "$(date +%T) HIGHEST PASS switchyard 1core $KIND call_ms=$CMS: $best (first fail: ${fail:-none})" | tee -a "$LOG"
