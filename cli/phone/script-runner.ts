import { parseCommand, type Command, type Comparison, type Metric, type WaitTarget } from './commands.ts';
import type { ReceiverSnapshot } from './media-receiver.ts';
import type { SentCounts } from './media-sender.ts';
import type { Reporter } from './report.ts';
import type { PhoneEvent, PhoneSession } from './session.ts';

export interface ScriptStep {
  /** 1-based line in the script. */
  readonly line: number;
  readonly text: string;
  readonly command: Command;
}

export type ScriptParse =
  | { readonly ok: true; readonly steps: readonly ScriptStep[] }
  | { readonly ok: false; readonly errors: readonly string[] };

export type ScriptOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly line: number; readonly text: string; readonly reason: string };

const DEFAULT_WAIT_SEC = 5;
/** How often `wait media` looks at the packet count (media packets are not events). */
const MEDIA_POLL_MS = 10;

/** Parses a whole script; every line that is wrong is reported, with its number. */
export function parseScript(source: string): ScriptParse {
  const steps: ScriptStep[] = [];
  const errors: string[] = [];
  source.split(/\r?\n/).forEach((text, i) => {
    const parsed = parseCommand(text);
    if (!parsed.ok) errors.push(`line ${i + 1}: ${parsed.message}`);
    else if (parsed.command?.op === 'quit' || parsed.command?.op === 'help') errors.push(`line ${i + 1}: '${parsed.command.op}' is for the prompt, not for scripts`);
    else if (parsed.command !== null) steps.push({ line: i + 1, text: text.trim(), command: parsed.command });
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, steps };
}

/** What an `expect` reads: the current call's media, else the last call's. */
interface MediaFigures {
  readonly sent: SentCounts;
  readonly received: ReceiverSnapshot;
}

class StepFailure extends Error {}

function compare(actual: number, comparison: Comparison, value: number): boolean {
  switch (comparison) {
    case '=':
    case '==': return actual === value;
    case '<': return actual < value;
    case '<=': return actual <= value;
    case '>': return actual > value;
    case '>=': return actual >= value;
  }
}

function metricValue(f: MediaFigures, metric: Metric): number {
  const r = f.received;
  switch (metric) {
    case 'sent': return f.sent.packets;
    case 'received': return r.received;
    case 'expected': return r.expected;
    case 'loss': return r.lost;
    case 'loss-percent': return r.lossPercent;
    case 'duplicates': return r.duplicates;
    case 'reordered': return r.reordered;
    case 'discarded': return r.discarded;
    case 'jitter': return r.jitterMs;
    case 'latency':
    case 'latency-avg':
    case 'latency-min': {
      if (r.latency === null) throw new StepFailure('no latency was measured (nothing received, or the sender is on another host)');
      return metric === 'latency' ? r.latency.maxMs : metric === 'latency-avg' ? r.latency.avgMs : r.latency.minMs;
    }
  }
}

function describeEvent(e: PhoneEvent): string {
  switch (e.type) {
    case 'failed': return `the call failed: ${e.reason}`;
    case 'error': return `the proxy answered ERROR ${e.reason}`;
    case 'connected': return `the call connected (media port ${e.mediaPort})`;
    case 'ended': return `the call ended (${e.summary.outcome}: ${e.summary.reason})`;
    default: return e.type;
  }
}

/**
 * Runs a script against a phone. Waits take the phone's events in order: each consumes the
 * events up to the one it waited for, and fails at once on one that rules it out (a failed call
 * while waiting for `connected`).
 */
export class ScriptRunner {
  private readonly events: PhoneEvent[] = [];
  private cursor = 0;
  private endedCalls = 0;
  private wake: (() => void) | null = null;
  private waitSec = DEFAULT_WAIT_SEC;
  private readonly detach: () => void;

  constructor(private readonly session: PhoneSession, private readonly reporter: Reporter) {
    this.detach = session.onEvent((e) => {
      this.events.push(e);
      if (e.type === 'ended') this.endedCalls++;
      this.wake?.();
    });
  }

  async run(steps: readonly ScriptStep[], signal?: AbortSignal): Promise<ScriptOutcome> {
    try {
      for (const step of steps) {
        if (signal?.aborted) return { ok: false, line: step.line, text: step.text, reason: 'interrupted' };
        try {
          await this.step(step.command, signal);
        } catch (err) {
          if (!(err instanceof StepFailure)) throw err;
          return { ok: false, line: step.line, text: step.text, reason: err.message };
        }
      }
      return { ok: true };
    } finally {
      this.detach();
    }
  }

  private async step(c: Command, signal: AbortSignal | undefined): Promise<void> {
    const refused = (r: string | null): void => {
      if (r !== null) throw new StepFailure(r);
    };
    switch (c.op) {
      case 'register': return refused(this.session.register(c.user));
      case 'call': return refused(this.session.call(c.user));
      case 'answer': return refused(this.session.answer());
      case 'reject': return refused(this.session.reject(c.reason ?? undefined));
      case 'hangup': return refused(this.session.hangup());
      case 'stats': return this.reporter.stats();
      case 'timeout':
        this.waitSec = c.seconds;
        return;
      case 'sleep': return this.until(() => null, c.seconds, signal, () => undefined);
      case 'expect': return this.expect(c.metric, c.comparison, c.value);
      case 'wait': return this.wait(c.target, c.withinSec ?? this.waitSec, signal);
      case 'quit':
      case 'help':
        throw new StepFailure(`'${c.op}' is for the prompt`);
    }
  }

  private figures(): MediaFigures {
    const now = this.session.mediaStats();
    if (now !== null) return now;
    const last = this.session.lastCall;
    if (last !== null && last.received !== null) return { sent: last.sent, received: last.received };
    throw new StepFailure('no call has had media');
  }

  private expect(metric: Metric, comparison: Comparison, value: number): void {
    const f = this.figures();
    const actual = metricValue(f, metric);
    if (!compare(actual, comparison, value)) {
      const r = f.received;
      throw new StepFailure(`${metric} is ${Math.round(actual * 1000) / 1000} (received ${r.received} of ${r.expected}, lost ${r.lost}, ${r.duplicates} duplicates, ${r.reordered} reordered; sent ${f.sent.packets})`);
    }
  }

  private wait(target: WaitTarget, seconds: number, signal: AbortSignal | undefined): Promise<void> {
    if (target.kind === 'media') return this.waitMedia(target.packets, seconds, signal);
    const onTimeout = (): never => {
      throw new StepFailure(`no ${target.kind} within ${seconds} s`);
    };
    return this.until(() => this.scan(target), seconds, signal, onTimeout);
  }

  /** Looks through the events not yet consumed: true when the awaited one is there, throws on one that rules it out. */
  private scan(target: Exclude<WaitTarget, { kind: 'media' }>): true | null {
    while (this.cursor < this.events.length) {
      const e = this.events[this.cursor++]!;
      if (e.type === target.kind) {
        if (target.kind === 'failed' || target.kind === 'error') {
          const reason = (e as Extract<PhoneEvent, { type: 'failed' | 'error' }>).reason;
          if (target.reason !== null && reason !== target.reason) throw new StepFailure(`${describeEvent(e)}, not ${target.reason}`);
        }
        return true;
      }
      if (this.rulesOut(target.kind, e)) throw new StepFailure(`waited for ${target.kind}, but ${describeEvent(e)}`);
    }
    return null;
  }

  private rulesOut(kind: Exclude<WaitTarget, { kind: 'media' }>['kind'], e: PhoneEvent): boolean {
    switch (kind) {
      case 'registered': return e.type === 'error' && e.during === 'register';
      case 'answered':
      case 'connected': return e.type === 'failed' || e.type === 'ended';
      case 'failed': return e.type === 'connected' || e.type === 'ended';
      case 'bye': return e.type === 'ended'; // a BYE's own 'ended' comes after it
      default: return false;
    }
  }

  /** Until `packets` media packets of the call have arrived; fails if the call ends short of them. */
  private waitMedia(packets: number, seconds: number, signal: AbortSignal | undefined): Promise<void> {
    const endedBefore = this.endedCalls;
    const check = (): true | null => {
      const now = this.session.mediaStats();
      if (now !== null && now.received.received >= packets) return true;
      // The call ended during the wait, or had ended before it with no other call begun since.
      if (this.endedCalls > endedBefore || (now === null && this.session.callPhase === null && this.session.lastCall !== null)) {
        const got = this.session.lastCall?.received?.received ?? 0;
        if (got >= packets) return true;
        throw new StepFailure(`the call ended with ${got} media packets received, not ${packets}`);
      }
      return null;
    };
    return this.until(check, seconds, signal, () => {
      throw new StepFailure(`${this.session.mediaStats()?.received.received ?? 0} media packets received within ${seconds} s, not ${packets}`);
    }, MEDIA_POLL_MS);
  }

  /**
   * Resolves when `check` returns true (tried now, at every phone event and, with `pollMs`,
   * that often), rejects with what `check` or, at the deadline, `onTimeout` throws.
   */
  private until(check: () => true | null, seconds: number, signal: AbortSignal | undefined, onTimeout: () => void, pollMs?: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let poll: NodeJS.Timeout | null = null;
      const finish = (err: unknown): void => {
        clearTimeout(deadline);
        if (poll !== null) clearInterval(poll);
        signal?.removeEventListener('abort', onAbort);
        this.wake = null;
        if (err === null) resolve();
        else reject(err);
      };
      const attempt = (): void => {
        try {
          if (check() === true) finish(null);
        } catch (err) {
          finish(err);
        }
      };
      const onAbort = (): void => finish(new StepFailure('interrupted'));
      const deadline = setTimeout(() => {
        try {
          onTimeout();
          finish(null);
        } catch (err) {
          finish(err);
        }
      }, seconds * 1000);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.wake = attempt;
      if (pollMs !== undefined) poll = setInterval(attempt, pollMs);
      attempt();
    });
  }
}
