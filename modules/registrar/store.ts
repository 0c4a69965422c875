import type { DialectName, Endpoint, SignalingTransport } from '../../core/module.ts';

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
  /** SIP: reached over a stream transport (TCP, TLS, WebSocket) on this connection when it registered over one. */
  readonly transport?: SignalingTransport;
  readonly connection?: number | null;
  /**
   * With a shared store: the proxy the user registered through (`host:port` of its SIP
   * listener), where its NAT pinhole and connection are. Another proxy forwards requests for
   * the user there instead of to the contact.
   */
  readonly node?: string;
}

/** What an update sees besides the user's bindings, read in the same atomic step. */
export interface StoreMoment {
  /** The store's clock (epoch ms): the bindings given are the ones live at this instant. */
  readonly now: number;
  /** AORs held, as `size()` counts them. */
  readonly users: number;
  /**
   * Users of `dialect` holding a binding from the source IP `ip` (IPv4 and its IPv4-mapped form
   * are one IP), read in the same atomic step; a binding that expired may count until the store
   * drops it.
   */
  usersAt(dialect: DialectName, ip: string): number;
  /** Bytes the table holds (keys and encoded bindings), for a store that counts them (the embedded one). */
  readonly bytes?: number;
}

/** What an update function decides: the user's bindings from now on, and what to tell the caller. */
export interface LocationUpdate<T> {
  /** The bindings to store; the very array the function was given stores nothing; empty forgets the user. */
  readonly bindings: readonly Binding[];
  readonly result: T;
}

/**
 * The location table behind the registrar. Asynchronous so that a shared store (Redis)
 * can stand in for the in-memory one without changing the registrar.
 */
export interface LocationStore {
  /**
   * The bindings of `aor` live now (none expired): at once from a store in this process, so
   * that a call's routing needs no promise; a promise from a networked one.
   */
  lookup(aor: string): readonly Binding[] | Promise<readonly Binding[]>;
  /**
   * Reads the live bindings of `aor`, runs `fn` on them and stores what it returns, atomically:
   * no other update of `aor` reads between this one's read and write, so two REGISTERs of one
   * user never both start from the same bindings and lose each other's contacts. `fn` must be
   * pure (no I/O, no clock of its own: `moment.now`) because a networked store may run it more
   * than once. Resolves with `fn`'s result; when `fn` throws, nothing is written.
   *
   * A networked store makes the read, `fn` and the write one transaction. Redis: WATCH the
   * user's key and the key counting users, GET, run `fn`, then MULTI / SET or DEL (and the
   * count) / EXEC, and run it all again when EXEC reports a conflict; or keep a version beside
   * the value and write with a Lua script that sets only when the version is still the one read.
   * `moment.users` and `moment.usersAt` must come from the same transaction (Redis: a counter
   * per dialect and IP beside the user count), so a limit on users checked in `fn` cannot be
   * passed by two new users at once.
   */
  update<T>(aor: string, fn: (current: readonly Binding[], moment: StoreMoment) => LocationUpdate<T>): Promise<T>;
  /**
   * Live bindings for an operator's listing, user by user, at most `limit` of them (the admin
   * listener's `registrations`). Optional: a store that cannot list leaves it out.
   */
  list?(limit: number): Promise<readonly Binding[]>;
  /** A networked store: whether it answers now (the embedded store always does). */
  reachable?(): boolean;
  /** A store that also keeps its table elsewhere (a file): what keeps it from doing so now, or null. */
  problem?(): string | null;
  /** Number of AORs held; expired ones leave at the store's next sweep (the memory store: within a second up to 32,000 users, 15 s beyond). */
  size(): number;
  /** Bindings (contacts) held per dialect, expired ones until the sweep as `size()`; optional: a store that cannot count them cheaply leaves it out. */
  bindingsByDialect?(): Readonly<Record<DialectName, number>>;
  close(): Promise<void>;
}
