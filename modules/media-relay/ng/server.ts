/**
 * An NG control server on one UDP socket (dual-stack unless bound to an IPv4 literal): splits
 * each datagram into cookie and bencoded dictionary, validates the command and runs the
 * handler's method for it, answering under the same cookie. Whatever is malformed or unknown
 * gets an NG error result; a datagram with no cookie gets nothing, since there is nothing to
 * answer it with. A retransmitted command (same cookie, same source) is answered from the
 * cookie cache without running the handler again, and one still being handled is not run
 * twice. Every datagram that was not answered normally is counted by why.
 */
import type dgram from 'node:dgram';
import type { Endpoint } from '../../../core/lib/address.ts';
import type { Logger } from '../../../core/lib/log.ts';
import { bindUdp, createUdpSocket } from '../../../core/transport/udp-socket.ts';
import { type BencodeLimits, DEFAULT_BENCODE_LIMITS, decodeBencode, encodeBencode } from './bencode.ts';
import { CookieCache, type CookieCacheOptions, DEFAULT_COOKIE_CACHE } from './cookie-cache.ts';
import { dispatch, type NgHandler } from './handler.ts';
import { errorResponse, framePrefix, loadLimitResponse, NG_ERRORS, type NgRequest, type NgResponse, parseNgRequest, splitFrame } from './messages.ts';

export interface NgServerOptions {
  readonly handler: NgHandler;
  /** Default `::` (dual-stack). */
  readonly host?: string;
  /** Default 0: an ephemeral port (see `port`). */
  readonly port?: number;
  /** Larger datagrams are answered with an error. Default 65,535, as rtpengine. */
  readonly maxRequestBytes?: number;
  /** A handler that has not answered by then is answered for with an error. Default 5 s. */
  readonly handlerTimeoutMs?: number;
  readonly cache?: Partial<Omit<CookieCacheOptions, 'now'>>;
  /** Bounds of the bencode decoder (its `maxLength` is `maxRequestBytes`). */
  readonly limits?: Omit<BencodeLimits, 'maxLength'>;
  readonly now?: () => number;
  readonly log?: Logger;
}

export interface NgServerCounters {
  /** Datagrams received. */
  received: number;
  /** Answers sent, from the cache included. */
  answered: number;
  /** Retransmissions answered from the cookie cache. */
  resent: number;
  /** Retransmissions of a command still being handled (answered once it is done). */
  duplicatesInFlight: number;
  /** Not answered, by why. */
  dropped: { noCookie: number; cookieTooLong: number; sendFailed: number };
  /** Answered with an NG error (or load limit), by why. */
  refused: {
    oversize: number;
    badBencode: number;
    unknownCommand: number;
    invalid: number;
    busy: number;
    byHandler: number;
    handlerFailed: number;
    handlerTimeout: number;
    unencodable: number;
  };
}

function zeroCounters(): NgServerCounters {
  return {
    received: 0,
    answered: 0,
    resent: 0,
    duplicatesInFlight: 0,
    dropped: { noCookie: 0, cookieTooLong: 0, sendFailed: 0 },
    refused: { oversize: 0, badBencode: 0, unknownCommand: 0, invalid: 0, busy: 0, byHandler: 0, handlerFailed: 0, handlerTimeout: 0, unencodable: 0 },
  };
}

const TIMED_OUT = Symbol('timed out');

/** The answer to a command whose result the encoder refused (a handler's bug): written by hand, so it cannot fail. */
const UNENCODABLE_RESULT = Buffer.from('d12:error-reason43:Internal error: result could not be encoded6:result5:errore');

export class NgServer {
  private readonly counters = zeroCounters();
  private readonly cache: CookieCache;
  private readonly limits: BencodeLimits;
  private readonly handlerTimeoutMs: number;
  private closed = false;

  private constructor(private readonly socket: dgram.Socket, private readonly options: NgServerOptions) {
    const now = options.now ?? Date.now;
    this.cache = new CookieCache({ ...DEFAULT_COOKIE_CACHE, ...options.cache, now });
    this.limits = { ...DEFAULT_BENCODE_LIMITS, ...options.limits, maxLength: options.maxRequestBytes ?? DEFAULT_BENCODE_LIMITS.maxLength };
    this.handlerTimeoutMs = options.handlerTimeoutMs ?? 5000;
    socket.on('message', (data, rinfo) => this.receive(data, { address: rinfo.address, port: rinfo.port }));
    // A send error (an unreachable source) must not end the server.
    socket.on('error', (err) => options.log?.warn({ err }, 'ng: socket error'));
  }

