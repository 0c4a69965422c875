import type { Endpoint } from '../address.ts';
import { getHeader, getHeaders, getMaxForwards, prependHeader, removeHeader, type SipRequest, type SipResponse } from '../sip/message.ts';
import { parseSdp, sdpToBuffer, setConnectionAddress, setMediaPort, setOriginAddress, setRtcp } from '../sip/sdp.ts';
import { serializeSip } from '../sip/serialize.ts';
import { parseNameAddr } from '../sip/uri.ts';
import type { SipDialect } from './dialect.ts';
import { buildAck, buildResponse, decrementMaxForwards } from './messages.ts';
import { sipWire } from './wire.ts';

/**
 * Runs the SIP codec over a call's and a registration's messages before the listeners open, so
 * that the first second of a flood (phones re-registering after a restart, a load test that
 * starts at full rate) meets compiled code instead of the interpreter: cold, the proxy answers
 * a burst of 12,000 REGISTERs/s up to 300 ms late, long enough for phones to retransmit.
 * Only pure codec work: nothing is sent, stored or handed to the route script.
 */

/** The SDP of the synthetic calls (the codec's and the transaction layer's warm-up). */
export const WARM_UP_SDP = 'v=0\r\no=- 3905417 3905417 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n'
  + 'm=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n';

/** A SIP message's text: start line, headers, Content-Length, body. */
export function sipText(start: string, headers: readonly string[], body = ''): string {
  return `${start}\r\n${headers.join('\r\n')}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}

function messages(i: number): string[] {
  const call = `${i}-warm@192.0.2.10`;
  const branch = `z9hG4bK-warm-${i}`;
  const via = `Via: SIP/2.0/UDP 192.0.2.10:5062;branch=${branch};rport`;
  const from = `From: "caller" <sip:caller${i}@192.0.2.1:5062>;tag=${i}f`;
  const to = `To: <sip:callee${i}@192.0.2.1>`;
  const toTagged = `${to};tag=${i}t`;
  const rr = 'Record-Route: <sip:192.0.2.1:5060;lr>';
  return [
    sipText('REGISTER sip:192.0.2.1 SIP/2.0', [via, 'Max-Forwards: 70', `From: <sip:u${i}@192.0.2.1>;tag=${i}r`, `To: <sip:u${i}@192.0.2.1>`,
      `Call-ID: r${call}`, 'CSeq: 1 REGISTER', `Contact: <sip:u${i}@192.0.2.10:5062>`, 'Expires: 3600', 'User-Agent: warm-up']),
    sipText(`INVITE sip:callee${i}@192.0.2.1:5060 SIP/2.0`, [via, 'Max-Forwards: 70', from, to, `Call-ID: ${call}`, 'CSeq: 1 INVITE',
      `Contact: <sip:caller${i}@192.0.2.10:5062>`, 'Subject: warm-up', 'Content-Type: application/sdp'], WARM_UP_SDP),
    sipText('SIP/2.0 180 Ringing', [`${via};received=192.0.2.10`, from, toTagged, rr, `Call-ID: ${call}`, 'CSeq: 1 INVITE', `Contact: <sip:callee${i}@192.0.2.20:5064>`]),
    sipText('SIP/2.0 200 OK', [`${via};received=192.0.2.10`, from, toTagged, rr, `Call-ID: ${call}`, 'CSeq: 1 INVITE',
      `Contact: <sip:callee${i}@192.0.2.20:5064>`, 'Content-Type: application/sdp'], WARM_UP_SDP),
    sipText(`ACK sip:callee${i}@192.0.2.20:5064 SIP/2.0`, [`Via: SIP/2.0/UDP 192.0.2.10:5062;branch=${branch}a;rport`, 'Max-Forwards: 70', from, toTagged,
      'Route: <sip:192.0.2.1:5060;lr>', `Call-ID: ${call}`, 'CSeq: 1 ACK']),
    sipText(`BYE sip:callee${i}@192.0.2.20:5064 SIP/2.0`, [`Via: SIP/2.0/UDP 192.0.2.10:5062;branch=${branch}b;rport`, 'Max-Forwards: 70', from, toTagged,
      'Route: <sip:192.0.2.1:5060;lr>', `Call-ID: ${call}`, 'CSeq: 2 BYE']),
    sipText('SIP/2.0 200 OK', [`Via: SIP/2.0/UDP 192.0.2.10:5062;branch=${branch}b;received=192.0.2.10`, from, toTagged, `Call-ID: ${call}`, 'CSeq: 2 BYE']),
  ];
}

/** Parses, edits and serializes `rounds` calls and registrations the way the proxy does; returns the messages handled. */
export function warmUpSipCodec(dialect: SipDialect, rounds: number): number {
  const source: Endpoint = { address: '::ffff:192.0.2.10', port: 5062 };
  let handled = 0;
  let invite: SipRequest | null = null;
  for (let i = 0; i < rounds; i++) {
    for (const text of messages(i)) {
      const r = dialect.parse(Buffer.from(text, 'latin1'), { listener: 'warm-up', source });
      if (!r.ok) throw new Error(`warm-up message did not parse: ${r.reason}`);
      const sip = sipWire(r.msg).sip;
      handled++;
      getHeaders(sip, 'route').forEach((v) => parseNameAddr(v));
      getHeader(sip, 'contact');
      if (sip.body.length > 0) {
        const parsed = parseSdp(sip.body);
        if (parsed.ok) {
          setConnectionAddress(parsed.sdp, '198.51.100.1');
          setOriginAddress(parsed.sdp, '198.51.100.1');
          setMediaPort(parsed.sdp, 0, 20000 + (i % 1000) * 2);
          setRtcp(parsed.sdp, 0, 20001 + (i % 1000) * 2);
          sip.body = sdpToBuffer(parsed.sdp);
        }
      }
      if (sip.type === 'request') {
        const req = sip as SipRequest;
        if (req.method === 'INVITE') invite = req;
        serializeSip(buildResponse(req, req.method === 'INVITE' ? 100 : 200, 'OK', req.method === 'INVITE' ? null : `${i}w`));
        decrementMaxForwards(req, getMaxForwards(req));
        removeHeader(req, 'route', 'first');
        prependHeader(req, 'Record-Route', '<sip:192.0.2.1:5060;lr>');
        prependHeader(req, 'Via', `SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKwarm.${i}`);
        serializeSip(req);
      } else {
        const res = sip as SipResponse;
        removeHeader(res, 'via', 'first');
        serializeSip(res);
        if (res.status >= 200 && invite !== null && i % 8 === 0) serializeSip(buildAck(invite, res));
      }
    }
  }
  return handled;
}

