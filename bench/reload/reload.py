#!/usr/bin/env python3
"""Hot reload under load: one run (call it through ./run.sh, which holds /tmp/bench.lock).

  python3 reload.py [--reloads 10] [--interval 1] [--calls 500] [--pps 50] [--duration 20]
                    [--sip-rate 167] [--out results/reload.jsonl]

1. copies switchyard.config.ts to a temporary directory and starts switchyard on that copy,
   pinned to CPU 1, watching it (logs at info: "script reloaded" is an info line);
2. sets up --calls media sessions over the plain protocol (bench/media/plain_setup.mjs, as
   bench/media/run.py does for --relay switchyard) and registers SIPp's callee over SIP;
3. on CPU 0: udpload drives the sessions at --pps per leg both ways (500 x 50 x 2 = 50k pps),
   SIPp's UAC/UAS (bench/sip/scenarios) make immediate-BYE calls at --sip-rate through the
   proxy; an immediate-BYE call is 6 datagrams into the proxy (INVITE, ACK, BYE from the UAC;
   180, 200, 200 from the UAS) and 7 out of it (100, 180, 200, 200 to the UAC; INVITE, ACK,
   BYE to the UAS), so 167 calls/s = 1,000 signaling datagrams/s in (counted like the media
   rate: what is offered to the proxy), 2,170/s in and out;
4. from 3 s into udpload's run, rewrites the script --reloads times, --interval apart (a new
   RELOAD number: two reloadable module options and a route constant change), and waits for
   each "script reloaded" line of the new generation in the proxy's log;
5. prints reloads applied, media packets sent/received/lost, SIP calls successful/failed and
   retransmissions, and appends one JSON line to --out (bench/summary.py reads it for row 7).

Everything runs on loopback, every load is bounded by its duration, and every process started
here is stopped on exit (also on SIGINT/SIGTERM).
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MEDIA = os.path.join(ROOT, "bench", "media")
SIP = os.path.join(ROOT, "bench", "sip")
NODE = os.environ.get("NODE", "node")
PROXY_CPU, GEN_CPU = "1", "0"
PLAIN_PORT, SIP_PORT, UAC_PORT, UAS_PORT = 37501, 37560, 37561, 37570  # as in switchyard.config.ts
GEN_BASE = 20000  # udpload's endpoint ports, as bench/media/run.py
RELOAD_LINE = "const RELOAD = 0; // run.sh: reload number"
DEFAULT_IMPORT = "from '../../proxy.config.ts';"
ENGINE_LINE = "const ENGINE: 'auto' | 'native' | 'js' = 'auto'; // run.sh --engine: the media relay's data plane"

procs = []  # every process started here, stopped in stop_all()


def start(cmd, out, **kw):
    p = subprocess.Popen(cmd, stdout=open(out, "w"), stderr=subprocess.STDOUT, start_new_session=True, **kw)
    procs.append(p)
    return p


def stop(p, grace=5.0):
    if p.poll() is not None:
        return
    p.send_signal(signal.SIGTERM)  # the PID started here (taskset exec()s the program)
    try:
        p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def stop_all():
    for p in reversed(procs):
        stop(p)


def wait_bounded(p, seconds):
    """Waits for p at most `seconds`, then SIGTERMs it; returns its exit status."""
    try:
        return p.wait(timeout=max(0.1, seconds))
    except subprocess.TimeoutExpired:
        print(f"reload.py: {p.args[:4]} still running after the deadline, stopping it", file=sys.stderr)
        stop(p)
        return p.returncode


def udp_port_busy(port):
    out = subprocess.run(["ss", "-Hlun", f"sport = :{port}"], capture_output=True, text=True).stdout
    return bool(out.strip())


class LogTail:
    """The proxy's JSON log lines about starting, reloading and stopping, read incrementally."""

    KEEP = ("switchyard", "reload", "media relay ready")

    def __init__(self, path):
        self.path, self.offset, self.rest, self.lines = path, 0, "", []

    def poll(self):
        with open(self.path, errors="replace") as f:
            f.seek(self.offset)
            chunk = f.read()
            self.offset = f.tell()
        text = self.rest + chunk
        parts = text.split("\n")
        self.rest = parts.pop()
        for line in parts:
            if any(k in line for k in self.KEEP) or '"level":50' in line or '"level":60' in line:
                try:
                    self.lines.append(json.loads(line))
                except ValueError:
                    pass
        return self.lines

    def wait(self, pred, proc, timeout):
        t = time.time()
        while time.time() - t < timeout:
            for d in self.poll():
                if pred(d):
                    return d
            if proc.poll() is not None:
                raise RuntimeError(f"switchyard exited rc={proc.returncode}: {open(self.path).read()[-2000:]}")
            time.sleep(0.02)
        return None


