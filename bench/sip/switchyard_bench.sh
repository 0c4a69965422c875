#!/usr/bin/env bash
# switchyard_bench.sh <calls|reg> <rate> <duration_s> [call_ms]
#
# One locked measurement against a fresh switchyard running the repository's default
# proxy.config.ts (SIP on 127.0.0.1:5060, media relay engaged for every call), the
# proxy pinned to CPU 0 and the SIPp processes to CPU 1 (the "1core" layout of
# kam_bench.sh, so both proxies are measured the same way). Logs at warn, as Kamailio's
# reference script (debug=0). reg runs use switchyard-reg.config.ts: the same script with the
# registrar's user limit raised above what the flood registers.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
if [ -z "${BENCH_LOCKED:-}" ]; then
  exec env BENCH_LOCKED=1 flock /tmp/bench.lock "$0" "$@"
fi
KIND=$1 RATE=$2 DUR=$3 CALL_MS=${4:-0}
export UAC_CPU=1 UAS_CPU=1 REG_CPU=1
TAG="switchyard-1core-${KIND}-r${RATE}-c${CALL_MS}"
export TAG OUT="$HERE/results/$(date +%Y%m%d-%H%M%S)-$TAG"
mkdir -p "$OUT"
if ss -Hlun 'sport = :5060' | grep -q .; then
  echo "switchyard_bench.sh: UDP :5060 already in use" >&2; exit 2
fi
CONFIG=proxy.config.ts
[ "$KIND" = reg ] && CONFIG=bench/sip/switchyard-reg.config.ts
cd "$ROOT"
# Registrations kept in this run's folder: every run starts with none.
SWITCHYARD_STATE_DIR="$OUT/state" taskset -c 0 node ${SY_NODE_FLAGS:-} bin/switchyard.mjs --config "$CONFIG" --log-level warn --no-watch > "$OUT/switchyard.log" 2>&1 &
SPID=$!
trap 'kill -TERM $SPID 2>/dev/null || true; wait $SPID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  ss -Hlun 'sport = :5060' | grep -q . && break
  sleep 0.1
done
kill -0 $SPID || { echo "switchyard died:" >&2; tail -20 "$OUT/switchyard.log" >&2; exit 2; }
if [ "$KIND" = reg ]; then
  PROXY_PID=$SPID "$HERE/run_reg.sh" 127.0.0.1:5060 "$RATE" "$DUR"
else
  PROXY_PID=$SPID "$HERE/run.sh" 127.0.0.1:5060 "$RATE" "$DUR" "$CALL_MS"
fi
