// One werift SCTP association between two loopback hosts, with application
// messages instead of raw buffers and a bounded send queue.

import type { LoopbackHost, UdpAddress } from './network.ts';
import { APP_PPID, decodeMessage, encodeMessage, type AppMessage } from './messages.ts';
import { SCTP, stateOf, type Transport } from './werift.ts';
import { within } from './timing.ts';

/** Both sides use SCTP port 5000; the UDP port distinguishes the hosts (RFC 6951 §5.1). */
export const SCTP_PORT = 5000;

/** werift's send() resolves when its queue drains; more concurrent calls only cost CPU. */
const MAX_SENDS_IN_PROGRESS = 32;

export type MessageHandler = (stream: number, message: AppMessage) => void;

interface QueuedMessage {
  readonly stream: number;
  readonly bytes: Buffer;
  readonly ordered: boolean;
}

export class WeriftAssociation {
  readonly sctp: SCTP;
  private readonly handlers: MessageHandler[] = [];
  private readonly outbox: QueuedMessage[] = [];
  private sendsInProgress = 0;
  private closedAt: number | undefined;
  private readonly transport: Transport;
  private readonly detachRoute: () => void;
  private readonly extraRoutes: (() => void)[] = [];
  messagesSent = 0;
  messagesReceived = 0;
  undecodable = 0;
  droppedAfterClose = 0;

  private constructor(
    readonly label: string,
    readonly host: LoopbackHost,
    readonly remote: UdpAddress,
    role: 'client' | 'server',
  ) {
    const transport: Transport = {
      send: async (bytes) => host.send(bytes, remote),
      close: () => this.detachRoute(),
    };
    this.transport = transport;
    this.detachRoute = host.route(remote, (bytes) => transport.onData?.(bytes));
    this.sctp = role === 'client' ? SCTP.client(transport, SCTP_PORT) : SCTP.server(transport, SCTP_PORT);
    this.sctp.stateChanged.closed.subscribe(() => {
      this.closedAt ??= performance.now();
    });
    this.sctp.onReceive.subscribe((stream, _ppid, data) => {
      let message: AppMessage;
      try {
        message = decodeMessage(data);
      } catch {
        this.undecodable++;
        return;
      }
      this.messagesReceived++;
      for (const handler of this.handlers) handler(stream, message);
    });
  }

  /** Starts the association; a server waits for the client's INIT from `remote`. */
  static open(label: string, host: LoopbackHost, remote: UdpAddress, role: 'client' | 'server'): WeriftAssociation {
    const association = new WeriftAssociation(label, host, remote, role);
    void association.sctp.start(SCTP_PORT);
    return association;
  }

  get isEstablished(): boolean {
    return this.sctp.state === 'connected';
  }

  get isClosed(): boolean {
    return this.sctp.state === 'closed';
  }

  /** Resolves true once ESTABLISHED, false if that did not happen within `timeoutMs`. */
  async established(timeoutMs: number): Promise<boolean> {
    if (this.isEstablished) return true;
    const connected = new Promise<boolean>((resolve) => {
      const subscription = this.sctp.stateChanged.connected.subscribe(() => {
        subscription.unSubscribe();
        resolve(true);
      });
    });
    return within(connected, timeoutMs, false);
  }

  onMessage(handler: MessageHandler): void {
    this.handlers.push(handler);
  }

  send(stream: number, message: AppMessage, ordered = true): void {
    if (this.isClosed) {
      this.droppedAfterClose++;
      return;
    }
    this.outbox.push({ stream, bytes: encodeMessage(message), ordered });
    this.messagesSent++;
    this.pump();
  }

  get pendingSends(): number {
    return this.outbox.length + this.sendsInProgress;
  }

  tags(): { readonly local: number; readonly remote: number } {
    const state = stateOf(this.sctp);
    return { local: state.localVerificationTag, remote: state.remoteVerificationTag };
  }

  nextTsn(): number {
    return stateOf(this.sctp).localTsn;
  }

  outboundSsn(stream: number): number {
    return stateOf(this.sctp).outboundStreamSeq[stream] ?? 0;
  }

  inboundSsn(stream: number): number {
    return stateOf(this.sctp).inboundStreams[stream]?.streamSequenceNumber ?? 0;
  }

  /** RFC 6525 Outgoing SSN Reset Request for the listed streams only (one request outstanding at a time). */
  resetOutgoingStreams(streams: readonly number[]): void {
    this.sctp.reconfigQueue.push(...streams);
    void this.sctp.transmitReconfigRequest();
  }

  /**
   * Packets from `address` are handed to this association too, as if `address`
   * had been added to the peer's address list (what ADD-IP would do).
   */
  acceptAlsoFrom(address: UdpAddress): void {
    this.extraRoutes.push(this.host.route(address, (bytes) => this.transport.onData?.(bytes)));
  }

  async close(): Promise<void> {
    this.outbox.length = 0;
    await this.sctp.stop();
    this.detachRoute();
    for (const detach of this.extraRoutes.splice(0)) detach();
  }

  private pump(): void {
    while (this.outbox.length > 0 && this.sendsInProgress < MAX_SENDS_IN_PROGRESS && !this.isClosed) {
      const next = this.outbox.shift()!;
      this.sendsInProgress++;
      // werift assigns TSN and SSN synchronously inside send(), so call order is wire order.
      this.sctp
        .send(next.stream, APP_PPID, next.bytes, { ordered: next.ordered })
        .catch(() => undefined)
        .finally(() => {
          this.sendsInProgress--;
          this.pump();
        });
    }
  }
}

/** Opens a client/server pair and waits until both ends are ESTABLISHED. */
export async function connectAssociation(
  label: string,
  clientHost: LoopbackHost,
  serverHost: LoopbackHost,
  timeoutMs = 5000,
): Promise<{ readonly client: WeriftAssociation; readonly server: WeriftAssociation }> {
  const server = WeriftAssociation.open(`${label}@${serverHost.name}`, serverHost, clientHost.address, 'server');
  const client = WeriftAssociation.open(`${label}@${clientHost.name}`, clientHost, serverHost.address, 'client');
  const [clientUp, serverUp] = await Promise.all([client.established(timeoutMs), server.established(timeoutMs)]);
  if (!clientUp || !serverUp) throw new Error(`association ${label} did not come up within ${timeoutMs} ms`);
  return { client, server };
}
