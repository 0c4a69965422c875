/**
 * linphone (Debian's linphone-cli 5.1: linphonec on liblinphone) as a second, independent user
 * agent. linphonec runs in its --pipe mode, which reads commands from stdin on a thread and
 * iterates the core every 20 ms (its readline mode does not iterate when stdin is not a
 * terminal). It keeps one command line at a time, so commands are sent one by one, each after
 * the prompt that closes the previous one. It prints call state changes as text lines, parsed
 * here into events.
 *
 * Audio: "soundcard use files" replaces the sound card with files: "play" names the WAV it
 * sends (a generated tone) and "record" the WAV the decoded audio is written to, for the tone
 * analysis. linphone-daemon was the other candidate: its replies are structured, but it cannot
 * record what it receives, and its statistics carry no packet counts.
 *
 * liblinphone needs a writable HOME (its database); each UA gets its own under its folder.
 */
import { existsSync, mkdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { freePort } from './free-ports.ts';
import type { NetnsLab } from './netns.ts';
import { EventLog, pollFor, removeFolder, uaFolder, UaChild } from './ua-process.ts';
import { heardTones, nothingHeard, readWav, writeToneWav, type HeardTones, type Pcm } from './wav.ts';

export interface LinphoneOptions {
  /** The user part of the account. */
  readonly user: string;
  /** The registrar and outbound proxy as host:port (`127.0.0.1:5090`, `[::1]:5090`). */
  readonly proxy: string;
  readonly transport?: 'udp' | 'tcp';
  /** The tone it sends, in Hz. */
  readonly toneHz: number;
  /** IPv6 on (default: when the proxy is an IPv6 literal). */
  readonly ipv6?: boolean;
  /** Run inside this namespace of `lab`. */
  readonly netns?: { readonly lab: NetnsLab; readonly ns: string };
}

export type LinphoneEventType = 'incoming' | 'outgoing' | 'ringing' | 'connected' | 'streams-running' | 'ended' | 'error' | 'paused' | 'paused-by-remote' | 'resuming';

export interface LinphoneEvent {
  readonly type: LinphoneEventType;
  /** linphonec's call number. */
  readonly call: number;
  /** The other party's address. */
  readonly peer: string;
  /** For `ended`: liblinphone's reason (e.g. "Declined", "No error"). */
  readonly reason?: string;
}

const PROMPT = 'linphonec> ';
const AUDIO_SECONDS = 120;
const START_MS = 15_000;
const COMMAND_MS = 5_000;

const EVENT_LINES: readonly [RegExp, (m: RegExpExecArray) => LinphoneEvent][] = [
  [/^Receiving new incoming call from (.+), assigned id (\d+)$/, (m) => ({ type: 'incoming', call: Number(m[2]), peer: m[1]! })],
  [/^Establishing call id to (.+), assigned id (\d+)$/, (m) => ({ type: 'outgoing', call: Number(m[2]), peer: m[1]! })],
  [/^Call (\d+) to (.+) ringing\.$/, (m) => ({ type: 'ringing', call: Number(m[1]), peer: m[2]! })],
  [/^Call (\d+) with (.+) connected\.$/, (m) => ({ type: 'connected', call: Number(m[1]), peer: m[2]! })],
  [/^Media streams established with (.+) for call (\d+) \(\w+\)\.$/, (m) => ({ type: 'streams-running', call: Number(m[2]), peer: m[1]! })],
  [/^Call (\d+) with (.+) ended \((.*)\)\.$/, (m) => ({ type: 'ended', call: Number(m[1]), peer: m[2]!, reason: m[3]! })],
  [/^Call (\d+) with (.+) error\.$/, (m) => ({ type: 'error', call: Number(m[1]), peer: m[2]! })],
  [/^Call (\d+) with (.+) is now paused\.$/, (m) => ({ type: 'paused', call: Number(m[1]), peer: m[2]! })],
  [/^Call (\d+) has been paused by (.+)\.$/, (m) => ({ type: 'paused-by-remote', call: Number(m[1]), peer: m[2]! })],
  [/^Resuming call (\d+) with (.+)\.$/, (m) => ({ type: 'resuming', call: Number(m[1]), peer: m[2]! })],
];

export class Linphone {
  private readonly log: EventLog<LinphoneEvent>;
  /** Commands waiting for their closing prompt, oldest first. */
  private readonly pending: { resolve: (out: string) => void; reject: (e: Error) => void; timer: NodeJS.Timeout; out: string }[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  /** Output after the last prompt that may be the start of the next one. */
  private carry = '';
  /** Output not yet ended by a newline. */
  private lineBuffer = '';
  private closed = false;
  /** The call the UA is in: linphonec's number of the last call it placed or received. */
  currentCall: number | undefined;
  /** Index in `events` where the current call's events begin. */
  private callStart = 0;
  /** Index in `events` after the last call that ended. */
  private afterLastCall = 0;

  private constructor(readonly opts: LinphoneOptions, readonly dir: string, readonly rtpPort: number, private readonly proc: UaChild) {
    this.log = new EventLog(`linphonec ${opts.user}`, (e) => `${e.type}(${e.reason ?? ''})`, () => proc.output(15));
    proc.child.stdout!.on('data', (chunk: string) => this.onOutput(chunk));
    void proc.exited.then((code) => {
      for (const p of this.pending.splice(0)) {
        clearTimeout(p.timer);
        p.reject(new Error(`linphonec ${opts.user} exited (${code})\n${proc.output()}`));
      }
    });
  }

  get aor(): string {
    return `sip:${this.opts.user}@${this.opts.proxy}`;
  }

  /** The WAV the decoded audio goes to. */
  get recordFile(): string {
    return path.join(this.dir, 'received.wav');
  }

  /** Starts linphonec with a fresh configuration, files for audio, and waits for its first prompt. */
  static async start(opts: LinphoneOptions): Promise<Linphone> {
    const ipv6 = opts.ipv6 ?? net.isIPv6(opts.proxy.replace(/^\[(.*)\]:\d+$/, '$1'));
    const dir = uaFolder('linphone', opts.user);
    const home = path.join(dir, 'home');
    mkdirSync(path.join(home, '.local', 'share', 'linphone'), { recursive: true });
    writeToneWav(path.join(dir, 'tone.wav'), opts.toneHz, AUDIO_SECONDS);
    // One RTP port, known in advance, so a test can tell which relay party is this UA.
    const rtpPort = opts.netns ? 7078 : await freePort(ipv6 ? '::' : '0.0.0.0');
    const tcp = opts.transport === 'tcp';
    const rc = [
      '[sip]',
      `sip_port=${tcp ? 0 : -1}`,
      `sip_tcp_port=${tcp ? -1 : 0}`,
      'sip_tls_port=0',
      `ipv6_enabled=${ipv6 ? 1 : 0}`,
      'register_only_when_network_is_up=0',
      '[rtp]',
      `audio_rtp_port=${rtpPort}`,
      'audio_jitt_comp=60',
      '[sound]',
      'echocancellation=0',
      '[video]',
      'capture=0',
      'display=0',
      'automatically_initiate=0',
      'automatically_accept=0',
      '[misc]',
      'enable_video=0',
      '[audio_codec_0]',
      'mime=PCMU',
      'rate=8000',
      'channels=1',
      'enabled=1',
      '',
    ].join('\n');
    writeFileSync(path.join(dir, 'linphonerc'), rc);
    const proc = UaChild.spawn('linphonec', ['--pipe', '-c', path.join(dir, 'linphonerc'), '-d', '0'], {
      cwd: dir,
      env: { ...process.env, HOME: home },
      netns: opts.netns?.ns,
      stdin: true,
    });
    const ua = new Linphone(opts, dir, rtpPort, proc);
    try {
      await ua.enqueue(null, START_MS);
      for (const cmd of ['soundcard use files', `play ${path.join(dir, 'tone.wav')}`, `record ${ua.recordFile}`]) await ua.command(cmd);
      return ua;
    } catch (err) {
      await proc.kill();
      removeFolder(dir);
      throw err;
    }
  }

  private onOutput(chunk: string): void {
    // A prompt is printed without a newline; event text may follow it on the same line.
    let text = this.carry + chunk;
    this.carry = '';
    for (;;) {
      const at = text.indexOf(PROMPT);
      if (at < 0) break;
      this.feed(text.slice(0, at));
      const p = this.pending.shift();
      if (p !== undefined) {
        clearTimeout(p.timer);
        p.resolve(p.out);
      }
      text = text.slice(at + PROMPT.length);
    }
    // Keep a tail that could be the start of a prompt split across chunks.
    let keep = 0;
    for (let n = Math.min(PROMPT.length - 1, text.length); n > 0; n--) {
      if (PROMPT.startsWith(text.slice(-n))) {
        keep = n;
        break;
      }
    }
    this.feed(text.slice(0, text.length - keep));
    this.carry = text.slice(text.length - keep);
  }

  private feed(text: string): void {
    if (this.pending[0] !== undefined) this.pending[0].out += text;
    this.lineBuffer += text;
    let nl: number;
    while ((nl = this.lineBuffer.indexOf('\n')) >= 0) {
      const line = this.lineBuffer.slice(0, nl).trim();
      this.lineBuffer = this.lineBuffer.slice(nl + 1);
      for (const [re, make] of EVENT_LINES) {
        const m = re.exec(line);
        if (m === null) continue;
        const e = make(m);
        if (e.type === 'incoming' || e.type === 'outgoing') this.currentCall = e.call;
        if (e.type === 'incoming') this.callStart = this.log.length;
        this.log.push(e);
        if (e.type === 'ended' || e.type === 'error') this.afterLastCall = this.log.length;
        break;
      }
    }
  }

  /** Sends `line` (null: nothing, just wait for a prompt) once the previous command is done; resolves with its output. */
  private enqueue(line: string | null, timeoutMs: number): Promise<string> {
    const run = (): Promise<string> => new Promise<string>((resolve, reject) => {
      if (this.closed) {
        reject(new Error(`linphonec ${this.opts.user}: closed`));
        return;
      }
      const timer = setTimeout(() => {
        const i = this.pending.findIndex((p) => p.timer === timer);
        if (i >= 0) this.pending.splice(i, 1);
        reject(new Error(`linphonec ${this.opts.user}: no prompt after '${line ?? '(start)'}' within ${timeoutMs} ms\n${this.proc.output()}`));
      }, timeoutMs);
      this.pending.push({ resolve, reject, timer, out: '' });
      if (line !== null) this.proc.child.stdin!.write(`${line}\n`);
    });
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Runs one linphonec command and returns what it printed. */
  command(line: string, timeoutMs = COMMAND_MS): Promise<string> {
    return this.enqueue(line, timeoutMs);
  }

  /** Every event so far, in arrival order. */
  get events(): readonly LinphoneEvent[] {
    return this.log.events;
  }

  /** Resolves with the first event from `since` on (an index into `events`) that matches. */
  waitForEvent(pred: (e: LinphoneEvent) => boolean, timeoutMs: number, what: string, since = 0): Promise<LinphoneEvent> {
    return this.log.waitFor(pred, timeoutMs, what, since);
  }

  private waitForTypes(types: readonly LinphoneEventType[], timeoutMs: number, since: number): Promise<LinphoneEvent> {
    return this.waitForEvent((e) => types.includes(e.type), timeoutMs, `waiting for ${types.join(' or ')}`, since);
  }

  /** Registers `sip:<user>@<proxy>` through the proxy; resolves once linphone reports it registered. */
  async register(timeoutMs = 10_000): Promise<void> {
    const transport = this.opts.transport === 'tcp' ? ';transport=tcp' : '';
    await this.command(`register ${this.aor} sip:${this.opts.proxy}${transport}`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const out = await this.command('status register');
      if (/registered, identity=/.test(out)) return;
      if (Date.now() >= deadline) throw new Error(`linphonec ${this.opts.user}: not registered within ${timeoutMs} ms (${out.trim()})\n${this.proc.output()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Places a call to `uri`, through the proxy it registered with (over its transport). */
  async call(uri: string): Promise<void> {
    this.currentCall = undefined;
    this.callStart = this.events.length;
    await this.command(`call ${uri}`);
  }

  /** Waits for the call to be answered (its media running); rejects if it ends first. */
  async waitForEstablished(timeoutMs = 10_000, since = this.callStart): Promise<void> {
    const e = await this.waitForTypes(['streams-running', 'ended', 'error'], timeoutMs, since);
    if (e.type !== 'streams-running') throw new Error(`linphonec ${this.opts.user}: call ${e.type} before it was answered (${e.reason ?? ''})`);
  }

  /** Waits for the call to end; resolves with liblinphone's reason. */
  async waitForClosed(timeoutMs = 10_000, since = this.callStart): Promise<string> {
    const e = await this.waitForTypes(['ended', 'error'], timeoutMs, since);
    return e.reason ?? e.type;
  }

  async waitForIncoming(timeoutMs = 10_000, since = this.afterLastCall): Promise<{ readonly call: number; readonly from: string }> {
    const e = await this.waitForTypes(['incoming'], timeoutMs, since);
    return { call: e.call, from: e.peer };
  }

  /** Answers the ringing call and waits for its media. */
  async answer(timeoutMs = 10_000): Promise<void> {
    const since = this.events.length;
    await this.command(`answer${this.currentCall === undefined ? '' : ` ${this.currentCall}`}`);
    await this.waitForEstablished(timeoutMs, since);
  }

  /** Declines the ringing call. */
  async reject(): Promise<void> {
    await this.command(`terminate${this.currentCall === undefined ? '' : ` ${this.currentCall}`}`);
  }

  /** Ends the call with BYE. */
  async hangup(): Promise<void> {
    await this.command(`terminate${this.currentCall === undefined ? '' : ` ${this.currentCall}`}`);
  }

  /** Pauses the call (a re-INVITE with a=sendonly) and waits until linphone reports it paused. */
  async hold(timeoutMs = 10_000): Promise<void> {
    const since = this.events.length;
    await this.command('pause');
    await this.waitForTypes(['paused'], timeoutMs, since);
  }

  /** Resumes the paused call and waits for its media to run again. */
  async resume(timeoutMs = 10_000): Promise<void> {
    const since = this.events.length;
    await this.command(`resume${this.currentCall === undefined ? '' : ` ${this.currentCall}`}`);
    await this.waitForTypes(['streams-running'], timeoutMs, since);
  }

  /** The local RTP port (configured: one port, so the relay's record of this party can be checked). */
  async mediaPort(): Promise<number> {
    return this.rtpPort;
  }

  /**
   * Seconds of audio received in the current call so far: the length of the recording. Note that
   * liblinphone stops recording when it pauses a call itself and does not record again after it
   * resumes (a remote hold and resume is recorded).
   */
  async receivedSeconds(): Promise<number> {
    return this.recordedSeconds();
  }

  /** Waits until the recording has `seconds` more audio than `from` (a receivedSeconds() reading; a restarted recording counts from 0). */
  async waitForReceivedAudio(seconds: number, from = 0, timeoutMs = 10_000): Promise<void> {
    await pollFor(() => {
      const now = this.recordedSeconds();
      return now - (now < from ? 0 : from) >= seconds ? true : undefined;
    }, timeoutMs, `linphonec ${this.opts.user}: ${seconds} s of audio recorded`, 200);
  }

  /** Seconds of decoded audio recorded so far in the current recording. */
  recordedSeconds(): number {
    if (!existsSync(this.recordFile) || statSync(this.recordFile).size <= 44) return 0;
    const pcm = this.recording();
    return pcm.samples.length / pcm.sampleRate;
  }

  /** The recording; while the call runs its header is still zeroed, and the codec is PCMU (baresip offers nothing else). */
  private recording(): Pcm {
    return readWav(this.recordFile, { sampleRate: 8000 });
  }

  /**
   * What the decoder produced, measured at `tones`: from `fromSeconds` into the recording on
   * (linphone reopens the file when a stream restarts, so a recording shorter than that is
   * measured whole).
   */
  heard(tones: readonly number[], fromSeconds = 0): HeardTones {
    if (!existsSync(this.recordFile)) return nothingHeard(tones);
    const pcm = this.recording();
    const from = Math.round(fromSeconds * pcm.sampleRate);
    const samples = from < pcm.samples.length ? pcm.samples.subarray(from) : pcm.samples;
    return heardTones({ sampleRate: pcm.sampleRate, samples }, tones);
  }

  /** Deletes the recording, so heard() measures the next call only (linphone opens it when a call's media starts). */
  clearRecordings(): void {
    if (existsSync(this.recordFile)) unlinkSync(this.recordFile);
  }

  output(lines = 40): string {
    return this.proc.output(lines);
  }

  /** Kills linphonec (it does not end on SIGTERM, and its "quit" can hang) and deletes its folder. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.splice(0)) clearTimeout(p.timer);
    await this.proc.kill();
    removeFolder(this.dir);
  }
}
