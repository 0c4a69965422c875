/**
 * The media benchmark's switchyard: the default policy on the plain protocol (port 37501), the
 * relay on 30000-31999 (clear of the generator's 20000+ and crelay's 11000+), sessions that
 * outlive a long run, logs at warn.
 */
import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'plain', port: 37501 }],
  modules: [registrar(), dialog(), callRouting(), mediaRelay({ ports: '30000-31999', idleTimeoutSec: 600 })],
  log: { level: 'warn' },
  routes: {
    async request(ctx) {
      const { msg } = ctx;
      if (msg.method === 'REGISTER') return ctx.register();
      if (msg.inDialog) {
        ctx.endMediaSession();
        return ctx.forwardCall();
      }
      if (msg.method === 'INVITE') {
        if (!(await ctx.registeredAtSource())) return ctx.respond(403, 'caller not registered at this address');
        ctx.engageMediaProxy();
        return ctx.forwardCall();
      }
      return ctx.respond(501, 'unsupported request');
    },
  },
});
