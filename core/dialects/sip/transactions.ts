import { randomBytes, randomFillSync } from 'node:crypto';
import type { Endpoint } from '../../lib/address.ts';
import type { Reply, Request, SignalingTransport } from '../../model/message.ts';
import type { RouteSnapshot } from '../../kernel/snapshot.ts';
import type { SipRequest } from './codec/message.ts';
import type { TransactionView } from '../../kernel/contracts.ts';
import type { SipTransportName } from './wire.ts';

/** Where a SIP message goes: the transport, the listener to send from, the peer, and for TCP the connection to reuse. */
export interface Destination {
  readonly transport: SipTransportName;
  readonly listener: string;
  readonly address: Endpoint;
  readonly connection: number | null;
  /** The host name the address was resolved from: a TLS connection dialled for it checks the peer's certificate against it. */
  readonly name?: string;
}

/**
 * Tags are unique per process (a counter) and across processes and restarts (a random prefix
 * drawn once). Branches carry the same prefix (a Via of this process is recognised by it) and
 * random bytes after it.
 */
const PROCESS_PREFIX = randomBytes(6).toString('base64url');
let counter = 0;

function nextId(): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return counter.toString(36);
}

export function newTag(): string {
  return `${PROCESS_PREFIX}${nextId()}`;
}

/** How every branch this process makes begins: a Via carrying it was put there by this process. */
export const OWN_BRANCH_PREFIX = `z9hG4bK${PROCESS_PREFIX}.`;

/** Random bytes drawn a page at a time: a branch costs a slice, not a system call. */
const pool = Buffer.alloc(4096);
let poolAt = pool.length;

/** A branch no one can guess from the ones it has seen (9 random bytes), so no one can forge a response to it. */
export function newBranch(): string {
  if (poolAt + 9 > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const random = pool.toString('base64url', poolAt, poolAt + 9);
  poolAt += 9;
  return `${OWN_BRANCH_PREFIX}${random}`;
}

/** §17.2: the proxy's server side of one request: absorbs retransmissions and repeats its last response. */
export class ServerTransaction {
  lastResponse: Buffer | null = null;
  lastStatus = 0;
  /** The To tag of the proxy's own responses (and of the 200 to a CANCEL). */
  readonly toTag = newTag();
  call: ProxyCall | null = null;
  canceled = false;
  timers: NodeJS.Timeout[] = [];

  constructor(readonly key: string, readonly request: Request, readonly sip: SipRequest, readonly upstream: Destination) {}

  get isInvite(): boolean {
    return this.sip.method === 'INVITE';
  }

  clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }
}

/**
 * Bytes kept while a finished transaction lingers (up to 32 s), as a one-byte string: one
 * heap object, where a Buffer from the allocation pool would keep its whole 8 KiB slab alive.
 */
function keep(bytes: Buffer): string {
  return bytes.toString('latin1');
}

/**
 * What is left of an INVITE server transaction once its final response has gone (or of any
 * request refused at once): enough to repeat that response to a retransmitted request and to
 * take the ACK, nothing of the call. Finished non-INVITE transactions live in finished-table.ts.
 */
export class FinishedServer {
  acked = false;
  /** Timer G: repeats a failure until its ACK comes. */
  timer: NodeJS.Timeout | null = null;
  private readonly response: string;

  constructor(readonly key: string, readonly upstream: Destination, response: Buffer, readonly lastStatus: number, readonly isInvite: boolean) {
    this.response = keep(response);
  }

  get lastResponse(): Buffer {
    return Buffer.from(this.response, 'latin1');
  }

  setTimer(timer: NodeJS.Timeout): void {
    this.clearTimers();
    this.timer = timer;
  }

