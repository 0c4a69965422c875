import type { OriginateRequest, OriginateResult } from '../kernel/core-services.ts';
import type { TransactionView } from '../kernel/contracts.ts';
import type { Dialect } from '../kernel/dialect.ts';
import type { ProxyEngine } from '../kernel/engine.ts';
import type { ProxyHooks } from '../kernel/hooks.ts';
import type { MessageContext } from '../kernel/message-context.ts';
import type { Endpoint } from '../lib/address.ts';
import type { Logger } from '../lib/log.ts';
import type { DialectName, Message, Reply } from '../model/message.ts';
import { createPlainDialect } from '../dialects/plain/dialect.ts';
import { PlainProxyEngine } from '../dialects/plain/engine.ts';
import { SipRuntime } from '../dialects/sip/runtime.ts';

/** A dialect's codec and the engine that runs its transactions around the script. */
export interface DialectRuntime {
  readonly dialect: Dialect;
  readonly engine: ProxyEngine;
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
}

/** The dialects a proxy speaks: the plain protocol always, SIP when the script listens for it. */
export class DialectRuntimes {
  private readonly byName = new Map<DialectName, DialectRuntime>();
  private sipRuntime: SipRuntime | null = null;

  constructor(private readonly deps: DialectRuntimesDeps) {
    const plain = createPlainDialect();
    this.byName.set('plain', { dialect: plain, engine: new PlainProxyEngine(plain, deps) });
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
      }, this.deps.log);
      this.sipRuntime = sip;
      this.byName.set('sip', { dialect: sip.dialect, engine: sip.engine });
    }
    return this.sipRuntime;
  }

  get(name: DialectName): DialectRuntime {
    if (name === 'sip') this.sip();
    return this.byName.get(name)!;
  }

  /** Requests retransmitted to the proxy so far (the admission control's sign of a backlog). */
  retransmissionsAbsorbed(): number {
    return this.sipRuntime?.retransmissions.retransmissionsAbsorbed ?? 0;
  }

  isOwnUri(uri: string): boolean {
    return this.sipRuntime?.isOwnUri(uri) ?? false;
  }

  originate(req: OriginateRequest): Promise<OriginateResult> {
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
