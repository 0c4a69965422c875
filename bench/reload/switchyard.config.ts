/**
 * The reload benchmark's switchyard: the default script's request route on the media benchmark's plain
 * port (37501, media relay on 30000-31999) plus SIP on 127.0.0.1:37560. run.sh copies it to a
 * temporary directory and rewrites the RELOAD line there for every reload, which changes two
 * reloadable module options and the constant the failure route logs: each reload is a real
 * change that the registry applies. This file itself is never rewritten.
 */
import { defineProxy } from 'switchyard';
import { callRouting, dialog, floodLimits, mediaRelay, registrar } from 'switchyard/modules';
import defaultScript from '../../proxy.config.ts'; // reload.py: the repository's default script, by absolute path in the copy

const RELOAD = 0; // run.sh: reload number
const ENGINE: 'auto' | 'native' | 'js' = 'auto'; // run.sh --engine: the media relay's data plane

export default defineProxy({
  listen: [
    { dialect: 'plain', port: 37501 },
    { dialect: 'sip', host: '127.0.0.1', port: 37560, advertise: '127.0.0.1', transports: ['udp'] },
  ],
  modules: [
    registrar(),
    dialog(),
    callRouting({ answerTimeoutSec: 30 + RELOAD }),
    mediaRelay({ ports: '30000-31999', idleTimeoutSec: 600 + RELOAD, advertise: '127.0.0.1', engine: ENGINE }),
    floodLimits({ maxMessages: 60, intervalSec: 2, banSec: 300, trustedPeers: ['127.0.0.0/8', '::1'] }),
  ],
  routes: {
    request: defaultScript.routes.request,
    failure: {
      callFailed(ctx) {
        ctx.log.warn({ status: ctx.reply.status, reason: ctx.reply.reason, reload: RELOAD }, 'call failed');
      },
    },
  },
});
