import type { ExpectedObject, ObjectIdentity } from './driver';

/**
 * Object identity (invariant 3): whether the object a driver reports now is the very one a
 * listing saw. Only the fields that prove identity count (nlink and metageneration do not),
 * and only those the recorded side has: a driver proves what it can.
 */
const IDENTITY_FIELDS = [
  'mtimeNs',
  'ctimeNs',
  'dev',
  'ino',
  'etag',
  'versionId',
  'generation',
] as const;

/** The fields of `id` that prove identity, or undefined when it proves nothing. */
export function provableIdentity(id: ObjectIdentity | undefined): ObjectIdentity | undefined {
  if (!id) return undefined;
  const out: ObjectIdentity = {};
  for (const f of IDENTITY_FIELDS) if (id[f] !== undefined) out[f] = id[f];
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * Whether `now` is the object `expected` describes: same size and every identity field
 * `expected` recorded is equal. An expectation with no identity proves nothing: false.
 */
export function sameObject(expected: ExpectedObject, now: ExpectedObject): boolean {
  if (expected.size !== now.size) return false;
  const id = provableIdentity(expected.identity);
  if (!id) return false;
  for (const f of IDENTITY_FIELDS) {
    if (id[f] !== undefined && id[f] !== now.identity?.[f]) return false;
  }
  return true;
}

/** What differs, for messages ("size 10 → 12, mtimeNs ..."). */
export function describeChange(expected: ExpectedObject, now: ExpectedObject): string {
  const parts: string[] = [];
  if (expected.size !== now.size) parts.push(`size ${expected.size} → ${now.size}`);
  for (const f of IDENTITY_FIELDS) {
    const a = expected.identity?.[f];
    const b = now.identity?.[f];
    if (a !== undefined && a !== b) parts.push(`${f} ${a} → ${b ?? '(none)'}`);
  }
  return parts.length > 0 ? parts.join(', ') : 'its identity cannot be proven';
}

/** The manifest's text form of an identity (null when there is nothing to record). */
export function identityText(id: ObjectIdentity | undefined): string | null {
  return id && Object.keys(id).length > 0 ? JSON.stringify(id) : null;
}

export function parseIdentity(text: string | null | undefined): ObjectIdentity | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as ObjectIdentity;
  } catch {
    return undefined;
  }
}
