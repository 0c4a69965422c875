#!/usr/bin/env bash
# run.sh <switchyard|kamailio> <calls|reg> <rate> <seconds> [<recovery_rate> <recovery_seconds>]
#
# One overload run against a fresh proxy, pinned to CPU 0 with SIPp on CPU 1 (the "1core"
# layout of bench/sip): SIPp offers <rate> calls (immediate BYE, bench/sip/scenarios/uac.xml
# and uas.xml) or REGISTERs of distinct users (register_flood.xml) per second for <seconds>,
# then drops to <recovery_rate> for <recovery_seconds> (through SIPp's control port), and
# stops. Unlike bench/sip/run.sh nothing here is PASS or FAIL: analyze.py reads what SIPp
# logged second by second and prints the goodput (completed calls or registrations per
# second) of the overload, the p99 INVITE→180 (REGISTER→200) of what completed, the proxy's
# peak memory, and how long after the drop the goodput took to reach the recovery rate.
#
# Kamailio runs bench/sip/kamailio.cfg with one worker, as bench/sip/kam_bench.sh starts it;
# switchyard the repository's proxy.config.ts (calls) or bench/overload/switchyard-reg.config.ts
# (the same script with the registrar sized for the storm), its media relay on the ports
# MEDIA_PORTS (default 40000-51999; empty: the script's own 5000-5999). The script's 1,000 ports
# (4 a call) hold 250 calls at once, 125 from one source: 2,000 calls/s whose messages wait
# 50-200 ms at each of their passes through an overloaded proxy hold 500-2,000 at once, and
# the relay would refuse the rest (503 Media Ports Exhausted) after they were admitted.
#
# Environment: MEDIA_PORTS (above), SY_CONFIG (another route script), SY_ROOT (the switchyard tree to run, default this one: another checkout measures
# an older tree with the same harness), SY_ARGS (switchyard's own flags, e.g. --no-warm-up), SY_NODE_FLAGS (node's),
# SY_PROBE=1 (bench/overload/probe.mjs writes the event loop, heap and socket queue second by
# second to probe.jsonl), OUT (result directory), TAG. Holds /tmp/bench.lock for the run.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SIP=$ROOT/bench/sip
if [ -z "${BENCH_LOCKED:-}" ]; then
  exec env BENCH_LOCKED=1 flock /tmp/bench.lock "$0" "$@"
fi
if [ $# -lt 4 ]; then sed -n '2,22p' "$0"; exit 2; fi
PROXY=$1 KIND=$2 RATE=$3 DUR=$4 RRATE=${5:-0} RDUR=${6:-0}
case "$PROXY" in switchyard|kamailio) ;; *) echo "proxy must be switchyard or kamailio" >&2; exit 2 ;; esac
case "$KIND" in calls|reg) ;; *) echo "kind must be calls or reg" >&2; exit 2 ;; esac
TAG=${TAG:-$PROXY-$KIND-r$RATE-d$DUR-rr$RRATE}
OUT=${OUT:-$HERE/results/$(date +%Y%m%d-%H%M%S)-$TAG}
mkdir -p "$OUT"
CTRL_PORT=${CTRL_PORT:-48888}
UAS_PORT=5070 UAC_PORT=5061 REG_PORT=5062
if ss -Hlun 'sport = :5060' | grep -q .; then
  echo "run.sh: UDP :5060 already in use" >&2; exit 2
fi

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# 1. the proxy
if [ "$PROXY" = switchyard ]; then
  SY_ROOT=${SY_ROOT:-$ROOT}
  CONFIG=$SY_ROOT/proxy.config.ts
  [ "$KIND" = reg ] && CONFIG=$HERE/switchyard-reg.config.ts
  CONFIG=${SY_CONFIG:-$CONFIG}
  PROBE=()
  [ -n "${SY_PROBE:-}" ] && PROBE=(--import "$HERE/probe.mjs")
  # shellcheck disable=SC2086
  MEDIA=()
  [ -n "${MEDIA_PORTS-40000-51999}" ] && MEDIA=(--media-ports "${MEDIA_PORTS-40000-51999}")
  # Registrations kept in this run's folder: every run starts with none.
  (cd "$SY_ROOT" && SWITCHYARD_STATE_DIR="$OUT/state" SY_PROBE_OUT="$OUT/probe.jsonl" exec taskset -c 0 node ${SY_NODE_FLAGS:-} "${PROBE[@]}" bin/switchyard.mjs \
     --config "$CONFIG" --log-level ${SY_LOG_LEVEL:-warn} --no-watch "${MEDIA[@]}" ${SY_ARGS:-}) > "$OUT/proxy.log" 2>&1 &
else
  RUNDIR=/tmp/kam_sipbench   # kamailio.cfg names its control socket there
  mkdir -p "$RUNDIR"
  taskset -c 0 kamailio -f "$SIP/kamailio.cfg" -DD -E -A CHILDREN=1 -m 3072 -M 16 -Y "$RUNDIR" -P "$RUNDIR/kamailio.pid" \
    > "$OUT/proxy.log" 2>&1 &
fi
PPID_=$!
PIDS+=("$PPID_")
STARTED=$(date +%s.%N)
for _ in $(seq 1 600); do
  ss -Hlun 'sport = :5060' | grep -q . && break
  kill -0 "$PPID_" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$PPID_" 2>/dev/null || { echo "run.sh: the proxy died:" >&2; tail -20 "$OUT/proxy.log" >&2; exit 2; }
READY=$(date +%s.%N)
[ "$PROXY" = kamailio ] && sleep 1   # its children finish their start-up

