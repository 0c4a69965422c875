import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  formatSdp, getConnection, getRtcp, parseSdp, removeAttribute, setConnectionAddress, setMediaPort, setRtcp, type Sdp,
} from '../../core/dialects/sip/codec/sdp.ts';
import { ipv4, ipv6, sdp } from './arbitraries.ts';

function mustParse(text: string): Sdp {
  const r = parseSdp(text);
  if (!r.ok) throw new Error(`${r.reason}\n${JSON.stringify(text)}`);
  return r.sdp;
}

test('property: formatSdp(parseSdp(x)) === x for valid SDP, media sections recovered', () => {
  fc.assert(fc.property(sdp, (g) => {
    const s = mustParse(g.text);
    assert.equal(formatSdp(s), g.text);
    assert.equal(s.eol, g.eol);
    assert.deepEqual(s.media.map((m) => ({ media: m.media, port: m.port, formats: m.formats })), g.media);
    // also from a Buffer (as a SIP body)
    assert.equal(formatSdp(mustParse(Buffer.from(g.text, 'utf8').toString('utf8'))), g.text);
  }), { numRuns: 1000 });
});

test('property: relay rewrites keep the SDP valid and take effect', () => {
  fc.assert(fc.property(sdp, fc.oneof(ipv4, ipv6), fc.integer({ min: 1, max: 65534 }), (g, addr, port) => {
    const s = mustParse(g.text);
    setConnectionAddress(s, addr);
    s.media.forEach((m, i) => {
      if (m.port === 0) return; // disabled streams stay disabled
      setMediaPort(s, i, port);
      setRtcp(s, i, port + 1, addr);
      removeAttribute(s, i, 'candidate');
    });
    const text = formatSdp(s);
    const again = mustParse(text);
    assert.equal(again.eol, g.eol);
    const addrType = addr.includes(':') ? 'IP6' : 'IP4';
    again.media.forEach((m, i) => {
      assert.equal(m.port, g.media[i]?.port === 0 ? 0 : port);
      assert.deepEqual(getConnection(again, i), { netType: 'IN', addrType, address: addr });
      if (m.port !== 0) {
        assert.deepEqual(getRtcp(again, i), { port: port + 1, connection: { netType: 'IN', addrType, address: addr } });
        assert.equal(m.lines.filter((l) => l.type === 'a' && l.value.startsWith('rtcp:')).length, 1);
        assert.ok(!m.lines.some((l) => l.type === 'a' && l.value.startsWith('candidate:')));
      }
    });
    if (again.media.length === 0) assert.deepEqual(getConnection(again), { netType: 'IN', addrType, address: addr });
  }), { numRuns: 500 });
});

test('property: parseSdp never throws on arbitrary or mutated input', () => {
  fc.assert(fc.property(fc.string({ maxLength: 600 }), (x) => {
    const r = parseSdp(x);
    if (r.ok) assert.equal(typeof formatSdp(r.sdp), 'string');
    else assert.ok(r.reason.length > 0);
  }), { numRuns: 1000 });
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (x) => {
    const r = parseSdp(Buffer.from(x));
    assert.equal(typeof r.ok, 'boolean');
  }), { numRuns: 1000 });
  fc.assert(fc.property(sdp, fc.nat(), fc.nat(), fc.constantFrom('', '\r', '\n', ' ', '=', 'x', '\r\n'), (g, a, b, ins) => {
    const cut = g.text.slice(0, a % (g.text.length + 1));
    const at = b % (cut.length + 1);
    const mutated = cut.slice(0, at) + ins + cut.slice(at);
    const r = parseSdp(mutated);
    if (r.ok) {
      // whatever was accepted must be reproduced exactly (or, for mixed terminators, re-parse to the same lines)
      const again = parseSdp(formatSdp(r.sdp));
      assert.ok(again.ok);
    }
  }), { numRuns: 1000 });
});
