import { StorageErrors } from '../errors';
import type { BucketLocation } from './uri';

/**
 * The bucket allowlist (DIM_BUCKETS), the object stores' counterpart of the file roots
 * (invariant 6): per scheme, the buckets dim may touch. `undefined` for a scheme means no
 * allowlist was configured (any bucket; the entry points warn). Checked where a location
 * enters (storage/location.ts `checkLocation`) and again by the S3 and GCS drivers on
 * every call, so no request, tier or job row can reach another bucket.
 */
export interface BucketAllowlist {
  s3: readonly string[];
  gs: readonly string[];
}

/** Throws outside_buckets (naming `field`) when the location's bucket is not allowed. */
export function checkBucket(
  loc: BucketLocation,
  allowed: readonly string[] | undefined,
  field = 'uri',
): void {
  if (allowed && !allowed.includes(loc.bucket)) {
    throw StorageErrors.outsideBuckets(loc.uri, loc.scheme, loc.bucket, allowed, field);
  }
}