def write_script(path, template, n):
    text = template.replace(RELOAD_LINE, f"const RELOAD = {n}; // run.sh: reload number (reload {n} at {time.strftime('%H:%M:%S')})")
    with open(path, "w") as f:
        f.write(text)


def run(a):
    template = open(os.path.join(HERE, "switchyard.config.ts")).read()
    for line in (RELOAD_LINE, ENGINE_LINE, DEFAULT_IMPORT):
        if line not in template:
            raise RuntimeError(f"switchyard.config.ts has no line {line!r} to rewrite")
    template = template.replace(ENGINE_LINE, ENGINE_LINE.replace("= 'auto'", f"= '{a.engine}'"))
    template = template.replace(DEFAULT_IMPORT, f"from '{os.path.join(ROOT, 'proxy.config.ts')}';")
    for port in (PLAIN_PORT, SIP_PORT, UAC_PORT, UAS_PORT):
        if udp_port_busy(port):
            raise RuntimeError(f"UDP port {port} is already in use")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    outdir = os.path.join(HERE, "results", stamp)
    os.makedirs(outdir)
    work = tempfile.mkdtemp(prefix="switchyard-reload-")
    script = os.path.join(work, "proxy.config.ts")
    write_script(script, template, 0)
    res = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S"), "outdir": outdir, "reloads_requested": a.reloads,
           "interval_s": a.interval, "media_calls": a.calls, "media_pps_per_leg": a.pps,
           "media_offered_pps": a.calls * a.pps * 2, "sip_rate_cps": a.sip_rate,
           "sip_msgs_in_per_s": a.sip_rate * 6, "duration_s": a.duration, "engine_option": a.engine}
    try:
        # 1. the proxy, watching its script
        plog = os.path.join(outdir, "switchyard.log")
        os.environ["SWITCHYARD_STATE_DIR"] = os.path.join(outdir, "state")  # registrations of this run only
        proxy = start(["taskset", "-c", PROXY_CPU, NODE, os.path.join(ROOT, "bin", "switchyard.mjs"),
                       "--config", script, "--log-level", "info"], plog, cwd=ROOT)
        log = LogTail(plog)
        if not log.wait(lambda d: str(d.get("msg", "")).startswith("switchyard started"), proxy, 30):
            raise RuntimeError("switchyard did not start within 30 s")
        ready = [d for d in log.poll() if d.get("msg") == "media relay ready"]
        if ready:
            res["engine"], res["engine_workers"] = ready[-1].get("engine"), ready[-1].get("workers")
        # 2. SIPp's callee registers from the UAS port; the media sessions are set up over the plain protocol
        r = subprocess.run(["sipp", f"127.0.0.1:{SIP_PORT}", "-sf", os.path.join(SIP, "scenarios", "register_one.xml"),
                            "-s", "bob", "-i", "127.0.0.1", "-p", str(UAS_PORT), "-m", "1", "-nostdin", "-timeout", "10s"],
                           cwd=outdir, capture_output=True, text=True, timeout=20)
        if r.returncode != 0:
            raise RuntimeError(f"REGISTER of bob failed: {r.stdout[-1000:]}")
        udpload = os.path.join(MEDIA, "udpload")
        gen = ["--calls", str(a.calls), "--local-base", str(GEN_BASE)]
        eps = subprocess.run([udpload, "--print-endpoints"] + gen, capture_output=True, text=True, check=True).stdout
        ports = os.path.join(outdir, "ports.txt")
        t = time.time()
        subprocess.run([NODE, os.path.join(MEDIA, "plain_setup.mjs"), str(PLAIN_PORT), ports], input=eps, text=True,
                       check=True, capture_output=True, timeout=120)
        res["media_setup_s"] = round(time.time() - t, 2)
        time.sleep(1)
        # 3. the load, all on CPU 0: udpload, then SIPp's UAS and UAC
        sip_dur = a.duration + 1  # udpload's warm-up second included
        calls = int(a.sip_rate * sip_dur)
        sipp_timeout = sip_dur + 20
        common = ["-i", "127.0.0.1", "-nostdin", "-buff_size", "4194304", "-max_recv_loops", "10000",
                  "-max_sched_loops", "10000", "-f", "5", "-fd", "1"]
        uas = start(["taskset", "-c", GEN_CPU, "sipp", "-sf", os.path.join(SIP, "scenarios", "uas.xml"), "-p", str(UAS_PORT)]
                    + common + ["-m", str(calls), "-timeout", f"{sipp_timeout}s", "-trace_stat", "-stf", "uas_stat.csv",
                                "-trace_counts", "-trace_err", "-error_file", "uas_errors.log"],
                    os.path.join(outdir, "uas.screen"), cwd=outdir)
        time.sleep(0.5)
        if uas.poll() is not None:
            raise RuntimeError("SIPp UAS did not start: " + open(os.path.join(outdir, "uas.screen")).read()[-1000:])
        gcmd = ["taskset", "-c", GEN_CPU, udpload] + gen + [
            "--relay-ports", ports, "--pps", str(a.pps), "--duration", str(a.duration), "--warmup", "1",
            "--label", "reload", "--watch-pid", str(proxy.pid), "--relay-cpu", PROXY_CPU, "--gen-cpu", GEN_CPU]
        res["gen_cmd"] = " ".join(gcmd)
        gout = os.path.join(outdir, "udpload.json")
        gen_p = start(gcmd, gout)
        t0 = time.time()
        limit = int(a.sip_rate * 4 + 100)
        uac = start(["taskset", "-c", GEN_CPU, "sipp", f"127.0.0.1:{SIP_PORT}", "-sf", os.path.join(SIP, "scenarios", "uac.xml"),
                     "-s", "bob", "-p", str(UAC_PORT)] + common
                    + ["-r", str(a.sip_rate), "-rp", "1000", "-m", str(calls), "-l", str(limit), "-d", "0",
                       "-timeout", f"{sipp_timeout}s", "-trace_stat", "-stf", "uac_stat.csv", "-trace_counts",
                       "-trace_err", "-error_file", "uac_errors.log", "-trace_rtt", "-rtt_freq", "100"],
                    os.path.join(outdir, "uac.screen"), cwd=outdir)
        # 4. the reloads, inside udpload's measured window (it starts ~1.1 s after udpload)
        reloads = []
        for i in range(1, a.reloads + 1):
            slot = t0 + a.first_reload_s + (i - 1) * a.interval
            time.sleep(max(0.0, slot - time.time()))
            written = time.time()
            write_script(script, template, i)
            want = i + 1  # generation 1 is the start
            d = log.wait(lambda d, g=want: d.get("msg") in ("script reloaded",) and d.get("generation") == g
                         or str(d.get("msg", "")).startswith("reload refused") and d.get("generation") == g - 1,
                         proxy, a.interval * 4)
            ok = d is not None and d.get("msg") == "script reloaded"
            reloads.append({"n": i, "at_s": round(written - t0, 2), "applied": ok,
                            "seen_after_ms": round((time.time() - written) * 1000) if d else None,
                            "reload_ms": d.get("ms") if ok else None,
                            "applied_options": d.get("applied") if ok else None,
                            "error": None if ok else (d.get("msg") if d else "no reload line within the deadline")})
            print(f"reload {i}: {'applied' if ok else 'NOT applied'} (written at +{written - t0:.2f} s, "
                  f"logged {reloads[-1]['seen_after_ms']} ms later, reload took {reloads[-1]['reload_ms']} ms)", flush=True)
        res["reloads"] = reloads
        res["reloads_applied"] = sum(1 for r in reloads if r["applied"])
        # 5. the load ends by itself; bounded waits all the same
        wait_bounded(gen_p, t0 + a.duration + 30 - time.time())
        uac_rc = wait_bounded(uac, t0 + sipp_timeout + 5 - time.time())
        uas_rc = wait_bounded(uas, 20)
        res["proxy_alive_after_load"] = proxy.poll() is None
        stop(proxy)
        # media: udpload's JSON line
        g = json.loads(open(gout).read().strip().splitlines()[-1])
        res["media"] = {
            "sent": g["tx"], "received": g["rx"], "lost": g["tx"] - g["rx"], "loss_pct": g["loss_pct"],
            "warmup_sent": g["warm"]["tx"], "warmup_received": g["warm"]["rx"],
            "warmup_lost": g["warm"]["tx"] - g["warm"]["rx"],
            "latch_sent": g["latch"]["tx"], "latch_received": g["latch"]["rx"],
            "tx_pps": g["tx_pps"], "rx_pps": g["rx_pps"], "legs_with_no_rx": g["legs_with_no_rx"],
            "send_fail": g["send_fail"], "lat_us": g["lat_us"], "drops": g["drops"],
            "proxy_cpu_pct": g["relay_cpu_pct_schedstat"], "proxy_rss_kb": g["relay_rss_kb"],
            "measured_s": g["duration_s"],
        }
        # SIP: bench/sip/lib/summarize.py over SIPp's files
        with open(os.path.join(outdir, "meta.json"), "w") as f:
            json.dump({"kind": "calls", "proxy": f"127.0.0.1:{SIP_PORT}", "rate": a.sip_rate, "duration_s": sip_dur,
                       "call_ms": 0, "calls": calls, "local_ip": "127.0.0.1", "uas_port": UAS_PORT, "uac_port": UAC_PORT,
                       "callee": "bob", "tag": "reload", "started": res["ts"]}, f)
        with open(os.path.join(outdir, "rc.json"), "w") as f:
            json.dump({"uac_rc": uac_rc, "uas_rc": uas_rc}, f)
        subprocess.run([sys.executable, os.path.join(SIP, "lib", "summarize.py"), outdir], capture_output=True, text=True)
        s = json.load(open(os.path.join(outdir, "summary.json")))
        res["sip"] = {"calls": calls, "successful": s["uac_successful"], "failed": s["uac_failed"] + s["uas_failed"],
                      "uac_failed": s["uac_failed"], "uas_failed": s["uas_failed"],
                      "retransmissions": s["uac_retrans"] + s["uas_retrans"], "retrans_ratio": s["retrans_ratio"],
                      "achieved_rate": s["achieved_rate"], "pass": s["pass"], "fail_reasons": s["fail_reasons"]}
        lines = log.poll()
        stats = [d for d in lines if d.get("msg") == "switchyard stopped"]
        if stats:
            res["proxy_stats"] = stats[-1].get("stats")
        res["proxy_errors"] = sum(1 for d in lines if d.get("level", 0) >= 50)
        m, sp = res["media"], res["sip"]
        res["pass"] = (res["reloads_applied"] == a.reloads and m["lost"] == 0 and m["warmup_lost"] == 0
                       and sp["failed"] == 0 and sp["successful"] == calls)
    except Exception as e:  # noqa: BLE001
        res["error"] = f"{type(e).__name__}: {e}"
        res["pass"] = False
    finally:
        stop_all()
        shutil.rmtree(work, ignore_errors=True)
    return res


