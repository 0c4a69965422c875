/**
 * The default route script: exactly the policy of the plain call protocol
 * (shared spec: registration, calls to registered users, media through the relay).
 * Edit and save: the proxy reloads it without dropping registrations, calls or media.
 */
import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'plain', port: 34567 }],
  modules: [
    registrar(),
    dialog(),
    callRouting({ answerTimeoutSec: 30 }),
    mediaRelay({ ports: '5000-5999', idleTimeoutSec: 60 }),
  ],
  routes: {
    async request(ctx) {
      const { msg } = ctx;
      if (msg.method === 'REGISTER') return ctx.register();

      if (msg.method === 'INVITE') {
        // A caller must call from the address it registered from.
        if (!(await ctx.registeredAtSource())) return ctx.respond(403, 'caller not registered at this address');
        ctx.engageMediaProxy();
        return ctx.forwardCall({ onFailure: 'callFailed' });
      }

      if (msg.method === 'BYE') {
        ctx.endMediaSession();
        return ctx.forwardCall();
      }
      return ctx.respond(501, 'unsupported request');
    },

    failure: {
      callFailed(ctx) {
        ctx.log.info({ status: ctx.reply.status, reason: ctx.reply.reason, local: ctx.reply.local === true }, 'call failed');
      },
    },
  },
});
