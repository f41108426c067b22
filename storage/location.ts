import { pathToFileURL } from 'node:url';
import type { Config } from '../config';
import { StorageErrors } from '../errors';
import { bucketKey, fileKey } from './location-key';
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

export interface DatasetLocation {
  /** The URI as checkLocation returns it (file:// lexically normalized). */
  uri: string;
  /** Its canonical key, symlinks resolved (storage/location-key.ts). */
  key: string;
}

/**
 * `checkLocation` (roots and buckets) for a location that is (or becomes, at a migration's switch) a dataset's,
 * plus its canonical key for the overlap check (invariant 9). A whole file root or a whole
 * bucket is refused (400 whole_root) unless DIM_ALLOW_WHOLE_ROOT_DATASETS is set: a dataset
 * that big would overlap every other one, and retiring it would empty the root.
 */
export async function checkDatasetLocation(
  uri: string,
  field: string,
  opts: Pick<Config['storage'], 'fileRoots' | 'buckets'> & { allowWholeRoot: boolean },
): Promise<DatasetLocation> {
  const loc = parseStorageUri(uri, field);
  const allow = opts.allowWholeRoot;
  if (loc.scheme !== 'file') {
    checkBucket(loc, opts.buckets?.[loc.scheme], field);
    if (loc.prefix === '' && !allow)
      throw StorageErrors.wholeRoot(uri, `the whole bucket ${loc.scheme}://${loc.bucket}`, field);
    return { uri, key: bucketKey(loc) };
  }
  const { path: real, root } = await resolveInsideRoots(loc.path, opts.fileRoots, uri, field);
  if (real === root && !allow)
    throw StorageErrors.wholeRoot(uri, `the whole file root ${root} (DIM_FILE_ROOTS)`, field);
  return { uri: pathToFileURL(loc.path).href, key: fileKey(real) };
}
