/**
 * The default script for bench/remote/run.sh, its variants chosen by the environment:
 * BENCH_SIP_PORT (the SIP port), BENCH_RELAY_NG (host:port of an NG relay: remote media; unset:
 * the embedded relay on BENCH_MEDIA_PORTS), BENCH_STORE (the registrar's store: memory or a
 * Redis URL). The registrar's user limit is raised above what a REGISTER flood registers.
 */
import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

const ng = process.env.BENCH_RELAY_NG;

export default defineProxy({
  listen: [{ dialect: 'sip', host: '127.0.0.1', port: Number(process.env.BENCH_SIP_PORT ?? 5060), advertise: '127.0.0.1' }],
  modules: [
    registrar({ maxUsers: 2_000_000, store: process.env.BENCH_STORE ?? 'memory' }),
    dialog(),
    callRouting({ answerTimeoutSec: 30 }),
    mediaRelay(ng === undefined || ng === ''
      ? { ports: process.env.BENCH_MEDIA_PORTS ?? '20000-29999', advertise: '127.0.0.1', idleTimeoutSec: 60 }
      : { relays: [{ name: 'bench', ng }] }),
  ],
  routes: {
    async request(ctx) {
      const { msg } = ctx;
      if (msg.method === 'REGISTER') return ctx.register();
      if (msg.inDialog) {
        if (msg.method === 'BYE') ctx.endMediaSession();
        return ctx.forwardCall();
      }
      if (msg.method === 'INVITE') {
        ctx.engageMediaProxy();
        ctx.recordRoute();
        return ctx.forwardCall();
      }
      return ctx.forwardCall();
    },
  },
});
