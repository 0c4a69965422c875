import type { Endpoint } from '../lib/address.ts';
import type { Dialect } from './dialect.ts';
import type { DialectName } from '../model/message.ts';
import type { ProxyHooks } from './hooks.ts';

/** What the core offers modules. Modules never hold signaling sockets; they ask the core to send. */
export interface CoreServices {
  readonly hooks: ProxyHooks;
  dialect(name: DialectName): Dialect;
  /** Sends bytes from a signaling listener; `sent` runs once the datagram is with the kernel (to order sends to different peers). */
  send(listener: string, to: Endpoint, data: Buffer, sent?: () => void): void;
  /** SIP: whether a URI names this proxy (one of its addresses and SIP ports). */
  isOwnUri(uri: string): boolean;
}
