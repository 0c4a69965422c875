/**
 * ICE candidate priority, RFC 8445 §5.1.2.1:
 *   priority = 2^24 · type preference + 2^8 · local preference + (256 − component ID)
 * with type preference 0-126 (recommended: host 126, peer-reflexive 110, server-reflexive 100,
 * relayed 0) and local preference 0-65535.
 */
export function candidatePriority(typePreference: number, localPreference: number, component: number): number {
  if (!Number.isInteger(typePreference) || typePreference < 0 || typePreference > 126) throw new RangeError(`type preference ${typePreference} is outside 0-126`);
  if (!Number.isInteger(localPreference) || localPreference < 0 || localPreference > 65535) throw new RangeError(`local preference ${localPreference} is outside 0-65535`);
  if (!Number.isInteger(component) || component < 1 || component > 256) throw new RangeError(`component ${component} is outside 1-256`);
  return typePreference * 2 ** 24 + localPreference * 2 ** 8 + (256 - component);
}

export type RelayCandidateClass = 'low-priority' | 'high-priority';

const MAX_PRIORITY = 2 ** 31 - 1;

/**
 * The priority of the relay's candidate for one component. Low: a relayed candidate (type
 * preference 0), below every host and server-reflexive candidate of a compliant agent. High:
 * a host-class preference (126, local 65535), raised above the highest priority the SDP
 * already holds for that component, so it sorts first whatever the client chose.
 */
export function relayCandidatePriority(cls: RelayCandidateClass, component: number, existing: readonly number[] = []): number {
  if (cls === 'low-priority') return candidatePriority(0, 65535, component);
  const top = Math.max(0, ...existing);
  return Math.min(MAX_PRIORITY, Math.max(candidatePriority(126, 65535, component), top + 1));
}
