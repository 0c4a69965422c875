import assert from 'node:assert/strict';
import { answer, header, headers, sdp, type SipUa } from './sip-ua.ts';

const LOOP = '127.0.0.1';
let seq = 0;

/** A request from `ua` as a phone writes it: its Via, tags, Contact; `to` names the callee user. */
export function sipRequest(ua: SipUa, proxyPort: number, method: string, o: {
  to?: string; ruri?: string; callId?: string; fromTag?: string; toTag?: string; cseq?: number; extra?: readonly string[]; body?: string; contact?: boolean;
} = {}): string {
  const n = ++seq;
  const to = o.to ?? 'bob';
  const body = o.body ?? '';
  return [
    `${method} ${o.ruri ?? `sip:${to}@${LOOP}:${proxyPort}`} SIP/2.0`,
    `Via: SIP/2.0/UDP ${ua.hostport};branch=z9hG4bK-h${n}-${process.pid};rport`,
    'Max-Forwards: 70',
    `From: <sip:caller@${LOOP}>;tag=${o.fromTag ?? `f${n}`}`,
    `To: <sip:${to}@${LOOP}>${o.toTag !== undefined ? `;tag=${o.toTag}` : ''}`,
    `Call-ID: ${o.callId ?? `h${n}-${process.pid}@test`}`,
    `CSeq: ${o.cseq ?? 1} ${method}`,
    ...(o.contact === false || method === 'REGISTER' ? [] : [`Contact: <sip:caller@${ua.hostport}>`]),
    ...(o.extra ?? []),
    ...(body !== '' ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`, '', body,
  ].join('\r\n');
}

/** Registers `user` at `ua`'s address (UDP) and checks the 200. */
export async function registerAt(ua: SipUa, proxyPort: number, user: string, expires = 300): Promise<string> {
  ua.send(sipRequest(ua, proxyPort, 'REGISTER', { to: user, extra: [`Contact: <sip:${user}@${ua.hostport}>`, `Expires: ${expires}`] }), proxyPort, LOOP);
  const ok = await ua.next(/^SIP\/2\.0 [2-6]\d\d /);
  assert.match(ok, /^SIP\/2\.0 200 /, `REGISTER ${user}: ${ok.split('\r\n')[0]}`);
  return ok;
}

/** A call set up through the proxy by hand: what each side saw, and how to talk inside the dialog. */
export interface PlacedCall {
  readonly callId: string;
  /** The INVITE as the callee received it. */
  readonly invite: string;
  /** The 200 as the caller received it. */
  readonly ok: string;
  /** The relay port the callee was told to send to (the INVITE's m=audio), and the caller's (the 200's). */
  readonly calleeRelayPort: number;
  readonly callerRelayPort: number;
  /** An in-dialog request from the caller, along the route set of the 200. */
  fromCaller(method: string, cseq: number, extra?: readonly string[]): string;
  /** An in-dialog request from the callee, along the route set of the INVITE. */
  fromCallee(method: string, cseq: number, extra?: readonly string[]): string;
}

function mediaPort(msg: string): number {
  const m = /\r\nm=audio (\d+) /.exec(msg);
  assert.ok(m, 'the message carries SDP');
  return Number(m[1]);
}

/** The caller INVITEs `user` (registered at `callee`), the callee answers 200 with SDP, the caller ACKs. */
export async function placeCall(caller: SipUa, callee: SipUa, proxyPort: number, user: string, o: { callerMedia?: number; calleeMedia?: number; callId?: string } = {}): Promise<PlacedCall> {
  const callId = o.callId ?? `call-${++seq}-${process.pid}@test`;
  const fromTag = `caller-${seq}`;
  caller.send(sipRequest(caller, proxyPort, 'INVITE', { to: user, callId, fromTag, body: sdp(LOOP, o.callerMedia ?? 40000) }), proxyPort, LOOP);
  const invite = await callee.next(/^INVITE /);
  const calleeTag = `callee-${seq}`;
  callee.send(answer(invite, '200 OK', { tag: calleeTag, contact: `sip:${user}@${callee.hostport}`, body: sdp(LOOP, o.calleeMedia ?? 40002) }), proxyPort, LOOP);
  const ok = await caller.next(/^SIP\/2\.0 200 /);
  const callerRoutes = headers(ok, 'Record-Route').flatMap((v) => v.split(/,\s*/)).reverse();
  const calleeRoutes = headers(invite, 'Record-Route').flatMap((v) => v.split(/,\s*/));
  const okTo = header(ok, 'To')!;
  const inviteFrom = header(invite, 'From')!;
  let n = 0;
  const inDialog = (ua: SipUa, method: string, cseq: number, ruri: string, from: string, to: string, routes: readonly string[], extra: readonly string[]): string => [
    `${method} ${ruri} SIP/2.0`,
    `Via: SIP/2.0/UDP ${ua.hostport};branch=z9hG4bK-d${++n}-${seq}-${process.pid};rport`,
    'Max-Forwards: 70', `From: ${from}`, `To: ${to}`, `Call-ID: ${callId}`, `CSeq: ${cseq} ${method}`,
    ...(routes.length > 0 ? [`Route: ${routes.join(', ')}`] : []),
    ...extra, 'Content-Length: 0', '', '',
  ].join('\r\n');
  const ackText = inDialog(caller, 'ACK', 1, /<([^>]+)>/.exec(header(ok, 'Contact')!)![1]!, header(ok, 'From')!, okTo, callerRoutes, []);
  caller.send(ackText, proxyPort, LOOP);
  await callee.next(/^ACK /);
  return {
    callId, invite, ok, calleeRelayPort: mediaPort(invite), callerRelayPort: mediaPort(ok),
    fromCaller: (method, cseq, extra = []) => inDialog(caller, method, cseq, /<([^>]+)>/.exec(header(ok, 'Contact')!)![1]!, header(ok, 'From')!, okTo, callerRoutes, extra),
    fromCallee: (method, cseq, extra = []) => inDialog(callee, method, cseq, /<([^>]+)>/.exec(header(invite, 'Contact')!)![1]!, okTo, inviteFrom, calleeRoutes, extra),
  };
}

/**
 * Sends `texts` from `ua` to the proxy and resolves with each one's first answer matching
 * `status` (default: final), by Call-ID, as its status line; answers come in any order.
 */
export async function answersTo(ua: SipUa, proxyPort: number, texts: readonly string[], status = /^SIP\/2\.0 [2-6]\d\d /, timeoutMs = 8000): Promise<Map<string, string>> {
  const want = new Set(texts.map((t) => header(t, 'Call-ID')!));
  for (const t of texts) ua.send(t, proxyPort, LOOP);
  const got = new Map<string, string>();
  const deadline = Date.now() + timeoutMs;
  while (got.size < want.size) {
    const m = await ua.next(status, Math.max(1, deadline - Date.now()));
    const id = header(m, 'Call-ID')!;
    if (want.has(id) && !got.has(id)) got.set(id, m.split('\r\n')[0]!);
  }
  return got;
}
