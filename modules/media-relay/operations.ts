import type { CallMedia, ModuleHealth, ModuleMetric, ModuleOperations } from '../../core/module.ts';
import type { RelayBackend } from './backend.ts';
import { EmbeddedBackend } from './embedded-backend.ts';
import { NgBackend } from './remote/ng-backend.ts';
import type { MediaEngine, RelayThreadCounters } from './relay/engine.ts';

/** The embedded relay's counters as Prometheus metrics, read at scrape time from what it already counts. */
function embeddedMetrics(backend: EmbeddedBackend): ModuleMetric[] {
  const relay = backend.mediaRelay;
  const relayed = (k: 'Packets' | 'Bytes') => () => {
    const r = relay.relayedSoFar();
    return [
      { labels: { direction: 'caller_to_callee' }, value: k === 'Packets' ? r.callerPackets : r.callerBytes },
      { labels: { direction: 'callee_to_caller' }, value: k === 'Packets' ? r.calleePackets : r.calleeBytes },
    ];
  };
  return [
    { name: 'switchyard_media_sessions', help: 'Media relay sessions open now (one per port)', type: 'gauge', read: () => relay.count },
    { name: 'switchyard_media_sessions_started_total', help: 'Media relay sessions opened', type: 'counter', read: () => relay.totals.sessionsStarted },
    { name: 'switchyard_media_ports_in_use', help: 'Media ports held (bound) by the relay', type: 'gauge', read: () => relay.portsInUse },
    { name: 'switchyard_media_relayed_packets_total', help: 'Datagrams relayed, by direction', type: 'counter', labelNames: ['direction'], read: relayed('Packets') },
    { name: 'switchyard_media_relayed_bytes_total', help: 'Bytes relayed, by direction', type: 'counter', labelNames: ['direction'], read: relayed('Bytes') },
    {
      name: 'switchyard_media_dropped_datagrams_total', help: 'Datagrams the relay dropped, by reason (stranger: from neither party; send_error: the send failed; no_session: to a port whose session had ended, native engine)', type: 'counter', labelNames: ['reason'],
      read: () => {
        const r = relay.relayedSoFar();
        const noSession = relay.engine.threads?.().reduce((sum, t) => sum + t.noSession, 0) ?? 0;
        return [{ labels: { reason: 'stranger' }, value: r.strangers }, { labels: { reason: 'send_error' }, value: r.sendErrors }, { labels: { reason: 'no_session' }, value: noSession }];
      },
    },
    { name: 'switchyard_media_no_port_total', help: 'Sessions not opened because no media port was free', type: 'counter', read: () => relay.totals.noPortFailures },
    ...threadMetrics(relay.engine),
    { name: 'switchyard_media_relay_threads', help: 'Threads forwarding media (native engine; the JS engine counts the event loop as 1)', type: 'gauge', labelNames: ['engine'], read: () => [{ labels: { engine: relay.engine.kind }, value: relay.engine.workers }] },
  ];
}

/** The native engine's counters per forwarding thread (threads are named sy-media-<thread> in top -H). */
function threadMetrics(engine: MediaEngine): ModuleMetric[] {
  if (engine.threads === undefined) return [];
  const threads = engine.threads.bind(engine);
  const each = (pick: (t: RelayThreadCounters) => number) => () => threads().map((t, i) => ({ labels: { thread: String(i) }, value: pick(t) }));
  const perThread = { type: 'counter' as const, labelNames: ['thread'] };
  return [
    { name: 'switchyard_media_relay_thread_wakeups_total', help: 'Times each relay thread woke up with sockets to drain', ...perThread, read: each((t) => t.wakeups) },
    {
      name: 'switchyard_media_relay_thread_datagrams_total', help: 'Datagrams each relay thread read (received) and the kernel took from it to send (sent)', type: 'counter', labelNames: ['thread', 'direction'],
      read: () => threads().flatMap((t, i) => [{ labels: { thread: String(i), direction: 'received' }, value: t.received }, { labels: { thread: String(i), direction: 'sent' }, value: t.sent }]),
    },
    { name: 'switchyard_media_relay_thread_received_bytes_total', help: 'Bytes each relay thread read', ...perThread, read: each((t) => t.receivedBytes) },
    { name: 'switchyard_media_relay_thread_full_reads_total', help: 'Reads that filled a relay thread\'s batch (datagrams were waiting: it was behind)', ...perThread, read: each((t) => t.fullReads) },
    {
      name: 'switchyard_media_relay_thread_cpu_seconds_total', help: 'CPU time each relay thread used', ...perThread,
      read: () => threads().flatMap((t, i) => (t.cpuSeconds < 0 ? [] : [{ labels: { thread: String(i) }, value: t.cpuSeconds }])),
    },
    { name: 'switchyard_media_relay_thread_ports', help: 'Media sockets each relay thread drains now', type: 'gauge', labelNames: ['thread'], read: each((t) => t.ports) },
  ];
}

