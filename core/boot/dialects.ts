import type { OriginateRequest, OriginateResult } from '../kernel/core-services.ts';
import type { TransactionView } from '../kernel/contracts.ts';
import type { Dialect } from '../kernel/dialect.ts';
import type { ProxyEngine } from '../kernel/engine.ts';
import { WORK_CLASSES, type WorkClass } from '../kernel/overload.ts';
import type { DatagramTriage } from '../kernel/triage.ts';
import type { ProxyHooks } from '../kernel/hooks.ts';
import type { MessageContext } from '../kernel/message-context.ts';
import type { Endpoint } from '../lib/address.ts';
import type { Logger } from '../lib/log.ts';
import type { DialectName, Message, Reply } from '../model/message.ts';
import { createPlainDialect } from '../dialects/plain/dialect.ts';
import { PlainProxyEngine } from '../dialects/plain/engine.ts';
import { PlainTriage } from '../dialects/plain/triage.ts';
import { SipRuntime, type SipOptions } from '../dialects/sip/runtime.ts';

/** A dialect's codec, the engine that runs its transactions around the script, and its first look at datagrams. */
export interface DialectRuntime {
  readonly dialect: Dialect;
  readonly engine: ProxyEngine;
  readonly triage: DatagramTriage;
}

export interface DialectRuntimesDeps {
  readonly hooks: ProxyHooks;
  readonly log: Logger;
  runRoute(kind: 'reply' | 'failure', name: string, txn: TransactionView, reply: Reply): Promise<MessageContext>;
  /** Sends from a UDP listener (the proxy owns those sockets); `sent` runs once the datagram is with the kernel. */
  send(listener: string, to: Endpoint, data: Buffer, sent?: () => void): void;
  /** A message that arrived other than as a UDP datagram (SIP over TCP), to dispatch. */
  dispatch(msg: Message, engine: ProxyEngine, listener: string): void;
  /** Counts a message that could not be parsed. */
  dropped(): void;
  /** How long datagrams now wait in the signaling sockets' queues, ms. */
  queueDelayMs(): number;
  /** RFC 7339 overload feedback (Via parameters) about new requests of a class, or null (OverloadControl.feedback). */
  overloadFeedback?(work: WorkClass): string | null;
}

/** The dialects a proxy speaks: the plain protocol always, SIP when the script listens for it. */
export class DialectRuntimes {
  private readonly byName = new Map<DialectName, DialectRuntime>();
  /** The engines, for the counts overload control reads on every new request. */
  private readonly engines: ProxyEngine[] = [];
  private sipRuntime: SipRuntime | null = null;
  private sipOptions: SipOptions = {};
  private readonly plainEngine: PlainProxyEngine;

  constructor(private readonly deps: DialectRuntimesDeps) {
    const plain = createPlainDialect();
    this.plainEngine = new PlainProxyEngine(plain, deps);
    this.byName.set('plain', { dialect: plain, engine: this.plainEngine, triage: new PlainTriage(plain, this.plainEngine) });
    this.engines.push(this.plainEngine);
  }

  /** The SIP side, set up on first use. */
  sip(): SipRuntime {
    if (this.sipRuntime === null) {
      const sip = new SipRuntime({
        hooks: this.deps.hooks, log: this.deps.log, runRoute: this.deps.runRoute,
        sendUdp: this.deps.send,
        dispatch: (msg) => this.deps.dispatch(msg, sip.engine, msg.listener),
        connectionClosed: (transport, connection) => this.deps.hooks.emitConnectionClosed({ dialect: 'sip', transport, connection }),
        dropped: this.deps.dropped,
        queueDelayMs: this.deps.queueDelayMs,
        ...(this.deps.overloadFeedback !== undefined ? { overloadFeedback: this.deps.overloadFeedback } : {}),
      }, this.deps.log, this.sipOptions);
      this.sipRuntime = sip;
      this.byName.set('sip', { dialect: sip.dialect, engine: sip.engine, triage: sip.triage });
      this.engines.push(sip.engine);
    }
    return this.sipRuntime;
  }

  /** The script's SIP options: applied to the SIP side if it is up, else when it starts. */
  configureSip(options: SipOptions): void {
    this.sipOptions = options;
    this.sipRuntime?.configure(options);
  }

  get(name: DialectName): DialectRuntime {
    if (name === 'sip') this.sip();
    return this.byName.get(name)!;
  }

  /** New requests in progress, every dialect. */
  pending(): number {
    let n = 0;
    for (let i = 0; i < this.engines.length; i++) n += this.engines[i]!.pending;
    return n;
  }

  /** New requests answered finally so far, every dialect, per class. */
  completed(): Record<WorkClass, number> {
    const out: Record<WorkClass, number> = { call: 0, register: 0, other: 0 };
    for (const e of this.engines) for (const c of WORK_CLASSES) out[c] += e.completed[c];
    return out;
  }

  isOwnUri(uri: string): boolean {
    return this.sipRuntime?.isOwnUri(uri) ?? false;
  }

  originate(req: OriginateRequest): Promise<OriginateResult> {
    if (req.dialect === 'plain') return this.plainEngine.originate(req);
    if (this.sipRuntime === null) return Promise.reject(new Error('originate(): the script has no SIP listener'));
    return this.sipRuntime.originate(req);
  }

  stats(): Record<string, unknown> {
    return {
      transactions: Object.fromEntries([...this.byName].map(([n, r]) => [n, r.engine.size])),
      dialects: Object.fromEntries([...this.byName].map(([n, r]) => [n, r.dialect.stats()])),
      ...(this.sipRuntime !== null ? { sip: this.sipRuntime.stats() } : {}),
    };
  }

  async close(): Promise<void> {
    await this.sipRuntime?.close();
    for (const r of this.byName.values()) r.engine.close();
  }
}
