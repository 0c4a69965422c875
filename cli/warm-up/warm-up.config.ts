/**
 * The route script of the start-up warm-up (warm-up.ts): the default script's SIP call path on
 * a loopback port of its own. Its modules are private instances; the media relay's options are
 * replaced by the operator's (its port range), or the relay is left out when the operator's
 * script has none, hence the check before engaging it.
 */
import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'sip', host: '127.0.0.1', port: 0, transports: ['udp'] }],
  // Every user registers from the warm-up's one loopback source; its registrations are its own
  // and kept nowhere: never the operator's registrations file.
  modules: [registrar({ sipMaxUsersPerSource: 1_000_000, stateFile: false }), dialog(), callRouting({ answerTimeoutSec: 5 }), mediaRelay()],
  routes: {
    request(ctx) {
      const { msg } = ctx;
      if (msg.method === 'REGISTER') return ctx.register();
      const relay = typeof ctx.engageMediaProxy === 'function';
      if (msg.inDialog) {
        if (msg.method === 'BYE' && relay) ctx.endMediaSession();
        return ctx.forwardCall();
      }
      if (msg.method === 'INVITE') {
        if (relay) ctx.engageMediaProxy();
        ctx.recordRoute();
      }
      return ctx.forwardCall();
    },
  },
});
