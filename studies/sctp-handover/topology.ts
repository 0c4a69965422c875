// Three hosts on distinct loopback addresses and the associations between them.

import { connectAssociation, type WeriftAssociation } from './association.ts';
import { Network, type LoopbackHost } from './network.ts';

export const HOST_IPS = { A: '127.0.0.2', B: '127.0.0.3', C: '127.0.0.4' } as const;
export type HostName = keyof typeof HOST_IPS;

export class Topology {
  private readonly associations: WeriftAssociation[] = [];
  private closed = false;

  private constructor(
    readonly network: Network,
    readonly hosts: Readonly<Record<HostName, LoopbackHost>>,
  ) {}

  static async create(): Promise<Topology> {
    const network = new Network();
    const [a, b, c] = await Promise.all([
      network.addHost('A', HOST_IPS.A),
      network.addHost('B', HOST_IPS.B),
      network.addHost('C', HOST_IPS.C),
    ]);
    return new Topology(network, { A: a, B: b, C: c });
  }

  /** Opens `client`–`server` and waits for both ends; the pair is closed by close(). */
  async connect(
    client: HostName,
    server: HostName,
    timeoutMs = 5000,
  ): Promise<{ readonly client: WeriftAssociation; readonly server: WeriftAssociation }> {
    const pair = await connectAssociation(`${client}–${server}`, this.hosts[client], this.hosts[server], timeoutMs);
    this.track(pair.client, pair.server);
    return pair;
  }

  track(...associations: WeriftAssociation[]): void {
    this.associations.push(...associations);
  }

  /** Stops every association (werift sends ABORT), then closes all sockets and timers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.associations.map((association) => association.close()));
    await this.network.close();
  }
}
