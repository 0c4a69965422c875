// The flood of bench/flood: SIP requests from `sources` loopback addresses (127.0.1.1, 127.0.1.2,
// ...; one socket each), `rate` a second in all, for `seconds`, then one JSON line on stdout:
// what was sent and how much of it the proxy answered. `register`: REGISTERs of distinct users;
// `invite`: INVITEs to users nobody registered (a scan for extensions).
//   node flooder.mjs <port> <register|invite> <sources> <rate> <seconds>
import dgram from 'node:dgram';

const [port, kind, sourceCount, rate, seconds] = [Number(process.argv[2]), process.argv[3], Number(process.argv[4]), Number(process.argv[5]), Number(process.argv[6])];
if (!(port > 0) || (kind !== 'register' && kind !== 'invite') || !(sourceCount > 0) || !(rate > 0) || !(seconds > 0)) {
  console.error('usage: node flooder.mjs <port> <register|invite> <sources> <rate> <seconds>');
  process.exit(2);
}
const HOST = '127.0.0.1';
const TICK_MS = 5;

const addressOf = (i) => `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
const sockets = await Promise.all(Array.from({ length: sourceCount }, (_, i) => new Promise((resolve, reject) => {
  const s = dgram.createSocket('udp4');
  s.once('error', reject);
  s.bind(0, addressOf(i), () => resolve(s));
})));
let answered = 0;
for (const s of sockets) s.on('message', () => { answered++; });

let n = 0;
function request(s) {
  n++;
  const at = `${s.address().address}:${s.address().port}`;
  if (kind === 'register') {
    return `REGISTER sip:${HOST}:${port} SIP/2.0\r\nVia: SIP/2.0/UDP ${at};branch=z9hG4bKfl${n};rport\r\nMax-Forwards: 70\r\nFrom: <sip:f${n}@${HOST}>;tag=f${n}\r\nTo: <sip:f${n}@${HOST}>\r\nCall-ID: fl${n}@${at}\r\nCSeq: 1 REGISTER\r\nContact: <sip:f${n}@${at}>\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n`;
  }
  return `INVITE sip:x${n}@${HOST}:${port} SIP/2.0\r\nVia: SIP/2.0/UDP ${at};branch=z9hG4bKfl${n};rport\r\nMax-Forwards: 70\r\nFrom: <sip:scanner@${HOST}>;tag=f${n}\r\nTo: <sip:x${n}@${HOST}>\r\nCall-ID: fl${n}@${at}\r\nCSeq: 1 INVITE\r\nContact: <sip:scanner@${at}>\r\nContent-Length: 0\r\n\r\n`;
}

const started = performance.now();
let sent = 0;
let next = 0;
await new Promise((resolve) => {
  const timer = setInterval(() => {
    const elapsed = performance.now() - started;
    if (elapsed >= seconds * 1000) {
      clearInterval(timer);
      resolve();
      return;
    }
    // As many as the rate asks for by now: a late tick catches up.
    const due = Math.floor((elapsed / 1000) * rate) - sent;
    for (let k = 0; k < due; k++) {
      const s = sockets[next];
      next = (next + 1) % sockets.length;
      s.send(request(s), port, HOST);
      sent++;
    }
  }, TICK_MS);
});
// Answers still on their way.
await new Promise((r) => setTimeout(r, 500));
for (const s of sockets) s.close();
process.stdout.write(`${JSON.stringify({ kind, sources: sourceCount, rate, seconds, sent, answered, sentPerSecond: Math.round(sent / seconds) })}\n`);
