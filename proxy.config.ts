/**
 * The default route script. One script for both wire dialects:
 * - the plain call protocol on UDP 34567, exactly the policy of its spec;
 * - SIP on 5060 (UDP and TCP) the way the classic Kamailio script routes it:
 *   in-dialog requests follow their route set, REGISTER is saved, new calls are
 *   looked up (404 when unknown), record-routed and forwarded to every contact.
 * Every call's media goes through the relay (ports 5000-5999).
 * A source sending more than 60 messages in 2 s is dropped for 5 minutes (flood limits);
 * this machine's own loopback (SIPp or the test phone on it) is exempt.
 * Edit and save: the proxy reloads it without dropping registrations, calls or media.
 */
import { defineProxy } from 'switchyard';
import { callRouting, dialog, floodLimits, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [
    { dialect: 'plain', port: 34567 },
    { dialect: 'sip', port: 5060 },
  ],
  modules: [
    registrar(),
    dialog(),
    callRouting({ answerTimeoutSec: 30 }),
    mediaRelay({ ports: '5000-5999', idleTimeoutSec: 60 }),
    floodLimits({ maxMessages: 60, intervalSec: 2, banSec: 300, trustedPeers: ['127.0.0.0/8', '::1'] }),
  ],
  routes: {
    async request(ctx) {
      const { msg } = ctx;
      if (msg.method === 'REGISTER') return ctx.register();

      // Requests inside a call (BYE, re-INVITE, ACK) follow the call's route.
      if (msg.inDialog) {
        // A plain BYE counts only from a party of the call, while the call rings or runs.
        if (msg.dialect === 'plain') {
          const fromParty = (await ctx.registeredAtSource(msg.from.user)) || (await ctx.registeredAtSource(msg.to.user));
          if (!fromParty) return ctx.respond(403, 'not a party of this call');
          if (ctx.dialogState() === null) return ctx.respond(481, 'no such call');
        }
        if (msg.method === 'BYE') ctx.endMediaSession();
        return ctx.forwardCall();
      }

      if (msg.method === 'INVITE') {
        // A plain caller must call from the address it registered from.
        if (msg.dialect === 'plain' && !(await ctx.registeredAtSource())) {
          return ctx.respond(403, 'caller not registered at this address');
        }
        ctx.engageMediaProxy();
        ctx.recordRoute();
        return ctx.forwardCall({ onFailure: 'callFailed' });
      }

      if (msg.dialect === 'plain') return ctx.respond(501, 'unsupported request');
      return ctx.forwardCall();
    },

    failure: {
      callFailed(ctx) {
        ctx.log.info({ status: ctx.reply.status, reason: ctx.reply.reason, local: ctx.reply.local === true }, 'call failed');
      },
    },
  },
});
