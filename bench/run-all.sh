#!/usr/bin/env bash
# npm run bench: the media and signaling benchmarks side by side with their references, then
# the target table (bench/summary.py). Long: about an hour and a half on a 2-core machine. Needs gcc,
# python3, SIPp and Kamailio (bench/sip/setup.sh installs SIPp and Kamailio as root).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
"$HERE/media/build.sh"
# Media: idle memory, 50k pps CPU/latency, loss-free throughput at 100 and 1000 calls.
python3 "$HERE/media/bench.py" --relays crelay,switchyard --only idle,realistic,search --calls-list 100,1000
# Media over two threads: how the work splits (switchyard's native workers, crelay's threads).
"$HERE/media/scaling.sh"
# Signaling: immediate-BYE calls for 60 s per step, one core each.
"$HERE/sip/ladder.sh" 1 1core calls 0 60 2500 3000 3500 4000 4500
"$HERE/sip/sy_ladder.sh" calls 0 60 3000 3500 4000 4500 5000
# Registrations: a REGISTER flood of distinct users for 60 s per step, one core each.
"$HERE/sip/ladder.sh" 1 1core reg 0 60 6000 10000 14000 16000 18000 20000
"$HERE/sip/sy_ladder.sh" reg 0 60 16000 20000 24000 28000 32000
# Overload: 1, 1.5, 2 and 3 times switchyard's capacity (the highest PASS of its ladders above)
# for 60 s each, switchyard and Kamailio, calls and a REGISTER storm (bench/overload/README.md).
for kind in calls reg; do
  "$HERE/overload/ladder.sh" $kind || echo "bench/overload/ladder.sh $kind: no table (see above)"
done
# Transports: REGISTER/s and calls/s over UDP, TLS and WebSocket, 20 s each, switchyard and
# Kamailio (its tls and websocket modules: apt-get install kamailio-tls-modules kamailio-websocket-modules).
node --import jiti/register "$HERE/transports/run.ts" 20 32
# Floods: legitimate calls through REGISTER and INVITE floods from one address and from 200,
# switchyard's flood limits beside Kamailio's pike (bench/flood/README.md).
"$HERE/flood/run.sh" 20 20000 200
# Hot reload: the script rewritten 10 times during 50k pps of media and 167 SIP calls/s, with
# each media engine.
for engine in native js; do
  "$HERE/reload/run.sh" --engine $engine || echo "bench/reload/run.sh --engine $engine: FAIL (the table shows what was lost)"
done
# The admin listener's cost: the SIP path's CPU per call with it off, and on with /metrics
# scraped every second, interleaved.
node --import jiti/register "$HERE/sip-path/admin-cost.ts" 3 30000 64 8000
# Remote relays over NG and registrations in Redis, side by side with Kamailio + rtpengine.
"$HERE/remote/run.sh" 15
python3 "$HERE/summary.py"
