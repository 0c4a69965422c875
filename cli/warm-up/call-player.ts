import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';

/**
 * SIP traffic played through a proxy from loopback UDP sockets, for the proxy warm-up
 * (warm-up.ts) and the SIP path benchmark (bench/sip-path).
 *
 * playCalls: a caller and a callee on two loopback UDP sockets that play whole SIP calls:
 * the callee registers as `bob`, then every call is INVITE with SDP → 180 → 200 with SDP →
 * ACK → BYE → 200, the ladder of SIPp's immediate-BYE scenario, with `concurrency` calls in
 * flight.
 */
export interface PlayOptions {
  /** The proxy's SIP UDP listener. */
  readonly host: string;
  readonly port: number;
  readonly calls: number;
  readonly concurrency: number;
  /** A call not finished within this time counts as stalled and the next one starts. */
  readonly stallMs?: number;
  /** Stops starting calls after this many milliseconds (the calls in flight still finish). */
  readonly budgetMs?: number;
  /** Called after each completed call with the number completed so far. */
  readonly onCompleted?: (completed: number) => void;
  /**
   * Digest credentials (user → password): the callee registers as bob answering the 401, and
   * every call is from `caller`, whose INVITE is challenged (407, acknowledged) and sent again
   * with its credentials (MD5, qop=auth), as SIPp does with -au/-ap.
   */
  readonly auth?: { readonly caller: string; readonly passwords: Readonly<Record<string, string>> };
}

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

/**
 * The Authorization (or Proxy-Authorization) value answering the first MD5 challenge of a
 * 401/407 (`WWW-Authenticate` or `Proxy-Authenticate`) for `method` on `uri`.
 */
function digestAnswer(challenge: string, user: string, password: string, method: string, uri: string): string {
  const param = (name: string): string | undefined => new RegExp(`${name}="?([^",]*)"?`, 'i').exec(challenge)?.[1];
  const realm = param('realm') ?? '';
  const nonce = param('nonce') ?? '';
  const opaque = param('opaque');
  const cnonce = randomBytes(8).toString('hex');
  const response = md5(`${md5(`${user}:${realm}:${password}`)}:${nonce}:00000001:${cnonce}:auth:${md5(`${method}:${uri}`)}`);
  return `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="${cnonce}"${opaque === undefined ? '' : `, opaque="${opaque}"`}`;
}

/** The first challenge of a 401/407 that offers MD5 (or names no algorithm). */
function md5Challenge(msg: string, lname: string): string | undefined {
  return headerLinesOf(msg, lname).map(value).find((c) => !/algorithm=/i.test(c) || /algorithm="?MD5"?(?:[,\s]|$)/i.test(c));
}

export interface PlayResult {
  readonly completed: number;
  readonly stalled: number;
}

/** The header lines named `lname` (lower case, long form) of a message held as text. */
function headerLinesOf(text: string, lname: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === lname) out.push(line);
  }
  return out;
}

function value(line: string | undefined): string {
  return line === undefined ? '' : line.slice(line.indexOf(':') + 1).trim();
}

function firstLine(msg: string): string {
  return msg.slice(0, msg.indexOf('\r\n'));
}

