/**
 * Media capture by guessing (issue 17, item 12): relay ports handed out in order tell a stranger
 * who saw one call's ports where the next call's media will go, and the first datagram on a
 * port latches it. The relay now picks ports at random (a freed port waits before it is used
 * again): the ports a round-robin pool would give next are not the ones the next call gets, a
 * stranger sending there captures nothing, and a call through the same proxy still works.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { legitCall } from '../helpers/legit-call.ts';
import { freePort, freeRange } from '../helpers/ports.ts';
import { ProxyProcess, recordRoutingSipScript, writeScript } from '../helpers/proxy-process.ts';
import { placeCall, registerAt } from '../helpers/sip-call.ts';
import { SipUa } from '../helpers/sip-ua.ts';
import { sippVersion } from '../helpers/sipp.ts';

const LOOP = '127.0.0.1';
const PROXY = await freePort();
const RANGE = await freeRange(400);

let proxy: ProxyProcess;
let caller: SipUa;
let callee: SipUa;

before(async () => {
  sippVersion();
  proxy = await ProxyProcess.start({ configFile: writeScript('relay-port-choice', recordRoutingSipScript({ port: PROXY, ports: RANGE, transports: ['udp'] })) });
  [caller, callee] = await Promise.all([SipUa.open(LOOP), SipUa.open(LOOP)]);
  await registerAt(callee, PROXY, 'bob');
});
after(async () => {
  caller.close();
  callee.close();
  assert.equal(await proxy.stop(), 0);
});

/** A datagram socket on 127.0.0.2: the stranger. */
async function stranger(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.2', () => resolve()));
  return s;
}

describe('relay ports cannot be guessed', () => {
  test('the next call\'s ports are not those a round-robin relay would give, and a stranger there captures nothing', async () => {
    const evil = await stranger();
    try {
      let last = await placeCall(caller, callee, PROXY, 'bob');
      let guessed = 0;
      for (let i = 0; i < 6; i++) {
        // In order, the caller's leg of the next call would be the pair after the callee's leg of this one.
        const guess = [last.calleeRelayPort + 2, last.calleeRelayPort + 4];
        const spray = setInterval(() => { for (const p of guess) evil.send(Buffer.from('capture'), p, LOOP); }, 5);
        const next = await placeCall(caller, callee, PROXY, 'bob');
        clearInterval(spray);
        if (guess.includes(next.callerRelayPort) || guess.includes(next.calleeRelayPort)) guessed++;
        const freed = [last.callerRelayPort, last.calleeRelayPort];
        caller.send(last.fromCaller('BYE', 2), PROXY, LOOP);
        await callee.next(/^BYE /);
        assert.ok(!freed.includes(next.callerRelayPort) && !freed.includes(next.calleeRelayPort), 'ports just freed are not handed out again at once');
        last = next;
      }
      assert.ok(guessed <= 1, `${guessed} of 6 calls got a port a round-robin guess named`);
      caller.send(last.fromCaller('BYE', 2), PROXY, LOOP);
      await callee.next(/^BYE /);
      const captured = proxy.logsWith('media session ended').filter((l) => JSON.stringify(l).includes('127.0.0.2'));
      assert.ok(captured.length <= 1, `sessions a stranger latched: ${captured.length}`);
    } finally {
      evil.close();
    }
  });

  test('a call through the same proxy works', async () => {
    await legitCall(PROXY, { uas: await freePort(), uac: await freePort(), media: Number((await freeRange(4)).split('-')[0]) }, 'carol');
  });
});
