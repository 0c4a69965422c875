import { defineProxy } from 'switchyard';
import { callRouting, dialog, iceHints, mediaRelay, registrar } from 'switchyard/modules';

/**
 * Browsers over WebSocket (and SIP phones over UDP) calling each other, media through the
 * relay: the relay is offered to the browsers as their best ICE candidate. Ports and addresses
 * come from the environment so the example runs anywhere.
 */
const env = (name: string, fallback: string): string => process.env[name] ?? fallback;

export default defineProxy({
  listen: [
    { dialect: 'sip', port: Number(env('SIP_PORT', '5060')), advertise: env('ADVERTISE', '127.0.0.1') },
    { dialect: 'sip', transport: 'ws', port: Number(env('WS_PORT', '8080')), advertise: env('ADVERTISE', '127.0.0.1') },
    // WebSocket over TLS when a certificate is given (WSS_CERT, WSS_KEY: PEM files, relative to this file).
    ...(process.env.WSS_CERT !== undefined && process.env.WSS_KEY !== undefined
      ? [{ dialect: 'sip' as const, transport: 'wss' as const, port: Number(env('WSS_PORT', '8443')), cert: process.env.WSS_CERT, key: process.env.WSS_KEY, advertise: env('ADVERTISE', '127.0.0.1') }]
      : []),
  ],
  modules: [
    registrar(),
    dialog(),
    callRouting(),
    iceHints({ candidate: 'high-priority' }),
    mediaRelay({ ports: env('MEDIA_PORTS', '5000-5999'), advertise: env('ADVERTISE', '127.0.0.1') }),
  ],
  routes: {
    request(ctx) {
      if (ctx.msg.method === 'REGISTER') return ctx.register();
      if (ctx.msg.inDialog) return ctx.forwardCall();
      if (ctx.msg.method === 'INVITE') {
        ctx.engageMediaProxy();
        ctx.recordRoute();
      }
      return ctx.forwardCall();
    },
  },
});