  clearTimers(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

/**
 * What is left of a client transaction after its final response: the ACK to repeat if a failure
 * is repeated; for an INVITE answered 2xx (RFC 6026's Accepted state), what was passed upstream,
 * to pass on again when the 2xx is repeated.
 */
export class FinishedClient {
  private readonly ackText: string | null;
  /** The 2xx as it went upstream, its To tag, and where it went; null until then. */
  private answerText: string | null = null;
  answerTag: string | undefined;
  upstream: Destination | null = null;

  constructor(readonly key: string, readonly downstream: Destination, ack: Buffer | null) {
    this.ackText = ack === null ? null : keep(ack);
  }

  get ack(): Buffer | null {
    return this.ackText === null ? null : Buffer.from(this.ackText, 'latin1');
  }

  get answer(): Buffer | null {
    return this.answerText === null ? null : Buffer.from(this.answerText, 'latin1');
  }

  /** The 2xx of this branch as it went upstream (after the proxy's own changes). */
  answered(upstream: Destination, bytes: Buffer, toTag: string | undefined): void {
    this.upstream = upstream;
    this.answerText = keep(bytes);
    this.answerTag = toTag;
  }
}

export type ClientState = 'calling' | 'proceeding' | 'completed' | 'terminated';

/** Who a client transaction reports to: the proxy core for a branch of a forwarded request, the UAC for a request the proxy originates. */
export interface ClientOwner {
  /** A response, after the transaction layer has done its part (state, timers, the ACK of a failure). */
  onResponse(ct: ClientTransaction, reply: Reply): void | Promise<void>;
  /** Timer B or F fired: no final response came in time. */
  onTimeout(ct: ClientTransaction): void;
  /**
   * The request could not be sent at all: a browser's connection that is gone cannot be dialled
   * again (480), a connection dialled for it failed (503, RFC 3261 §8.1.3.1).
   */
  onUnreachable(ct: ClientTransaction, status: number, reason: string): void;
}

/** §17.1: a request sent on one branch (of a forwarded request, or one the proxy originates). */
export class ClientTransaction {
  state: ClientState = 'calling';
  final: Reply | null = null;
  gotProvisional = false;
  /** CANCEL asked for before a provisional arrived: sent when one does. */
  cancelPending = false;
  cancelSent = false;
  retransmitEvery: number;
  retransmitTimer: NodeJS.Timeout | null = null;
  timeoutTimer: NodeJS.Timeout | null = null;
  /** The owner's own timer for this branch (the proxy's Timer C). */
  answerTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly branch: string,
    readonly owner: ClientOwner,
    /** The proxy call this is a branch of; null for a request the proxy originates. */
    readonly call: ProxyCall | null,
    /** The request as sent on this branch. */
    readonly out: SipRequest,
    readonly bytes: Buffer,
    readonly downstream: Destination,
    firstInterval: number,
  ) {
    this.retransmitEvery = firstInterval;
  }

  get isInvite(): boolean {
    return this.out.method === 'INVITE';
  }

  clearTimers(): void {
    for (const t of [this.retransmitTimer, this.timeoutTimer, this.answerTimer]) if (t !== null) clearTimeout(t);
    this.retransmitTimer = this.timeoutTimer = this.answerTimer = null;
  }
}

/**
 * One forwarded request with all its branches (Kamailio's transaction cell): collects the
 * branches' final responses and picks the one that goes upstream (§16.7). Pins the script
 * generation that armed its reply and failure routes.
 */
export class ProxyCall implements TransactionView {
  readonly branches: ClientTransaction[] = [];
  onFailure: string | undefined;
  onReply: string | undefined;
  answerTimeoutMs = 30_000;
  /** A 2xx has gone upstream. */
  answered = false;
  /** A final response has gone upstream: nothing else final may follow, but 2xx. */
  finished = false;
  /** This proxy stays in the dialog's path (it record-routes it, or the request came by its Record-Route). */
  inPath = false;
  target: Endpoint;
  targetTransport: SignalingTransport | undefined;

  constructor(readonly server: ServerTransaction, readonly request: Request, readonly snapshot: RouteSnapshot) {
    this.target = server.upstream.address;
  }

  get pending(): ClientTransaction[] {
    return this.branches.filter((b) => b.final === null);
  }
}
