import type { Endpoint } from '../address.ts';
import { MessageContext } from '../dispatch/message-context.ts';
import type { Logger } from '../log.ts';
import type { Reply, Request } from '../message.ts';
import type { RouteSnapshot } from '../script/snapshot.ts';
import { ProxyHooks } from '../transaction/hooks.ts';
import type { SipDialect } from './dialect.ts';
import { SipProxyEngine } from './engine.ts';
import { LocalNode, type SipIdentity } from './local-node.ts';
import { sipText, WARM_UP_SDP } from './warm-up.ts';

/**
 * Runs whole calls (INVITE with SDP, 100/180/200, ACK, BYE, 200) through a private stateful
 * engine before the listeners open, so that a load that starts at full rate meets a compiled
 * transaction layer. The engine is the proxy's own class with its own transactions, no module
 * hooks and no route script; what it sends goes nowhere, and it is closed (timers and lingering
 * transactions dropped) before this returns. Nothing of the proxy's state is touched.
 */
const PROXY: SipIdentity = { host: '192.0.2.1', port: 5060 };
const CALLER: Endpoint = { address: '::ffff:192.0.2.10', port: 5062 };
const CALLEE: Endpoint = { address: '192.0.2.20', port: 5064 };

const SNAPSHOT: RouteSnapshot = {
  generation: 0,
  file: 'warm-up',
  routes: { request: () => undefined, reply: {}, failure: {} },
  defaultReply: { status: 500, reason: 'warm-up' },
};

/** The header lines of `lname` (lower case, long form) in a message held as text. */
export function headerLinesOf(sent: string, lname: string): string[] {
  const out: string[] = [];
  for (const line of sent.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === lname) out.push(line);
  }
  return out;
}

/** Plays `rounds` calls through a private engine; returns the messages it handled. */
export async function warmUpSipPath(dialect: SipDialect, rounds: number, log: Logger): Promise<number> {
  const node = new LocalNode();
  node.add(PROXY);
  let sent: string[] = [];
  const engine = new SipProxyEngine({
    hooks: new ProxyHooks(),
    log,
    node,
    identity: () => PROXY,
    sender: { send: (_dest, bytes) => { sent.push(bytes.toString('latin1')); } },
    runRoute: () => Promise.reject(new Error('the warm-up arms no reply or failure routes')),
  });
  let handled = 0;
  const parse = (text: string, source: Endpoint): Request | Reply => {
    const r = dialect.parse(Buffer.from(text, 'latin1'), { listener: 'warm-up', source });
    if (!r.ok) throw new Error(`warm-up message did not parse: ${r.reason}`);
    handled++;
    return r.msg;
  };
  const request = async (text: string, target?: Endpoint): Promise<void> => {
    const req = parse(text, CALLER) as Request;
    if (engine.intercept(req)) return;
    const mc = new MessageContext('request', req, SNAPSHOT, log);
    await engine.forward(mc, { targets: target === undefined ? undefined : [{ address: target, uri: `sip:callee@${target.address}:${target.port}` }], answerTimeoutMs: 30_000, recordRoute: true });
  };
  const reply = async (start: string, forwarded: string, headers: readonly string[], body = ''): Promise<void> => {
    const text = sipText(start, [...headerLinesOf(forwarded, 'via'), ...headerLinesOf(forwarded, 'record-route'), ...headers], body);
    await engine.receiveReply(parse(text, CALLEE) as Reply);
  };
  const sentRequest = (method: string): string => {
    const found = sent.find((m) => m.startsWith(`${method} `));
    if (found === undefined) throw new Error(`the warm-up engine did not forward the ${method}`);
    return found;
  };
  try {
    for (let i = 0; i < rounds; i++) {
      sent = [];
      const call = `${i}-path-warm@192.0.2.10`;
      const from = `From: <sip:caller@192.0.2.10:5062>;tag=${i}f`;
      const to = 'To: <sip:callee@192.0.2.1>';
      const toTagged = `${to};tag=${i}t`;
      const via = (suffix: string): string => `Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-pw-${i}${suffix};rport`;
      await request(sipText('INVITE sip:callee@192.0.2.1 SIP/2.0', [via('i'), 'Max-Forwards: 70', from, to, `Call-ID: ${call}`, 'CSeq: 1 INVITE',
        'Contact: <sip:caller@192.0.2.10:5062>', 'Content-Type: application/sdp'], WARM_UP_SDP), CALLEE);
      const invite = sentRequest('INVITE');
      const answer = [from, toTagged, `Call-ID: ${call}`, 'CSeq: 1 INVITE', 'Contact: <sip:callee@192.0.2.20:5064>'];
      await reply('SIP/2.0 180 Ringing', invite, answer);
      await reply('SIP/2.0 200 OK', invite, [...answer, 'Content-Type: application/sdp'], WARM_UP_SDP);
      const inDialog = (method: string, suffix: string, cseq: string): string => sipText(`${method} sip:callee@192.0.2.20:5064 SIP/2.0`,
        [via(suffix), 'Max-Forwards: 70', 'Route: <sip:192.0.2.1:5060;lr>', from, toTagged, `Call-ID: ${call}`, `CSeq: ${cseq}`]);
      await request(inDialog('ACK', 'a', '1 ACK'));
      await request(inDialog('BYE', 'b', '2 BYE'));
      await reply('SIP/2.0 200 OK', sentRequest('BYE'), [from, toTagged, `Call-ID: ${call}`, 'CSeq: 2 BYE']);
    }
  } finally {
    engine.close();
  }
  return handled;
}