const sdp = (host: string, port: number): string =>
  ['v=0', `o=player 53655765 2353687637 IN IP4 ${host}`, 's=-', `c=IN IP4 ${host}`, 't=0 0', `m=audio ${port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');

async function openSocket(host: string): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, host, () => { s.off('error', reject); resolve(); });
  });
  s.setRecvBufferSize(4 << 20);
  return s;
}

/**
 * Keeps `concurrency` exchanges outstanding, each begun by `begin(n)` (which sends and returns
 * the Call-ID it is known by), until `total` have begun or `budgetMs` is spent; one not finished
 * within `stallMs` is given up and the next begins. `done` resolves once none is outstanding.
 */
class ClosedLoop {
  stalled = 0;
  private begun = 0;
  private readonly outstanding = new Map<string, NodeJS.Timeout>();
  private until = Infinity;
  private resolve!: () => void;
  readonly done = new Promise<void>((resolve) => { this.resolve = resolve; });

  constructor(private readonly o: { total: number; concurrency: number; stallMs: number; budgetMs?: number; begin: (n: number) => string }) {}

  start(): Promise<void> {
    if (this.o.budgetMs !== undefined) this.until = performance.now() + this.o.budgetMs;
    for (let i = 0; i < this.o.concurrency; i++) this.next();
    return this.done;
  }

  has(id: string): boolean {
    return this.outstanding.has(id);
  }

  /** Ends exchange `id` (false when it is not outstanding) and begins the next. */
  finish(id: string): boolean {
    const t = this.outstanding.get(id);
    if (t === undefined) return false;
    clearTimeout(t);
    this.outstanding.delete(id);
    this.next();
    return true;
  }

  close(): void {
    for (const t of this.outstanding.values()) clearTimeout(t);
    this.outstanding.clear();
  }

  private next(): void {
    if (this.begun >= this.o.total || performance.now() > this.until) {
      if (this.outstanding.size === 0) this.resolve();
      return;
    }
    const id = this.o.begin(this.begun++);
    this.outstanding.set(id, setTimeout(() => {
      this.stalled++;
      this.outstanding.delete(id);
      this.next();
    }, this.o.stallMs));
  }
}

export async function playCalls(opts: PlayOptions): Promise<PlayResult> {
  const { host, port } = opts;
  const stallMs = opts.stallMs ?? 2000;
  const caller = opts.auth?.caller ?? 'player';
  const ruri = `sip:bob@${host}:${port}`;
  const uac = await openSocket(host);
  const uas = await openSocket(host);
  const uacAddr = `${host}:${uac.address().port}`;
  const uasAddr = `${host}:${uas.address().port}`;
  const send = (s: dgram.Socket, text: string): void => { s.send(Buffer.from(text, 'latin1'), port, host); };
  const calls = new ClosedLoop({
    total: opts.calls, concurrency: opts.concurrency, stallMs, budgetMs: opts.budgetMs,
    begin: (n) => {
      const callId = `c${n}@${uacAddr}`;
      sendInvite(n, callId, 1, '');
      return callId;
    },
  });
  const invite = (n: number, callId: string, seq: number, extra: string): string => {
    const body = sdp(host, 10000);
    return `INVITE ${ruri} SIP/2.0\r\nVia: SIP/2.0/UDP ${uacAddr};branch=z9hG4bKi${n}-${seq};rport\r\nFrom: ${caller} <sip:${caller}@${host}>;tag=a${n}\r\nTo: <sip:bob@${host}:${port}>\r\nCall-ID: ${callId}\r\nCSeq: ${seq} INVITE\r\nContact: <sip:${caller}@${uacAddr}>\r\nMax-Forwards: 70\r\n${extra}Content-Type: application/sdp\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  };
  const sendInvite = (n: number, callId: string, seq: number, extra: string): void => send(uac, invite(n, callId, seq, extra));
  try {
    await new Promise<void>((resolve, reject) => {
      const give = setTimeout(() => reject(new Error('no answer to REGISTER')), stallMs);
      const register = (seq: number, extra: string): void => send(uas, `REGISTER sip:${host}:${port} SIP/2.0\r\nVia: SIP/2.0/UDP ${uasAddr};branch=z9hG4bKreg${seq};rport\r\nFrom: <sip:bob@${host}>;tag=r1\r\nTo: <sip:bob@${host}>\r\nCall-ID: reg1@${uasAddr}\r\nCSeq: ${seq} REGISTER\r\nContact: <sip:bob@${uasAddr}>\r\nExpires: 3600\r\nMax-Forwards: 70\r\n${extra}Content-Length: 0\r\n\r\n`);
      const answered = (m: Buffer): void => {
        const text = m.toString('latin1');
        const status = firstLine(text);
        const challenge = status.includes(' 401 ') ? md5Challenge(text, 'www-authenticate') : undefined;
        const password = opts.auth?.passwords.bob;
        if (challenge !== undefined && password !== undefined && !text.includes('CSeq: 2 REGISTER')) {
          register(2, `Authorization: ${digestAnswer(challenge, 'bob', password, 'REGISTER', `sip:${host}:${port}`)}\r\n`);
          uas.once('message', answered);
          return;
        }
        clearTimeout(give);
        if (status.includes(' 200 ')) resolve();
        else reject(new Error(`REGISTER answered ${status}`));
      };
      uas.once('message', answered);
      register(1, '');
    });

    // The callee: 180 and 200 to an INVITE, 200 to a BYE, headers copied as a UA does.
    uas.on('message', (buf) => {
      const m = buf.toString('latin1');
      const start = firstLine(m);
      if (start.startsWith('ACK ')) return;
      const rr = headerLinesOf(m, 'record-route');
      const common = `${headerLinesOf(m, 'via').join('\r\n')}\r\n${rr.length > 0 ? `${rr.join('\r\n')}\r\n` : ''}${headerLinesOf(m, 'from')[0]}\r\n${headerLinesOf(m, 'to')[0]};tag=uas\r\n${headerLinesOf(m, 'call-id')[0]}\r\n${headerLinesOf(m, 'cseq')[0]}\r\nContact: <sip:bob@${uasAddr}>\r\n`;
      if (start.startsWith('INVITE ')) {
        send(uas, `SIP/2.0 180 Ringing\r\n${common}Content-Length: 0\r\n\r\n`);
        const body = sdp(host, 20000);
        send(uas, `SIP/2.0 200 OK\r\n${common}Content-Type: application/sdp\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      } else if (start.startsWith('BYE ')) {
        send(uas, `SIP/2.0 200 OK\r\n${common}Content-Length: 0\r\n\r\n`);
      }
    });

    let completed = 0;
    uac.on('message', (buf) => {
      const m = buf.toString('latin1');
      const callId = value(headerLinesOf(m, 'call-id')[0]);
      if (!calls.has(callId)) return; // strays
      const status = firstLine(m);
      const cseq = value(headerLinesOf(m, 'cseq')[0]);
      const n = Number(callId.slice(1, callId.indexOf('@')));
      const password = opts.auth?.passwords[caller];
      if (status.startsWith('SIP/2.0 407') && cseq === '1 INVITE' && password !== undefined) {
        // The challenge: acknowledged hop by hop (the first INVITE's branch), then the INVITE again with credentials.
        const challenge = md5Challenge(m, 'proxy-authenticate');
        send(uac, `ACK ${ruri} SIP/2.0\r\nVia: SIP/2.0/UDP ${uacAddr};branch=z9hG4bKi${n}-1;rport\r\nFrom: ${caller} <sip:${caller}@${host}>;tag=a${n}\r\n${headerLinesOf(m, 'to')[0]}\r\nCall-ID: ${callId}\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`);
        if (challenge !== undefined) sendInvite(n, callId, 2, `Proxy-Authorization: ${digestAnswer(challenge, caller, password, 'INVITE', ruri)}\r\n`);
        return;
      }
      if (!status.startsWith('SIP/2.0 200')) return; // 100, 180
      if (cseq.endsWith('INVITE')) {
        const seq = Number(cseq.split(' ')[0]);
        const routes = headerLinesOf(m, 'record-route').map(value).reverse().join(', ');
        const contact = value(headerLinesOf(m, 'contact')[0]).replace(/^<|>$/g, '');
        const dialog = `${routes !== '' ? `Route: ${routes}\r\n` : ''}From: ${caller} <sip:${caller}@${host}>;tag=a${n}\r\n${headerLinesOf(m, 'to')[0]}\r\nCall-ID: ${callId}\r\nContact: <sip:${caller}@${uacAddr}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
        send(uac, `ACK ${contact} SIP/2.0\r\nVia: SIP/2.0/UDP ${uacAddr};branch=z9hG4bKa${n};rport\r\nCSeq: ${seq} ACK\r\n${dialog}`);
        send(uac, `BYE ${contact} SIP/2.0\r\nVia: SIP/2.0/UDP ${uacAddr};branch=z9hG4bKb${n};rport\r\nCSeq: ${seq + 1} BYE\r\n${dialog}`);
      } else if (cseq.endsWith('BYE')) {
        completed++;
        opts.onCompleted?.(completed);
        calls.finish(callId);
      }
    });

    await calls.start();
    return { completed, stalled: calls.stalled };
  } finally {
    calls.close();
    uac.close();
    uas.close();
  }
}

