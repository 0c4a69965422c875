/** Peers whose requests skip authentication (gateways, other proxies): an address set of the kit. */
export { AddressSet as TrustedPeers, parseCidr, type CidrRule } from '../../core/module.ts';
