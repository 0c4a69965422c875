# Sourced by ladder.sh and sy_ladder.sh: climb_ladder <log> <step-command...> -- <rate...>
# Runs the step command with each rate appended (one locked measurement each), stops at the
# first FAIL, bisects twice between the last PASS and that FAIL, prints the highest PASS.
climb_ladder() {
  local log=$1; shift
  local cmd=()
  while [ "$1" != "--" ]; do cmd+=("$1"); shift; done
  shift
  step() {
    local r=$1 line
    line=$("${cmd[@]}" "$r" 2>&1 | grep -E '^(PASS|FAIL) ' | tail -1)
    [ -z "$line" ] && line="FAIL harness-error rate=$r"
    echo "$(date +%T) $line" | tee -a "$log"
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
}
