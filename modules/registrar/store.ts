import type { Endpoint } from '../../core/lib/address.ts';
import type { DialectName } from '../../core/model/message.ts';

/** Where a user can be reached: the transport address it registered from. */
export interface Binding {
  readonly aor: string;
  readonly dialect: DialectName;
  readonly listener: string;
  readonly address: Endpoint;
  readonly registeredAt: number;
  /** Epoch ms after which the binding is gone; null = until replaced. */
  readonly expiresAt: number | null;
  /** SIP: the Contact URI (the Request-URI of requests sent to it) and what ordered its registration. */
  readonly contact?: string;
  readonly q?: number;
  readonly callId?: string;
  readonly cseq?: number;
  /** SIP: reached over TCP on this connection when it registered over TCP. */
  readonly transport?: 'udp' | 'tcp';
  readonly connection?: number | null;
}

/**
 * The location table behind the registrar. Asynchronous so that a shared store (Redis)
 * can stand in for the in-memory one without changing the registrar.
 */
export interface LocationStore {
  lookup(aor: string): Promise<readonly Binding[]>;
  /** Replaces all bindings of `aor`. */
  replace(aor: string, bindings: readonly Binding[]): Promise<void>;
  remove(aor: string): Promise<void>;
  /** Number of AORs held; expired ones leave at the store's next sweep (the memory store: within a second up to 32,000 users, 15 s beyond). */
  size(): number;
  close(): Promise<void>;
}
