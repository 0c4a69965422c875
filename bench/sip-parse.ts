/**
 * Micro-benchmark (not a test): parse a typical INVITE with SDP many times.
 *
 *   npm run bench:sip-parse -- [iterations]
 */
import { built } from './built.ts';

const { parseSip, serializeSip, getHeader, prependHeader, removeHeader } =
  await built<typeof import('../core/dialects/sip/codec/index.ts')>('core/dialects/sip/codec/index.ts');

const sdp = [
  'v=0',
  'o=- 3608552143 3608552143 IN IP4 192.0.2.10',
  's=pjmedia',
  'c=IN IP4 192.0.2.10',
  't=0 0',
  'm=audio 4004 RTP/AVP 0 8 18 101',
  'a=rtcp:4005 IN IP4 192.0.2.10',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:18 G729/8000',
  'a=fmtp:18 annexb=no',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=ptime:20',
  'a=sendrecv',
  '',
].join('\r\n');

const invite = Buffer.from([
  'INVITE sip:+15551230000@sip.example.com;user=phone SIP/2.0',
  'Via: SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bKPj4095355134a04ab5bae50ca1d4c7b60b',
  'Max-Forwards: 70',
  'From: "Alice" <sip:alice@example.com>;tag=f80e4ea8efaf487691f2aaffffe4b55a',
  'To: <sip:+15551230000@sip.example.com;user=phone>',
  'Contact: <sip:alice@192.0.2.10:5060;ob>',
  'Call-ID: 6ae2dc740a674b848a61a4282b010f53',
  'CSeq: 20637 INVITE',
  'Route: <sip:proxy.example.com;transport=udp;lr>',
  'Allow: PRACK, INVITE, ACK, BYE, CANCEL, UPDATE, SUBSCRIBE, NOTIFY, REFER, MESSAGE, OPTIONS',
  'Supported: replaces, 100rel, timer, norefersub',
  'Session-Expires: 1800',
  'Min-SE: 90',
  'User-Agent: switchyard-bench/1.0',
  'Content-Type: application/sdp',
  `Content-Length: ${Buffer.byteLength(sdp)}`,
  '',
  sdp,
].join('\r\n'));

const n = Number(process.argv[2] ?? 200_000);

const rounds = 5;

/** n iterations per round; prints the best and the median round (a shared machine is noisy) */
function run(label: string, fn: () => void): void {
  for (let i = 0; i < 20_000; i++) fn(); // warm-up
  const perRound: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    perRound.push(Number(process.hrtime.bigint() - t0) / n);
  }
  perRound.sort((a, b) => a - b);
  const best = perRound[0] ?? 0;
  const median = perRound[Math.floor(rounds / 2)] ?? 0;
  console.log(`${label.padEnd(50)} best ${best.toFixed(0).padStart(5)} ns/message  median ${median.toFixed(0).padStart(5)} ns  (${(1e9 / best / 1000).toFixed(0)}k msg/s)`);
}

let sink = 0;
console.log(`message: ${invite.length} bytes, ${n} iterations x ${rounds} rounds`);
run('parseSip', () => {
  const r = parseSip(invite);
  if (r.ok) sink += r.consumed;
});
run('parseSip + read Via/Call-ID/CSeq/To/Route', () => {
  const r = parseSip(invite);
  if (!r.ok) return;
  const m = r.msg;
  sink += (getHeader(m, 'via')?.length ?? 0) + (getHeader(m, 'call-id')?.length ?? 0) +
    (getHeader(m, 'cseq')?.length ?? 0) + (getHeader(m, 'to')?.length ?? 0) + (getHeader(m, 'route')?.length ?? 0);
});
run('parseSip + serializeSip (untouched)', () => {
  const r = parseSip(invite);
  if (r.ok) sink += serializeSip(r.msg).length;
});
run('parse + proxy edits (Via, Route, MF) + serialize', () => {
  const r = parseSip(invite);
  if (!r.ok) return;
  const m = r.msg;
  prependHeader(m, 'Via', 'SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK1234567890abcdef');
  removeHeader(m, 'route', 'first');
  for (const h of m.headers) if (h.lname === 'max-forwards') { h.value = '69'; break; }
  sink += serializeSip(m).length;
});
if (sink === 0) console.log('unexpected');
