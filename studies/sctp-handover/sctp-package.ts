// A typed facade over the `sctp` npm package (plain JavaScript, no typings),
// used where its RFC-literal endpoint behaviour matters: out-of-the-blue
// handling (RFC 9260 §8.4) and the ABORT tag rules (§8.5.1 B). Its packet and
// chunk codec builds the probes. It runs over a DatagramPort, which looks like
// a dgram socket but sends and receives through a LoopbackHost.

import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { Writable } from 'node:stream';
import type { LoopbackHost, UdpAddress } from './network.ts';

export interface SctpPackageAssociation {
  readonly my_tag: number;
  readonly peer_tag: number;
  readonly state: string;
  readonly OS: number;
  readonly MIS: number;
}

interface SctpConnectOptions {
  readonly passive?: boolean;
  readonly localPort: number;
  readonly port: number;
  readonly udpTransport: DatagramPort;
  readonly udpPeer: { readonly address: string; readonly port: number };
  readonly OS?: number;
  readonly MIS?: number;
}

export interface SctpPackageSocket extends EventEmitter {
  connect(options: SctpConnectOptions): void;
  createStream(streamId: number): Writable;
  readonly association: SctpPackageAssociation | undefined;
}

interface SctpPackageChunk {
  toBuffer(): Buffer;
}

interface SctpPackage {
  readonly Socket: new (options?: { readonly ootb?: boolean }) => SctpPackageSocket;
  readonly Chunk: new (chunkType: string, options?: Readonly<Record<string, unknown>>) => SctpPackageChunk;
  readonly Packet: new (
    header: { readonly src_port: number; readonly dst_port: number; readonly v_tag: number },
    chunks: Buffer[],
  ) => { toBuffer(): Buffer };
}

const sctpPackage = createRequire(import.meta.url)('sctp') as SctpPackage;

export const SctpSocket = sctpPackage.Socket;

/** Encodes one SCTP packet (common header + chunks, CRC32c) with the package's codec. */
export function encodePacket(sourcePort: number, destinationPort: number, verificationTag: number, chunks: Buffer[]): Buffer {
  return new sctpPackage.Packet({ src_port: sourcePort, dst_port: destinationPort, v_tag: verificationTag }, chunks).toBuffer();
}

/** A HEARTBEAT whose info carries a random nonce and the probed address, as used for path verification (RFC 9260 §5.4). */
export function heartbeatChunk(nonce: Buffer, probedAddress: string): Buffer {
  const info = Buffer.concat([nonce, Buffer.from(probedAddress.split('.').map(Number))]);
  return new sctpPackage.Chunk('heartbeat', { heartbeat_info: info }).toBuffer();
}

/**
 * The dgram-socket surface the `sctp` package uses in UDP mode: 'message' and
 * 'close' events and send(buffer, port, address, callback).
 */
export class DatagramPort extends EventEmitter {
  private readonly detachments: (() => void)[] = [];
  private lastSource: UdpAddress | undefined;

  /**
   * @param replyToSource send to wherever the last datagram came from, like a
   *   stack answering an out-of-the-blue packet to its source address.
   */
  constructor(
    private readonly host: LoopbackHost,
    private readonly replyToSource = false,
  ) {
    super();
  }

  /** Datagrams from `remote` are delivered to this port (adds `remote` to the routing of this host). */
  listen(remote: UdpAddress): this {
    this.detachments.push(this.host.route(remote, (bytes, from) => this.deliver(bytes, from)));
    return this;
  }

  stopListening(remote: UdpAddress): void {
    this.host.unroute(remote);
  }

  /** Datagrams from addresses this host has no route for. */
  listenToUnrouted(): this {
    this.host.setFallback((bytes, from) => this.deliver(bytes, from));
    this.detachments.push(() => this.host.setFallback(undefined));
    return this;
  }

  send(buffer: Buffer, port: number, address: string, callback?: (error: Error | null) => void): void {
    const destination = this.replyToSource && this.lastSource ? this.lastSource : { ip: address, port };
    this.host.send(Buffer.from(buffer), destination);
    callback?.(null);
  }

  close(): void {
    for (const detach of this.detachments.splice(0)) detach();
    // The package's UDP transport closes its endpoints (and their timers) on 'close'.
    this.emit('close');
  }

  private deliver(bytes: Buffer, from: UdpAddress): void {
    this.lastSource = from;
    this.emit('message', Buffer.from(bytes), { address: from.ip, port: from.port, family: 'IPv4', size: bytes.length });
  }
}
