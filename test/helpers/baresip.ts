/**
 * baresip (Debian's baresip 1.0) as a test's user agent: a generated config folder, no sound
 * card, driven through its ctrl_tcp module (netstring-framed JSON: commands with a token,
 * answered in order; UA events pushed as they happen).
 *
 * Audio: the aufile module plays a generated tone WAV as the microphone; aubridge stands in for
 * the loudspeaker (a device nothing reads, so no sound card is needed); the sndfile filter dumps
 * what the decoder produced to a WAV file (the received audio, for the tone analysis), and
 * `audio_debug` gives the RTP counters of the current call. baresip 1.0 leaves the sndfile
 * filter out of a stream it restarts after a re-INVITE: after hold/resume, count packets.
 */
import net from 'node:net';
import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { freePort } from './free-ports.ts';
import type { NetnsLab } from './netns.ts';
import { EventLog, pollFor, removeFolder, uaFolder, UaChild } from './ua-process.ts';
import { heardTones, nothingHeard, readWav, writeToneWav, type HeardTones } from './wav.ts';

export interface BaresipOptions {
  /** The user part of the account, e.g. 'alice'. */
  readonly user: string;
  /** The registrar and outbound proxy as host:port (`127.0.0.1:5090`, `[::1]:5090`): the account's domain. */
  readonly proxy: string;
  readonly transport?: 'udp' | 'tcp';
  /** The address baresip binds SIP to (default 127.0.0.1; '::1' for IPv6). */
  readonly local?: string;
  /**
   * What baresip writes in its SDP (its net_interface: an address or an interface name). Default:
   * `local`. `null` leaves it to baresip, which takes the host's first network interface.
   */
  readonly sdpAddress?: string | null;
  /** The tone it sends, in Hz. */
  readonly toneHz: number;
  /** Run inside this namespace of `lab` (its control connection is bridged from there). */
  readonly netns?: { readonly lab: NetnsLab; readonly ns: string };
  /** Register when asked (default 600 s). */
  readonly registerSec?: number;
  /** Print every SIP message sent and received (`baresip -s`): read with sipTrace(). */
  readonly sipTrace?: boolean;
}

export interface BaresipEvent {
  readonly type: string;
  readonly class?: string;
  readonly param?: string;
  /** The call's SIP Call-ID, on call events. */
  readonly id?: string;
  readonly peeruri?: string;
  readonly direction?: 'incoming' | 'outgoing';
  readonly accountaor?: string;
}

interface Response {
  readonly ok: boolean;
  readonly data: string;
  readonly token?: string;
}

export interface RtpStats {
  /** The local RTP port of the call's audio stream. */
  readonly localPort: number;
  /** Where baresip sends RTP (the relay, when it works). */
  readonly remote: string;
  readonly direction: string;
  readonly txPackets: number;
  /** RTP packets received, over all senders baresip saw. */
  readonly rxPackets: number;
}

export interface IncomingCall {
  readonly callId: string;
  readonly from: string;
}

const AUDIO_SECONDS = 120;
const CONNECT_MS = 10_000;
const COMMAND_MS = 5_000;

/** Encodes and decodes ctrl_tcp's framing: `<length>:<json>,`. */
class NetstringReader {
  private buf = Buffer.alloc(0);
  push(chunk: Buffer): string[] {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out: string[] = [];
    for (;;) {
      const colon = this.buf.indexOf(0x3a);
      if (colon < 0) break;
      const len = Number(this.buf.subarray(0, colon).toString('ascii'));
      if (!Number.isInteger(len) || len < 0) throw new Error(`ctrl_tcp: bad netstring length '${this.buf.subarray(0, colon).toString()}'`);
      if (this.buf.length < colon + 1 + len + 1) break;
      out.push(this.buf.subarray(colon + 1, colon + 1 + len).toString('utf8'));
      this.buf = this.buf.subarray(colon + 2 + len);
    }
    return out;
  }
}

