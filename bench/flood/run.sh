#!/usr/bin/env bash
# run.sh [seconds=20] [flood rate=20000] [many sources=200]
#
# The flood benchmark (bench/flood/README.md): for no flood, then REGISTER and INVITE floods from
# one address and from many, legitimate calls through switchyard and through Kamailio with pike,
# each proxy fresh and pinned to CPU 0, the calls and the flood on CPU 1. About 10 runs of
# seconds + 5 s. Holds /tmp/bench.lock; results in bench/flood/results/.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
if [ -z "${BENCH_LOCKED:-}" ]; then
  exec env BENCH_LOCKED=1 flock /tmp/bench.lock "$0" "$@"
fi
if ss -Hlun 'sport = :37760' | grep -q .; then
  echo "run.sh: UDP :37760 already in use" >&2; exit 2
fi
cd "$ROOT"
exec taskset -c 1 node --import jiti/register "$HERE/run.ts" "$@"
