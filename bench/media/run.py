#!/usr/bin/env python3
"""Benchmark driver: one complete experiment against one relay.

  python3 run.py once --relay crelay|noderelay|rtpengine|direct --calls N (--pps R | --flood)
                      [--duration S] [--warmup S] [--v6] [--idle-only] [--label L] [--out FILE.jsonl]

Steps: start the relay pinned to RELAY_CPU (default 1), set up N calls (crelay /
noderelay: N sockets at BASE..BASE+N-1; rtpengine: offer/answer over ng, ports
learned from the returned SDP), record idle RSS, run udpload pinned to GEN_CPU
(default 0) against it, stop the relay by its PID, print one JSON line
(udpload's result + relay facts) and append it to --out.

It takes no lock itself: always call it through ./run.sh, which wraps it in
`flock /tmp/bench.lock` so that concurrent benchmark users never overlap.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ngctl  # noqa: E402

RELAY_CPU = os.environ.get("RELAY_CPU", "1")
GEN_CPU = os.environ.get("GEN_CPU", "0")
RELAY_BASE = int(os.environ.get("RELAY_BASE", "11000"))   # crelay/noderelay ports BASE..BASE+N-1
GEN_BASE = int(os.environ.get("GEN_BASE", "20000"))       # udpload local endpoint ports
RTPE_PORT_MIN = int(os.environ.get("RTPE_PORT_MIN", "12000"))
RTPE_PORT_MAX = int(os.environ.get("RTPE_PORT_MAX", "19999"))
NG_ADDR = os.environ.get("NG_ADDR", "127.0.0.1:22223")
NODE = os.environ.get("NODE", "node")
# switchyard's admin listener: off (--no-admin), on, or scraped (on, /metrics read every second)
SY_ADMIN = os.environ.get("SY_ADMIN", "on")
SY_ADMIN_PORT = int(os.environ.get("SY_ADMIN_PORT", "28060"))
ROOT = os.path.dirname(os.path.dirname(HERE))                 # the switchyard checkout
SWITCHYARD_PLAIN_PORT = 37501                                 # as in switchyard.config.ts


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def nthreads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def thread_ticks(pid):
    """CPU ticks (user + system) of each thread of pid, by thread name and id."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                st = f.read()
        except FileNotFoundError:
            continue
        name = st[st.index("(") + 1:st.rindex(")")]
        fields = st[st.rindex(")") + 2:].split()
        out[f"{name}/{tid}"] = int(fields[11]) + int(fields[12])
    return out


def wait_ready_line(path, proc, timeout=30, marker="READY"):
    t = time.time()
    while time.time() - t < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"relay exited early rc={proc.returncode}: {open(path + '.err').read()[-2000:]}")
        try:
            if marker in open(path).read():
                return
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise RuntimeError("relay did not become ready")


def start_relay(a, logdir):
    host = "::1" if a.v6 else "127.0.0.1"
    out = os.path.join(logdir, "relay.out")
    if a.relay == "crelay":
        cmd = [os.path.join(HERE, "crelay"), "--base", str(RELAY_BASE), "--calls", str(a.calls),
               "--host", host, "--threads", str(a.threads)]
    elif a.relay == "noderelay":
        cmd = [NODE, os.path.join(HERE, "noderelay.mjs"), "--base", str(RELAY_BASE), "--calls", str(a.calls),
               "--host", host]
    elif a.relay == "switchyard":
        # The real proxy with its embedded relay; calls are set up over the plain protocol below.
        cmd = [NODE, os.path.join(ROOT, "bin", "switchyard.mjs"), "--config", os.path.join(HERE, "switchyard.config.ts"),
               "--no-watch", "--log-level", "info"]
        cmd += ["--no-admin"] if SY_ADMIN == "off" else ["--admin", f"127.0.0.1:{SY_ADMIN_PORT}"]
        os.environ["SWITCHYARD_STATE_DIR"] = os.path.join(logdir, "state")  # registrations of this run only
    elif a.relay == "rtpengine":
        cmd = ["/usr/bin/rtpengine", "--config-file=none", "--table=-1", "--interface=127.0.0.1",
               "--interface=::1", f"--listen-ng={NG_ADDR}", "--foreground", "--log-stderr",
               f"--pidfile={os.path.join(logdir, 'rtpengine.pid')}", f"--port-min={RTPE_PORT_MIN}",
               f"--port-max={RTPE_PORT_MAX}", "--timeout=600", "--silent-timeout=600",
               "--delete-delay=0", "--log-level=6"]
        if a.rtpe_threads:
            cmd.append(f"--num-threads={a.rtpe_threads}")
    else:
        return None, None
    cmd = ["taskset", "-c", RELAY_CPU] + cmd
    fo = open(out, "w")
    fe = open(out + ".err", "w")
    env = dict(os.environ)
    if a.relay == "switchyard":  # --threads: native worker threads; --sy-engine: which engine forwards
        env["SWITCHYARD_MEDIA_WORKERS"] = str(a.threads)
        env["SWITCHYARD_MEDIA_ENGINE"] = a.sy_engine
    proc = subprocess.Popen(cmd, stdout=fo, stderr=fe, start_new_session=True, env=env)
    if a.relay == "rtpengine":
        ng = ngctl.NG(NG_ADDR, timeout=0.5)
        t = time.time()
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"rtpengine exited rc={proc.returncode}: {open(out + '.err').read()[-3000:]}")
            try:
                if ng.cmd({"command": "ping"}, retries=1).get("result") == "pong":
                    break
            except TimeoutError:
                pass
            if time.time() - t > 30:
                raise RuntimeError("rtpengine did not answer ng ping")
    elif a.relay == "switchyard":
        wait_ready_line(out, proc, marker="switchyard started")
    else:
        wait_ready_line(out, proc)
    return proc, cmd


