import type { ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { Control } from './control.ts';
import type { Switchyard } from '../boot/switchyard.ts';

/** One sample of the charts: per-second rates over the last interval. */
export interface RatePoint {
  /** Epoch ms. */
  readonly t: number;
  readonly packetsPerSec: number;
  readonly callsPerSec: number;
}

/** The charts keep this many samples: ten minutes at one a second. */
const HISTORY = 600;

/** Sums a counter family of the registry, all labels. */
async function total(reg: Registry, name: string): Promise<number> {
  const m = reg.getSingleMetric(name);
  if (m === undefined) return 0;
  const v = await m.get();
  return v.values.reduce((n, s) => n + s.value, 0);
}

/** One native relay thread as the page shows it: its counters so far, for rates between two snapshots. */
export interface RelayThreadView {
  readonly thread: string;
  readonly ports: number;
  readonly received: number;
  readonly sent: number;
  readonly cpuSeconds: number;
}

/** The relay threads' metrics, one entry per thread (none with the JS engine). */
async function relayThreads(reg: Registry): Promise<RelayThreadView[]> {
  const threads = new Map<string, { ports: number; received: number; sent: number; cpuSeconds: number }>();
  const read = async (name: string, put: (t: { ports: number; received: number; sent: number; cpuSeconds: number }, value: number, labels: Record<string, unknown>) => void): Promise<void> => {
    const m = reg.getSingleMetric(name);
    if (m === undefined) return;
    for (const s of (await m.get()).values) {
      const id = String(s.labels.thread);
      const t = threads.get(id) ?? { ports: 0, received: 0, sent: 0, cpuSeconds: 0 };
      threads.set(id, t);
      put(t, s.value, s.labels);
    }
  };
  await read('switchyard_media_relay_thread_ports', (t, v) => { t.ports = v; });
  await read('switchyard_media_relay_thread_datagrams_total', (t, v, labels) => { if (labels.direction === 'sent') t.sent = v; else t.received = v; });
  await read('switchyard_media_relay_thread_cpu_seconds_total', (t, v) => { t.cpuSeconds = v; });
  return [...threads].map(([thread, t]) => ({ thread, ...t }));
}

/**
 * What the status page shows, pushed to each open page as Server-Sent Events: once a second
 * the calls (with media counters), registrations, reloads, relay health and the rates the
 * charts draw. Rates are sampled once a second while the admin listener runs, from the same
 * counters /metrics reads; the snapshot is built only while a page is open.
 */
export class LiveStatus {
  private readonly clients = new Set<ServerResponse>();
  private readonly points: RatePoint[] = [];
  private last: { t: number; packets: number; calls: number } | null = null;
  private readonly timer: NodeJS.Timeout;
  private sampling = false;

  constructor(private readonly proxy: Switchyard, private readonly control: Control, private readonly metrics: Registry, everyMs = 1000) {
    this.timer = setInterval(() => void this.tick(), everyMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      const now = Date.now();
      const packets = await total(this.metrics, 'switchyard_media_relayed_packets_total');
      const calls = await total(this.metrics, 'switchyard_calls_started_total');
      if (this.last !== null) {
        const sec = Math.max(0.001, (now - this.last.t) / 1000);
        this.points.push({ t: now, packetsPerSec: (packets - this.last.packets) / sec, callsPerSec: (calls - this.last.calls) / sec });
        if (this.points.length > HISTORY) this.points.shift();
      }
      this.last = { t: now, packets, calls };
      if (this.clients.size > 0) this.broadcast(await this.snapshot());
    } catch {
      // A module's read failed: the next tick tries again; /metrics reports the error itself.
    } finally {
      this.sampling = false;
    }
  }

  async snapshot(): Promise<Record<string, unknown>> {
    const relay = this.proxy.modules.statuses().find((m) => m.name === 'media-relay');
    return {
      at: Date.now(),
      info: this.control.info(),
      calls: await this.control.calls(),
      registrations: await this.control.registrations({ limit: 200 }),
      reloads: this.proxy.reloads.history.slice(-10).reverse(),
      modules: this.control.modules(),
      relay: relay === undefined ? null : {
        enabled: relay.enabled,
        threads: await total(this.metrics, 'switchyard_media_relay_threads'),
        perThread: await relayThreads(this.metrics),
        sessions: await total(this.metrics, 'switchyard_media_sessions'),
        portsInUse: await total(this.metrics, 'switchyard_media_ports_in_use'),
        noPort: await total(this.metrics, 'switchyard_media_no_port_total'),
        dropped: await total(this.metrics, 'switchyard_media_dropped_datagrams_total'),
      },
      rates: this.points,
    };
  }

  /** Keeps `res` open as an event stream and sends it the current snapshot at once. */
  async subscribe(res: ServerResponse): Promise<void> {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
    this.send(res, await this.snapshot());
  }

  private send(res: ServerResponse, data: unknown): void {
    res.write(`event: status\ndata: ${JSON.stringify(data)}\n\n`);
  }

  private broadcast(data: unknown): void {
    for (const res of this.clients) this.send(res, data);
  }

  close(): void {
    clearInterval(this.timer);
    for (const res of this.clients) res.end();
    this.clients.clear();
  }
}
