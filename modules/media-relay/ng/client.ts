/**
 * An NG client for one relay address (a switchyard relay node, rtpengine, anything speaking
 * NG over UDP). Each command gets a fresh cookie and a deadline: it is sent, resent evenly
 * within the deadline (3 tries over 1 s by default) and answered by the result that carries its
 * cookie, or fails with `timeout` when the deadline passes. A caller is never held longer, a
 * dead relay included, and the commands outstanding at once are bounded. Results are values:
 * typed on success, a typed error otherwise (timeout, the relay's error-reason, load limit,
 * a malformed answer).
 */
import { randomBytes } from 'node:crypto';
import type dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { unmapIPv4 } from '../../../core/lib/address.ts';
import { bindUdp, createUdpSocket } from '../../../core/transport/udp-socket.ts';
import { type BencodeDict, type BencodeInputObject, type BencodeLimits, DEFAULT_BENCODE_LIMITS, bencodeText, decodeBencode, encodeBencode, isBencodeList } from './bencode.ts';
import { type NgCallStats, parseCallStats } from './call-stats.ts';
import {
  deleteRequestDict,
  framePrefix,
  listRequestDict,
  type NgAnswerParams,
  type NgCallParams,
  type NgDeleteParams,
  type NgResultStatus,
  type NgSdpParams,
  queryRequestDict,
  resultStatus,
  sdpRequestDict,
  simpleRequestDict,
  splitFrame,
} from './messages.ts';

export interface NgClientOptions {
  /** The relay: an IP literal or a name (resolved once, at open). */
  readonly host: string;
  readonly port: number;
  /** How long a command may take, retransmissions included. Default 1000 ms. */
  readonly timeoutMs?: number;
  /** Sends per command, spread evenly over `timeoutMs`. Default 3. */
  readonly tries?: number;
  /** Commands awaiting their result at once; beyond, a command fails at once with `overloaded`. Default 1024. */
  readonly maxOutstanding?: number;
  readonly limits?: BencodeLimits;
}

export type NgClientErrorKind =
  /** No result within the deadline. */
  | 'timeout'
  /** The relay answered `error`; `reason` is its error-reason. */
  | 'refused'
  /** The relay answered `load limit`: try another. */
  | 'load-limit'
  /** A result with our cookie that is not NG, or lacks what the command returns. */
  | 'malformed'
  /** Too many commands outstanding. */
  | 'overloaded'
  /** The request could not be encoded (a field out of range). */
  | 'unencodable'
  /** The client was closed first. */
  | 'closed';

export interface NgClientError {
  readonly kind: NgClientErrorKind;
  readonly message: string;
  /** The relay's error-reason (`refused`) or load-limit message. */
  readonly reason?: string;
}

export type NgClientResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: NgClientError };

export interface NgSdpResult {
  readonly sdp: Buffer;
  readonly warning?: string;
}

export interface NgDeleteResult {
  readonly warning?: string;
  /** The ended call's counters, when the relay sent them. */
  readonly stats?: NgCallStats;
}

export interface NgClientCounters {
  commands: number;
  retransmissions: number;
  answered: number;
  timeouts: number;
  /** Datagrams that matched no outstanding command (late answers, duplicates) or came from elsewhere. */
  stray: number;
  sendFailed: number;
}

/** How a command's result is read on success. */
type ReadResult<T> = (status: Extract<NgResultStatus, { kind: 'ok' | 'pong' }>) => NgClientResult<T>;

/** How a command ended: a result from the relay, or an error of the client's own. */
type Settled = { readonly status: NgResultStatus } | { readonly error: NgClientError };

interface Outstanding {
  readonly datagram: Buffer;
  readonly finish: (settled: Settled) => void;
  timer: NodeJS.Timeout;
  sends: number;
}

function failure<T>(kind: NgClientErrorKind, message: string, reason?: string): NgClientResult<T> {
  return { ok: false, error: reason === undefined ? { kind, message } : { kind, message, reason } };
}

const readOk: ReadResult<BencodeDict> = (s) => ({ ok: true, value: s.dict });

const readSdp: ReadResult<NgSdpResult> = (s) => {
  const sdp = s.dict.get('sdp');
  if (!Buffer.isBuffer(sdp)) return failure('malformed', 'the result has no "sdp"');
  return { ok: true, value: s.kind === 'ok' && s.warning !== undefined ? { sdp, warning: s.warning } : { sdp } };
};

