import { parseStorageUri, resolveInsideRoots, type BucketLocation } from './uri';

/**
 * Canonical location keys (invariant 9: datasets never overlap). A key names what a storage
 * URI covers as a string that ends in `/`, so that "lies inside" is a plain prefix test on
 * `/` boundaries:
 *
 *   file:///srv/a/../b  (b a symlink to /data/b)  ->  file:/data/b/
 *   s3://bucket/data/                              ->  s3:bucket/data/
 *   gs://bucket                                    ->  gs:bucket/
 *
 * `s3:b/data/` and `s3:b/database/` share no prefix, so they do not overlap; `s3:` and `gs:`
 * never do. file:// keys are real paths (symlinks resolved) when they come from
 * `locationKey`, lexical ones (only `.`, `..` and `//` removed) from `lexicalLocationKey`.
 */

export type OverlapRelation = 'equals' | 'inside' | 'contains';

const dirKey = (prefix: string, p: string) => `${prefix}${p.endsWith('/') ? p : `${p}/`}`;

/** The key of a real (or lexically normalized) absolute path. */
export function fileKey(absPath: string): string {
  return dirKey('file:', absPath);
}

/** The key of a bucket location: scheme, bucket and key prefix. */
export function bucketKey(loc: Pick<BucketLocation, 'scheme' | 'bucket' | 'prefix'>): string {
  return `${loc.scheme}:${loc.bucket}/${loc.prefix === '' ? '' : `${loc.prefix}/`}`;
}

/**
 * The key of a storage URI without touching the file system (symlinks not resolved). For
 * rows written before keys existed (migration 005) and as a fallback; use `locationKey`
 * whenever the file roots are at hand.
 */
export function lexicalLocationKey(uri: string): string {
  const loc = parseStorageUri(uri);
  return loc.scheme === 'file' ? fileKey(loc.path) : bucketKey(loc);
}

/**
 * The key of a storage URI with `..` and symlinks resolved; a file:// URI must lie inside
 * the roots (throws outside_roots otherwise, like every other file:// check).
 */
export async function locationKey(
  uri: string,
  roots: readonly string[],
  field = 'uri',
): Promise<string> {
  const loc = parseStorageUri(uri, field);
  if (loc.scheme !== 'file') return bucketKey(loc);
  return fileKey((await resolveInsideRoots(loc.path, roots, uri, field)).path);
}

/** How `key` relates to `other`: the same location, inside it, containing it, or apart. */
export function overlapRelation(key: string, other: string): OverlapRelation | undefined {
  if (key === other) return 'equals';
  if (key.startsWith(other)) return 'inside';
  if (other.startsWith(key)) return 'contains';
  return undefined;
}

export const keysOverlap = (a: string, b: string): boolean => overlapRelation(a, b) !== undefined;

/**
 * Every key that `key` lies inside or equals: `file:/a/b/` -> `file:/`, `file:/a/`,
 * `file:/a/b/`; `s3:bkt/x/` -> `s3:bkt/`, `s3:bkt/x/`. An index lookup finds them all.
 */
export function ancestorKeys(key: string): string[] {
  const out: string[] = [];
  for (let i = key.indexOf('/'); i >= 0; i = key.indexOf('/', i + 1)) out.push(key.slice(0, i + 1));
  return out;
}

/**
 * The end of the key range `[key, end)` that holds exactly the keys starting with `key`
 * (in byte order, as SQLite compares text): `/` is 0x2f, so `key` with its last `/` made
 * `0` (0x30) is the first string after all of them.
 */
export function descendantsEnd(key: string): string {
  if (!key.endsWith('/')) throw new Error(`not a location key: ${key}`);
  return `${key.slice(0, -1)}0`;
}

/** The words for a relation, in messages: "lies inside", "contains", "is the location of". */
export function describeRelation(r: OverlapRelation): string {
  return r === 'equals' ? 'is the location of' : r === 'inside' ? 'lies inside' : 'contains';
}
