/**
 * The proxy the user-agent tests call through: the default route script
 * (test/configs/ua-proxy.config.ts) on a port the kernel picks, its relay on a free range, and
 * the relay's per-session counters read from its `media session ended` log lines.
 */
import net from 'node:net';
import path from 'node:path';
import { freePortRange } from './free-ports.ts';
import { ProxyProcess, REPO, type LogLine } from './proxy-process.ts';

export const UA_PROXY_CONFIG = path.join(REPO, 'test', 'configs', 'ua-proxy.config.ts');

export interface RelayParty {
  /** The party's user. */
  readonly name: string;
  readonly role: 'caller' | 'callee';
  /** The relay port this party sends to (its own leg's). */
  readonly relayPort: number;
  /** Where the relay sends this party's media: its SDP address, or where it was latched. */
  readonly media: { readonly address: string; readonly port: number };
  readonly latched: boolean;
  /** Packets the relay took from this party and forwarded. */
  readonly packets: number;
  readonly bytes: number;
}

export interface RelaySession {
  readonly key: string;
  readonly reason: string;
  readonly port: number;
  readonly durationMs: number;
  readonly parties: readonly RelayParty[];
  /** Packets from addresses that were neither party, dropped. */
  readonly strangers: number;
  readonly sendErrors: number;
}

export interface UaProxyOptions {
  /** SY_UA_* settings beyond the port range (see the config file). */
  readonly env?: Readonly<Record<string, string>>;
  /** Run the proxy through this command, e.g. ['ip', 'netns', 'exec', ns]. */
  readonly prefix?: readonly string[];
}

export class UaProxy {
  private constructor(readonly proxy: ProxyProcess, readonly sipPort: number, readonly media: { readonly min: number; readonly max: number }) {}

  static async start(opts: UaProxyOptions = {}): Promise<UaProxy> {
    const media = await freePortRange(100);
    const proxy = await ProxyProcess.start({
      configFile: UA_PROXY_CONFIG,
      args: ['--no-warm-up', '--no-watch'],
      env: { ...process.env, SY_UA_MEDIA_PORTS: media.spec, ...opts.env },
      ...(opts.prefix ? { prefix: opts.prefix } : {}),
      timeoutMs: 30_000,
    });
    const listening = await proxy.waitForLog((l) => l.msg === 'listening' && l.dialect === 'sip' && l.transport === 'udp');
    return new UaProxy(proxy, Number(listening.port), media);
  }

  /** The proxy as host:port for a SIP URI, at `host` (default 127.0.0.1; an IPv6 literal gets brackets). */
  at(host = '127.0.0.1'): string {
    return net.isIPv6(host) ? `[${host}]:${this.sipPort}` : `${host}:${this.sipPort}`;
  }

  /** Where the proxy's log stands now: pass it to relaySessionAfter() or logsSince() to look only at what comes after. */
  mark(): number {
    return this.proxy.logs.length;
  }

  /** The relay's counters of the first audio (RTP) session that ended after `mark`. */
  async relaySessionAfter(mark: number, timeoutMs = 10_000): Promise<RelaySession> {
    const line = await this.proxy.waitForLog((l) => l.msg === 'media session ended' && l.component === 'rtp', timeoutMs, mark);
    return line as unknown as RelaySession;
  }

  /** Log lines of `msg` since `from`. */
  logsSince(msg: string, from = 0): LogLine[] {
    return this.proxy.logs.slice(from).filter((l) => l.msg === msg);
  }

  async stop(): Promise<number | null> {
    return this.proxy.stop();
  }
}

/** The relay's record of one party, by role. */
export function party(session: RelaySession, role: 'caller' | 'callee'): RelayParty {
  const p = session.parties.find((x) => x.role === role);
  if (p === undefined) throw new Error(`relay session ${session.key} has no ${role}: ${JSON.stringify(session)}`);
  return p;
}
