/**
 * The flood benchmark's switchyard: the default script (proxy.config.ts) on SIP
 * 127.0.0.1:37760 only, its relay on ports 36000-36999, and its flood limits as they ship
 * (60 messages per 2 s, banned 300 s) but without the loopback exemption: on this machine
 * every party, the floods included, comes from loopback.
 */
import { defineProxy } from 'switchyard';
import { floodLimits, mediaRelay } from 'switchyard/modules';
import base from '../../proxy.config.ts';

export default defineProxy({
  ...base,
  listen: [{ dialect: 'sip', host: '127.0.0.1', port: 37760, transports: ['udp'] }],
  // the same modules in the same order (a map loses the tuple type)
  modules: base.modules.map((m) => {
    if (m.name === 'media-relay') return mediaRelay({ ports: '36000-36999', idleTimeoutSec: 60 });
    if (m.name === 'flood-limits') return floodLimits({ maxMessages: 60, intervalSec: 2, banSec: 300 });
    return m;
  }) as unknown as typeof base.modules,
});
