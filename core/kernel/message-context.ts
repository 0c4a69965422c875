import { SwitchyardError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import type { Reply, Request } from '../model/message.ts';
import type { RouteKind } from './contracts.ts';
import type { RouteSnapshot } from './snapshot.ts';
import type { TransactionView } from './contracts.ts';
import { describeVerdict, pendingVerdict, type Verdict } from '../model/verdict.ts';

/**
 * Everything the core knows about one run of one route block. Module functions receive it
 * as their first argument; scripts see only the typed `ctx` built on top of it.
 */
export class MessageContext {
  verdict: Verdict | null = null;
  private readonly pending: Promise<unknown>[] = [];
  private logger: Logger | null = null;

  constructor(
    readonly kind: RouteKind,
    /** The request being routed; in reply and failure routes, the request the transaction forwarded. */
    readonly msg: Request,
    readonly snapshot: RouteSnapshot,
    private readonly parentLog: Logger,
    readonly reply: Reply | null = null,
    readonly txn: TransactionView | null = null,
  ) {}

  /** A child logger bound to the message's identity, made on first use. */
  get log(): Logger {
    if (this.logger === null) {
      const m = this.msg;
      this.logger = this.parentLog.child({
        route: this.kind, gen: this.snapshot.generation, dialect: m.dialect, callId: m.callId, method: m.method,
        ...(this.reply ? { status: this.reply.status } : {}),
        src: m.source.address + ':' + m.source.port,
      });
    }
    return this.logger;
  }

  /** Records the verdict; a second one is a script bug and fails loudly. */
  claim(v: Verdict): Verdict {
    if (this.verdict !== null) {
      throw new SwitchyardError('SY_VERDICT_TWICE', `a verdict was already given (${describeVerdict(this.verdict)}); cannot also ${describeVerdict(v)}`);
    }
    this.verdict = v;
    return v;
  }

  /**
   * Claims the verdict now for a function that decides it asynchronously (a lookup before
   * forwarding): a second verdict fails at once, and `fulfil` sets the real one later.
   */
  reserve(description: string): (v: Verdict) => Verdict {
    this.claim(pendingVerdict(description));
    return (v) => {
      this.verdict = v;
      return v;
    };
  }

  /** Work a module function started and the dispatcher must wait for before the message is done. */
  track<T>(p: Promise<T>): Promise<T> {
    this.pending.push(p);
    return p;
  }

  /**
   * Waits for tracked work; rethrows the first failure so the dispatcher reports it like a
   * throw in the route. Undefined when nothing is tracked.
   */
  settle(): Promise<void> | undefined {
    return this.pending.length === 0 ? undefined : this.settleTracked();
  }

  private async settleTracked(): Promise<void> {
    let firstError: unknown = null;
    while (this.pending.length > 0) {
      for (const r of await Promise.allSettled(this.pending.splice(0))) {
        if (r.status === 'rejected' && firstError === null) firstError = r.reason ?? new Error('rejected');
      }
    }
    if (firstError !== null) throw firstError;
  }
}
