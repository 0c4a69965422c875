import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { runSipp, startSipp } from './sipp.ts';

const LOOP = '127.0.0.1';

/** The ports one legitimate SIPp call uses: its callee, its caller, and their media ports. */
export interface LegitPorts {
  readonly uas: number;
  readonly uac: number;
  readonly media: number;
}

/**
 * The proof that an attack left the proxy serving: SIPp registers `bob` (unless `register` is
 * false: registered before), then calls him through the proxy (record-routed, relayed), and
 * both ends finish their scenario.
 */
export async function legitCall(proxyPort: number, ports: LegitPorts, user = 'bob', register = true): Promise<void> {
  const remote = `${LOOP}:${proxyPort}`;
  if (register) await legitRegistration(proxyPort, ports, user);
  const uas = startSipp('uas.xml', ['-i', LOOP, '-p', String(ports.uas), '-m', '1', '-key', 'mport', String(ports.media)]);
  try {
    await new Promise((r) => setTimeout(r, 300));
    const uac = await runSipp('uac.xml', [remote, '-s', user, '-i', LOOP, '-p', String(ports.uac), '-m', '1', '-d', '100', '-key', 'mport', String(ports.media + 2)]);
    assert.equal(uac.code, 0, `caller: ${uac.output}`);
    const s = await uas.done;
    assert.equal(s.code, 0, `callee: ${s.output}`);
  } finally {
    uas.kill();
  }
}

/** SIPp registers `user` at the callee's port of `ports` (legitCall with `register` false then calls it). */
export async function legitRegistration(proxyPort: number, ports: LegitPorts, user = 'bob'): Promise<void> {
  const reg = await runSipp('register.xml', [`${LOOP}:${proxyPort}`, '-s', user, '-i', LOOP, '-p', String(ports.uas), '-m', '1', '-key', 'expires', '3600']);
  assert.equal(reg.code, 0, `registration: ${reg.output}`);
}

/** A process's resident memory, MB (Linux). */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) / 1024;
}
