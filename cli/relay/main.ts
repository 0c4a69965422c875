import { createLogger } from '../../core/lib/log.ts';
import { EmbeddedBackend } from '../../modules/media-relay/embedded-backend.ts';
import { NgServer } from '../../modules/media-relay/ng/server.ts';
import { MediaRelay } from '../../modules/media-relay/relay/media-relay.ts';
import { createMediaEngine } from '../../modules/media-relay/relay/select-engine.ts';
import { parseRelayArgs, RELAY_USAGE, type RelayNodeOptions } from './args.ts';
import { NgRelay } from './ng-relay.ts';

export interface RunningRelayNode {
  readonly ngPort: number;
  readonly relay: NgRelay;
  readonly server: NgServer;
  stop(): Promise<void>;
}

/** Starts a relay node: the media engine, its port pool, the NG handler and server. */
export async function startRelayNode(o: RelayNodeOptions, log = createLogger({ level: o.logLevel })): Promise<RunningRelayNode> {
  const engine = createMediaEngine({ engine: o.engine, workers: o.workers, host: o.host }, log);
  const media = new MediaRelay({ range: o.ports, idleTimeoutMs: o.idleTimeoutSec * 1000, relatchAfterSilentMs: o.relatchAfterSilentSec * 1000 }, engine, log);
  // The NG handler writes the address of the family each description asks for; a node serving
  // one family gives its address for both.
  const ipv4 = o.advertise.for('IP4') ?? o.advertise.for('IP6')!;
  const backend = new EmbeddedBackend(media, { ipv4, ipv6: o.advertise.for('IP6') ?? ipv4 }, { strictSource: o.strictSource });
  const relay = new NgRelay(backend, o.advertise, log);
  let server: NgServer;
  try {
    server = await NgServer.listen({ host: o.ng.host, port: o.ng.port, handler: relay, log });
  } catch (err) {
    relay.close();
    backend.close();
    throw err;
  }
  log.info({ ngPort: server.port, ng: o.ng.host, ports: `${o.ports.min}-${o.ports.max}`, advertise: Object.fromEntries(o.advertise.entries()), strictSource: o.strictSource, engine: engine.kind, workers: engine.workers }, 'relay node ready');
  return {
    ngPort: server.port,
    relay,
    server,
    stop: async () => {
      await server.close();
      relay.close();
      backend.close();
    },
  };
}

/** `switchyard relay ...`: runs a relay node until SIGINT or SIGTERM. */
export async function relayMain(argv: readonly string[]): Promise<number> {
  const args = parseRelayArgs(argv);
  if ('error' in args) {
    process.stderr.write(`relay: ${args.error}\n${RELAY_USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${RELAY_USAGE}\n`);
    return 0;
  }
  const log = createLogger({ level: args.options.logLevel });
  let node: RunningRelayNode;
  try {
    node = await startRelayNode(args.options, log);
  } catch (err) {
    log.fatal({ err }, 'relay node did not start');
    return 1;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = (signal: string): void => {
      if (stopping) process.exit(1);
      stopping = true;
      log.info({ signal, calls: node.relay.callCount }, 'relay node shutting down');
      node.stop().then(() => resolve(0), (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        resolve(1);
      });
    };
    process.on('SIGINT', () => shutdown('SIGINT'));
    process.on('SIGTERM', () => shutdown('SIGTERM'));
  });
}
