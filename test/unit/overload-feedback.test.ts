/**
 * RFC 7339 loss-based overload feedback: a client that puts `oc` on its Via (an upstream proxy
 * that can shed load itself) is told in the Via of each response what share of its new
 * requests to drop (`oc`), for how long (`oc-validity`), in what order the values came
 * (`oc-seq`) and by which algorithm (`oc-algo="loss"`); on the stateless refusals of the first
 * look (triage.ts) exactly as on the responses of the full path (overload-feedback.ts), and
 * never to a client that did not ask.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../core/lib/address.ts';
import type { Request } from '../../core/model/message.ts';
import { OverloadControl, type WorkClass } from '../../core/kernel/overload.ts';
import type { NewWorkLook } from '../../core/kernel/triage.ts';
import { createSipDialect } from '../../core/dialects/sip/dialect.ts';
import { parseSip } from '../../core/dialects/sip/codec/parse.ts';
import { getHeaders, type SipResponse } from '../../core/dialects/sip/codec/message.ts';
import { buildResponse } from '../../core/dialects/sip/messages.ts';
import { addOverloadFeedback } from '../../core/dialects/sip/overload-feedback.ts';
import { SipTriage } from '../../core/dialects/sip/triage.ts';
import { sipRequest } from '../../core/dialects/sip/wire.ts';

const SOURCE: Endpoint = { address: '::ffff:192.0.2.7', port: 61000 };

function request(via: string, method = 'INVITE'): Buffer {
  return Buffer.from([
    `${method} sip:bob@192.0.2.1 SIP/2.0`, `Via: ${via}`, 'Via: SIP/2.0/UDP 10.0.0.8;branch=z9hG4bK-below', 'Max-Forwards: 70', 'To: <sip:bob@192.0.2.1>',
    'From: <sip:alice@192.0.2.7>;tag=a1', 'Call-ID: oc-1@192.0.2.7', `CSeq: 1 ${method}`, 'Content-Length: 0', '', '',
  ].join('\r\n'), 'latin1');
}

function fullPath(buf: Buffer): Request {
  const r = createSipDialect().parse(buf, { listener: 'sip', source: SOURCE });
  assert.ok(r.ok && r.msg.type === 'request');
  return r.msg;
}

const FEEDBACK = 'oc=40;oc-validity=1000;oc-seq=1796325427.349;oc-algo="loss"';

/** The stateless 503 of the first look, and the 503 of the full path with the same feedback: their Vias. */
function bothVias(buf: Buffer, feedback: (work: WorkClass) => string | null = () => FEEDBACK): [string[], string[]] {
  const triage = new SipTriage(() => false, feedback);
  const look = triage.look(buf, SOURCE);
  assert.equal(look.kind, 'new');
  const bytes = triage.refusal(look as NewWorkLook, buf, SOURCE, 5);
  assert.ok(bytes !== null);
  const parsed = parseSip(bytes);
  assert.ok(parsed.ok, bytes.toString('latin1'));
  const req = fullPath(buf);
  const full = buildResponse(sipRequest(req), 503, 'Service Unavailable', 'x', { retryAfterSec: 5 });
  addOverloadFeedback(full, req, feedback);
  return [getHeaders(parsed.msg as SipResponse, 'via'), getHeaders(full, 'via')];
}

describe('RFC 7339 feedback on a response', () => {
  test('a client that asked (oc on its Via) gets oc, oc-validity, oc-seq and oc-algo on its Via, the first look as the full path', () => {
    const [glance, full] = bothVias(request('SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK-oc1;rport;oc;oc-algo="loss,rate"'));
    assert.deepEqual(glance, full);
    assert.deepEqual(glance, [
      'SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK-oc1;rport=61000;received=192.0.2.7;oc=40;oc-validity=1000;oc-seq=1796325427.349;oc-algo="loss"',
      'SIP/2.0/UDP 10.0.0.8;branch=z9hG4bK-below',
    ]);
  });

  test('oc before rport, and alone', () => {
    const [glance, full] = bothVias(request('SIP/2.0/UDP 10.0.0.9:5070;oc;branch=z9hG4bK-oc2;rport'));
    assert.deepEqual(glance, full);
    assert.equal(glance[0], 'SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK-oc2;rport=61000;received=192.0.2.7;oc=40;oc-validity=1000;oc-seq=1796325427.349;oc-algo="loss"');
    const [alone, fullAlone] = bothVias(request('SIP/2.0/UDP 192.0.2.7:61000;branch=z9hG4bK-oc3;oc'));
    assert.deepEqual(alone, fullAlone);
    assert.equal(alone[0], 'SIP/2.0/UDP 192.0.2.7:61000;branch=z9hG4bK-oc3;oc=40;oc-validity=1000;oc-seq=1796325427.349;oc-algo="loss"');
  });

  test('nothing for a client that did not ask, nor while there is no feedback to give', () => {
    const [glance, full] = bothVias(request('SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK-no;rport;oc-algo="loss"'));
    assert.deepEqual(glance, full);
    assert.equal(glance[0], 'SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK-no;rport=61000;oc-algo="loss";received=192.0.2.7', 'oc-algo alone is not a request for feedback');
    const [none, fullNone] = bothVias(request('SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK-none;oc'), () => null);
    assert.deepEqual(none, fullNone);
    assert.equal(none[0], 'SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK-none;oc;received=192.0.2.7');
  });

  test('the feedback is about the class of the request: a REGISTER hears of REGISTERs', () => {
    const asked: WorkClass[] = [];
    bothVias(request('SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK-reg;oc', 'REGISTER'), (work) => { asked.push(work); return FEEDBACK; });
    assert.deepEqual(asked, ['register', 'register']);
  });
});

