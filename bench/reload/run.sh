#!/usr/bin/env bash
# run.sh [reload.py options]: hot reload under load, one locked run (target 7).
#   ./run.sh                      # 10 reloads, 1 s apart, during 50k pps media + 167 calls/s SIP
#   ./run.sh --reloads 3 --duration 8
# Holds /tmp/bench.lock for the whole run (shared with the other benchmarks on this machine);
# builds udpload if it is missing. Results: results/<timestamp>/ and results/reload.jsonl.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
[ -x "$HERE/../media/udpload" ] || "$HERE/../media/build.sh"
if [ -z "${BENCH_LOCKED:-}" ]; then
  exec env BENCH_LOCKED=1 flock /tmp/bench.lock "$0" "$@"
fi
ulimit -n 65536 2>/dev/null || true
python3 "$HERE/reload.py" "$@" &
PY=$!
trap 'kill -TERM $PY 2>/dev/null || true; wait $PY 2>/dev/null || true' EXIT INT TERM HUP
set +e
wait $PY
RC=$?
trap - EXIT INT TERM HUP
exit $RC
