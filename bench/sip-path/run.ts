/**
 * The SIP path benchmark (not a test): the proxy's CPU time per call, closed loop.
 *
 * Starts bin/switchyard.mjs with the default script (switchyard.config.ts here: SIP on
 * 127.0.0.1:37660), registers a callee, then keeps `concurrency` calls in flight until `calls`
 * have completed: INVITE with SDP → 100/180/200 with SDP → ACK → BYE → 200, every request and
 * response through the proxy, the same ladder as the SIPp benchmark. Figures are the proxy
 * process's own CPU time (utime + stime from /proc) per call, and calls per second. The proxy
 * runs on CPU 0 and this generator on CPU 1 when the machine has two.
 *
 *   npm run bench:sip-path -- [calls=40000] [concurrency=64] [warm-up calls=10000]
 *
 * SY_NODE_FLAGS passes Node flags to the proxy (for example --trace-gc).
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { headerLinesOf } from '../../core/sip-proxy/warm-up-path.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const PROXY_PORT = 37660;
const HOST = '127.0.0.1';

const [calls = 40_000, concurrency = 64, warmUp = 10_000] = process.argv.slice(2).map(Number);
const twoCores = availableParallelism() >= 2;
const STALL_MS = 2000;

function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'latin1').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}

function value(line: string | undefined): string {
  return line === undefined ? '' : line.slice(line.indexOf(':') + 1).trim();
}

function firstLine(msg: string): string {
  return msg.slice(0, msg.indexOf('\r\n'));
}

const sdp = (port: number): string =>
  ['v=0', `o=user1 53655765 2353687637 IN IP4 ${HOST}`, 's=-', `c=IN IP4 ${HOST}`, 't=0 0', `m=audio ${port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');

async function openSocket(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, HOST, () => resolve()));
  s.setRecvBufferSize(4 << 20);
  return s;
}

async function startProxy(): Promise<{ pid: number; stop: () => Promise<void> }> {
  const nodeArgs = [...(process.env.SY_NODE_FLAGS ?? '').split(' ').filter((a) => a !== ''), join(root, 'bin', 'switchyard.mjs'),
    '--config', join(here, 'switchyard.config.ts'), '--log-level', 'warn', '--no-watch'];
  const child = twoCores ? spawn('taskset', ['-c', '0', process.execPath, ...nodeArgs], { stdio: ['ignore', 'inherit', 'inherit'] })
    : spawn(process.execPath, nodeArgs, { stdio: ['ignore', 'inherit', 'inherit'] });
  const probe = await openSocket();
  const up = await new Promise<boolean>((resolve) => {
    const t = setInterval(() => probe.send(`OPTIONS sip:${HOST}:${PROXY_PORT} SIP/2.0\r\nVia: SIP/2.0/UDP ${HOST}:${probe.address().port};branch=z9hG4bKprobe${Date.now()}\r\nFrom: <sip:probe@${HOST}>;tag=p\r\nTo: <sip:${HOST}>\r\nCall-ID: probe${Date.now()}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`, PROXY_PORT, HOST), 100);
    const give = setTimeout(() => { clearInterval(t); resolve(false); }, 15_000);
    probe.once('message', () => { clearInterval(t); clearTimeout(give); resolve(true); });
    child.once('exit', () => { clearInterval(t); clearTimeout(give); resolve(false); });
  });
  probe.close();
  if (!up) throw new Error('the proxy did not answer OPTIONS within 15 s');
  return {
    pid: child.pid!,
    stop: () => new Promise((resolve) => { child.once('exit', () => resolve()); child.kill('SIGTERM'); }),
  };
}

/** One UAC socket and one UAS socket; calls are told apart by Call-ID. */
async function main(): Promise<void> {
  const proxy = await startProxy();
  const uac = await openSocket();
  const uas = await openSocket();
  const uacAddr = `${HOST}:${uac.address().port}`;
  const uasAddr = `${HOST}:${uas.address().port}`;
  const send = (s: dgram.Socket, text: string): void => { s.send(Buffer.from(text, 'latin1'), PROXY_PORT, HOST); };

  // The callee registers once; every call is looked up to it.
  await new Promise<void>((resolve, reject) => {
    uas.once('message', (m) => (firstLine(m.toString('latin1')).includes(' 200 ') ? resolve() : reject(new Error(`REGISTER: ${firstLine(m.toString('latin1'))}`))));
    send(uas, `REGISTER sip:${HOST}:${PROXY_PORT} SIP/2.0\r\nVia: SIP/2.0/UDP ${uasAddr};branch=z9hG4bKreg1;rport\r\nFrom: <sip:bob@${HOST}>;tag=r1\r\nTo: <sip:bob@${HOST}>\r\nCall-ID: reg1\r\nCSeq: 1 REGISTER\r\nContact: <sip:bob@${uasAddr}>\r\nExpires: 3600\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`);
  });

  // UAS: 180 and 200 to an INVITE, 200 to a BYE; headers copied as a UA does.
  uas.on('message', (buf) => {
    const m = buf.toString('latin1');
    const start = firstLine(m);
    if (start.startsWith('ACK ')) return;
    const vias = headerLinesOf(m, 'via').join('\r\n');
    const rr = headerLinesOf(m, 'record-route');
    const common = `${vias}\r\n${rr.length > 0 ? `${rr.join('\r\n')}\r\n` : ''}${headerLinesOf(m, 'from')[0]}\r\n${headerLinesOf(m, 'to')[0]};tag=uas\r\n${headerLinesOf(m, 'call-id')[0]}\r\n${headerLinesOf(m, 'cseq')[0]}\r\nContact: <sip:bob@${uasAddr}>\r\n`;
    if (start.startsWith('INVITE ')) {
      send(uas, `SIP/2.0 180 Ringing\r\n${common}Content-Length: 0\r\n\r\n`);
      const body = sdp(20000);
      send(uas, `SIP/2.0 200 OK\r\n${common}Content-Type: application/sdp\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    } else if (start.startsWith('BYE ')) {
      send(uas, `SIP/2.0 200 OK\r\n${common}Content-Length: 0\r\n\r\n`);
    }
  });

  let started = 0;
  let completed = 0;
  let failed = 0;
  let measureFrom: { cpu: number; t: number; completed: number } | null = null;
  const inFlight = new Map<string, NodeJS.Timeout>();
  let done!: () => void;
  const finished = new Promise<void>((resolve) => { done = resolve; });
  const total = warmUp + calls;

  const startCall = (): void => {
    if (started >= total) {
      if (inFlight.size === 0) done();
      return;
    }
    const n = started++;
    const callId = `c${n}`;
    inFlight.set(callId, setTimeout(() => { failed++; inFlight.delete(callId); startCall(); }, STALL_MS));
    const body = sdp(10000);
    send(uac, `INVITE sip:bob@${HOST}:${PROXY_PORT} SIP/2.0\r\nVia: SIP/2.0/UDP ${uacAddr};branch=z9hG4bKi${n};rport\r\nFrom: sipp <sip:sipp@${uacAddr}>;tag=a${n}\r\nTo: <sip:bob@${HOST}:${PROXY_PORT}>\r\nCall-ID: ${callId}\r\nCSeq: 1 INVITE\r\nContact: <sip:sipp@${uacAddr}>\r\nMax-Forwards: 70\r\nUser-Agent: sip-path-bench\r\nContent-Type: application/sdp\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  };

  uac.on('message', (buf) => {
    const m = buf.toString('latin1');
    const start = firstLine(m);
    const callId = value(headerLinesOf(m, 'call-id')[0]);
    if (!inFlight.has(callId)) return;
    const cseq = value(headerLinesOf(m, 'cseq')[0]);
    if (!start.startsWith('SIP/2.0 200')) return; // 100, 180
    if (cseq.endsWith('INVITE')) {
      const n = callId.slice(1);
      const routes = headerLinesOf(m, 'record-route').map(value).reverse().join(', ');
      const to = headerLinesOf(m, 'to')[0];
      const contact = value(headerLinesOf(m, 'contact')[0]).replace(/^<|>$/g, '');
      const dialog = `${routes !== '' ? `Route: ${routes}\r\n` : ''}From: sipp <sip:sipp@${uacAddr}>;tag=a${n}\r\n${to}\r\nCall-ID: ${callId}\r\nContact: <sip:sipp@${uacAddr}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
      send(uac, `ACK ${contact} SIP/2.0\r\nVia: SIP/2.0/UDP ${uacAddr};branch=z9hG4bKa${n};rport\r\nCSeq: 1 ACK\r\n${dialog}`);
      send(uac, `BYE ${contact} SIP/2.0\r\nVia: SIP/2.0/UDP ${uacAddr};branch=z9hG4bKb${n};rport\r\nCSeq: 2 BYE\r\n${dialog}`);
    } else if (cseq.endsWith('BYE')) {
      clearTimeout(inFlight.get(callId));
      inFlight.delete(callId);
      completed++;
      if (completed === warmUp) measureFrom = { cpu: cpuMs(proxy.pid), t: performance.now(), completed };
      startCall();
    }
  });

  // Progress every 2 s: the rate and the proxy's share of a core over the last interval.
  let last = { cpu: cpuMs(proxy.pid), t: performance.now(), completed: 0 };
  const progress = setInterval(() => {
    const now = { cpu: cpuMs(proxy.pid), t: performance.now(), completed };
    const secs = (now.t - last.t) / 1000;
    process.stderr.write(`  ${((now.completed - last.completed) / secs).toFixed(0)} calls/s, proxy ${(((now.cpu - last.cpu) / (now.t - last.t)) * 100).toFixed(0)} % of a core, ${completed} done\n`);
    last = now;
  }, 2000);
  for (let i = 0; i < concurrency; i++) startCall();
  await finished;
  clearInterval(progress);
  const cpu = cpuMs(proxy.pid);
  const t = performance.now();
  const rss = rssMb(proxy.pid);
  await proxy.stop();
  uac.close();
  uas.close();
  const from = measureFrom ?? { cpu: 0, t: 0, completed: 0 };
  const n = completed - from.completed;
  const secs = (t - from.t) / 1000;
  const usPerCall = ((cpu - from.cpu) * 1000) / n;
  console.log(`sip-path: ${n} calls measured after ${warmUp} warm-up, ${concurrency} in flight, ${failed} stalled`);
  console.log(`  ${(n / secs).toFixed(0)} calls/s, proxy CPU ${usPerCall.toFixed(1)} µs/call (${((cpu - from.cpu) / (t - from.t) * 100).toFixed(0)} % of a core), RSS ${rss.toFixed(0)} MB`);
}

await main();
