#!/usr/bin/env python3
"""Summarize one bench/overload/run.sh directory.

  analyze.py OUTDIR            -> OUTDIR/summary.json, prints one line
  analyze.py --table DIR...    -> a markdown table of several runs
  analyze.py --ladder C DIR... -> the overload ladder's table, rates as multiples of capacity C

From SIPp's per-second statistics (load_stat.csv), its RTD trace (*_rtt.csv), the sampler
and the times run.sh noted:
  offered      calls (REGISTERs) SIPp created per second during the overload phase
  goodput      calls (REGISTERs) completed per second during the overload phase, and over
               its steady part (from 10 s on)
  refused/failed  calls SIPp saw fail during the overload phase (a 503 is one)
  p99          INVITE->180 (REGISTER->200) of the calls that got one, overload phase, ms
  memory       the proxy's peak PSS and RSS (all its processes), and how much the PSS grew
               over the second half of the overload phase
  recovery     seconds from the drop to the recovery rate until the first of three
               seconds in a row whose goodput is at least 95 % of that rate
  per core     goodput per second of the proxy's CPU time (goodput / CPU share): on a machine
               shared with other work the proxy may get much less than its core
  media refused  (switchyard) calls admitted but refused by the media relay for want of ports
               (503 Media Ports Exhausted, counted from its warnings in proxy.log)
"""
import csv
import glob
import json
import os
import sys

STEADY_FROM_S = 10


def rows(path):
    with open(path, newline="") as f:
        data = list(csv.reader(f, delimiter=";"))
    if len(data) < 2:
        return []
    hdr = data[0]
    return [dict(zip(hdr, r)) for r in data[1:] if len(r) >= len(hdr) - 1]


def epoch(v):
    try:
        return float(v.split("\t")[-1])
    except (ValueError, AttributeError):
        return None


def num(d, k):
    try:
        return float(d.get(k, 0) or 0)
    except ValueError:
        return 0.0


def pct(vals, q):
    if not vals:
        return None
    vals = sorted(vals)
    k = (len(vals) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(vals) - 1)
    return round(vals[lo] + (vals[hi] - vals[lo]) * (k - lo), 2)


def per_second(stat, t0):
    """[(start_s, end_s, created, completed, failed, retransmissions)] relative to t0."""
    out = []
    for r in stat:
        end = epoch(r.get("CurrentTime", ""))
        if end is None:
            continue
        h, m, s = (int(x) for x in r.get("ElapsedTime(P)", "0:0:0").split(":")[:3])
        span = h * 3600 + m * 60 + s or 1
        out.append((end - t0 - span, end - t0, num(r, "OutgoingCall(P)"), num(r, "SuccessfulCall(P)"),
                    num(r, "FailedCall(P)"), num(r, "Retransmissions(P)")))
    return out


def within(series, a, b):
    """Sum of each column over the periods that end within (a, b]."""
    sel = [x for x in series if a < x[1] <= b + 0.5]
    span = (sel[-1][1] - sel[0][0]) if sel else 0
    return sel, span


def recovery_s(series, drop, rate, limit):
    if rate <= 0:
        return None
    after = [x for x in series if x[1] > drop + 0.5 and x[1] <= drop + limit + 0.5]
    for i in range(len(after) - 2):
        if all(after[j][3] / max(0.5, after[j][1] - after[j][0]) >= 0.95 * rate for j in range(i, i + 3)):
            return round(max(0.0, after[i][1] - drop), 1)
    return None


def rtts(outdir, name, t_from, t_to):
    """RTD samples of `name` taken between t_from and t_to seconds after SIPp started (its Date_ms)."""
    vals = []
    for fn in glob.glob(os.path.join(outdir, "*_rtt.csv")):
        with open(fn) as f:
            next(f, None)
            for line in f:
                p = line.strip().split(";")
                if len(p) < 3 or p[2] != name:
                    continue
                try:
                    at, v = float(p[0]) / 1000.0, float(p[1])
                except ValueError:
                    continue
                if t_from <= at <= t_to:
                    vals.append(v)
    return vals


def media_refused(log):
    """Calls the media relay refused for want of ports, from its (throttled) warnings."""
    n = 0
    try:
        with open(log, errors="replace") as f:
            for line in f:
                if "Media Ports Exhausted" not in line:
                    continue
                try:
                    n += 1 + int(json.loads(line).get("alsoSinceLastWarning", 0))
                except ValueError:
                    n += 1
    except OSError:
        return None
    return n


