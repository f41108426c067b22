import { pathToFileURL } from 'node:url';
import type { Config } from '../config';
import { checkBucket } from './buckets';
import { parseStorageUri, resolveInsideRoots } from './uri';

/**
 * Validates a storage URI from a request (a dataset's path_uri, a tier's or a plan's
 * location) and returns it normalized: the scheme and bucket name must be valid, an s3://
 * or gs:// bucket must be one of DIM_BUCKETS (when configured), and a file:// path must lie
 * inside DIM_FILE_ROOTS once `..` and symlinks are resolved (invariant 6). Throws a
 * StorageError naming `field` (invalid_uri, scheme_not_supported, outside_buckets,
 * outside_roots); the API turns it into problem+json.
 *
 * The returned file:// URI keeps the path as given, only lexically normalized: the drivers
 * check the roots again, on the real path, every time they touch it.
 */
export async function checkLocation(
  uri: string,
  field: string,
  storage: Config['storage'],
): Promise<string> {
  const loc = parseStorageUri(uri, field);
  if (loc.scheme !== 'file') {
    checkBucket(loc, storage.buckets?.[loc.scheme], field);
    return uri;
  }
  await resolveInsideRoots(loc.path, storage.fileRoots, uri, field);
  return pathToFileURL(loc.path).href;
}
