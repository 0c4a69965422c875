import type { Logger } from '../lib/log.ts';
import { isIP } from 'node:net';
import type { DatagramReceiver, DatagramSocket, ReadEnd, UdpEngineChoice } from './datagram-socket.ts';
import { openJsSocket } from './js-socket.ts';
import { loadNativeSignal, NativeSocket } from './native-socket.ts';

/** Thrown when a listener asks for the native UDP engine and it cannot be loaded. */
export class UdpEngineUnavailableError extends Error {
  readonly code = 'SY_UDP_ENGINE';
}

let warned = false;

/**
 * Opens a signaling socket on the chosen engine. `auto` is native when it was built and the
 * host is an IP literal, else js; SWITCHYARD_UDP_ENGINE=js|native overrides `auto`.
 */
export async function openDatagramSocket(choice: UdpEngineChoice, host: string, port: number, receive: DatagramReceiver, log: Logger, readEnd?: ReadEnd): Promise<DatagramSocket> {
  const fromEnv = process.env.SWITCHYARD_UDP_ENGINE;
  const engine = choice === 'auto' && (fromEnv === 'js' || fromEnv === 'native') ? fromEnv : choice;
  if (engine === 'js') return openJsSocket(host, port, receive, readEnd);
  const native = loadNativeSignal();
  if ('error' in native) {
    if (engine === 'native') throw new UdpEngineUnavailableError(`udpEngine "native": the native signaling socket cannot be loaded: ${native.error}`);
    if (!warned) log.warn({ reason: native.error }, 'signaling: native UDP engine unavailable, using node:dgram');
    warned = true;
    return openJsSocket(host, port, receive, readEnd);
  }
  if (isIP(host) === 0) {
    if (engine === 'native') throw new UdpEngineUnavailableError(`udpEngine "native" needs an IP literal as host, not '${host}'`);
    return openJsSocket(host, port, receive, readEnd);
  }
  return new NativeSocket(native.addon, host, port, receive, readEnd);
}
