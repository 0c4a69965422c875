import assert from 'node:assert/strict';
import { UdpPeer } from './udp-peer.ts';

/** A plain-protocol user: one socket that registers, calls and answers. */
export class PlainUser {
  private constructor(readonly name: string, readonly peer: UdpPeer, readonly proxyPort: number, private readonly timeoutMs: number) {}

  /** `timeoutMs`: how long each receive may wait (longer where the proxy shares a loaded machine). */
  static async register(name: string, proxyPort: number, family: 4 | 6 = 4, timeoutMs = 2000): Promise<PlainUser> {
    const u = new PlainUser(name, await UdpPeer.open(family), proxyPort, timeoutMs);
    await u.send(`REGISTER ${name}\n`);
    assert.equal(await u.next(), `ACK_REGISTER ${name}\n`);
    return u;
  }

  send(text: string | Buffer): Promise<void> {
    return this.peer.send(text, this.proxyPort);
  }

  next(timeoutMs = this.timeoutMs): Promise<string> {
    return this.peer.nextText(timeoutMs);
  }

  /** Asserts that nothing arrives for `ms`. */
  async quiet(what: string, ms = 400): Promise<void> {
    const got = await this.peer.drain(ms);
    assert.deepEqual(got.map((d) => d.data.toString('latin1')), [], `${this.name} gets nothing (${what})`);
  }

  /** Sends media to the relay port from this user's signaling socket. */
  media(port: number, data: Buffer): Promise<void> {
    return this.peer.send(data, port);
  }

  close(): Promise<void> {
    return this.peer.close();
  }
}

/** caller CALLs callee, callee accepts; returns the media port both were told. */
export async function establishCall(caller: PlainUser, callee: PlainUser): Promise<number> {
  await caller.send(`CALL FROM:${caller.name} TO:${callee.name}\n`);
  assert.equal(await callee.next(), `CALL FROM:${caller.name} TO:${callee.name}\n`);
  await callee.send(`ACK_CALL FROM:${callee.name} TO:${caller.name}\n`);
  assert.equal(await caller.next(), `ACK_CALL FROM:${callee.name} TO:${caller.name}\n`);
  const toCaller = await caller.next();
  const toCallee = await callee.next();
  const m = /^MEDIA_PORT FROM:(\w+) TO:(\w+) (\d+)\n$/.exec(toCaller);
  assert.ok(m, `expected MEDIA_PORT, got ${JSON.stringify(toCaller)}`);
  assert.equal(m[1], caller.name);
  assert.equal(m[2], callee.name);
  assert.equal(toCallee, toCaller, 'both parties are told the same media port');
  return Number(m[3]);
}
