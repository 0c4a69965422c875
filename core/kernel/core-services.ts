import type { Endpoint } from '../lib/address.ts';
import type { Dialect } from './dialect.ts';
import type { MessageContext } from './message-context.ts';
import type { DialectName } from '../model/message.ts';
import type { ProxyHooks } from './hooks.ts';

/** Where a forwarded request goes: a transport address, and for SIP the Request-URI to put on it. */
export interface ForwardTarget {
  /** Where to send; when absent (SIP), resolved from `uri`. */
  readonly address?: Endpoint;
  readonly uri?: string;
  /** SIP: the transport to use (a contact registered over TCP is reached on its connection). */
  readonly transport?: 'udp' | 'tcp';
  readonly connection?: number | null;
}

export interface ForwardOptions {
  /** Branches to ring in parallel; without targets the dialect routes by the request itself (SIP Route / Request-URI). */
  readonly targets?: readonly ForwardTarget[];
  /** How long a call may ring before it fails with 408 "no answer". */
  readonly answerTimeoutMs: number;
  readonly onFailure?: string;
  readonly onReply?: string;
  /** SIP: add a Record-Route header so in-dialog requests come through this proxy. */
  readonly recordRoute?: boolean;
}

/** What the core offers modules. Modules never hold signaling sockets; they ask the core to send. */
export interface CoreServices {
  readonly hooks: ProxyHooks;
  dialect(name: DialectName): Dialect;
  /** Sends bytes from a signaling listener; `sent` runs once the datagram is with the kernel (to order sends to different peers). */
  send(listener: string, to: Endpoint, data: Buffer, sent?: () => void): void;
  /** Forwards the context's request (with a transaction when the dialect expects a reply). */
  forward(mc: MessageContext, opts: ForwardOptions): void | Promise<void>;
  /** SIP: whether a URI names this proxy (one of its addresses and SIP ports). */
  isOwnUri(uri: string): boolean;
}