const readDelete: ReadResult<NgDeleteResult> = (s) => {
  const warning = s.kind === 'ok' ? s.warning : undefined;
  const stats = s.dict.has('tags') || s.dict.has('totals') ? parseCallStats(s.dict) : undefined;
  return { ok: true, value: { ...(warning === undefined ? {} : { warning }), ...(stats === undefined ? {} : { stats }) } };
};

const readQuery: ReadResult<NgCallStats> = (s) => ({ ok: true, value: parseCallStats(s.dict) });

const readList: ReadResult<readonly string[]> = (s) => {
  const calls = s.dict.get('calls');
  if (!isBencodeList(calls)) return failure('malformed', 'the result has no "calls" list');
  const ids: string[] = [];
  for (const c of calls) {
    const id = bencodeText(c);
    if (id === undefined) return failure('malformed', '"calls" holds something other than strings');
    ids.push(id);
  }
  return { ok: true, value: ids };
};

const readStatistics: ReadResult<BencodeDict> = (s) => {
  const statistics = s.dict.get('statistics');
  if (!(statistics instanceof Map)) return failure('malformed', 'the result has no "statistics" dictionary');
  return { ok: true, value: statistics };
};

export class NgClient {
  private readonly outstanding = new Map<string, Outstanding>();
  private readonly counters: NgClientCounters = { commands: 0, retransmissions: 0, answered: 0, timeouts: 0, stray: 0, sendFailed: 0 };
  private readonly cookiePrefix = randomBytes(6).toString('hex');
  private sequence = 0;
  private closed = false;
  private readonly timeoutMs: number;
  private readonly tries: number;
  private readonly maxOutstanding: number;
  private readonly limits: BencodeLimits;

  /** The relay as the socket names it in received datagrams (IPv4 unmapped). */
  private readonly relay: { readonly address: string; readonly port: number };

  private constructor(private readonly socket: dgram.Socket, private readonly destination: { readonly address: string; readonly port: number }, options: NgClientOptions) {
    this.relay = { address: unmapIPv4(destination.address), port: destination.port };
    this.timeoutMs = options.timeoutMs ?? 1000;
    this.tries = Math.max(1, Math.floor(options.tries ?? 3));
    this.maxOutstanding = options.maxOutstanding ?? 1024;
    this.limits = options.limits ?? DEFAULT_BENCODE_LIMITS;
    socket.on('message', (data, rinfo) => this.receive(data, rinfo.address, rinfo.port));
    // Send errors come back to each send's callback; whatever else goes wrong, the deadline covers.
    socket.on('error', () => undefined);
  }

  /** Resolves the relay's name (within `timeoutMs`) and opens a socket of its address family. */
  static async open(options: NgClientOptions): Promise<NgClient> {
    const address = isIP(options.host) !== 0 ? options.host : await resolveWithin(options.host, options.timeoutMs ?? 1000);
    const local = isIP(address) === 4 ? '0.0.0.0' : '::';
    const socket = await bindUdp(createUdpSocket(local), 0, local);
    return new NgClient(socket, { address, port: options.port }, options);
  }

  /** The relay this client talks to. */
  get target(): { readonly address: string; readonly port: number } {
    return this.relay;
  }

  get pending(): number {
    return this.outstanding.size;
  }

  stats(): NgClientCounters {
    return { ...this.counters };
  }

  /** Health: resolves with the round-trip time of a ping answered `pong`. */
  async ping(): Promise<NgClientResult<{ readonly rttMs: number }>> {
    const start = performance.now();
    const r = await this.command(simpleRequestDict('ping'), (s) => (s.kind === 'pong' ? { ok: true, value: s.dict } : failure('malformed', 'ping answered without "pong"')));
    return r.ok ? { ok: true, value: { rttMs: performance.now() - start } } : r;
  }

  offer(params: NgSdpParams): Promise<NgClientResult<NgSdpResult>> {
    return this.command(sdpRequestDict('offer', params), readSdp);
  }

  answer(params: NgAnswerParams): Promise<NgClientResult<NgSdpResult>> {
    return this.command(sdpRequestDict('answer', params), readSdp);
  }

