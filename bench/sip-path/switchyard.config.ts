/**
 * The SIP path benchmark's switchyard: the repository's default script (proxy.config.ts) on
 * SIP 127.0.0.1:37660 only, its media relay on ports 32000-33999.
 */
import { defineProxy } from 'switchyard';
import { mediaRelay } from 'switchyard/modules';
import base from '../../proxy.config.ts';

export default defineProxy({
  ...base,
  listen: [{ dialect: 'sip', host: '127.0.0.1', port: 37660, transports: ['udp'] }],
  // the same modules in the same order, the relay on its own ports (a map loses the tuple type)
  modules: base.modules.map((m) => (m.name === 'media-relay' ? mediaRelay({ ports: '32000-33999', idleTimeoutSec: 60 }) : m)) as unknown as typeof base.modules,
});
