import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { hostClockId, monotonicNs } from './clock.ts';
import { MediaReceiver, type ReceiverSnapshot } from './media-receiver.ts';
import { MediaSender, type SentCounts } from './media-sender.ts';
import { compose, parseProxyMessage, printable, type ProxyMessage } from './wire.ts';
import { isValidUser } from '../../core/dialects/plain/grammar.ts';

export interface SessionOptions {
  /** The proxy's signaling address: an IP literal. */
  readonly proxyAddress: string;
  readonly proxyPort: number;
  /** Media packets per second and payload bytes per packet. */
  readonly rate: number;
  readonly payloadBytes: number;
  /** A call with media hangs up by itself after this many seconds. */
  readonly durationSec: number | null;
  /** What an incoming call gets: left ringing for answer()/reject(), answered or rejected at once. */
  readonly incoming: IncomingPolicy;
  readonly now?: () => bigint;
}

export type IncomingPolicy = 'ring' | 'answer' | 'reject';
export type CallRole = 'caller' | 'callee';
/**
 * calling: CALL sent. ringing: CALL received, not yet answered. accepting: ACK_CALL sent, no
 * MEDIA_PORT yet. answered: ACK_CALL received, no MEDIA_PORT yet. connected: media flows.
 */
export type CallPhase = 'calling' | 'ringing' | 'accepting' | 'answered' | 'connected';
/** The request a proxy's ERROR is taken to answer. */
export type PendingRequest = 'register' | 'call' | 'accept';

export interface CallSummary {
  readonly peer: string;
  readonly role: CallRole;
  /** completed: it had media; failed: refused by the callee or the proxy; rejected: refused here; cancelled: ended before media. */
  readonly outcome: 'completed' | 'failed' | 'rejected' | 'cancelled';
  /** local: this phone ended it; remote: the peer or the proxy did. */
  readonly endedBy: 'local' | 'remote';
  readonly reason: string;
  readonly mediaPort: number | null;
  /** Seconds from MEDIA_PORT to the end; null when the call never had media. */
  readonly mediaSeconds: number | null;
  readonly sent: SentCounts;
  readonly received: ReceiverSnapshot | null;
}

export interface MediaStats {
  readonly peer: string;
  readonly mediaSeconds: number;
  readonly sent: SentCounts;
  readonly received: ReceiverSnapshot;
}

export type PhoneEvent =
  | { readonly type: 'sent'; readonly text: string }
  | { readonly type: 'received'; readonly text: string }
  | { readonly type: 'registered'; readonly user: string }
  | { readonly type: 'incoming'; readonly from: string }
  | { readonly type: 'answered'; readonly peer: string }
  | { readonly type: 'connected'; readonly peer: string; readonly role: CallRole; readonly mediaPort: number }
  | { readonly type: 'failed'; readonly peer: string; readonly reason: string }
  | { readonly type: 'bye'; readonly from: string; readonly to: string }
  | { readonly type: 'error'; readonly reason: string; readonly during: PendingRequest | null }
  | { readonly type: 'ended'; readonly summary: CallSummary }
  /** A datagram that was not what this phone expected, dropped. */
  | { readonly type: 'ignored'; readonly source: string; readonly reason: string; readonly text: string }
  | { readonly type: 'notice'; readonly text: string };

interface Call {
  readonly peer: string;
  readonly role: CallRole;
  phase: CallPhase;
  mediaPort: number | null;
  connectedNs: bigint;
  sender: MediaSender | null;
  receiver: MediaReceiver | null;
  /** Media that came before our MEDIA_PORT (the relay may pass the peer's first packets first). */
  early: { readonly port: number; readonly data: Buffer }[];
  hangupTimer: NodeJS.Timeout | null;
}

const EARLY_MEDIA_LIMIT = 64;
const REGISTER_SILENCE_MS = 3000;
/** How long close() waits for signaling still being sent (a last BYE). */
const CLOSE_FLUSH_MS = 1000;

/** A result of a command: null when it was done, else why not. */
export type CommandRefusal = string | null;

/**
 * One phone: a UDP socket that registers, calls and answers over the plain protocol, and sends
 * and receives its call's media on the same socket (the spec's symmetric client).
 */
export class PhoneSession {
  private registeredUser: string | null = null;
  private registeringUser: string | null = null;
  private pending: PendingRequest | null = null;
  private current: Call | null = null;
  private last: CallSummary | null = null;
  /** The media port of the call that just ended: its packets still in flight are dropped quietly. */
  private endedMediaPort: number | null = null;
  private registerTimer: NodeJS.Timeout | null = null;
  private readonly listeners = new Set<(e: PhoneEvent) => void>();
  private readonly now: () => bigint;
  private readonly clockId = hostClockId();
  private closed = false;
  /** Datagrams handed to the socket whose send has not completed: close() lets them go out first. */
  private sending = 0;
  private onSent: (() => void) | null = null;

