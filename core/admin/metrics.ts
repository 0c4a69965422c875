import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Switchyard } from '../boot/switchyard.ts';
import { COUNTED_METHODS, RESPONSE_CLASSES } from '../kernel/message-counts.ts';
import type { MetricSample, ModuleMetric } from '../kernel/operations.ts';

type Read = () => number | readonly MetricSample[] | Promise<number | readonly MetricSample[]>;

/** Sets a prom-client metric to what `read` says now: metrics here are views of counters kept elsewhere. */
function define(reg: Registry, m: Pick<ModuleMetric, 'name' | 'help' | 'type' | 'labelNames'>, read: Read): void {
  const labelNames = [...(m.labelNames ?? [])];
  if (m.type === 'gauge') {
    new Gauge({
      name: m.name, help: m.help, labelNames, registers: [reg],
      async collect() {
        this.reset();
        const v = await read();
        if (typeof v === 'number') this.set(v);
        else for (const s of v) this.set(s.labels ?? {}, s.value);
      },
    });
  } else {
    new Counter({
      name: m.name, help: m.help, labelNames, registers: [reg],
      async collect() {
        this.reset();
        const v = await read();
        if (typeof v === 'number') this.inc(v);
        else for (const s of v) this.inc(s.labels ?? {}, s.value);
      },
    });
  }
}

const samples = (o: Readonly<Record<string, number>>, label: string): MetricSample[] => Object.entries(o).map(([k, value]) => ({ labels: { [label]: k }, value }));

/**
 * The proxy's Prometheus registry: the core's counters (messages, transactions, retransmissions,
 * reloads), each module's own metrics, and Node's process metrics (event-loop lag among them).
 * Every value is read at scrape time from counters the proxy keeps anyway.
 */
