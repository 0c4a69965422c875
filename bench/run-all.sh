#!/usr/bin/env bash
# npm run bench: the media and signaling benchmarks side by side with their references, then
# the target table (bench/summary.py). Long: about 30 minutes on a 2-core machine. Needs gcc,
# python3, SIPp and Kamailio (bench/sip/setup.sh installs SIPp and Kamailio as root).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
"$HERE/media/build.sh"
# Media: idle memory, 50k pps CPU/latency, loss-free throughput at 100 and 1000 calls.
python3 "$HERE/media/bench.py" --relays crelay,switchyard --only idle,realistic,search --calls-list 100,1000
# Signaling: immediate-BYE calls for 60 s per step, one core each.
"$HERE/sip/ladder.sh" 1 1core calls 0 60 2500 3000 3500 4000 4500
"$HERE/sip/sy_ladder.sh" calls 0 60 600 800 1000 1200 1400 1600
python3 "$HERE/summary.py"