describe('OverloadControl.feedback', () => {
  function rig() {
    const state = { now: 0, completed: { call: 0, register: 0, other: 0 } };
    const control = new OverloadControl({
      pending: () => 0, completed: () => state.completed, heapUsed: () => 0, heapLimit: () => 1 << 30,
      loopDelay: () => 0, utilization: () => 1, now: () => state.now,
    }, { maxQueueDelayMs: 200 });
    let nextTick = 100;
    const offer = (n: number, ms: number, wait: number | null = null): number => {
      let admitted = 0;
      for (let i = 0; i < n; i++) {
        state.now += ms / n;
        while (nextTick <= state.now) {
          if (wait !== null) control.socketRead('sip', { drained: wait === 0, waitedMs: wait });
          control.tick();
          nextTick += 100;
        }
        if (control.admit('call')) {
          admitted++;
          state.completed.call++;
        }
      }
      return admitted;
    };
    return { control, offer, state };
  }

  const percent = (text: string | null): number | null => (text === null ? null : Number(/^oc=(\d+)/.exec(text)![1]));
  const seq = (text: string): number => Number(/oc-seq=([\d.]+)/.exec(text)![1]);

  test('none before an overload; while one lasts, the share a client that applies it must drop to bring what arrives down to the limit; then oc=0 and oc-validity=0 for five seconds; then none', () => {
    const r = rig();
    r.offer(1000, 1000, 0);
    assert.equal(r.control.feedback('call'), null);
    r.control.socketRead('sip', { drained: false, waitedMs: 400 });
    // A client that would send 2000/s against a limit of about 950/s, and drops what it is told, a tenth of a second at a time.
    let told = 0;
    const first = seq(r.control.feedback('call') ?? 'oc-seq=0');
    for (let i = 0; i < 30; i++) {
      r.offer(Math.round(200 * (1 - told / 100)), 100, 50);
      told = percent(r.control.feedback('call'))!;
    }
    const limit = r.control.stats().limits.call!;
    const during = r.control.feedback('call')!;
    assert.match(during, /^oc=\d+;oc-validity=1000;oc-seq=\d+\.\d{3};oc-algo="loss"$/);
    assert.ok(Math.abs(told - 100 * (1 - limit / 2000)) <= 5, `${during} at a limit of ${limit}/s`);
    assert.ok(r.control.stats().refused.call < 0.1 * r.control.stats().offered.call, 'what arrives fits the limit: little is refused');
    assert.equal(percent(r.control.feedback('register')), 0, 'REGISTERs are not limited');
    // The demand falls below the limit (what the client would send without dropping): the overload is over within a second.
    r.offer(200, 1000, 0);
    const over = r.control.feedback('call')!;
    assert.equal(r.control.stats().state, 'normal');
    assert.match(over, /^oc=0;oc-validity=0;oc-seq=\d+\.\d{3};oc-algo="loss"$/);
    assert.ok(seq(over) > Math.max(first, seq(during)), 'a new value, a later oc-seq');
    r.offer(800, 4000, 0);
    assert.equal(r.control.feedback('call'), over, 'clients are told it is over for five seconds');
    r.offer(200, 1000, 0);
    assert.equal(r.control.feedback('call'), null);
  });

  test('when no client asks for it, nobody is taken to be holding back: an overload ends as soon as nothing is refused', () => {
    const r = rig();
    r.offer(1000, 1000, 0);
    r.control.socketRead('sip', { drained: false, waitedMs: 400 });
    r.offer(4000, 2000, 50); // 2000/s, more than half refused
    assert.equal(r.control.stats().state, 'overloaded');
    const limit = r.control.stats().limits.call!;
    assert.ok(Math.abs(percent(r.control.feedback('call'))! - 100 * (1 - limit / 2000)) <= 5, `${r.control.feedback('call')}: the share refused of what arrives, at a limit of ${limit}/s`);
    r.offer(600, 2500, 0); // 240/s: nothing refused from here on
    assert.equal(r.control.stats().state, 'normal');
    assert.match(r.control.feedback('call')!, /^oc=0;oc-validity=0;/);
  });
});