  delete(params: NgDeleteParams): Promise<NgClientResult<NgDeleteResult>> {
    return this.command(deleteRequestDict(params), readDelete);
  }

  query(params: NgCallParams): Promise<NgClientResult<NgCallStats>> {
    return this.command(queryRequestDict(params), readQuery);
  }

  list(limit?: number): Promise<NgClientResult<readonly string[]>> {
    return this.command(listRequestDict(limit), readList);
  }

  statistics(): Promise<NgClientResult<BencodeDict>> {
    return this.command(simpleRequestDict('statistics'), readStatistics);
  }

  /** Any command, as a dictionary; resolves with the whole result dictionary on `ok`. */
  raw(dict: BencodeInputObject): Promise<NgClientResult<BencodeDict>> {
    return this.command(dict, readOk);
  }

  /** Fails every outstanding command with `closed` and closes the socket. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    for (const o of this.outstanding.values()) o.finish({ error: { kind: 'closed', message: 'the client was closed' } });
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private command<T>(dict: BencodeInputObject, read: ReadResult<T>): Promise<NgClientResult<T>> {
    if (this.closed) return Promise.resolve(failure('closed', 'the client is closed'));
    if (this.outstanding.size >= this.maxOutstanding) return Promise.resolve(failure('overloaded', `${this.outstanding.size} commands outstanding`));
    const cookie = `${this.cookiePrefix}_${++this.sequence}`;
    const encoded = encodeBencode(dict, { prefix: framePrefix(cookie), limits: this.limits });
    if (!encoded.ok) return Promise.resolve(failure('unencodable', encoded.error.message));
    this.counters.commands++;
    const interval = this.timeoutMs / this.tries;
    return new Promise((resolve) => {
      const entry: Outstanding = {
        datagram: encoded.bytes,
        sends: 0,
        timer: setTimeout(() => this.tick(cookie), interval),
        finish: (settled) => {
          clearTimeout(entry.timer);
          this.outstanding.delete(cookie);
          resolve('error' in settled ? { ok: false, error: settled.error } : this.outcome(settled.status, read));
        },
      };
      this.outstanding.set(cookie, entry);
      this.transmit(entry);
    });
  }

  private outcome<T>(status: NgResultStatus, read: ReadResult<T>): NgClientResult<T> {
    switch (status.kind) {
      case 'ok':
      case 'pong':
        return read(status);
      case 'error':
        return failure('refused', `the relay refused: ${status.reason}`, status.reason);
      case 'load-limit':
        return failure('load-limit', `the relay is at its load limit: ${status.message}`, status.message);
      case 'malformed':
        return failure('malformed', status.message);
    }
  }

  /** Resends, or fails the command once its tries are spent (the last interval ends at the deadline). */
  private tick(cookie: string): void {
    const entry = this.outstanding.get(cookie);
    if (entry === undefined) return;
    if (entry.sends >= this.tries) {
      this.counters.timeouts++;
      entry.finish({ error: { kind: 'timeout', message: `no answer from ${this.relay.address}:${this.relay.port} within ${this.timeoutMs} ms (${entry.sends} tries)` } });
      return;
    }
    this.counters.retransmissions++;
    entry.timer = setTimeout(() => this.tick(cookie), this.timeoutMs / this.tries);
    this.transmit(entry);
  }

  private transmit(entry: Outstanding): void {
    entry.sends++;
    this.socket.send(entry.datagram, this.destination.port, this.destination.address, (err) => {
      if (err) this.counters.sendFailed++;
    });
  }

  private receive(data: Buffer, address: string, port: number): void {
    if (port !== this.relay.port || unmapIPv4(address) !== this.relay.address) {
      this.counters.stray++;
      return;
    }
    const frame = splitFrame(data);
    const entry = frame.ok ? this.outstanding.get(frame.cookie) : undefined;
    if (!frame.ok || entry === undefined) {
      this.counters.stray++;
      return;
    }
    this.counters.answered++;
    const decoded = decodeBencode(frame.body, this.limits);
    entry.finish({ status: decoded.ok ? resultStatus(decoded.value) : { kind: 'malformed', message: `undecodable answer: ${decoded.error.message}` } });
  }
}

async function resolveWithin(host: string, timeoutMs: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`could not resolve ${host} within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return (await Promise.race([lookup(host), expired])).address;
  } finally {
    clearTimeout(timer);
  }
}