  private constructor(private readonly socket: dgram.Socket, private readonly o: SessionOptions) {
    this.now = o.now ?? monotonicNs;
    socket.on('message', (data, rinfo) => this.onDatagram(data, rinfo));
    socket.on('error', (err) => this.emit({ type: 'notice', text: `socket error: ${err.message}` }));
  }

  /** Binds the phone's one socket (the proxy address's family, an ephemeral port). */
  static async open(o: SessionOptions): Promise<PhoneSession> {
    const v6 = isIPv6(o.proxyAddress);
    const socket = dgram.createSocket(v6 ? { type: 'udp6', ipv6Only: false } : { type: 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new PhoneSession(socket, o);
  }

  get localPort(): number {
    return this.socket.address().port;
  }

  get user(): string | null {
    return this.registeredUser;
  }

  get callPhase(): CallPhase | null {
    return this.current?.phase ?? null;
  }

  get callPeer(): string | null {
    return this.current?.peer ?? null;
  }

  /** The summary of the last call that ended. */
  get lastCall(): CallSummary | null {
    return this.last;
  }

  onEvent(listener: (e: PhoneEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** What the current call has sent and received, while it has media. */
  mediaStats(): MediaStats | null {
    const c = this.current;
    if (c === null || c.phase !== 'connected' || c.sender === null || c.receiver === null) return null;
    return { peer: c.peer, mediaSeconds: this.secondsSince(c.connectedNs), sent: c.sender.sent, received: c.receiver.snapshot() };
  }

  register(user: string): CommandRefusal {
    if (!isValidUser(user)) return `'${user}' is not a user id (letters and digits, at most 64)`;
    if (this.current !== null) return 'not during a call';
    this.registeringUser = user;
    this.pending = 'register';
    this.send(compose.register(user));
    if (this.registerTimer !== null) clearTimeout(this.registerTimer);
    this.registerTimer = setTimeout(() => {
      this.registerTimer = null;
      if (this.registeringUser === user) this.emit({ type: 'notice', text: `no answer to REGISTER ${user} within ${REGISTER_SILENCE_MS / 1000} s: is the proxy at ${this.proxyName}?` });
    }, REGISTER_SILENCE_MS);
    return null;
  }

  call(callee: string): CommandRefusal {
    if (!isValidUser(callee)) return `'${callee}' is not a user id (letters and digits, at most 64)`;
    const me = this.registeredUser;
    if (me === null) return 'register first';
    if (this.current !== null) return `already in a call with ${this.current.peer}`;
    this.current = this.newCall(callee, 'caller', 'calling');
    this.pending = 'call';
    this.send(compose.call(me, callee));
    return null;
  }

  answer(): CommandRefusal {
    const c = this.current;
    if (c === null || c.phase !== 'ringing') return 'no call is ringing';
    c.phase = 'accepting';
    this.pending = 'accept';
    this.send(compose.accept(this.registeredUser!, c.peer));
    return null;
  }

  reject(reason = 'declined'): CommandRefusal {
    const c = this.current;
    if (c === null || c.phase !== 'ringing') return 'no call is ringing';
    if (!/^[\x20-\x7e]+$/.test(reason)) return 'a reason is printable ASCII';
    this.send(compose.refuse(this.registeredUser!, c.peer, reason));
    this.end('rejected', 'local', reason);
    return null;
  }

  /** Ends the current call: BYE (which also cancels a call not yet set up), or declines one ringing. */
  hangup(reason = 'hung up'): CommandRefusal {
    const c = this.current;
    if (c === null) return 'no call';
    if (c.phase === 'ringing') return this.reject();
    this.send(compose.bye(this.registeredUser!, c.peer));
    this.end(c.phase === 'connected' ? 'completed' : 'cancelled', 'local', reason);
    return null;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.current !== null) this.stopCall(this.current);
    if (this.registerTimer !== null) clearTimeout(this.registerTimer);
    if (this.sending > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, CLOSE_FLUSH_MS);
        this.onSent = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  private get proxyName(): string {
    return isIPv6(this.o.proxyAddress) ? `[${this.o.proxyAddress}]:${this.o.proxyPort}` : `${this.o.proxyAddress}:${this.o.proxyPort}`;
  }

  private emit(e: PhoneEvent): void {
    for (const l of this.listeners) l(e);
  }

  private send(text: string): void {
    if (this.closed) return;
    this.emit({ type: 'sent', text: text.trimEnd() });
    this.sending++;
    this.socket.send(text, this.o.proxyPort, this.o.proxyAddress, (err) => {
      if (err) this.emit({ type: 'notice', text: `could not send to ${this.proxyName}: ${err.message}` });
      if (--this.sending === 0) this.onSent?.();
    });
  }

  private ignore(source: string, reason: string, data: Buffer | string): void {
    this.emit({ type: 'ignored', source, reason, text: typeof data === 'string' ? data : printable(data) });
  }

  private onDatagram(data: Buffer, rinfo: dgram.RemoteInfo): void {
    const source = rinfo.family === 'IPv6' ? `[${rinfo.address}]:${rinfo.port}` : `${rinfo.address}:${rinfo.port}`;
    if (rinfo.address !== this.o.proxyAddress) return this.ignore(source, 'not from the proxy', data);
    if (rinfo.port === this.o.proxyPort) return this.onSignal(data, source);
    const c = this.current;
    if (c !== null && c.phase === 'connected' && rinfo.port === c.mediaPort) return this.onMedia(c, data, source);
    if (c !== null && (c.phase === 'accepting' || c.phase === 'answered') && c.early.length < EARLY_MEDIA_LIMIT) {
      c.early.push({ port: rinfo.port, data });
      return;
    }
    if (rinfo.port === this.endedMediaPort) return;
    this.ignore(source, 'not from the signaling port nor the media port of a call', data);
  }

  private onMedia(c: Call, data: Buffer, source: string): void {
    const outcome = c.receiver!.handle(data);
    if (!outcome.ok) this.ignore(source, `media: ${outcome.reason}`, data);
  }

  private onSignal(data: Buffer, source: string): void {
    const parsed = parseProxyMessage(data);
    if (!parsed.ok) return this.ignore(source, parsed.reason, parsed.line);
    this.emit({ type: 'received', text: parsed.line });
    const m = parsed.msg;
    switch (m.kind) {
      case 'ACK_REGISTER': return this.onRegistered(m.user, parsed.line, source);
      case 'CALL': return this.onIncoming(m.from, m.to, parsed.line, source);
      case 'ACK_CALL': return this.onAnswered(m, parsed.line, source);
      case 'CALL_FAILED': return this.onCallFailed(m, parsed.line, source);
      case 'MEDIA_PORT': return this.onMediaPort(m, parsed.line, source);
      case 'BYE': return this.onBye(m, parsed.line, source);
      case 'ERROR': return this.onError(m.reason);
    }
  }

  private onRegistered(user: string, line: string, source: string): void {
    if (user !== this.registeringUser) return this.ignore(source, 'no REGISTER of this user is waiting', line);
    this.registeringUser = null;
    this.registeredUser = user;
    if (this.pending === 'register') this.pending = null;
    if (this.registerTimer !== null) clearTimeout(this.registerTimer);
    this.registerTimer = null;
    this.emit({ type: 'registered', user });
  }

  private onIncoming(from: string, to: string, line: string, source: string): void {
    const me = this.registeredUser;
    if (me === null || to !== me) return this.ignore(source, `a call for ${to}, not for this phone`, line);
    const c = this.current;
    if (c !== null) {
      if (c.peer === from && c.phase === 'ringing') return this.ignore(source, 'the call is already ringing', line);
      this.emit({ type: 'notice', text: `${from} calls while in a call with ${c.peer}: busy` });
      this.send(compose.refuse(me, from, 'busy'));
      return;
    }
    this.current = this.newCall(from, 'callee', 'ringing');
    this.emit({ type: 'incoming', from });
    if (this.o.incoming === 'answer') this.answer();
    else if (this.o.incoming === 'reject') this.reject();
  }

  /** The current call when `from`/`to` of a callee → caller message match it. */
  private callAnsweredBy(m: { from: string | null; to: string | null }): Call | null {
    const c = this.current;
    return c !== null && c.role === 'caller' && m.from === c.peer && m.to === this.registeredUser ? c : null;
  }

  private onAnswered(m: Extract<ProxyMessage, { kind: 'ACK_CALL' }>, line: string, source: string): void {
    const c = this.callAnsweredBy(m);
    if (c === null || c.phase !== 'calling') return this.ignore(source, 'no call of ours waits for this answer', line);
    c.phase = 'answered';
    if (this.pending === 'call') this.pending = null;
    this.emit({ type: 'answered', peer: c.peer });
  }

  private onCallFailed(m: Extract<ProxyMessage, { kind: 'CALL_FAILED' }>, line: string, source: string): void {
    const c = this.current;
    // The proxy's `CALL_FAILED unknown peer` names nobody; it answers our CALL.
    const ours = c !== null && (
      (c.role === 'caller' && (c.phase === 'calling' || c.phase === 'answered') && (m.from === null ? c.phase === 'calling' : this.callAnsweredBy(m) !== null))
      // `no media port`: the proxy tells both parties, in the callee's name.
      || (c.role === 'callee' && c.phase === 'accepting' && m.from === this.registeredUser && m.to === c.peer));
    if (!ours) return this.ignore(source, 'no call of ours this failure is about', line);
    this.pending = null;
    this.emit({ type: 'failed', peer: c.peer, reason: m.reason });
    this.end('failed', 'remote', m.reason);
  }

  private onMediaPort(m: Extract<ProxyMessage, { kind: 'MEDIA_PORT' }>, line: string, source: string): void {
    const c = this.current;
    const me = this.registeredUser;
    const names = c === null ? false : c.role === 'caller' ? m.from === me && m.to === c.peer : m.from === c.peer && m.to === me;
    if (c === null || !names || (c.phase !== 'answered' && c.phase !== 'accepting')) return this.ignore(source, 'no call of ours waits for a media port', line);
    if (this.pending === 'accept') this.pending = null;
    this.connect(c, m.port);
  }

  private onBye(m: Extract<ProxyMessage, { kind: 'BYE' }>, line: string, source: string): void {
    const c = this.current;
    const me = this.registeredUser;
    const ours = c !== null && ((m.from === me && m.to === c.peer) || (m.from === c.peer && m.to === me));
    if (!ours) return this.ignore(source, 'no call with these parties', line);
    this.emit({ type: 'bye', from: m.from, to: m.to });
    // A BYE in our own name is the proxy's (it ends a call whose media went idle).
    const by = m.from === me ? 'BYE from the proxy' : `BYE from ${m.from}`;
    this.end(c.phase === 'connected' ? 'completed' : 'cancelled', 'remote', by);
  }

  private onError(reason: string): void {
    const during = this.pending;
    this.pending = null;
    this.emit({ type: 'error', reason, during });
    const c = this.current;
    if (during === 'register') {
      this.registeringUser = null;
      if (this.registerTimer !== null) clearTimeout(this.registerTimer);
      this.registerTimer = null;
    } else if (c !== null && ((during === 'call' && c.phase === 'calling') || (during === 'accept' && c.phase === 'accepting'))) {
      this.emit({ type: 'failed', peer: c.peer, reason: `ERROR ${reason}` });
      this.end('failed', 'remote', `ERROR ${reason}`);
    }
  }

  private newCall(peer: string, role: CallRole, phase: CallPhase): Call {
    this.endedMediaPort = null;
    return { peer, role, phase, mediaPort: null, connectedNs: 0n, sender: null, receiver: null, early: [], hangupTimer: null };
  }

  private connect(c: Call, port: number): void {
    c.phase = 'connected';
    c.mediaPort = port;
    c.connectedNs = this.now();
    c.receiver = new MediaReceiver(this.clockId, this.now);
    c.sender = new MediaSender((packet) => this.sendMedia(packet, port), {
      rate: this.o.rate, payloadBytes: this.o.payloadBytes, ssrc: randomInt(0, 2 ** 32 - 1), clockId: this.clockId, now: this.now,
    });
    this.emit({ type: 'connected', peer: c.peer, role: c.role, mediaPort: port });
    const early = c.early;
    c.early = [];
    for (const d of early) this.onDatagram(d.data, { address: this.o.proxyAddress, port: d.port, family: isIPv6(this.o.proxyAddress) ? 'IPv6' : 'IPv4', size: d.data.length });
    if (this.current !== c) return;
    c.sender.start();
    if (this.o.durationSec !== null) c.hangupTimer = setTimeout(() => this.hangup(`--duration ${this.o.durationSec} s reached`), this.o.durationSec * 1000);
  }

  private sendMedia(packet: Buffer, port: number): void {
    if (this.closed) return;
    this.socket.send(packet, port, this.o.proxyAddress, (err) => {
      if (err) this.emit({ type: 'notice', text: `media not sent: ${err.message}` });
    });
  }

  private stopCall(c: Call): void {
    c.sender?.stop();
    if (c.hangupTimer !== null) clearTimeout(c.hangupTimer);
    c.hangupTimer = null;
  }

  private end(outcome: CallSummary['outcome'], endedBy: CallSummary['endedBy'], reason: string): void {
    const c = this.current;
    if (c === null) return;
    this.stopCall(c);
    this.current = null;
    this.endedMediaPort = c.mediaPort;
    const summary: CallSummary = {
      peer: c.peer, role: c.role, outcome, endedBy, reason, mediaPort: c.mediaPort,
      mediaSeconds: c.phase === 'connected' ? this.secondsSince(c.connectedNs) : null,
      sent: c.sender?.sent ?? { packets: 0, payloadBytes: 0 },
      received: c.receiver?.snapshot() ?? null,
    };
    this.last = summary;
    this.emit({ type: 'ended', summary });
  }

  private secondsSince(ns: bigint): number {
    return Number(this.now() - ns) / 1e9;
  }
}