/**
 * REGISTERs of `count` distinct users (`u0`, `u1`, ...) from one loopback socket, `concurrency`
 * outstanding; resolves with how many were answered 2xx (a REGISTER unanswered within `stallMs`
 * is given up, and none is sent after `budgetMs`).
 */
export async function playRegistrations(opts: { host: string; port: number; count: number; concurrency: number; stallMs?: number; budgetMs?: number }): Promise<number> {
  const { host, port } = opts;
  const stallMs = opts.stallMs ?? 2000;
  const ua = await openSocket(host);
  const addr = `${host}:${ua.address().port}`;
  let ok = 0;
  const registrations = new ClosedLoop({
    total: opts.count, concurrency: opts.concurrency, stallMs, budgetMs: opts.budgetMs,
    begin: (n) => {
      const callId = `r${n}@${addr}`;
      ua.send(Buffer.from(`REGISTER sip:${host}:${port} SIP/2.0\r\nVia: SIP/2.0/UDP ${addr};branch=z9hG4bKr${n};rport\r\nFrom: <sip:u${n}@${host}>;tag=r${n}\r\nTo: <sip:u${n}@${host}>\r\nCall-ID: ${callId}\r\nCSeq: 1 REGISTER\r\nContact: <sip:u${n}@${addr}>\r\nExpires: 3600\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`, 'latin1'), port, host);
      return callId;
    },
  });
  ua.on('message', (buf) => {
    const m = buf.toString('latin1');
    if (firstLine(m).startsWith('SIP/2.0 2') && registrations.finish(value(headerLinesOf(m, 'call-id')[0]))) ok++;
  });
  try {
    await registrations.start();
    return ok;
  } finally {
    registrations.close();
    ua.close();
  }
}
