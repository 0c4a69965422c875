import { lookup } from 'node:dns';
import { isIP, isIPv4 } from 'node:net';
import type { Endpoint } from '../lib/address.ts';
import { loadAddon, type AddonLoad } from '../lib/native-addon.ts';
import type { DatagramReceiver, DatagramSocket, ReadEnd } from './datagram-socket.ts';
import { SIGNALING_SOCKET_BUFFER_BYTES } from './datagram-socket.ts';

/** native/signal.c, as its bindings see it. */
interface NativeSignal {
  /** Datagrams per batch; meta holds [offset, length, port] for each. */
  readonly batch: number;
  /**
   * `onBatch`'s last argument: how long the batch's oldest datagram waited in the queue, µs (-1:
   * unknown). `onError` hears of received datagrams lost because their batch could not be built
   * (out of memory).
   */
  open(host: string, port: number, meta: Uint32Array, onBatch: (data: Buffer, addresses: string[], count: number, waitedUs: number) => void, bufferBytes: number, onError: (err: Error) => void): NativeHandle;
  /** False when `address` is not an IP literal this socket can reach. */
  send(handle: NativeHandle, data: Buffer, port: number, address: string): boolean;
  port(handle: NativeHandle): number;
  /** [bytes queued, receive buffer bytes, datagrams dropped] (SO_MEMINFO). */
  queue(handle: NativeHandle): [number, number, number];
  close(handle: NativeHandle): void;
}
declare const nativeHandle: unique symbol;
type NativeHandle = { readonly [nativeHandle]: true };

/** native/signal.c as built at install time, or why it cannot be had. */
export function loadNativeSignal(): AddonLoad<NativeSignal> {
  return loadAddon<NativeSignal>('signal', 'a C compiler and uv.h');
}

/**
 * A signaling socket on native/signal.c. Each readable wakeup drains the socket with recvmmsg
 * and hands the whole batch to JavaScript in one call; the sends that batch causes leave in
 * one sendmmsg after it. `host` must be an IP literal (the addon refuses anything else).
 */
export class NativeSocket implements DatagramSocket {
  readonly engine = 'native';
  readonly port: number;
  readonly dualStack: boolean;
  private readonly handle: NativeHandle;
  private closed = false;

  constructor(private readonly addon: NativeSignal, host: string, port: number, receive: DatagramReceiver, readEnd?: ReadEnd) {
    const batch = addon.batch;
    const meta = new Uint32Array(3 * batch);
    const onBatch = (data: Buffer, addresses: string[], count: number, waitedUs: number): void => {
      let failure: unknown = null;
      for (let i = 0, m = 0; i < count; i++, m += 3) {
        const start = meta[m]!;
        try {
          receive(data.subarray(start, start + meta[m + 1]!), { address: addresses[i]!, port: meta[m + 2]! });
        } catch (err) {
          // The rest of the batch is still delivered; the first failure is then thrown, as a
          // throwing 'message' listener of node:dgram would.
          failure ??= err;
        }
      }
      // A full batch means the read stopped at the batch's size, not at an empty queue.
      if (readEnd !== undefined) {
        const waitedMs = waitedUs >= 0 ? waitedUs / 1000 : undefined;
        if (count < batch) readEnd({ drained: true, waitedMs });
        else {
          const [bytes, capacity, drops] = addon.queue(this.handle);
          readEnd({ drained: false, waitedMs, queue: { bytes, capacity, drops } });
        }
      }
      if (failure !== null) throw failure;
    };
    // A lost batch is lost traffic, as a full socket queue would lose it: said, not thrown.
    const onError = (err: Error): void => process.emitWarning(err);
    this.handle = addon.open(host, port, meta, onBatch, SIGNALING_SOCKET_BUFFER_BYTES, onError);
    this.port = addon.port(this.handle);
    this.dualStack = !isIPv4(host);
  }

  send(to: Endpoint, data: Buffer, sent?: () => void): void {
    if (this.closed) return;
    if (!this.addon.send(this.handle, data, to.port, to.address) && isIP(to.address) === 0) {
      // A host name: resolved first, as node:dgram would.
      lookup(to.address, { family: this.dualStack ? 0 : 4 }, (err, address) => {
        if (err === null && !this.closed) this.addon.send(this.handle, data, to.port, address);
        sent?.();
      });
      return;
    }
    if (sent !== undefined) queueMicrotask(sent);
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.addon.close(this.handle);
    }
    return Promise.resolve();
  }
}
