/**
 * The default route script (../../proxy.config.ts, its routes as they are) on the ports and
 * addresses a user-agent test gives it through the environment, so the tests run beside a proxy
 * on the product's ports:
 *   SY_UA_SIP_PORT       SIP port, UDP and TCP (default 0: the kernel picks one)
 *   SY_UA_SIP_HOST       bound address (default '::', dual-stack)
 *   SY_UA_ADVERTISE      the address in Via and Record-Route toward IPv4 peers (default 127.0.0.1)
 *   SY_UA_ADVERTISE6     the same toward IPv6 peers (default ::1)
 *   SY_UA_MEDIA_PORTS    the relay's port range (required: the test picks a free one)
 *   SY_UA_MEDIA_ADVERTISE  the address the relay writes into SDP for IPv4 media (default 127.0.0.1)
 *   SY_UA_MEDIA_ADVERTISE6 the same for IPv6 media (default ::1)
 */
import { defineProxy } from 'switchyard';
import { callRouting, dialog, floodLimits, mediaRelay, registrar } from 'switchyard/modules';
import defaultScript from '../../proxy.config.ts';

function env(name: string, fallback?: string): string {
  const v = process.env[name]?.trim();
  if (v !== undefined && v !== '') return v;
  if (fallback === undefined) throw new Error(`${name} is not set`);
  return fallback;
}

const port = Number(env('SY_UA_SIP_PORT', '0'));
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`SY_UA_SIP_PORT='${env('SY_UA_SIP_PORT')}': expected a port number`);

export default defineProxy({
  listen: [{ dialect: 'sip', port, host: env('SY_UA_SIP_HOST', '::'), advertise: env('SY_UA_ADVERTISE', '127.0.0.1'), advertiseIPv6: env('SY_UA_ADVERTISE6', '::1') }],
  modules: [
    registrar(),
    dialog(),
    callRouting({ answerTimeoutSec: 30 }),
    mediaRelay({ ports: env('SY_UA_MEDIA_PORTS'), idleTimeoutSec: 60, advertise: env('SY_UA_MEDIA_ADVERTISE', '127.0.0.1'), advertiseIPv6: env('SY_UA_MEDIA_ADVERTISE6', '::1') }),
    floodLimits({ maxMessages: 60, intervalSec: 2, banSec: 300, trustedPeers: ['127.0.0.0/8', '::1'] }),
  ],
  routes: defaultScript.routes,
});