cat > "$OUT/meta.json" <<EOF
{"proxy":"$PROXY","kind":"$KIND","rate":$RATE,"duration_s":$DUR,"recovery_rate":$RRATE,"recovery_s":$RDUR,
 "tag":"$TAG","sy_root":"${SY_ROOT:-}","sy_config":"${SY_CONFIG:-}","sy_args":"${SY_ARGS:-}","media_ports":"${MEDIA_PORTS-40000-51999}","started":"$(date -Is)","start_to_listen_s":$(python3 -c "print(round($READY - $STARTED, 3))"),
 "loadavg":"$(cut -d' ' -f1-3 /proc/loadavg)","host_cpus":$(nproc)}
EOF

cd "$OUT"
COMMON=(-i 127.0.0.1 -nostdin -buff_size 4194304 -max_recv_loops 10000 -max_sched_loops 10000 -fd 1)
# Calls that wait on retransmissions (a proxy that drops) stay open in SIPp for up to 32 s;
# a low limit would make SIPp offer less to the proxy that drops than to the one that refuses.
LIMIT=$(( RATE * 40 + 1000 ))
TOTAL=$(( RATE * DUR + RRATE * RDUR + 1000 ))
if [ "$KIND" = calls ]; then
  sipp 127.0.0.1:5060 -sf "$SIP/scenarios/register_one.xml" -s bob -i 127.0.0.1 -p "$UAS_PORT" -m 1 -nostdin -timeout 10s \
    > register.screen 2>&1 || { echo "run.sh: REGISTER of the callee failed" >&2; exit 2; }
  taskset -c 1 sipp -sf "$SIP/scenarios/uas.xml" -p "$UAS_PORT" "${COMMON[@]}" -trace_stat -stf uas_stat.csv \
    -trace_err -error_file uas_errors.log > uas.screen 2>&1 &
  PIDS+=($!)
  sleep 0.5
  taskset -c 1 sipp 127.0.0.1:5060 -sf "$SIP/scenarios/uac.xml" -s bob -p "$UAC_PORT" "${COMMON[@]}" -cp "$CTRL_PORT" \
    -r "$RATE" -rp 1000 -m "$TOTAL" -l "$LIMIT" -d 0 -trace_stat -stf load_stat.csv -trace_rtt -rtt_freq 200 \
    -trace_err -error_file load_errors.log > load.screen 2>&1 &
  LOAD_PID=$!
else
  N=$TOTAL
  USERS=$SIP/data/users_$N.csv
  mkdir -p "$SIP/data"
  [ -s "$USERS" ] || python3 "$SIP/lib/gen_users.py" "$N" "$USERS"
  # A REGISTER that fails (503, or no answer) is not followed by a BYE: SIPp's default "bye"
  # behaviour would send one for every aborted registration, which no registering phone does.
  taskset -c 1 sipp 127.0.0.1:5060 -sf "$SIP/scenarios/register_flood.xml" -inf "$USERS" -p "$REG_PORT" "${COMMON[@]}" -cp "$CTRL_PORT" \
    -default_behaviors all,-bye \
    -r "$RATE" -rp 1000 -m "$N" -l "$LIMIT" -trace_stat -stf load_stat.csv -trace_rtt -rtt_freq 200 \
    -trace_err -error_file load_errors.log > load.screen 2>&1 &
  LOAD_PID=$!
fi
PIDS+=("$LOAD_PID")
LOAD_STARTED=$(date +%s.%N)
python3 "$SIP/lib/sampler.py" --out sampler.json --window "1:$DUR" --max-seconds $(( DUR + RDUR + 90 )) \
  "proxy=$PPID_" "load=$LOAD_PID" > /dev/null 2>&1 &
SAMPLER_PID=$!
PIDS+=("$SAMPLER_PID")

ctl() { echo "$1" > "/dev/udp/127.0.0.1/$CTRL_PORT" 2>/dev/null || true; }
sleep "$DUR"
DROPPED=$(date +%s.%N)
ctl "cset rate $RRATE"
[ "$RDUR" -gt 0 ] && sleep "$RDUR"
STOPPED=$(date +%s.%N)
ctl q
# calls left open wait out SIPp's retransmissions (up to 32 s); then it is stopped
DEADLINE=$(( SECONDS + 40 ))
while kill -0 "$LOAD_PID" 2>/dev/null && [ $SECONDS -lt $DEADLINE ]; do sleep 0.5; done
kill -TERM "$LOAD_PID" 2>/dev/null || true
wait "$LOAD_PID" 2>/dev/null || true
kill -TERM "$SAMPLER_PID" 2>/dev/null || true
wait "$SAMPLER_PID" 2>/dev/null || true
if [ "$PROXY" = kamailio ]; then
  kamcmd -s "unix:$RUNDIR/kamailio_ctl" stats.get_statistics all > kamailio_stats.txt 2>&1 || true
fi
kill -TERM "$PPID_" 2>/dev/null || true
wait "$PPID_" 2>/dev/null || true
cat > times.json <<EOF
{"proxy_started":$STARTED,"proxy_ready":$READY,"load_started":$LOAD_STARTED,"rate_dropped":$DROPPED,"load_stopped":$STOPPED}
EOF
for f in "$OUT"/*_errors.log; do
  [ -f "$f" ] || continue
  if [ "$(stat -c %s "$f")" -gt 5000000 ]; then head -c 2000000 "$f" > "$f.head"; mv "$f.head" "$f"; fi
done
python3 "$HERE/analyze.py" "$OUT"