export function proxyMetrics(proxy: Switchyard, version: string): Registry {
  const reg = new Registry();
  collectDefaultMetrics({ register: reg });
  const c = () => proxy.counters();
  define(reg, { name: 'switchyard_build_info', help: 'The running version (value 1)', type: 'gauge', labelNames: ['version'] }, () => [{ labels: { version }, value: 1 }]);
  define(reg, { name: 'switchyard_messages_received_total', help: 'Signaling messages dispatched, by type', type: 'counter', labelNames: ['type'] },
    () => [{ labels: { type: 'request' }, value: c().dispatch.requests }, { labels: { type: 'reply' }, value: c().dispatch.replies }]);
  define(reg, { name: 'switchyard_requests_received_total', help: 'Requests received, by dialect and method (retransmissions included; methods not listed count as other)', type: 'counter', labelNames: ['dialect', 'method'] },
    () => Object.entries(c().messages.requests).flatMap(([dialect, t]) => COUNTED_METHODS.map((method) => ({ labels: { dialect, method }, value: t[method] }))));
  define(reg, { name: 'switchyard_responses_received_total', help: 'Responses received, by dialect and class', type: 'counter', labelNames: ['dialect', 'class'] },
    () => Object.entries(c().messages.responses).flatMap(([dialect, t]) => RESPONSE_CLASSES.map((cls, i) => ({ labels: { dialect, class: cls }, value: t[i]! }))));
  define(reg, { name: 'switchyard_sip_responses_sent_total', help: 'SIP responses sent upstream through the transaction layer, the proxy\'s own and those it passed on, by class (repeats not counted)', type: 'counter', labelNames: ['class'] },
    () => RESPONSE_CLASSES.map((cls) => ({ labels: { class: cls }, value: c().sip?.[`responsesSent.${cls}`] ?? 0 })));
  define(reg, { name: 'switchyard_messages_unparsable_total', help: 'Signaling datagrams and TCP messages that could not be parsed', type: 'counter' }, () => c().dispatch.parseErrors);
  define(reg, { name: 'switchyard_overload_refused_total', help: 'New requests refused by overload control (503 with Retry-After; plain: CALL_FAILED overloaded), by class', type: 'counter', labelNames: ['class'] },
    () => Object.entries(c().overload.refused).map(([cls, value]) => ({ labels: { class: cls }, value })));
  define(reg, { name: 'switchyard_overload_refused_again_total', help: 'Retransmissions of refused requests refused again', type: 'counter' }, () => c().dispatch.refusedAgain);
  define(reg, { name: 'switchyard_overload_active', help: 'Whether overload control is refusing part of the new requests (1) or not (0)', type: 'gauge' }, () => (c().overload.state === 'normal' ? 0 : 1));
  define(reg, { name: 'switchyard_overload_episodes_total', help: 'Times the proxy went from normal to overloaded', type: 'counter' }, () => c().overload.episodes);
  define(reg, { name: 'switchyard_receive_queue_delay_seconds', help: 'How long datagrams waited in the signaling sockets\' receive queues, last read', type: 'gauge' }, () => c().overload.queueDelayMs / 1000);
  define(reg, { name: 'switchyard_route_errors_total', help: 'Route blocks that threw', type: 'counter' }, () => c().dispatch.routeErrors);
  define(reg, { name: 'switchyard_transactions', help: 'Transactions in progress, by dialect', type: 'gauge', labelNames: ['dialect'] }, () => samples(c().transactions, 'dialect'));
  define(reg, { name: 'switchyard_sip_retransmissions_total', help: 'SIP retransmissions: received (absorbed by a transaction) and sent (Timers A, E, G)', type: 'counter', labelNames: ['direction'] }, () => {
    const sip = c().sip;
    return sip === null ? [] : [{ labels: { direction: 'received' }, value: sip.retransmissionsAbsorbed ?? 0 }, { labels: { direction: 'sent' }, value: sip.retransmissionsSent ?? 0 }];
  });
  define(reg, { name: 'switchyard_sip_cancels_total', help: 'CANCELs that matched a call', type: 'counter' }, () => c().sip?.cancels ?? 0);
  define(reg, { name: 'switchyard_sip_stray_replies_total', help: 'SIP replies that matched no transaction', type: 'counter' }, () => c().sip?.strayReplies ?? 0);
  define(reg, { name: 'switchyard_sip_dropped_total', help: 'SIP messages dropped unanswered by the codec, by reason', type: 'counter', labelNames: ['reason'] }, () => {
    const d = c().dialects.sip ?? {};
    return Object.entries(d).filter(([k]) => k.startsWith('dropped.')).map(([k, value]) => ({ labels: { reason: k.slice('dropped.'.length) }, value }));
  });
  define(reg, { name: 'switchyard_sip_loops_total', help: 'SIP requests refused 482 Loop Detected (a Via of this proxy with the same loop key, or a next hop that is this proxy)', type: 'counter' }, () => c().sip?.loops ?? 0);
  define(reg, { name: 'switchyard_sip_tcp_connections_refused_total', help: 'SIP TCP connections refused, by limit (per_source: connections from one IP; total: all connections)', type: 'counter', labelNames: ['limit'] }, () => {
    const sip = c().sip;
    return sip === null ? [] : [{ labels: { limit: 'per_source' }, value: sip.tcpRefusedPerSource ?? 0 }, { labels: { limit: 'total' }, value: sip.tcpRefusedTotal ?? 0 }];
  });
  define(reg, { name: 'switchyard_sip_tcp_connections_closed_total', help: 'SIP TCP connections the proxy closed, by reason (framing_error, write_queue_full, first_message_timeout)', type: 'counter', labelNames: ['reason'] }, () => {
    const sip = c().sip;
    return sip === null ? [] : [
      { labels: { reason: 'framing_error' }, value: sip.tcpFramingErrors ?? 0 },
      { labels: { reason: 'write_queue_full' }, value: sip.tcpWriteQueueOverflows ?? 0 },
      { labels: { reason: 'first_message_timeout' }, value: sip.tcpFirstMessageTimeouts ?? 0 },
    ];
  });
  define(reg, { name: 'switchyard_sip_bad_requests_total', help: 'SIP requests answered 400 by the codec', type: 'counter' }, () => c().dialects.sip?.answered400 ?? 0);
  define(reg, { name: 'switchyard_plain_errors_suppressed_total', help: 'Plain ERROR answers not sent (rate limit per source)', type: 'counter' }, () => c().dialects.plain?.errorsSuppressed ?? 0);
  define(reg, { name: 'switchyard_script_reloads_total', help: 'Script reloads, by result', type: 'counter', labelNames: ['result'] },
    () => [{ labels: { result: 'ok' }, value: proxy.reloads.counts.ok }, { labels: { result: 'refused' }, value: proxy.reloads.counts.failed }]);
  define(reg, { name: 'switchyard_script_generation', help: 'Generation of the script serving (1 at start, +1 per reload)', type: 'gauge' }, () => proxy.generation);
  define(reg, { name: 'switchyard_modules_enabled', help: 'Whether each module is enabled (1) or not (0)', type: 'gauge', labelNames: ['module'] },
    () => proxy.modules.statuses().map((m) => ({ labels: { module: m.name }, value: m.enabled ? 1 : 0 })));
  for (const m of proxy.modules.statuses()) for (const metric of m.operations.metrics ?? []) define(reg, metric, () => metric.read());
  return reg;
}