  static async listen(options: NgServerOptions): Promise<NgServer> {
    const host = options.host ?? '::';
    const socket = createUdpSocket(host);
    await bindUdp(socket, options.port ?? 0, host);
    return new NgServer(socket, options);
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** A copy of the counters. */
  stats(): NgServerCounters {
    return structuredClone(this.counters);
  }

  /** What the cookie cache holds now. */
  cacheSize(): { readonly inFlight: number; readonly answered: number; readonly bytes: number } {
    return this.cache.size;
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.cache.clear();
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private receive(data: Buffer, source: Endpoint): void {
    this.counters.received++;
    const frame = splitFrame(data);
    if (!frame.ok) {
      if (frame.reason === 'no-cookie') this.counters.dropped.noCookie++;
      else this.counters.dropped.cookieTooLong++;
      return;
    }
    const { cookie, body } = frame;
    if (data.length > this.limits.maxLength) {
      this.counters.refused.oversize++;
      this.send(source, cookie, errorResponse(`Message too large (${data.length} bytes, at most ${this.limits.maxLength})`));
      return;
    }
    const key = CookieCache.key(source.address, source.port, cookie);
    const seen = this.cache.begin(key);
    switch (seen.kind) {
      case 'answered':
        this.counters.resent++;
        this.sendBytes(source, seen.answer);
        return;
      case 'in-flight':
        this.counters.duplicatesInFlight++;
        return;
      case 'busy':
        this.counters.refused.busy++;
        this.send(source, cookie, this.busyResponse(body));
        return;
      case 'new':
        this.handle(key, source, cookie, body).catch((err: unknown) => {
          // A fault of ours, not of the input: answered, counted, logged; never an unhandled rejection.
          this.counters.refused.handlerFailed++;
          this.options.log?.error({ err }, 'ng: command failed');
          this.finish(key, source, cookie, errorResponse('Internal error'), false);
        });
    }
  }

  /** Over the in-flight bound: `load limit` for a sender that understands it (the proxy tries another relay), else an error. */
  private busyResponse(body: Buffer): NgResponse {
    const reason = 'Too many commands in progress';
    const decoded = decodeBencode(body, this.limits);
    const parsed = decoded.ok ? parseNgRequest(decoded.value) : undefined;
    return parsed?.ok === true && parsed.request.supports.has('load-limit') ? loadLimitResponse(reason) : errorResponse(reason);
  }

  private async handle(key: string, source: Endpoint, cookie: string, body: Buffer): Promise<void> {
    const decoded = decodeBencode(body, this.limits);
    if (!decoded.ok) {
      this.counters.refused.badBencode++;
      this.finish(key, source, cookie, errorResponse(NG_ERRORS.notDictionary), false);
      return;
    }
    const parsed = parseNgRequest(decoded.value);
    if (!parsed.ok) {
      if (parsed.reason === NG_ERRORS.unknownCommand) this.counters.refused.unknownCommand++;
      else this.counters.refused.invalid++;
      this.finish(key, source, cookie, errorResponse(parsed.reason), false);
      return;
    }
    this.finish(key, source, cookie, await this.run(parsed.request, source, cookie), true);
  }

  /** The handler's answer, or an error when it throws or takes too long. */
  private async run(request: NgRequest, source: Endpoint, cookie: string): Promise<NgResponse> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = setTimeout(() => resolve(TIMED_OUT), this.handlerTimeoutMs);
    });
    try {
      const outcome = await Promise.race([dispatch(this.options.handler, request, { source, cookie }), deadline]);
      if (outcome !== TIMED_OUT) {
        if (outcome.result === 'error' || outcome.result === 'load limit') this.counters.refused.byHandler++;
        return outcome;
      }
      this.counters.refused.handlerTimeout++;
      this.options.log?.warn({ command: request.command, timeoutMs: this.handlerTimeoutMs }, 'ng: handler did not answer in time');
      return errorResponse('Timed out handling the command');
    } catch (err) {
      this.counters.refused.handlerFailed++;
      this.options.log?.error({ err, command: request.command }, 'ng: handler failed');
      return errorResponse('Internal error');
    } finally {
      clearTimeout(timer);
    }
  }

  /** Answers a command, and the copies of it that came meanwhile; keeps the answer for later retransmissions when `keep`. */
  private finish(key: string, source: Endpoint, cookie: string, response: NgResponse, keep: boolean): void {
    if (this.closed) return;
    const bytes = this.encode(cookie, response);
    const copies = keep ? this.cache.finish(key, bytes) : this.cache.release(key);
    for (let i = 0; i <= copies; i++) this.sendBytes(source, bytes);
  }

  private encode(cookie: string, response: NgResponse): Buffer {
    const encoded = encodeBencode(response, { prefix: framePrefix(cookie) });
    if (encoded.ok) return encoded.bytes;
    this.counters.refused.unencodable++;
    this.options.log?.error({ error: encoded.error }, 'ng: result could not be encoded');
    return Buffer.concat([framePrefix(cookie), UNENCODABLE_RESULT]);
  }

  private send(source: Endpoint, cookie: string, response: NgResponse): void {
    this.sendBytes(source, this.encode(cookie, response));
  }

  private sendBytes(to: Endpoint, bytes: Buffer): void {
    if (this.closed) return;
    this.counters.answered++;
    this.socket.send(bytes, to.port, to.address, (err) => {
      if (err) this.counters.dropped.sendFailed++;
    });
  }
}