def stop_relay(proc):
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)  # the PID we started (taskset exec()s the relay)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def relay_version(relay):
    try:
        if relay == "rtpengine":
            return subprocess.run(["/usr/bin/rtpengine", "--version"], capture_output=True, text=True).stderr.strip() \
                or subprocess.run(["/usr/bin/rtpengine", "--version"], capture_output=True, text=True).stdout.strip()
        if relay == "noderelay":
            return "node " + subprocess.run([NODE, "--version"], capture_output=True, text=True).stdout.strip()
    except Exception as e:  # noqa: BLE001
        return str(e)
    return relay


class Scraper:
    """Reads the admin listener's /metrics once a second, as Prometheus would, until stopped."""

    def __init__(self, port):
        import threading
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.done = threading.Event()
        self.scrapes = self.errors = 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        import urllib.request
        while not self.done.wait(1.0):
            try:
                with urllib.request.urlopen(self.url, timeout=2) as r:
                    r.read()
                self.scrapes += 1
            except OSError:
                self.errors += 1

    def stop(self):
        self.done.set()
        self.thread.join()
        return self.scrapes, self.errors


def once(a):
    logdir = tempfile.mkdtemp(prefix=f"bench-{a.relay}-", dir=a.logroot)
    udpload = os.path.join(HERE, "udpload")
    res = {"relay": a.relay, "label": a.label, "ts": time.strftime("%Y-%m-%dT%H:%M:%S"), "logdir": logdir}
    if a.relay == "switchyard":
        res["sy_admin"] = SY_ADMIN
    proc = None
    try:
        t_start = time.time()
        proc, cmd = start_relay(a, logdir)
        pid = proc.pid if proc else 0
        res["relay_cmd"] = " ".join(cmd) if cmd else None
        res["relay_version"] = relay_version(a.relay)
        if proc:
            time.sleep(0.3)
            res["rss_kb_before_calls"] = rss_kb(pid)
        gen_args = ["--calls", str(a.calls)]
        if a.v6:
            gen_args.append("--v6")
        if a.percall:
            gen_args.append("--percall")
        if a.relay in ("crelay", "noderelay"):
            gen_args += ["--relay-base", str(RELAY_BASE)]
        elif a.relay == "direct":
            gen_args += ["--direct"]
        elif a.relay == "switchyard":  # generator endpoints at fixed ports; each call set up over the plain protocol
            gen_args += ["--local-base", str(GEN_BASE)]
            eps_txt = subprocess.run([udpload, "--print-endpoints"] + gen_args, capture_output=True, text=True,
                                     check=True).stdout
            pfile = os.path.join(logdir, "ports.txt")
            t = time.time()
            subprocess.run([NODE, os.path.join(HERE, "plain_setup.mjs"), str(SWITCHYARD_PLAIN_PORT), pfile],
                           input=eps_txt, text=True, check=True, capture_output=True)
            res["signaling_setup_s"] = round(time.time() - t, 3)
            gen_args += ["--relay-ports", pfile]
        else:  # rtpengine: generator endpoints at fixed ports, learn relay ports via ng
            gen_args += ["--local-base", str(GEN_BASE)]
            eps_txt = subprocess.run([udpload, "--print-endpoints"] + gen_args, capture_output=True, text=True,
                                     check=True).stdout
            eps = [tuple(map(int, l.split())) for l in eps_txt.splitlines() if l.strip()]
            ng = ngctl.NG(NG_ADDR)
            t = time.time()
            ports = ngctl.setup_calls(ng, a.calls, eps, a.v6)
            res["ng_setup_s"] = round(time.time() - t, 3)
            pfile = os.path.join(logdir, "ports.txt")
            with open(pfile, "w") as f:
                for pa, pb in ports:
                    f.write(f"{pa} {pb}\n")
            gen_args += ["--relay-ports", pfile]
        if proc:
            time.sleep(a.settle)
            res["rss_kb_idle"] = rss_kb(pid)
            res["relay_threads"] = nthreads(pid)
        res["setup_s"] = round(time.time() - t_start, 2)
        if not a.idle_only:
            gcmd = ["taskset", "-c", GEN_CPU, udpload] + gen_args + [
                "--duration", str(a.duration), "--warmup", str(a.warmup), "--label", a.label or a.relay]
            gcmd += ["--flood"] if a.flood else ["--pps", str(a.pps)]
            if pid:
                gcmd += ["--watch-pid", str(pid), "--relay-cpu", RELAY_CPU, "--gen-cpu", GEN_CPU]
            if a.tick_us:
                gcmd += ["--tick-us", str(a.tick_us)]
            if a.stamp_each:
                gcmd += ["--stamp-each"]
            res["gen_cmd"] = " ".join(gcmd)
            spinner = None
            if a.spin_relay_cpu:
                # diagnostic: keep the relay's vCPU from going idle (HLT) with a SCHED_IDLE busy loop, so
                # relay wake-ups do not pay the VM's idle-vCPU wake-up latency.  Distorts core-busy%.
                spinner = subprocess.Popen(["taskset", "-c", RELAY_CPU, "chrt", "-i", "0", "sh", "-c",
                                            "while :; do :; done"], start_new_session=True)
                res["spinner_pid"] = spinner.pid
            scraper = Scraper(SY_ADMIN_PORT) if a.relay == "switchyard" and SY_ADMIN == "scraped" else None
            ticks0 = thread_ticks(pid) if pid else {}
            t0 = time.time()
            try:
                r = subprocess.run(gcmd, capture_output=True, text=True)
                if pid:  # where the relay's CPU went, per thread (% of one core over the run)
                    hz, dt, ticks1 = os.sysconf("SC_CLK_TCK"), time.time() - t0, thread_ticks(pid)
                    res["thread_cpu_pct"] = {k: round(100 * (v - ticks0.get(k, 0)) / hz / dt, 1)
                                             for k, v in ticks1.items() if v - ticks0.get(k, 0) > 0}
            finally:
                if scraper:
                    res["admin_scrapes"], res["admin_scrape_errors"] = scraper.stop()
                if spinner:
                    os.kill(spinner.pid, signal.SIGKILL)
                    spinner.wait()
            if r.returncode != 0:
                raise RuntimeError(f"udpload failed rc={r.returncode}: {r.stderr[-2000:]}")
            g = json.loads(r.stdout.strip().splitlines()[-1])
            res.update(g)
            res["relay"] = a.relay
            if proc:
                res["rss_kb_after_load"] = rss_kb(pid)
                if proc.poll() is not None:
                    res["error"] = f"relay died rc={proc.returncode}"
    except Exception as e:  # noqa: BLE001
        res["error"] = f"{type(e).__name__}: {e}"
    finally:
        stop_relay(proc)
    line = json.dumps(res)
    print(line, flush=True)
    if a.out:
        with open(a.out, "a") as f:
            f.write(line + "\n")
    return 0 if "error" not in res else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("op", choices=["once"])
    ap.add_argument("--relay", required=True, choices=["crelay", "noderelay", "rtpengine", "switchyard", "direct"])
    ap.add_argument("--calls", type=int, default=1)
    ap.add_argument("--pps", type=float, default=50)
    ap.add_argument("--flood", action="store_true")
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--settle", type=float, default=1.0, help="seconds after setup before reading idle RSS")
    ap.add_argument("--v6", action="store_true")
    ap.add_argument("--percall", action="store_true", help="udpload: one socket per leg")
    ap.add_argument("--threads", type=int, default=1, help="crelay / switchyard (native engine) worker threads")
    ap.add_argument("--sy-engine", default="auto", choices=["auto", "native", "js"], help="switchyard's media engine")
    ap.add_argument("--rtpe-threads", type=int, default=0, help="rtpengine --num-threads (0 = its default)")
    ap.add_argument("--tick-us", type=int, default=0)
    ap.add_argument("--stamp-each", action="store_true",
                    help="udpload: one sendmsg per packet, stamped right before it (latency runs)")
    ap.add_argument("--idle-only", action="store_true", help="only set up calls and report RSS")
    ap.add_argument("--spin-relay-cpu", action="store_true",
                    help="diagnostic: SCHED_IDLE busy loop on the relay CPU during the measurement")
    ap.add_argument("--label", default="")
    ap.add_argument("--out")
    ap.add_argument("--logroot", default="/tmp")
    a = ap.parse_args()
    sys.exit(once(a))


if __name__ == "__main__":
    main()
