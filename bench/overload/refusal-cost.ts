/**
 * Micro-benchmark (not a test): what refusing a new request costs, at a glance
 * (core/dialects/sip/triage.ts) against through the parser (what the full path pays), for the
 * INVITE SIPp's uac.xml sends. Best and median of five rounds (a shared machine is noisy).
 *
 *   node --import jiti/register bench/overload/refusal-cost.ts [iterations]
 */
import { createSipDialect } from '../../core/dialects/sip/dialect.ts';
import { buildResponse } from '../../core/dialects/sip/messages.ts';
import { serializeSip } from '../../core/dialects/sip/codec/serialize.ts';
import { SipTriage } from '../../core/dialects/sip/triage.ts';
import { sipRequest } from '../../core/dialects/sip/wire.ts';
import type { Request } from '../../core/model/message.ts';

const sdp = 'v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';
const invite = Buffer.from([
  'INVITE sip:bob@127.0.0.1:5060 SIP/2.0',
  'Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-1-0;rport',
  'From: sipp <sip:sipp@127.0.0.1:5061>;tag=4242SIPpTag001',
  'To: <sip:bob@127.0.0.1:5060>',
  'Call-ID: 1-4242@127.0.0.1',
  'CSeq: 1 INVITE',
  'Contact: <sip:sipp@127.0.0.1:5061>',
  'Max-Forwards: 70',
  'User-Agent: sipp-bench-uac',
  'Subject: Performance Test',
  'Content-Type: application/sdp',
  `Content-Length: ${sdp.length}`,
  '',
  sdp,
].join('\r\n'), 'latin1');
const source = { address: '::ffff:127.0.0.1', port: 5061 };
const n = Number(process.argv[2] ?? 200_000);

function run(label: string, fn: () => void): void {
  for (let i = 0; i < 20_000; i++) fn();
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    rounds.push(Number(process.hrtime.bigint() - t0) / n);
  }
  rounds.sort((a, b) => a - b);
  console.log(`${label.padEnd(52)} best ${rounds[0]!.toFixed(0).padStart(6)} ns  median ${rounds[2]!.toFixed(0).padStart(6)} ns`);
}

let sink = 0;
const triage = new SipTriage(() => false);
run('first look (triage.look)', () => {
  sink += triage.look(invite, source).kind.length;
});
run('first look + repeat check + 503 from the bytes', () => {
  const look = triage.look(invite, source);
  if (look.kind !== 'new' || triage.isRepeat(look, invite)) return;
  sink += triage.refusal(look, invite, source, 5)?.length ?? 0;
});
const dialect = createSipDialect();
run('parse + model + 503 built and serialized', () => {
  const r = dialect.parse(invite, { listener: 'sip', source });
  if (!r.ok) return;
  sink += serializeSip(buildResponse(sipRequest(r.msg as Request), 503, 'Service Unavailable', 'tag1', { retryAfterSec: 5 })).length;
});
if (sink < 0) console.log(sink);