def summarize(outdir):
    meta = json.load(open(os.path.join(outdir, "meta.json")))
    times = json.load(open(os.path.join(outdir, "times.json")))
    kind = meta["kind"]
    t0 = times["load_started"]
    drop = times["rate_dropped"] - t0
    stop = times["load_stopped"] - t0
    series = per_second(rows(os.path.join(outdir, "load_stat.csv")), t0)
    phase, span = within(series, 0, drop)
    steady, steady_span = within(series, STEADY_FROM_S, drop)
    s = {"meta": meta}
    s["offered_per_s"] = round(sum(x[2] for x in phase) / span, 1) if span else None
    s["goodput_per_s"] = round(sum(x[3] for x in phase) / span, 1) if span else None
    s["goodput_steady_per_s"] = round(sum(x[3] for x in steady) / steady_span, 1) if steady_span else None
    s["failed_in_overload"] = int(sum(x[4] for x in phase))
    s["completed_in_overload"] = int(sum(x[3] for x in phase))
    s["retransmissions_in_overload"] = int(sum(x[5] for x in phase))
    s["goodput_series"] = [[round(x[1], 1), int(x[3]), int(x[4])] for x in series]
    rec, rec_span = within(series, drop, stop)
    s["recovery_goodput_per_s"] = round(sum(x[3] for x in rec) / rec_span, 1) if rec_span else None
    s["recovery_failed"] = int(sum(x[4] for x in rec))
    s["recovered_after_s"] = recovery_s(series, drop, meta["recovery_rate"], stop - drop)
    lat = rtts(outdir, "inv180" if kind == "calls" else "reg200", 0, drop)
    s["latency_ms"] = {"n": len(lat), "p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "max": max(lat) if lat else None}
    smp = os.path.join(outdir, "sampler.json")
    if os.path.exists(smp):
        j = json.load(open(smp))
        g = j["groups"].get("proxy", {})
        s["proxy_cpu_pct"] = g.get("cpu_pct")
        s["proxy_pss_mb_max"] = g.get("pss_kb_max") and round(g["pss_kb_max"] / 1024, 1)
        s["proxy_rss_mb_max"] = g.get("rss_kb_max") and round(g["rss_kb_max"] / 1024, 1)
        pss = [(x["t"], x["groups"]["proxy"]["pss_kb"]) for x in j.get("samples", [])
               if x["groups"].get("proxy")]
        half = [p for t, p in pss if drop / 2 <= t <= drop]
        s["proxy_pss_growth_mb_second_half"] = round((half[-1] - half[0]) / 1024, 1) if len(half) >= 2 else None
        s["kernel_udp_errors"] = {k: v for k, v in j.get("udp_errors_delta", {}).items() if v}
        cpu = s.get("proxy_cpu_pct")
        s["goodput_per_core_s"] = round(s["goodput_per_s"] / (cpu / 100), 1) if cpu and s.get("goodput_per_s") is not None else None
    s["media_refused"] = media_refused(os.path.join(outdir, "proxy.log")) if meta["proxy"] == "switchyard" else None
    with open(os.path.join(outdir, "summary.json"), "w") as f:
        json.dump(s, f, indent=1)
    return s


def one_line(s):
    m = s["meta"]
    lat = s["latency_ms"]
    unit = "calls" if m["kind"] == "calls" else "reg"
    return (f"{m['proxy']} {m['kind']} offered={m['rate']}/s (sent {s['offered_per_s']}/s) for {m['duration_s']} s: "
            f"goodput={s['goodput_per_s']} {unit}/s (steady {s['goodput_steady_per_s']}) failed={s['failed_in_overload']} "
            f"p99={lat['p99']} ms cpu={s.get('proxy_cpu_pct')}% pss_max={s.get('proxy_pss_mb_max')} MB "
            f"(+{s.get('proxy_pss_growth_mb_second_half')} MB in the second half) "
            f"recovery to {m['recovery_rate']}/s: {s['recovered_after_s']} s, {s['recovery_goodput_per_s']}/s "
            f"udp errors={s.get('kernel_udp_errors')} per-core={s.get('goodput_per_core_s')} media-refused={s.get('media_refused')} "
            f"load={m['loadavg']}")


def table(dirs):
    print("| proxy | kind | offered /s | sent /s | goodput /s (steady) | failed | p99 ms | CPU % | PSS MB max (growth, 2nd half) | recovery s | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for d in dirs:
        p = os.path.join(d, "summary.json")
        if not os.path.exists(p):
            continue
        s = json.load(open(p))
        m = s["meta"]
        print(f"| {m['proxy']} | {m['kind']} | {m['rate']} | {s['offered_per_s']} | {s['goodput_per_s']} ({s['goodput_steady_per_s']}) | "
              f"{s['failed_in_overload']} | {s['latency_ms']['p99']} | {s.get('proxy_cpu_pct')} | "
              f"{s.get('proxy_pss_mb_max')} ({s.get('proxy_pss_growth_mb_second_half')}) | {s['recovered_after_s']} | {m['loadavg']} |")


def ladder(capacity, dirs):
    rows = []
    for d in dirs:
        p = os.path.join(d, "summary.json")
        if os.path.exists(p):
            rows.append(json.load(open(p)))
    rows.sort(key=lambda s: (s["meta"]["rate"], s["meta"]["proxy"] != "switchyard"))
    unit = "calls" if rows and rows[0]["meta"]["kind"] == "calls" else "REGISTERs"
    lat = "INVITE->180" if unit == "calls" else "REGISTER->200"
    print(f"Capacity C = {capacity} {unit}/s (switchyard, one core). Goodput: {unit} completed per second over the whole step "
          f"(in brackets: from 10 s on); p99 {lat} of what completed; memory: the proxy's peak PSS and its growth over the "
          f"step's second half; recovery: seconds after the offered load drops to the recovery rate until goodput holds 95 % of it.")
    print()
    print(f"| offered | proxy | goodput /s | of C | failed | p99 {lat} ms | PSS MB (growth) | recovery s | load avg |")
    print("|---|---|---|---|---|---|---|---|---|")
    for s in rows:
        m = s["meta"]
        g = s["goodput_per_s"] or 0
        rec = s["recovered_after_s"]
        print(f"| {m['rate']} ({m['rate'] / capacity:.1f}x) | {m['proxy']} | {g:.0f} ({s['goodput_steady_per_s'] or 0:.0f}) | "
              f"{100 * g / capacity:.0f} % | {s['failed_in_overload']} | {s['latency_ms']['p99']} | "
              f"{s.get('proxy_pss_mb_max')} ({s.get('proxy_pss_growth_mb_second_half')}) | "
              f"{rec if rec is not None else 'not within ' + str(m['recovery_s'])} | {m['loadavg'].split()[0]} |")


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--ladder":
        ladder(float(sys.argv[2]), sys.argv[3:])
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--table":
        table(sys.argv[2:])
        return 0
    print(one_line(summarize(sys.argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
