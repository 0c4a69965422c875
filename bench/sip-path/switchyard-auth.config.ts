/**
 * The SIP path benchmark with digest authentication on: examples/secure.config.ts (every
 * REGISTER answered 401, every new request from an untrusted source 407, its users from
 * examples/users.txt) on SIP 127.0.0.1:37660 only, its relay on ports 32000-33999. Loopback
 * is not a trusted peer of the auth module here, so every call is challenged; the flood limits
 * do exempt it (the benchmark is one address sending thousands of calls a second).
 *
 *   SY_CONFIG=bench/sip-path/switchyard-auth.config.ts SY_AUTH=1 npm run bench:sip-path
 */
import { defineProxy } from 'switchyard';
import { floodLimits, mediaRelay } from 'switchyard/modules';
import secure from '../../examples/secure.config.ts';

export default defineProxy({
  ...secure,
  listen: [{ dialect: 'sip', host: '127.0.0.1', port: 37660, transports: ['udp'] }],
  // the same modules in the same order (a map loses the tuple type)
  modules: secure.modules.map((m) => {
    if (m.name === 'media-relay') return mediaRelay({ ports: '32000-33999', idleTimeoutSec: 60, strictSource: true });
    if (m.name === 'flood-limits') return floodLimits({ trustedPeers: ['127.0.0.0/8'] });
    return m;
  }) as unknown as typeof secure.modules,
});
