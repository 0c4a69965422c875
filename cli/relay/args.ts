import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { parsePortRange, type PortRange } from '../../modules/media-relay/relay/port-pool.ts';
import { AdvertiseTable } from './advertise.ts';

export const RELAY_USAGE = `usage: switchyard relay --ng <host:port> [--ports <lo>-<hi>] [--advertise <address>]...
                       [--host <address>] [--idle-timeout <sec>] [--strict-source]
                       [--relatch-after-silent <sec>] [--engine auto|native|js]
                       [--workers <n>] [--log-level <level>]

A media relay node: the relay's engine without signaling, driven over rtpengine's NG protocol
(bencode over UDP), so that Kamailio's rtpengine module, OpenSIPS or switchyard's media-relay
module use it as they use rtpengine. offer/answer rewrite the SDP to point at the relay,
delete ends a call and returns its counters, query gives per-leg packets and bytes, list and
statistics are for operators, ping answers pong.

  --ng            where NG commands are received, e.g. 127.0.0.1:2223 or [::1]:2223 (required;
                  port 0 picks a free one, logged as ngPort when ready)
  --ports         the media port range (default 30000-39999); RTP on even ports, RTCP above
  --advertise     the relay address written into SDP, once per family: an IPv4 description
                  gets the IPv4 one, an IPv6 description the IPv6 one (default: the bind
                  host, or the machine's first address of the family for a wildcard)
  --host          the address media sockets bind to (default :: , dual-stack)
  --idle-timeout  a call whose RTP carried nothing for this long is ended (default 60 s)
  --strict-source a leg latches only to a datagram from the IP in its SDP or the IP its
                  signaling came from (NG received-from), for every call; without it, for the
                  calls whose offer or answer has the strict-source flag, and the others latch
                  to the first datagram to the leg's port, from anywhere (any NAT)
  --relatch-after-silent
                  a leg whose latched source sent nothing for this long, while datagrams from
                  elsewhere arrive, latches anew (default 2 s; 0: never)
  --engine        native (C worker threads), js, or auto: native when built (default auto)
  --workers       native engine threads (default: one per core)
  --log-level     fatal | error | warn | info | debug | trace | silent (default info)`;

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export interface RelayNodeOptions {
  readonly ng: { readonly host: string; readonly port: number };
  readonly ports: PortRange;
  readonly host: string;
  readonly advertise: AdvertiseTable;
  readonly idleTimeoutSec: number;
  readonly strictSource: boolean;
  readonly relatchAfterSilentSec: number;
  readonly engine: 'auto' | 'native' | 'js';
  readonly workers: number | 'auto';
  readonly logLevel: (typeof LEVELS)[number];
}

export type RelayArgs = { readonly help: true } | { readonly help: false; readonly options: RelayNodeOptions } | { readonly error: string };

/** `host:port`, `[v6]:port`: the NG listening address. */
export function parseHostPort(text: string): { host: string; port: number } | null {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:]+):(\d{1,5})$/.exec(text);
  if (m === null) return null;
  const port = Number(m[2]);
  if (isIP(m[1]!) === 0 || port > 65535) return null;
  return { host: m[1]!, port };
}

export function parseRelayArgs(argv: readonly string[]): RelayArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        ng: { type: 'string' },
        ports: { type: 'string', default: '30000-39999' },
        advertise: { type: 'string', multiple: true, default: [] },
        host: { type: 'string', default: '::' },
        'idle-timeout': { type: 'string', default: '60' },
        'strict-source': { type: 'boolean', default: false },
        'relatch-after-silent': { type: 'string', default: '2' },
        engine: { type: 'string', default: 'auto' },
        workers: { type: 'string', default: 'auto' },
        'log-level': { type: 'string', default: 'info' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    return { error: (err as Error).message };
  }
  if (values.help) return { help: true };
  if (values.ng === undefined) return { error: '--ng <host:port> is required' };
  const ng = parseHostPort(values.ng);
  if (ng === null) return { error: `--ng ${values.ng}: expected <ip>:<port> or [<ipv6>]:<port>` };
  const ports = parsePortRange(values.ports!);
  if (ports === null || ports.max - ports.min < 1) return { error: `--ports ${values.ports}: expected a range like 30000-39999 (1-65535, at least two ports)` };
  const host = values.host!;
  if (isIP(host) === 0) return { error: `--host ${host}: not an IP address` };
  const advertise = AdvertiseTable.from(host, values.advertise!);
  if ('error' in advertise) return { error: advertise.error };
  const idle = Number(values['idle-timeout']);
  if (!Number.isFinite(idle) || idle <= 0) return { error: `--idle-timeout ${values['idle-timeout']}: expected seconds > 0` };
  const relatch = Number(values['relatch-after-silent']);
  if (!Number.isFinite(relatch) || relatch < 0) return { error: `--relatch-after-silent ${values['relatch-after-silent']}: expected seconds >= 0` };
  const engine = values.engine!;
  if (engine !== 'auto' && engine !== 'native' && engine !== 'js') return { error: `--engine ${engine}: expected auto, native or js` };
  const workersText = values.workers!;
  const workers = workersText === 'auto' ? 'auto' : Number(workersText);
  if (workers !== 'auto' && (!Number.isInteger(workers) || workers < 1 || workers > 64)) return { error: `--workers ${workersText}: expected 1-64 or auto` };
  const level = values['log-level']!;
  if (!(LEVELS as readonly string[]).includes(level)) return { error: `--log-level ${level}: expected one of ${LEVELS.join(', ')}` };
  return { help: false, options: { ng, ports, host, advertise, idleTimeoutSec: idle, strictSource: values['strict-source']!, relatchAfterSilentSec: relatch, engine, workers, logLevel: level as RelayNodeOptions['logLevel'] } };
}
