import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { parsePhoneArgs, PHONE_USAGE, type PhoneOptions } from './args.ts';
import { runInteractive } from './interactive.ts';
import { processIo, type PhoneIo } from './io.ts';
import { Reporter } from './report.ts';
import { parseScript, ScriptRunner, type ScriptStep } from './script-runner.ts';
import { PhoneSession } from './session.ts';

/**
 * `switchyard phone [options]`: `argv` is what follows `phone`. Resolves with the exit status:
 * 0 done, 1 a step or the call failed (or the proxy cannot be reached), 2 bad arguments or script.
 */
export async function runPhone(argv: readonly string[], io: PhoneIo = processIo()): Promise<number> {
  const parsed = parsePhoneArgs(argv);
  if (parsed.kind === 'help') {
    io.stdout.write(`${PHONE_USAGE}\n`);
    return 0;
  }
  if (parsed.kind === 'error') {
    io.stderr.write(`${parsed.message}\n(switchyard phone --help lists the options)\n`);
    return 2;
  }
  const o = parsed.options;

  let steps: readonly ScriptStep[] | null = null;
  if (o.script !== null) {
    const name = o.script === '-' ? 'stdin' : o.script;
    let source: string;
    try {
      source = o.script === '-' ? await readAll(io.stdin) : await readFile(o.script, 'utf8');
    } catch (err) {
      io.stderr.write(`--script: cannot read ${name}: ${(err as Error).message}\n`);
      return 2;
    }
    const script = parseScript(source);
    if (!script.ok) {
      io.stderr.write(script.errors.map((e) => `${name} ${e}\n`).join(''));
      return 2;
    }
    steps = script.steps;
  }

  let proxyAddress: string;
  try {
    proxyAddress = await resolveProxy(o.proxyHost);
  } catch (err) {
    io.stderr.write(`--proxy: cannot resolve ${o.proxyHost}: ${(err as Error).message}\n`);
    return 1;
  }
  let session: PhoneSession;
  try {
    session = await PhoneSession.open({
      proxyAddress, proxyPort: o.proxyPort, rate: o.rate, payloadBytes: o.payloadBytes, durationSec: o.durationSec, incoming: o.incoming,
    });
  } catch (err) {
    io.stderr.write(`cannot open the phone's UDP socket: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    const report = { json: o.json, rate: o.rate, payloadBytes: o.payloadBytes };
    if (steps !== null) return await runScript(session, io, o, steps);
    return await runInteractive(session, io, { ...report, askOnIncoming: o.incoming === 'ring', user: o.user, call: o.call, passive: o.incoming !== 'ring' });
  } finally {
    await session.close();
  }
}

/** Script mode: the steps in order, then the call (if any) hung up; 0, or 1 at the first failed step. */
async function runScript(session: PhoneSession, io: PhoneIo, o: PhoneOptions, steps: readonly ScriptStep[]): Promise<number> {
  const reporter = new Reporter(session, (line) => io.stdout.write(`${line}\n`), { json: o.json, rate: o.rate, payloadBytes: o.payloadBytes, askOnIncoming: false });
  const runner = new ScriptRunner(session, reporter);
  const interrupt = new AbortController();
  const onSignal = (): void => interrupt.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    reporter.notice(`phone on UDP port ${session.localPort}`);
    if (o.user !== null) {
      const refused = session.register(o.user);
      if (refused !== null) reporter.notice(refused);
    }
    const outcome = await runner.run(steps, interrupt.signal);
    if (session.callPhase !== null) session.hangup(outcome.ok ? 'end of script' : 'script failed');
    if (outcome.ok) {
      reporter.custom('script-done', {}, 'script done');
      return 0;
    }
    reporter.custom('script-failed', { line: outcome.line, step: outcome.text, reason: outcome.reason }, []);
    io.stderr.write(`script failed at line ${outcome.line} (${outcome.text}): ${outcome.reason}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    reporter.close();
  }
}

/** An IP literal in the form the socket reports its peers in; a name resolved to one. */
async function resolveProxy(host: string): Promise<string> {
  const address = isIP(host) !== 0 ? host : (await lookup(host)).address;
  // IPv4-mapped addresses are reported dotted (::ffff:127.0.0.1); other IPv6 ones compressed.
  if (isIP(address) !== 6 || /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address) || address.includes('%')) return address;
  return new URL(`udp://[${address}]`).hostname.slice(1, -1);
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}
