// A diagnostic probe for benchmark runs (not part of the proxy): loaded into the proxy with
// `node --import bench/overload/probe.mjs`, it appends one JSON line a second to
// $SY_PROBE_OUT: event-loop utilisation and delay, the process's CPU time (share of a core, all threads), time in garbage collection, heap and RSS,
// and the kernel's drops on the signaling sockets. Every sample of overload control
// (core/kernel/overload.ts, ten a second, on the diagnostics channel `switchyard:overload`) goes
// to $SY_PROBE_OVERLOAD_OUT (default: overload.jsonl beside $SY_PROBE_OUT), times in ms since
// the probe started; the drops are the last sample's. A proxy that publishes no samples (an
// older tree, SY_ROOT) has its queue and drops read from /proc/net/udp and udp6 for the ports
// in $SY_PROBE_PORTS (comma-separated, default 5060): a read that costs the proxy's core a
// good share of its time when the media relay holds thousands of sockets.
import { subscribe } from 'node:diagnostics_channel';
import { appendFileSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';

if (isMainThread) startProbe();

function startProbe() {
  const out = process.env.SY_PROBE_OUT ?? `/tmp/sy-probe-${process.pid}.jsonl`;
  const ports = new Set((process.env.SY_PROBE_PORTS ?? '5060').split(',').map(Number));
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let gcMs = 0;
  let gcMax = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcMs += e.duration;
      gcMax = Math.max(gcMax, e.duration);
    }
  }).observe({ entryTypes: ['gc'] });

  /** rx_queue (bytes) and drops of the sockets bound to `ports`, from /proc/net/udp and udp6. */
  function udpQueues() {
    let rx = 0;
    let drops = 0;
    for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
      let text;
      try { text = readFileSync(file, 'latin1'); } catch { continue; }
      for (const line of text.split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length < 13) continue;
        const port = parseInt(f[1].split(':')[1], 16);
        if (!ports.has(port)) continue;
        rx += parseInt(f[4].split(':')[1], 16);
        drops += Number(f[f.length - 1]);
      }
    }
    return { rx, drops };
  }

  const t0 = performance.now();
  const overloadOut = process.env.SY_PROBE_OVERLOAD_OUT ?? join(dirname(out), 'overload.jsonl');
  let overloadLines = [];
  let lastSample = null;
  subscribe('switchyard:overload', (s) => {
    lastSample = s;
    overloadLines.push(JSON.stringify({ ...s, t: Math.round(s.t - t0), waitedMs: Math.round(s.waitedMs), loopDelayMs: Math.round(s.loopDelayMs), utilization: Math.round(s.utilization * 1000) / 1000 }));
  });
  let last = performance.eventLoopUtilization();
  let lastCpu = process.cpuUsage();
  let lastAt = performance.now();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const elu = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    const cpu = process.cpuUsage(lastCpu);
    lastCpu = process.cpuUsage();
    const at = performance.now();
    const cpuShare = (cpu.user + cpu.system) / 1000 / (at - lastAt);
    lastAt = at;
    const m = process.memoryUsage();
    const q = lastSample !== null ? { drops: lastSample.socketDrops } : udpQueues();
    const line = {
      t: Math.round((performance.now() - t0) / 100) / 10,
      elu: Math.round(elu * 1000) / 1000,
      cpu: Math.round(cpuShare * 1000) / 1000,
      lagP99: Math.round(delay.percentile(99) / 1e5) / 10,
      lagMax: Math.round(delay.max / 1e5) / 10,
      gcMs: Math.round(gcMs), gcMax: Math.round(gcMax),
      heapMB: Math.round(m.heapUsed / 1048576), rssMB: Math.round(m.rss / 1048576), extMB: Math.round((m.external + m.arrayBuffers) / 1048576),
      rxQueue: q.rx, drops: q.drops,
    };
    delay.reset();
    gcMs = 0;
    gcMax = 0;
    try { appendFileSync(out, `${JSON.stringify(line)}\n`); } catch { /* the probe never takes the proxy down */ }
    if (overloadLines.length > 0) {
      try { appendFileSync(overloadOut, `${overloadLines.join('\n')}\n`); } catch { /* as above */ }
      overloadLines = [];
    }
  }, 1000);
  timer.unref();
}