function netstring(json: string): Buffer {
  const body = Buffer.from(json, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length}:`), body, Buffer.from(',')]);
}

function hostPort(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

export class Baresip {
  private readonly log: EventLog<BaresipEvent>;
  private readonly pending = new Map<string, { resolve: (r: Response) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private nextToken = 0;
  private closed = false;
  /** The Call-ID of the call the UA is in (the last one it placed or received). */
  callId: string | undefined;
  /** Index in `events` where the current call's events begin. */
  private callStart = 0;
  /** Index in `events` after the last call that closed. */
  private afterLastCall = 0;

  private constructor(
    readonly opts: BaresipOptions,
    readonly dir: string,
    readonly sipPort: number,
    private readonly proc: UaChild,
    private readonly control: Duplex,
  ) {
    this.log = new EventLog(`baresip ${opts.user}`, (e) => `${e.type}(${e.param ?? ''})`, () => proc.output(15));
    const reader = new NetstringReader();
    control.on('data', (chunk: Buffer) => {
      for (const text of reader.push(chunk)) this.onMessage(text);
    });
    control.on('error', () => { /* the process's exit reports it */ });
    control.on('close', () => {
      for (const [, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new Error(`baresip ${opts.user}: control connection closed\n${this.proc.output()}`));
      }
      this.pending.clear();
    });
  }

  /** The account's address of record, `sip:<user>@<proxy>`. */
  get aor(): string {
    return `sip:${this.opts.user}@${this.opts.proxy}`;
  }

  /** Starts baresip with a fresh config and connects to its control port. */
  static async start(opts: BaresipOptions): Promise<Baresip> {
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        return await Baresip.startOnce(opts);
      } catch (err) {
        lastError = err as Error;
        if (!/Address already in use/.test(lastError.message)) throw lastError;
      }
    }
    throw lastError!;
  }

  private static async startOnce(opts: BaresipOptions): Promise<Baresip> {
    const local = opts.local ?? '127.0.0.1';
    // In a test's own namespace every port is free; on the host, ask the kernel (baresip also takes SIP port + 1 for TLS).
    const sipPort = opts.netns ? 5080 : await freePort(local, 2);
    const ctrlPort = opts.netns ? 4444 : await freePort('127.0.0.1');
    const dir = uaFolder('baresip', opts.user);
    writeToneWav(path.join(dir, 'tone.wav'), opts.toneHz, AUDIO_SECONDS);
    const sdp = opts.sdpAddress === undefined ? local : opts.sdpAddress;
    const config = [
      'poll_method epoll',
      `sip_listen ${hostPort(local, sipPort)}`,
      'call_local_timeout 60',
      'call_max_calls 2',
      `audio_source aufile,${path.join(dir, 'tone.wav')}`,
      `audio_player aubridge,speaker-${path.basename(dir)}`,
      `audio_alert aubridge,alert-${path.basename(dir)}`,
      'ausrc_srate 8000',
      'ausrc_channels 1',
      'auplay_srate 8000',
      'auplay_channels 1',
      'rtcp_mux no',
      'jitter_buffer_delay 1-10',
      ...(sdp === null ? [] : [`net_interface ${sdp}`]),
      'module_path /usr/lib/baresip/modules',
      'module g711.so',
      'module aufile.so',
      'module aubridge.so',
      'module sndfile.so',
      'module_tmp account.so',
      'module_app menu.so',
      'module_app ctrl_tcp.so',
      `ctrl_tcp_listen 127.0.0.1:${ctrlPort}`,
      `snd_path ${dir}`,
      '',
    ].join('\n');
    writeFileSync(path.join(dir, 'config'), config);
    writeFileSync(path.join(dir, 'accounts'), '');
    writeFileSync(path.join(dir, 'contacts'), '');
    const proc = UaChild.spawn('baresip', ['-f', dir, ...(opts.sipTrace === true ? ['-s'] : [])], { cwd: dir, netns: opts.netns?.ns });
    try {
      await proc.waitForLine(/baresip is ready\.|Address already in use|init failed/, CONNECT_MS, `baresip ${opts.user} start`).then((m) => {
        if (m[0] !== 'baresip is ready.') throw new Error(`baresip ${opts.user}: ${m[0]}\n${proc.output()}`);
      });
      const control = opts.netns ? opts.netns.lab.connectTcp(opts.netns.ns, '127.0.0.1', ctrlPort) : await connectWithRetry(ctrlPort);
      const ua = new Baresip(opts, dir, sipPort, proc, control);
      await ua.command('reginfo');
      return ua;
    } catch (err) {
      await proc.kill();
      removeFolder(dir);
      throw err;
    }
  }

  private onMessage(text: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    if (msg.response === true) {
      const token = typeof msg.token === 'string' ? msg.token : '';
      const p = this.pending.get(token);
      if (p === undefined) return;
      this.pending.delete(token);
      clearTimeout(p.timer);
      p.resolve({ ok: msg.ok === true, data: typeof msg.data === 'string' ? msg.data : '' });
      return;
    }
    if (msg.event === true && typeof msg.type === 'string') {
      const e = msg as unknown as BaresipEvent;
      if (typeof e.id === 'string' && e.id !== '' && (e.type === 'CALL_INCOMING' || e.type === 'CALL_RINGING' || e.type === 'CALL_OUTGOING' || e.type === 'CALL_ESTABLISHED')) this.callId = e.id;
      if (e.type === 'CALL_INCOMING') this.callStart = this.log.length;
      this.log.push(e);
      if (e.type === 'CALL_CLOSED') this.afterLastCall = this.log.length;
    }
  }

  /** Runs a ctrl_tcp command (a menu command, with its parameters as one string) and returns its output. */
  async command(command: string, params?: string, timeoutMs = COMMAND_MS): Promise<string> {
    if (this.closed) throw new Error(`baresip ${this.opts.user}: closed`);
    const token = `t${++this.nextToken}`;
    const reply = await new Promise<Response>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(token);
        reject(new Error(`baresip ${this.opts.user}: no answer to '${command}' within ${timeoutMs} ms\n${this.proc.output()}`));
      }, timeoutMs);
      this.pending.set(token, { resolve, reject, timer });
      this.control.write(netstring(JSON.stringify(params === undefined ? { command, token } : { command, params, token })));
    });
    if (!reply.ok) throw new Error(`baresip ${this.opts.user}: '${command}' failed: ${reply.data}`);
    return reply.data.replace(/\x1b\[[0-9;]*m/g, '');
  }

  /** Every event so far, in arrival order. */
  get events(): readonly BaresipEvent[] {
    return this.log.events;
  }

  /** Resolves with the first event from `since` on (an index into `events`) that matches. */
  waitForEvent(pred: (e: BaresipEvent) => boolean, timeoutMs: number, what: string, since = 0): Promise<BaresipEvent> {
    return this.log.waitFor(pred, timeoutMs, what, since);
  }

  private waitForType(types: readonly string[], timeoutMs: number, since: number): Promise<BaresipEvent> {
    return this.waitForEvent((e) => types.includes(e.type), timeoutMs, `waiting for ${types.join(' or ')}`, since);
  }

  /** Creates the account and registers it; resolves on 2xx, rejects on a failure or at the deadline. */
  async register(timeoutMs = 10_000): Promise<void> {
    const since = this.events.length;
    const transport = this.opts.transport === 'tcp' ? ';transport=tcp' : '';
    await this.command('uanew', `<${this.aor}${transport}>;regint=${this.opts.registerSec ?? 600};audio_codecs=pcmu;answermode=manual;ptime=20`);
    const e = await this.waitForType(['REGISTER_OK', 'REGISTER_FAIL'], timeoutMs, since);
    if (e.type !== 'REGISTER_OK') throw new Error(`baresip ${this.opts.user}: registration failed: ${e.param ?? ''}`);
  }

  /** Places a call to `uri` (baresip adds the account's transport); resolves once baresip has sent the INVITE. */
  async call(uri: string): Promise<void> {
    this.callId = undefined;
    this.callStart = this.events.length;
    await this.command('dial', uri);
  }

  /** Waits for the call to be answered; rejects if it closes first (the reason is in the message). */
  async waitForEstablished(timeoutMs = 10_000, since = this.callStart): Promise<void> {
    const e = await this.waitForType(['CALL_ESTABLISHED', 'CALL_CLOSED'], timeoutMs, since);
    if (e.type !== 'CALL_ESTABLISHED') throw new Error(`baresip ${this.opts.user}: call closed before it was answered: ${e.param ?? ''}`);
  }

  /** Waits for the call to end; resolves with baresip's reason (e.g. "486 Rejected", "Connection reset by user"). */
  async waitForClosed(timeoutMs = 10_000, since = this.callStart): Promise<string> {
    const e = await this.waitForType(['CALL_CLOSED'], timeoutMs, since);
    return e.param ?? '';
  }

  /** Waits for an incoming call (one that arrived after the last call closed, or one to come). */
  async waitForIncoming(timeoutMs = 10_000, since = this.afterLastCall): Promise<IncomingCall> {
    const e = await this.waitForType(['CALL_INCOMING'], timeoutMs, since);
    return { callId: e.id ?? '', from: e.peeruri ?? e.param ?? '' };
  }

  /** Answers the ringing call and waits until it is established. */
  async answer(timeoutMs = 10_000): Promise<void> {
    const since = this.events.length;
    await this.command('accept');
    await this.waitForEstablished(timeoutMs, since);
  }

  /** Rejects the ringing call (baresip answers 486). */
  async reject(): Promise<void> {
    await this.command('hangup');
  }

  /** Ends the current call with BYE. */
  async hangup(): Promise<void> {
    await this.command('hangup');
  }

  /** Puts the call on hold: a re-INVITE with a=sendonly. Resolves when the answer to it arrived. */
  async hold(timeoutMs = 10_000): Promise<void> {
    const since = this.events.length;
    await this.command('hold');
    await this.waitForEvent((e) => e.type === 'CALL_REMOTE_SDP' && e.param === 'answer', timeoutMs, 'the answer to the hold re-INVITE', since);
  }

  /** Takes the call off hold: a re-INVITE with a=sendrecv. Resolves when the answer to it arrived. */
  async resume(timeoutMs = 10_000): Promise<void> {
    const since = this.events.length;
    await this.command('resume');
    await this.waitForEvent((e) => e.type === 'CALL_REMOTE_SDP' && e.param === 'answer', timeoutMs, 'the answer to the resume re-INVITE', since);
  }

  /** Sends OPTIONS to `uri` and resolves with the response's status code (baresip prints the response). */
  async options(uri: string, timeoutMs = 5000): Promise<number> {
    const line = this.proc.waitForLine(/^SIP\/2\.0 (\d{3}) |OPTIONS failed: (\d{3})|options reply error.*/, timeoutMs, `OPTIONS ${uri}`);
    line.catch(() => { /* awaited below */ });
    await this.command('options', uri);
    const m = await line;
    const status = m[1] ?? m[2];
    if (status === undefined) throw new Error(`baresip ${this.opts.user}: OPTIONS ${uri}: ${m[0]}`);
    return Number(status);
  }

  /** RTP counters of the current call's audio stream, from `audio_debug`. */
  async rtpStats(): Promise<RtpStats> {
    const text = await this.command('audio_debug');
    const local = /local: \S*?:(\d+),/.exec(text);
    if (local === null) throw new Error(`baresip ${this.opts.user}: no audio stream in the current call:\n${text}`);
    let rx = 0;
    for (const m of text.matchAll(/rcvd=(\d+)/g)) rx += Number(m[1]);
    return {
      localPort: Number(local[1]),
      remote: /remote: (\S+?)\//.exec(text)?.[1] ?? '',
      direction: /audio dir=(\w+)/.exec(text)?.[1] ?? '',
      txPackets: Number(/TX: packets=(\d+)/.exec(text)?.[1] ?? 0),
      rxPackets: rx,
    };
  }

  /** Waits until the call has received `packets` more RTP packets than `from` counted; resolves with the new counters. */
  async waitForRtp(from: RtpStats | null, packets: number, timeoutMs = 10_000): Promise<RtpStats> {
    return pollFor(async () => {
      const s = await this.rtpStats();
      return s.rxPackets - (from?.rxPackets ?? 0) >= packets ? s : undefined;
    }, timeoutMs, `baresip ${this.opts.user}: ${packets} RTP packets received`, 200);
  }

  /** The local RTP port of the current call. */
  async mediaPort(): Promise<number> {
    return (await this.rtpStats()).localPort;
  }

  /** Seconds of audio received in the current call so far (RTP packets at 20 ms each). */
  async receivedSeconds(): Promise<number> {
    return (await this.rtpStats()).rxPackets * 0.02;
  }

  /** Waits until `seconds` more audio than `from` (a receivedSeconds() reading) has arrived. */
  async waitForReceivedAudio(seconds: number, from = 0, timeoutMs = 10_000): Promise<void> {
    await pollFor(async () => ((await this.receivedSeconds()) - from >= seconds ? true : undefined), timeoutMs, `baresip ${this.opts.user}: ${seconds} s of audio received`, 200);
  }

  /** What the decoder produced in the calls so far (the newest dump), measured at `tones`. */
  heard(tones: readonly number[]): HeardTones {
    const dumps = readdirSync(this.dir).filter((f) => f.endsWith('-dec.wav')).map((f) => path.join(this.dir, f));
    if (dumps.length === 0) return nothingHeard(tones);
    const newest = dumps.sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs).at(-1)!;
    return heardTones(readWav(newest), tones);
  }

  /** Deletes the decoder dumps, so heard() measures the next call only. */
  clearRecordings(): void {
    for (const f of readdirSync(this.dir)) if (/^dump-.*\.wav$/.test(f)) rmSync(path.join(this.dir, f));
  }

  /** Everything baresip printed so far (with `sipTrace`, the SIP messages it sent and received). */
  sipTrace(): string {
    return this.proc.output(Number.MAX_SAFE_INTEGER);
  }

  /** baresip's recent output, for failure messages. */
  output(lines = 40): string {
    return this.proc.output(lines);
  }

  /** Kills baresip and deletes its folder. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.control.destroy();
    await this.proc.kill();
    removeFolder(this.dir);
  }
}

/** Connects to a control port on this host's loopback, retrying until it listens. */
async function connectWithRetry(port: number): Promise<Duplex> {
  return pollFor(() => new Promise<Duplex | undefined>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => resolve(s));
    s.once('error', () => resolve(undefined));
  }), CONNECT_MS, `baresip's control port ${port} to accept a connection`);
}
