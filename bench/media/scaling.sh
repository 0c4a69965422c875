#!/bin/sh
# More cores, more media: the same 100k pps (1000 calls x 50 pps x 2) through switchyard's
# native engine with one and with two worker threads, and through crelay with one and two
# threads, the relay allowed on both cores (the generator on CPU 0). On a 2-core machine the
# generator needs a core of its own to go faster, so what is shown is how the relay's work
# splits over its threads (thread_cpu_pct of each run): each worker carries an equal share
# and could use a core of its own.
#   ./scaling.sh            appends to results/scaling.jsonl; bench/summary.py reads it
cd "$(dirname "$0")" || exit 1
mkdir -p results
for relay in switchyard crelay; do
  for threads in 1 2; do
    RELAY_CPU=0,1 GEN_CPU=0 ./run.sh --relay "$relay" --calls 1000 --pps 50 --duration 10 --warmup 2 \
      --threads "$threads" --label "scaling:$relay:$threads" | tail -1 >> results/scaling.jsonl
  done
done
tail -4 results/scaling.jsonl | python3 -c '
import json, sys
for line in sys.stdin:
    d = json.loads(line)
    workers = {k: v for k, v in (d.get("thread_cpu_pct") or {}).items() if v >= 1}
    print(d.get("label"), d.get("rx_pps"), "pps relayed, loss", d.get("loss_pct"), "%, CPU per thread", workers)
'