def report(res):
    if "error" in res:
        print(f"ERROR {res['error']}")
    if "media" in res and "sip" in res:
        m, s = res["media"], res["sip"]
        print(f"media engine: {res.get('engine')} ({res.get('engine_workers')} workers; option {res['engine_option']})")
        print(f"reloads applied: {res['reloads_applied']}/{res['reloads_requested']} "
              f"(reload took {', '.join(str(r['reload_ms']) for r in res['reloads'])} ms)")
        print(f"media ({res['media_calls']} calls x {res['media_pps_per_leg']:g} pps x 2 = {res['media_offered_pps']:,.0f} pps, "
              f"{m['measured_s']:.0f} s): sent {m['sent']:,} received {m['received']:,} lost {m['lost']:,} "
              f"({m['loss_pct']:.4f} %); warm-up lost {m['warmup_lost']}; latency p50/p99/max "
              f"{m['lat_us']['p50']:,.0f}/{m['lat_us']['p99']:,.0f}/{m['lat_us']['max']:,.0f} µs; "
              f"proxy CPU {m['proxy_cpu_pct']:.1f} %")
        print(f"SIP ({res['sip_rate_cps']} calls/s = {res['sip_msgs_in_per_s']:,} msgs/s in): successful {s['successful']:,}/{s['calls']:,} "
              f"failed {s['failed']} retransmissions {s['retransmissions']} ({s['retrans_ratio'] * 100:.3f} %)")
    print(f"{'PASS' if res.get('pass') else 'FAIL'} reload under load: {res.get('reloads_applied', 0)} reloads, "
          f"{res.get('media', {}).get('lost', '?')} packets lost, {res.get('sip', {}).get('failed', '?')} calls failed")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reloads", type=int, default=10)
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between two rewrites of the script")
    ap.add_argument("--first-reload-s", type=float, default=3.0, help="first rewrite, seconds after udpload starts")
    ap.add_argument("--calls", type=int, default=500, help="media sessions")
    ap.add_argument("--pps", type=float, default=50, help="packets per second per leg")
    ap.add_argument("--duration", type=float, default=20, help="udpload's measured seconds (after 1 s of warm-up)")
    ap.add_argument("--sip-rate", type=int, default=167, help="SIPp calls per second")
    ap.add_argument("--engine", choices=["auto", "native", "js"], default="auto", help="the media relay's engine option")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "reload.jsonl"))
    a = ap.parse_args()
    if a.first_reload_s + (a.reloads - 1) * a.interval + 2 > a.duration:
        ap.error("the reloads must end inside the measured window: raise --duration")

    def on_signal(signum, _frame):
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # one signal is enough: let the clean-up finish
        raise SystemExit(128 + signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    res = run(a)
    report(res)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "a") as f:
        f.write(json.dumps(res) + "\n")
    return 0 if res.get("pass") else 1


if __name__ == "__main__":
    sys.exit(main())
