#!/usr/bin/env bash
# bench/remote/run.sh [duration_s] — media on remote relays and registrations in Redis, side by
# side with Kamailio + rtpengine, on this machine (npm run bench:remote; part of npm run bench):
#   1. NG round trips: ping latency, offer/answer/delete cycles per second (16 at a time),
#      to a switchyard relay node and to rtpengine (ng-latency.ts);
#   2. SIP calls/s (immediate BYE, media relay engaged for every call) through switchyard with
#      its embedded relay, with a remote switchyard relay node, with a remote rtpengine, and
#      through Kamailio with rtpengine: a ladder of rates, the highest PASS of bench/sip/run.sh;
#   3. REGISTER/s of distinct users: switchyard with the embedded store and with Redis, and
#      Kamailio (usrloc in memory): the highest PASS of bench/sip/run_reg.sh.
# The proxy and its relay (or Redis) on CPU 0, SIPp on CPU 1. Results: bench/remote/results/.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
if [ -z "${BENCH_LOCKED:-}" ]; then
  exec env BENCH_LOCKED=1 flock /tmp/bench.lock "$0" "$@"
fi
DUR=${1:-15}
CALL_RATES=${CALL_RATES:-"300 600 900 1200 1600"}
REG_RATES=${REG_RATES:-"2000 4000 8000 12000"}
SIP_PORT=5090 NODE_NG=22231 RTPE_NG=22232
RES=$HERE/results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$RES" /tmp/kam_remotebench
export UAC_CPU=1 UAS_CPU=1 REG_CPU=1
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT

wait_udp() { for _ in $(seq 1 100); do ss -Hlun "sport = :$1" | grep -q . && return 0; sleep 0.1; done; return 1; }
stop_pid() { kill -TERM "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

taskset -c 0 node "$ROOT/bin/switchyard.mjs" relay --ng 127.0.0.1:$NODE_NG --ports 40000-49999 --advertise 127.0.0.1 --log-level warn > "$RES/relay-node.log" 2>&1 &
NODE_PID=$!; PIDS+=($NODE_PID)
taskset -c 0 rtpengine --config-file=none --table=-1 --foreground --log-stderr --log-level=3 --listen-ng=127.0.0.1:$RTPE_NG \
  --interface=127.0.0.1 --port-min=50000 --port-max=59999 --num-threads=1 --delete-delay=0 > "$RES/rtpengine.log" 2>&1 &
RTPE_PID=$!; PIDS+=($RTPE_PID)
wait_udp $NODE_NG && wait_udp $RTPE_NG || { echo "relays did not start" >&2; exit 2; }

echo "== NG round trips" | tee "$RES/summary.txt"
for r in "node 127.0.0.1:$NODE_NG" "rtpengine 127.0.0.1:$RTPE_NG"; do
  set -- $r
  taskset -c 1 node --import jiti/register "$HERE/ng-latency.ts" "$1" "$2" 5 16 | tee -a "$RES/summary.txt"
done

# ladder <label> <run.sh|run_reg.sh> <rates...>: the highest rate that PASSes, stepping up until a FAIL.
ladder() {
  local label=$1 harness=$2; shift 2
  local best=0
  for rate in "$@"; do
    if BENCH_LOCKED=1 TAG="remote-$label-r$rate" OUT="$RES/$label-r$rate" NO_REGISTER=${NO_REGISTER:-} \
        "$ROOT/bench/sip/$harness" 127.0.0.1:$SIP_PORT "$rate" "$DUR" > "$RES/$label-r$rate.out" 2>&1; then
      best=$rate
    else
      break
    fi
  done
  echo "$label: highest PASS $best/s ($(tail -1 "$RES/$label-r$rate.out"))" | tee -a "$RES/summary.txt"
}

start_sy() { # <relay ng or ''> <store>
  BENCH_SIP_PORT=$SIP_PORT BENCH_RELAY_NG=$1 BENCH_STORE=$2 BENCH_MEDIA_PORTS=20000-29999 \
    taskset -c 0 node "$ROOT/bin/switchyard.mjs" --config "$HERE/switchyard.config.ts" --log-level warn --no-watch --no-warm-up > "$RES/switchyard.log" 2>&1 &
  SY_PID=$!
  wait_udp $SIP_PORT || { echo "switchyard did not start" >&2; tail "$RES/switchyard.log" >&2; exit 2; }
  export PROXY_PID=$SY_PID
}

start_kam() { # <ng port>
  sed -e "s/SIP_PORT/$SIP_PORT/g" -e "s/NG_PORT/$1/g" -e 's/children=CHILDREN/children=1/' "$HERE/kamailio-rtpengine.cfg" > /tmp/kam_remotebench/kamailio.cfg
  taskset -c 0 kamailio -f /tmp/kam_remotebench/kamailio.cfg -DD -E -m 1024 -M 16 -Y /tmp/kam_remotebench > "$RES/kamailio.log" 2>&1 &
  KAM_PID=$!
  wait_udp $SIP_PORT || { echo "kamailio did not start" >&2; tail "$RES/kamailio.log" >&2; exit 2; }
  sleep 1
  export PROXY_PID=$KAM_PID
}

echo "== SIP calls/s, media relayed, ${DUR} s per step" | tee -a "$RES/summary.txt"
start_sy '' memory;                        ladder switchyard-embedded-relay run.sh $CALL_RATES; stop_pid $SY_PID
start_sy 127.0.0.1:$NODE_NG memory;        ladder switchyard-remote-node run.sh $CALL_RATES; stop_pid $SY_PID
start_sy 127.0.0.1:$RTPE_NG memory;        ladder switchyard-remote-rtpengine run.sh $CALL_RATES; stop_pid $SY_PID
start_kam $RTPE_NG;                        ladder kamailio-rtpengine run.sh $CALL_RATES; stop_pid $KAM_PID
start_kam $NODE_NG;                        ladder kamailio-relay-node run.sh $CALL_RATES; stop_pid $KAM_PID

echo "== REGISTER/s, distinct users, ${DUR} s per step" | tee -a "$RES/summary.txt"
SOCK=/tmp/kam_remotebench/redis.sock
taskset -c 0 redis-server --save '' --appendonly no --port 0 --unixsocket $SOCK --unixsocketperm 700 > "$RES/redis.log" 2>&1 &
REDIS_PID=$!; PIDS+=($REDIS_PID)
for _ in $(seq 1 50); do [ -S $SOCK ] && break; sleep 0.1; done
start_sy '' memory;                        ladder switchyard-store-memory run_reg.sh $REG_RATES; stop_pid $SY_PID
start_sy '' unix://$SOCK;                  ladder switchyard-store-redis run_reg.sh $REG_RATES; stop_pid $SY_PID
start_kam $RTPE_NG;                        ladder kamailio-usrloc-memory run_reg.sh $REG_RATES; stop_pid $KAM_PID
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RES/summary.txt"
