import type { ReceiverSnapshot } from './media-receiver.ts';
import type { CallSummary, MediaStats, PendingRequest, PhoneEvent, PhoneSession } from './session.ts';

export interface ReportOptions {
  /** One JSON object per line instead of text. */
  readonly json: boolean;
  readonly rate: number;
  readonly payloadBytes: number;
  /** An incoming call waits for `answer` or `reject` (the prompt says so). */
  readonly askOnIncoming: boolean;
}

const REQUEST_NAMES: Readonly<Record<PendingRequest, string>> = { register: 'the REGISTER', call: 'the CALL', accept: 'the ACK_CALL' };

/** Ignored datagrams printed per second at most; the rest are counted. */
const IGNORED_PER_SECOND = 5;

const ms = (v: number): number => Math.round(v * 1000) / 1000;
const fixed = (v: number, digits = 3): string => v.toFixed(digits);

function clock(): string {
  const d = new Date();
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function receivedJson(r: ReceiverSnapshot): Record<string, unknown> {
  return {
    ...r,
    lossPercent: ms(r.lossPercent),
    jitterMs: ms(r.jitterMs),
    latency: r.latency === null ? null : { minMs: ms(r.latency.minMs), avgMs: ms(r.latency.avgMs), maxMs: ms(r.latency.maxMs) },
  };
}

function latencyText(r: ReceiverSnapshot): string {
  if (r.latency === null) return r.received === 0 ? 'n/a (nothing received)' : 'n/a (the sender is not on this host\'s clock)';
  return `min ${fixed(r.latency.minMs)}, avg ${fixed(r.latency.avgMs)}, max ${fixed(r.latency.maxMs)} ms`;
}

/** The one-line media statistics printed once a second and on `stats`. */
export function statsLine(s: MediaStats): string {
  const r = s.received;
  const lat = r.latency === null ? 'n/a' : `${fixed(r.latency.minMs)}/${fixed(r.latency.avgMs)}/${fixed(r.latency.maxMs)} ms`;
  return `media ${fixed(s.mediaSeconds, 1)} s  rx ${r.received}/${r.expected} from ${s.peer}: lost ${r.lost} (${fixed(r.lossPercent, 2)}%) dup ${r.duplicates} reord ${r.reordered}`
    + `  jitter ${fixed(r.jitterMs)} ms  latency min/avg/max ${lat}  tx ${s.sent.packets}`;
}

export function summaryLines(s: CallSummary): string[] {
  const who = s.endedBy === 'local' ? 'here' : 'there';
  if (s.outcome !== 'completed') {
    const what = s.outcome === 'failed' ? 'failed' : s.outcome === 'rejected' ? 'rejected' : 'cancelled';
    return [`call ${s.role === 'caller' ? 'to' : 'from'} ${s.peer} ${what} (${who}): ${s.reason}`];
  }
  const lines = [`call with ${s.peer} ended after ${fixed(s.mediaSeconds ?? 0, 2)} s of media (${who}): ${s.reason}`];
  lines.push(`  sent      ${s.sent.packets} packets, ${s.sent.payloadBytes} payload bytes`);
  const r = s.received;
  if (r !== null) {
    lines.push(`  received  ${r.received} of ${r.expected} expected: lost ${r.lost} (${fixed(r.lossPercent, 2)}%), ${r.duplicates} duplicates, ${r.reordered} reordered, ${r.discarded} discarded`);
    lines.push(`  jitter    ${fixed(r.jitterMs)} ms`);
    lines.push(`  latency   ${latencyText(r)}`);
    if (r.malformed + r.otherSource > 0) lines.push(`  dropped   ${r.malformed} not RTP, ${r.otherSource} of another source`);
  }
  return lines;
}

/**
 * Prints what a phone does: its protocol exchanges and events as they happen, the media
 * statistics once a second while a call has media, and each call's summary when it ends.
 */
export class Reporter {
  private ticker: NodeJS.Timeout | null = null;
  private ignoredWindowStart = 0;
  private ignoredInWindow = 0;
  private ignoredSuppressed = 0;
  private ignoredFlush: NodeJS.Timeout | null = null;
  private readonly detach: () => void;

  constructor(private readonly session: PhoneSession, private readonly write: (line: string) => void, private readonly o: ReportOptions) {
    this.detach = session.onEvent((e) => this.event(e));
  }

  close(): void {
    this.detach();
    this.stopTicker();
    this.flushIgnored();
  }

  /** Prints the current call's media statistics, or says there are none. */
  stats(): void {
    const s = this.session.mediaStats();
    if (s !== null) this.print('stats', { peer: s.peer, mediaSeconds: ms(s.mediaSeconds), sent: s.sent, received: receivedJson(s.received) }, statsLine(s));
    else this.print('notice', { text: 'no call with media' }, 'no call with media');
  }

  notice(text: string): void {
    this.print('notice', { text }, text);
  }

  /** An event of the runner (script step failed, script done), in the same stream as the phone's. */
  custom(event: string, fields: Record<string, unknown>, text: string | readonly string[]): void {
    this.print(event, fields, text);
  }

  /** `text`: the lines a person reads (none when the JSON says more than a line would). */
  private print(event: string, fields: Record<string, unknown>, text: string | readonly string[]): void {
    if (this.o.json) this.write(JSON.stringify({ time: new Date().toISOString(), event, ...fields }));
    else for (const line of typeof text === 'string' ? [text] : text) this.write(`${clock()} ${line}`);
  }

  private event(e: PhoneEvent): void {
    switch (e.type) {
      case 'sent': return this.print(e.type, { text: e.text }, `> ${e.text}`);
      case 'received': return this.print(e.type, { text: e.text }, `< ${e.text}`);
      case 'registered': return this.print(e.type, { user: e.user }, `registered as ${e.user}`);
      case 'incoming': return this.print(e.type, { from: e.from }, `incoming call from ${e.from}${this.o.askOnIncoming ? ': answer, or reject [reason]' : ''}`);
      case 'answered': return this.print(e.type, { peer: e.peer }, `${e.peer} answered`);
      case 'connected':
        this.startTicker();
        return this.print(e.type, { peer: e.peer, role: e.role, mediaPort: e.mediaPort, rate: this.o.rate, payloadBytes: this.o.payloadBytes },
          `media with ${e.peer} through the relay's port ${e.mediaPort}: sending ${this.o.rate} packets/s of ${this.o.payloadBytes} bytes`);
      case 'failed': return this.print(e.type, { peer: e.peer, reason: e.reason }, `call with ${e.peer} failed: ${e.reason}`);
      case 'bye': return this.print(e.type, { from: e.from, to: e.to }, []); // the received line and the summary say it
      case 'error': return this.print(e.type, { reason: e.reason, during: e.during }, `the proxy refused ${e.during === null ? 'a request' : REQUEST_NAMES[e.during]}: ${e.reason}`);
      case 'ended': {
        this.stopTicker();
        const s = e.summary;
        return this.print(e.type, { ...s, mediaSeconds: s.mediaSeconds === null ? null : ms(s.mediaSeconds), received: s.received === null ? null : receivedJson(s.received) }, summaryLines(s));
      }
      case 'ignored': return this.ignored(e);
      case 'notice': return this.notice(e.text);
    }
  }

  private ignored(e: Extract<PhoneEvent, { type: 'ignored' }>): void {
    const now = performance.now();
    if (now - this.ignoredWindowStart >= 1000) {
      this.flushIgnored();
      this.ignoredWindowStart = now;
      this.ignoredInWindow = 0;
    }
    if (++this.ignoredInWindow > IGNORED_PER_SECOND) {
      if (this.ignoredSuppressed++ === 0) this.ignoredFlush = setTimeout(() => this.flushIgnored(), 1000 - (now - this.ignoredWindowStart));
      return;
    }
    this.print(e.type, { source: e.source, reason: e.reason, text: e.text }, `ignored from ${e.source} (${e.reason}): ${e.text}`);
  }

  /** Says how many ignored datagrams went unprinted in the last second. */
  private flushIgnored(): void {
    if (this.ignoredFlush !== null) clearTimeout(this.ignoredFlush);
    this.ignoredFlush = null;
    if (this.ignoredSuppressed > 0) this.print('suppressed', { ignored: this.ignoredSuppressed }, `(${this.ignoredSuppressed} more datagrams ignored)`);
    this.ignoredSuppressed = 0;
  }

  private startTicker(): void {
    this.stopTicker();
    this.ticker = setInterval(() => {
      if (this.session.mediaStats() !== null) this.stats();
    }, 1000);
  }

  private stopTicker(): void {
    if (this.ticker !== null) clearInterval(this.ticker);
    this.ticker = null;
  }
}
