#!/usr/bin/env python3
"""The performance targets, each as switchyard's figure, the reference measured in the same
session, and the ratio, from the results the benchmarks left:

  bench/media/results/bench.jsonl, search_summary.jsonl   (python3 bench/media/bench.py ...)
  bench/sip/results/*/summary.json                         (bench/sip/ladder.sh, sy_ladder.sh)
  bench/reload/results/reload.jsonl                        (bench/reload/run.sh)

  python3 bench/summary.py
"""
import glob
import json
import os
import statistics

HERE = os.path.dirname(os.path.abspath(__file__))
MEDIA = os.path.join(HERE, "media", "results")
SIP = os.path.join(HERE, "sip", "results")
RELOAD = os.path.join(HERE, "reload", "results", "reload.jsonl")


def jsonl(path):
    """The records of a JSON-lines results file; none when the benchmark has not run."""
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)


def media_runs():
    runs = {}
    for d in jsonl(os.path.join(MEDIA, "bench.jsonl")):
        if d.get("key") and "error" not in d:
            runs.setdefault(d["key"].rsplit(":", 1)[0], []).append(d)
    return runs


def searches():
    out = {}
    for d in jsonl(os.path.join(MEDIA, "search_summary.jsonl")):
        out[(d["relay"], d["calls"])] = d
    return out


def median(runs, f):
    vals = [f(d) for d in runs if f(d) is not None]
    return statistics.median(vals) if vals else None


def highest_sip_pass(tag_prefix):
    """The highest rate among the SIP runs (bench/sip/results/*/summary.json) of this proxy that passed."""
    best = None
    for path in glob.glob(os.path.join(SIP, f"*-{tag_prefix}-r*-c0", "summary.json")):
        d = json.load(open(path))
        if d.get("pass") and d["meta"].get("duration_s", 0) >= 60:
            rate = d["meta"]["rate"]
            best = rate if best is None else max(best, rate)
    return best


def last_reload_runs(min_reloads=10):
    """The latest complete bench/reload run with at least min_reloads reloads, per media engine."""
    last = {}
    for d in jsonl(RELOAD):
        if d.get("reloads_requested", 0) >= min_reloads and "media" in d and "sip" in d and d.get("engine"):
            last[d["engine"]] = d
    return last


def scaling_runs():
    """The last run of each scaling:<relay>:<threads> label in bench/media/results/scaling.jsonl (bench/media/scaling.sh)."""
    out = {}
    for d in jsonl(os.path.join(MEDIA, "scaling.jsonl")):
        if "error" not in d and d.get("label", "").startswith("scaling:"):
            out[d["label"]] = d
    return out


def forwarding_threads(d):
    """CPU % of the threads that forward (switchyard's sy-media-N; crelay's busy threads), busiest first."""
    t = d.get("thread_cpu_pct") or {}
    named = [v for k, v in t.items() if k.startswith("sy-media-")]
    return sorted(named or [v for v in t.values() if v >= 5], reverse=True)


def scaling_row():
    """5: the speed-up N threads make available = CPU of one thread / CPU of the busiest of N, at the same load."""
    runs = scaling_runs()
    cells = []
    for relay in ("switchyard", "crelay"):
        one, two = runs.get(f"scaling:{relay}:1"), runs.get(f"scaling:{relay}:2")
        if one is None or two is None or not forwarding_threads(one) or not forwarding_threads(two):
            cells.append(None)
            continue
        t1, t2 = forwarding_threads(one), forwarding_threads(two)
        text = f"{two['rx_pps']:,} pps: 1 thread {t1[0]:.0f} %, 2 threads {' + '.join(f'{v:.0f}' for v in t2[:2])} %"
        cells.append((text, t1[0] / t2[0]))
    ours, ref = cells
    if ours is None:
        return "| 5. scaling over cores (2 threads) | not measured | - | - | ~2x |"
    ref_text = f"{ref[0]} ({ref[1]:.2f}x)" if ref else "not measured"
    return f"| 5. scaling over cores: CPU of the busiest of 2 threads vs 1 thread, same load | {ours[0]} | {ref_text} | {ours[1]:.2f}x | ~2x |"


def row(target, ours, ref, ratio_goal, unit, lower_is_better=False):
    if ours is None or ref is None:
        return f"| {target} | {ours if ours is not None else 'not measured'} | {ref if ref is not None else 'not measured'} | - | {ratio_goal} |"
    ratio = ours / ref if ref else float("inf")
    return f"| {target} | {ours:,.0f} {unit} | {ref:,.0f} {unit} | {ratio:.2f}x | {ratio_goal} |"


def main():
    runs = media_runs()
    s = searches()
    print("| target | switchyard | reference | ratio | goal |")
    print("|---|---|---|---|---|")
    for calls in (100, 1000):
        ours = s.get(("switchyard", calls), {}).get("max_pass_total_pps")
        ref = s.get(("crelay", calls), {}).get("max_pass_total_pps")
        print(row(f"1. loss-free pps, {calls} calls (vs crelay)", ours, ref, ">= 0.9x", "pps"))
    cpu = lambda d: d.get("relay_cpu_pct")
    ours = median(runs.get("realistic:switchyard:500x50", []), cpu)
    ref = median(runs.get("realistic:crelay:500x50", []), cpu)
    print(row("2. CPU at 50k pps (vs crelay)", ours, ref, "<= 1.2x", "%"))
    p99 = lambda d: (d.get("lat_us") or {}).get("p99")
    ours = median(runs.get("realistic:switchyard:500x50", []), p99)
    print(f"| 3. p99 added latency at 50k pps | {ours:,.0f} µs | 300 µs (target) | {ours / 300:.2f}x | <= 1.0x |" if ours else "| 3. p99 at 50k pps | not measured | 300 µs | - | <= 1.0x |")
    rss = lambda d: d.get("rss_kb_idle")
    busy = median(runs.get("idle:switchyard:1000", []), rss)
    base = median(runs.get("idle:switchyard:1", []), rss)
    if busy is not None and base is not None:
        mb = (busy - base) / 1024
        print(f"| 4. memory of 1000 idle sessions | {mb:.1f} MB | 10 MB (target) | {mb / 10:.2f}x | <= 1.0x |")
    else:
        print("| 4. memory of 1000 idle sessions | not measured | 10 MB | - | <= 1.0x |")
    print(scaling_row())
    print(row("6. SIP calls/s for 60 s, one core (vs Kamailio, 1 worker)", highest_sip_pass("switchyard-1core-calls"), highest_sip_pass("kam-c1-1core-calls"), ">= 1.0x", "calls/s"))
    print(row("6b. SIP registrations/s, one core (vs Kamailio)", highest_sip_pass("switchyard-1core-reg"), highest_sip_pass("kam-c1-1core-reg"), ">= 1.0x", "reg/s"))
    runs = last_reload_runs()
    if not runs:
        print("| 7. reload under load | not measured | - | - | 0 / 0 |")
    for engine, r in sorted(runs.items()):
        applied = f", {r['reloads_applied']} applied" if r["reloads_applied"] != r["reloads_requested"] else ""
        print(f"| 7. reload under load ({engine} relay): packets lost / calls failed over {r['reloads_requested']} reloads{applied} "
              f"| {r['media']['lost'] + r['media']['warmup_lost']:,} / {r['sip']['failed']:,} | - | - | 0 / 0 |")


if __name__ == "__main__":
    main()
