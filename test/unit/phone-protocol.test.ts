/** The phone's side of the plain protocol, its command language and its arguments. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parsePhoneArgs, parseProxyAddress } from '../../cli/phone/args.ts';
import { parseCommand } from '../../cli/phone/commands.ts';
import { parseScript } from '../../cli/phone/script-runner.ts';
import { compose, parseProxyMessage, printable, type ParsedDatagram, type ProxyMessage } from '../../cli/phone/wire.ts';

const parse = (text: string | Buffer): ParsedDatagram => parseProxyMessage(typeof text === 'string' ? Buffer.from(text, 'latin1') : text);

function message(text: string): ProxyMessage {
  const r = parse(text);
  assert.ok(r.ok, `parses: ${text}`);
  return r.msg;
}

describe('what the proxy sends', () => {
  test('every message of the spec, with any terminator and spacing', () => {
    assert.deepEqual(parse('ACK_REGISTER alice\n'), { ok: true, msg: { kind: 'ACK_REGISTER', user: 'alice' }, line: 'ACK_REGISTER alice' });
    assert.deepEqual(parse('CALL   FROM:alice  TO:bob\r\n'), { ok: true, msg: { kind: 'CALL', from: 'alice', to: 'bob' }, line: 'CALL   FROM:alice  TO:bob' });
    assert.deepEqual(message('ACK_CALL FROM:bob TO:alice'), { kind: 'ACK_CALL', from: 'bob', to: 'alice' });
    assert.deepEqual(message('MEDIA_PORT FROM:alice TO:bob 5000\n'), { kind: 'MEDIA_PORT', from: 'alice', to: 'bob', port: 5000 });
    assert.deepEqual(message('BYE FROM:alice TO:bob\n'), { kind: 'BYE', from: 'alice', to: 'bob' });
    assert.deepEqual(message('ERROR too many users\n'), { kind: 'ERROR', reason: 'too many users' });
  });

  test('CALL_FAILED with parties and a reason, and the proxy\'s own without parties', () => {
    assert.deepEqual(message('CALL_FAILED FROM:bob TO:alice no  media port\n'), { kind: 'CALL_FAILED', from: 'bob', to: 'alice', reason: 'no  media port' });
    assert.deepEqual(message('CALL_FAILED unknown peer\r\n'), { kind: 'CALL_FAILED', from: null, to: null, reason: 'unknown peer' });
  });

  test('anything else is refused with a reason and a printable copy, never thrown', () => {
    const cases: [string | Buffer, RegExp][] = [
      ['', /empty/],
      [Buffer.from([0x80, 0x60, 0, 1]), /not a line of ASCII/],
      ['HELLO there', /not a message/],
      ['ACK_REGISTER', /malformed ACK_REGISTER/],
      ['ACK_REGISTER al ice', /malformed ACK_REGISTER/],
      ['ACK_REGISTER al-ice', /malformed ACK_REGISTER/],
      ['CALL FROM:alice', /malformed CALL/],
      ['CALL FROM:alice TO:bob extra', /malformed CALL/],
      ['BYE TO:bob FROM:alice', /malformed BYE/],
      [`ACK_CALL FROM:${'a'.repeat(65)} TO:bob`, /malformed ACK_CALL/],
      ['MEDIA_PORT FROM:alice TO:bob', /malformed MEDIA_PORT/],
      ['MEDIA_PORT FROM:alice TO:bob -1', /malformed MEDIA_PORT/],
      ['MEDIA_PORT FROM:alice TO:bob 0', /not a UDP port/],
      ['MEDIA_PORT FROM:alice TO:bob 65536', /not a UDP port/],
      ['MEDIA_PORT FROM:alice TO:bob 1e3', /malformed MEDIA_PORT/],
      ['CALL_FAILED', /malformed CALL_FAILED/],
      ['CALL_FAILED FROM:bob', /malformed CALL_FAILED/],
      [Buffer.alloc(2000, 0x41), /too long/],
    ];
    for (const [input, reason] of cases) {
      const r = parse(input);
      assert.equal(r.ok, false, `refused: ${String(input).slice(0, 40)}`);
      if (!r.ok) assert.match(r.reason, reason);
    }
  });

  test('printable escapes control bytes and cuts long datagrams', () => {
    assert.equal(printable(Buffer.from('a\x1b[2Jb\\\r\n')), 'a\\x1b[2Jb\\\\\\r\\n');
    assert.equal(printable(Buffer.alloc(300, 0x41), 10), 'AAAAAAAAAA... (300 bytes)');
  });

  test('what a phone sends', () => {
    assert.equal(compose.register('alice'), 'REGISTER alice\n');
    assert.equal(compose.call('alice', 'bob'), 'CALL FROM:alice TO:bob\n');
    assert.equal(compose.accept('bob', 'alice'), 'ACK_CALL FROM:bob TO:alice\n');
    assert.equal(compose.refuse('bob', 'alice', 'busy'), 'CALL_FAILED FROM:bob TO:alice busy\n');
    assert.equal(compose.bye('alice', 'bob'), 'BYE FROM:alice TO:bob\n');
  });
});

describe('commands and scripts', () => {
  test('each command, blank lines and comments', () => {
    assert.deepEqual(parseCommand('  register alice '), { ok: true, command: { op: 'register', user: 'alice' } });
    assert.deepEqual(parseCommand('reject busy here'), { ok: true, command: { op: 'reject', reason: 'busy here' } });
    assert.deepEqual(parseCommand('reject'), { ok: true, command: { op: 'reject', reason: null } });
    assert.deepEqual(parseCommand('exit'), { ok: true, command: { op: 'quit' } });
    assert.deepEqual(parseCommand('# a comment'), { ok: true, command: null });
    assert.deepEqual(parseCommand(''), { ok: true, command: null });
    assert.deepEqual(parseCommand('wait media 100 within 2.5s'), { ok: true, command: { op: 'wait', target: { kind: 'media', packets: 100 }, withinSec: 2.5 } });
    assert.deepEqual(parseCommand('wait failed no answer'), { ok: true, command: { op: 'wait', target: { kind: 'failed', reason: 'no answer' }, withinSec: null } });
    assert.deepEqual(parseCommand('expect loss 0'), { ok: true, command: { op: 'expect', metric: 'loss', comparison: '=', value: 0 } });
    assert.deepEqual(parseCommand('expect latency < 5.5'), { ok: true, command: { op: 'expect', metric: 'latency', comparison: '<', value: 5.5 } });
    assert.deepEqual(parseCommand('timeout 10'), { ok: true, command: { op: 'timeout', seconds: 10 } });
  });

  test('mistakes are named', () => {
    for (const [line, message] of [
      ['dial bob', /unknown command 'dial'/],
      ['call', /usage: call <user>/],
      ['answer now', /takes no argument/],
      ['wait', /wait for what/],
      ['wait media', /usage: wait media/],
      ['wait media -3', /usage: wait media/],
      ['wait connected soon', /takes no argument/],
      ['wait connected within', /usage: wait/],
      ['wait connected within never', /not a number of seconds/],
      ['expect loss', /usage: expect/],
      ['expect happiness 1', /usage: expect/],
      ['expect loss ~ 1', /usage: expect/],
      ['expect loss zero', /not a number/],
      ['sleep 0', /usage: sleep/],
    ] as const) {
      const r = parseCommand(line);
      assert.equal(r.ok, false, line);
      if (!r.ok) assert.match(r.message, message, line);
    }
  });

  test('a script is checked whole before it runs, every bad line reported with its number', () => {
    const good = parseScript('register alice\n\n# then\nwait registered\r\ncall bob\n');
    assert.ok(good.ok);
    assert.deepEqual(good.steps.map((s) => [s.line, s.command.op]), [[1, 'register'], [4, 'wait'], [5, 'call']]);
    const bad = parseScript('register alice\ndial bob\nquit\nwait nothing\n');
    assert.equal(bad.ok, false);
    if (!bad.ok) assert.deepEqual(bad.errors.map((e) => e.slice(0, 7)), ['line 2:', 'line 3:', 'line 4:']);
  });
});

describe('arguments', () => {
  test('--proxy: IPv4, IPv6 in brackets, a name, a host alone', () => {
    assert.deepEqual(parseProxyAddress('127.0.0.1:5070'), { host: '127.0.0.1', port: 5070 });
    assert.deepEqual(parseProxyAddress('[::1]:5070'), { host: '::1', port: 5070 });
    assert.deepEqual(parseProxyAddress('[::1]'), { host: '::1', port: 34567 });
    assert.deepEqual(parseProxyAddress('::1'), { host: '::1', port: 34567 });
    assert.deepEqual(parseProxyAddress('proxy.example:40000'), { host: 'proxy.example', port: 40000 });
    assert.deepEqual(parseProxyAddress('localhost'), { host: 'localhost', port: 34567 });
    for (const bad of ['127.0.0.1:0', '127.0.0.1:70000', '127.0.0.1:x', ':5060', '[nope]:1', 'fe80::1::2:5060']) assert.equal(typeof parseProxyAddress(bad), 'string', bad);
  });

  test('defaults, and the options that exclude each other', () => {
    const d = parsePhoneArgs([]);
    assert.equal(d.kind, 'run');
    if (d.kind === 'run') assert.deepEqual(d.options, { proxyHost: '127.0.0.1', proxyPort: 34567, user: null, call: null, incoming: 'ring', rate: 50, payloadBytes: 160, durationSec: null, json: false, script: null });
    assert.equal(parsePhoneArgs(['--help']).kind, 'help');
    for (const [argv, message] of [
      [['--auto-answer', '--reject'], /exclude each other/],
      [['--call', 'bob'], /--call needs --user/],
      [['--user', 'a-b'], /not a user id/],
      [['--rate', '0'], /--rate/],
      [['--rate', '20000'], /--rate/],
      [['--size', '8'], /at least 16/],
      [['--size', '1.5'], /whole number/],
      [['--duration', '-1'], /--duration/],
      [['--frobnicate'], /Unknown option/],
      [['bob'], /positional/],
    ] as const) {
      const r = parsePhoneArgs(argv);
      assert.equal(r.kind, 'error', argv.join(' '));
      if (r.kind === 'error') assert.match(r.message, message);
    }
  });
});