/** A relay on another host: what its backend reports of all calls. */
function remoteMetrics(backend: RelayBackend): ModuleMetric[] {
  const metrics: ModuleMetric[] = [
    { name: 'switchyard_media_sessions_started_total', help: 'Media relay sessions opened', type: 'counter', read: async () => (await backend.totals()).sessionsStarted },
    { name: 'switchyard_media_relayed_packets_total', help: 'Datagrams relayed (both directions)', type: 'counter', read: async () => (await backend.totals()).packetsRelayed },
  ];
  if (!(backend instanceof NgBackend)) return metrics;
  const per = (read: (r: ReturnType<NgBackend['relayStates']>[number]) => number) => () => backend.relayStates().map((r) => ({ labels: { relay: r.name, set: r.set }, value: read(r) }));
  metrics.push(
    { name: 'switchyard_media_relay_up', help: 'Remote relays: 1 while the relay answers NG pings and takes new calls', type: 'gauge', labelNames: ['relay', 'set'], read: per((r) => (r.up ? 1 : 0)) },
    { name: 'switchyard_media_relay_ping_seconds', help: 'Remote relays: the last NG ping round trip', type: 'gauge', labelNames: ['relay', 'set'], read: per((r) => (r.rttMs ?? 0) / 1000) },
    { name: 'switchyard_media_relay_calls_placed_total', help: 'Remote relays: calls placed on the relay', type: 'counter', labelNames: ['relay', 'set'], read: per((r) => r.placed) },
  );
  return metrics;
}

/** Remote relays: well while at least one relay answers. */
function remoteHealth(backend: NgBackend): ModuleHealth {
  const states = backend.relayStates();
  const down = states.filter((r) => !r.up).map((r) => r.name);
  if (down.length < states.length) return down.length === 0 ? { ok: true } : { ok: true, detail: `relays down: ${down.join(', ')}` };
  return { ok: false, detail: `no media relay answers (${down.join(', ')})` };
}

/** What the media relay shows operators: its counters, and each call's live media. */
export function mediaOperations(backend: RelayBackend): ModuleOperations {
  return {
    metrics: backend instanceof EmbeddedBackend ? embeddedMetrics(backend) : remoteMetrics(backend),
    async callMedia(callId): Promise<CallMedia | null> {
      const s = await backend.stats(callId);
      if (s === null) return null;
      return {
        sessions: s.sessions.map(({ key, stats }) => ({
          stream: key.stream, component: key.component, port: stats.port, strangers: stats.strangers,
          legs: stats.parties.map((p) => ({ party: p.name, address: p.media, latched: p.latched, packets: p.packets, bytes: p.bytes })),
        })),
      };
    },
    ...(backend instanceof NgBackend ? { health: () => remoteHealth(backend) } : {}),
    async stats() {
      const t = await backend.totals();
      return { mediaSessionsStarted: t.sessionsStarted, mediaSessionsEnded: t.sessionsEnded, mediaPacketsRelayedEnded: t.packetsRelayed, mediaStrangersDropped: t.strangersDropped, mediaNoPort: t.noPortFailures };
    },
  };
}
