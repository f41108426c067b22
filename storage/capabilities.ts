import type { StorageDriver } from './driver';

/**
 * The optional mechanics a driver may offer (DESIGN.md, "Storage drivers"). Activities ask
 * for them, never for a scheme; the contract suite checks that each driver offers exactly
 * the ones it declares, and runs the cases of each.
 */
export const CAPABILITIES = [
  'copyWithin',
  'writeResumable',
  'discardUnfinishedWrites',
  'openRandomAccess',
  'bulk',
  'resolveRoot',
  'createRoot',
  'removeRootIfEmpty',
  'storedChecksum',
] as const;

export type Capability = (typeof CAPABILITIES)[number] | 'checksums';

/** What `driver` offers: its optional methods, and 'checksums' if it reports any. */
export function capabilitiesOf(driver: StorageDriver): Capability[] {
  const out: Capability[] = CAPABILITIES.filter((c) => typeof driver[c] === 'function');
  if (driver.checksums.length > 0) out.push('checksums');
  return out;
}
