/**
 * Calls between two real user agents through the proxy, the same steps whichever UAs they are
 * (baresip, linphone), and the checks of what each side received and what the relay counted.
 */
import assert from 'node:assert/strict';
import type { HeardTones } from './wav.ts';
import { party, type RelaySession, type UaProxy } from './ua-proxy.ts';

/** What the call tests need of a user agent; Baresip and Linphone both have it. */
export interface CallParty {
  readonly opts: { readonly user: string; readonly toneHz: number; readonly proxy: string };
  readonly aor: string;
  call(uri: string): Promise<void>;
  waitForIncoming(timeoutMs?: number): Promise<unknown>;
  answer(timeoutMs?: number): Promise<void>;
  reject(): Promise<void>;
  hangup(): Promise<void>;
  hold(timeoutMs?: number): Promise<void>;
  resume(timeoutMs?: number): Promise<void>;
  waitForEstablished(timeoutMs?: number): Promise<void>;
  waitForClosed(timeoutMs?: number): Promise<string>;
  mediaPort(): Promise<number>;
  receivedSeconds(): Promise<number>;
  waitForReceivedAudio(seconds: number, from?: number, timeoutMs?: number): Promise<void>;
  heard(tones: readonly number[]): HeardTones;
  clearRecordings(): void;
  output(lines?: number): string;
}

export interface EstablishedCall {
  readonly caller: CallParty;
  readonly callee: CallParty;
  /** The proxy's log position before the call, for its relay counters. */
  readonly mark: number;
  readonly callerPort: number;
  readonly calleePort: number;
}

/** `caller` calls `callee`'s user at the proxy address the caller uses (default); the callee answers. */
export async function establish(proxy: UaProxy, caller: CallParty, callee: CallParty, uri = `sip:${callee.opts.user}@${caller.opts.proxy}`): Promise<EstablishedCall> {
  caller.clearRecordings();
  callee.clearRecordings();
  const mark = proxy.mark();
  await caller.call(uri);
  // A call refused on its way (by the proxy, or by the callee's stack before it rings) ends at the caller: say why.
  const refused = await Promise.race([
    callee.waitForIncoming(10_000).then(() => null),
    caller.waitForClosed(10_000).then((reason) => reason, () => new Promise<never>(() => undefined)),
  ]);
  if (refused !== null) throw new Error(`${caller.opts.user}'s call to ${uri} ended before ${callee.opts.user} saw it: ${refused}`);
  await callee.answer(10_000);
  await caller.waitForEstablished(10_000);
  return { caller, callee, mark, callerPort: await caller.mediaPort(), calleePort: await callee.mediaPort() };
}

/**
 * Both sides receive `seconds` of audio, and what each decoded is the other side's tone, not its
 * own (a relay that latched the parties the wrong way round sends a party its own packets).
 */
export async function assertTwoWayAudio(call: EstablishedCall, seconds = 2): Promise<void> {
  const { caller, callee } = call;
  const waits = await Promise.allSettled([caller.waitForReceivedAudio(seconds), callee.waitForReceivedAudio(seconds)]);
  const failed = waits.flatMap((w, i) => (w.status === 'rejected' ? [`${i === 0 ? 'caller' : 'callee'}: ${(w.reason as Error).message.split('\n')[0]}`] : []));
  assert.deepEqual(failed, [], 'audio reached both sides');
  for (const [ua, peer] of [[caller, callee], [callee, caller]] as const) {
    const heard = ua.heard([peer.opts.toneHz, ua.opts.toneHz]);
    assert.ok(heard.presence[peer.opts.toneHz]! >= 0.6, `${ua.opts.user} hears ${peer.opts.user}'s ${peer.opts.toneHz} Hz tone in most of the call: ${JSON.stringify(heard)}`);
    assert.ok(heard.presence[ua.opts.toneHz]! <= 0.1, `${ua.opts.user} does not hear its own ${ua.opts.toneHz} Hz tone: ${JSON.stringify(heard)}`);
  }
}

/** The relay's counters of the call, once its media session ended. */
export function relaySessionOf(proxy: UaProxy, call: EstablishedCall, timeoutMs = 10_000): Promise<RelaySession> {
  return proxy.relaySessionAfter(call.mark, timeoutMs);
}

/**
 * The relay forwarded the media of both parties and knows each at the port it sends from:
 * the caller's record is the caller's RTP port, the callee's the callee's.
 */
export function assertRelayCounted(session: RelaySession, call: EstablishedCall, minPackets: number): void {
  const caller = party(session, 'caller');
  const callee = party(session, 'callee');
  const summary = JSON.stringify(session);
  assert.equal(caller.media.port, call.callerPort, `the relay knows the caller at its RTP port ${call.callerPort}: ${summary}`);
  assert.equal(callee.media.port, call.calleePort, `the relay knows the callee at its RTP port ${call.calleePort}: ${summary}`);
  assert.ok(caller.latched && callee.latched, `both parties latched: ${summary}`);
  assert.ok(caller.packets >= minPackets, `the relay forwarded at least ${minPackets} packets from the caller: ${summary}`);
  assert.ok(callee.packets >= minPackets, `the relay forwarded at least ${minPackets} packets from the callee: ${summary}`);
}

/** Hangs up from `by`; both sides see the call end. */
export async function hangUp(call: EstablishedCall, by: 'caller' | 'callee'): Promise<void> {
  const [ender, other] = by === 'caller' ? [call.caller, call.callee] : [call.callee, call.caller];
  await ender.hangup();
  await Promise.all([other.waitForClosed(10_000), ender.waitForClosed(10_000)]);
}

/**
 * Runs the checks of an established call; when one fails, ends the call and adds the relay's
 * counters of it to the failure, since they tell where the media went.
 */
export async function withRelayReport(proxy: UaProxy, call: EstablishedCall, checks: () => Promise<void>): Promise<void> {
  try {
    await checks();
  } catch (err) {
    await endAnyCall(call.caller, call.callee);
    const session = await relaySessionOf(proxy, call, 3000).then((s) => JSON.stringify(s), () => 'no media session ended within 3 s');
    (err as Error).message += `\nthe relay's counters of this call: ${session}\n(caller RTP port ${call.callerPort}, callee RTP port ${call.calleePort})`;
    throw err;
  }
}

/**
 * The whole check of an ordinary call: `caller` calls `callee`, both hear each other for two
 * seconds, `endedBy` hangs up, and the relay counted both parties where they send from.
 */
export async function callWithTwoWayAudio(proxy: UaProxy, caller: CallParty, callee: CallParty, endedBy: 'caller' | 'callee'): Promise<RelaySession> {
  const call = await establish(proxy, caller, callee);
  let session: RelaySession | undefined;
  await withRelayReport(proxy, call, async () => {
    await assertTwoWayAudio(call, 2);
    await hangUp(call, endedBy);
    session = await relaySessionOf(proxy, call);
    assert.equal(session.reason, 'ended', `the BYE ended the media session: ${JSON.stringify(session)}`);
    assertRelayCounted(session, call, 80);
  });
  return session!;
}

/** Ends whatever call a UA may still be in after a failed test, so the next test starts idle. */
export async function endAnyCall(...uas: readonly CallParty[]): Promise<void> {
  await Promise.allSettled(uas.map((ua) => ua.hangup()));
}
