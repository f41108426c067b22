import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StorageErrors } from '../errors';

/**
 * Storage URIs (DESIGN.md, "Storage URIs"): `file:///abs/path`, `s3://bucket/prefix`,
 * `gs://bucket/prefix`. Parsing is pure and strict; `resolveFileUri` adds the file-root
 * check (invariant 6), which needs the file system because symlinks count.
 */

export type StorageScheme = 'file' | 's3' | 'gs';
export const SCHEMES: readonly StorageScheme[] = ['file', 's3', 'gs'];

export interface FileLocation {
  scheme: 'file';
  /** The URI as given. */
  uri: string;
  /** Absolute path, percent-decoded, `.`/`..` and duplicate slashes removed (symlinks not resolved). */
  path: string;
}

export interface BucketLocation {
  scheme: 's3' | 'gs';
  uri: string;
  bucket: string;
  /** Key prefix without leading or trailing '/'; '' for the whole bucket. */
  prefix: string;
}

export type StorageLocation = FileLocation | BucketLocation;

const MAX_URI_LENGTH = 4096;

/** Parses and validates a storage URI. Throws StorageError invalid_uri / scheme_not_supported. */
export function parseStorageUri(uri: string, field = 'uri'): StorageLocation {
  if (typeof uri !== 'string' || uri.length === 0) {
    throw StorageErrors.invalidUri(String(uri), 'must be a non-empty storage URI', field);
  }
  if (uri.length > MAX_URI_LENGTH) {
    throw StorageErrors.invalidUri(
      uri.slice(0, 64) + '...',
      `is longer than ${MAX_URI_LENGTH} characters`,
      field,
    );
  }
  if (uri.includes('\0'))
    throw StorageErrors.invalidUri(uri, 'must not contain NUL characters', field);
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(uri);
  if (!m) {
    throw StorageErrors.invalidUri(
      uri,
      'must start with a scheme: file:///abs/path, s3://bucket/prefix or gs://bucket/prefix',
      field,
    );
  }
  const scheme = m[1]!.toLowerCase();
  if (scheme === 'file') return parseFileUri(uri, field);
  if (scheme === 's3' || scheme === 'gs') return parseBucketUri(uri, scheme, field);
  throw StorageErrors.schemeNotSupported(uri, m[1]!, field);
}

function parseFileUri(uri: string, field: string): FileLocation {
  if (!/^file:\/\//i.test(uri)) {
    throw StorageErrors.invalidUri(
      uri,
      'a file URI needs an absolute path: file:///abs/path',
      field,
    );
  }
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw StorageErrors.invalidUri(uri, 'is not a valid file URI', field);
  }
  if (url.hostname !== '' && url.hostname !== 'localhost') {
    throw StorageErrors.invalidUri(
      uri,
      `a file URI needs an absolute path: file:///abs/path (here "${url.hostname}" would be a host name; relative paths are not allowed)`,
      field,
    );
  }
  if (url.search !== '' || url.hash !== '') {
    throw StorageErrors.invalidUri(
      uri,
      'must not have a query or fragment (percent-encode "?" as %3F and "#" as %23)',
      field,
    );
  }
  let p: string;
  try {
    p = fileURLToPath(url);
  } catch (err) {
    throw StorageErrors.invalidUri(
      uri,
      `is not a valid file path: ${(err as Error).message}`,
      field,
    );
  }
  if (p.includes('\0'))
    throw StorageErrors.invalidUri(uri, 'must not contain NUL characters', field);
  p = path.posix.normalize(p);
  if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return { scheme: 'file', uri, path: p };
}

function parseBucketUri(uri: string, scheme: 's3' | 'gs', field: string): BucketLocation {
  const rest = uri.slice(scheme.length + 1);
  if (!rest.startsWith('//')) {
    throw StorageErrors.invalidUri(uri, `must look like ${scheme}://bucket/prefix`, field);
  }
  const afterSlashes = rest.slice(2);
  const slash = afterSlashes.indexOf('/');
  const bucket = slash < 0 ? afterSlashes : afterSlashes.slice(0, slash);
  const rawPrefix = slash < 0 ? '' : afterSlashes.slice(slash + 1);
  if (bucket === '')
    throw StorageErrors.invalidUri(
      uri,
      `the bucket name is empty: use ${scheme}://bucket/prefix`,
      field,
    );
  const bucketProblem = scheme === 's3' ? s3BucketProblem(bucket) : gcsBucketProblem(bucket);
  if (bucketProblem)
    throw StorageErrors.invalidUri(uri, `bucket "${bucket}" ${bucketProblem}`, field);
  if (/[?#]/.test(rawPrefix)) {
    throw StorageErrors.invalidUri(uri, 'must not have a query or fragment ("?" or "#")', field);
  }
  // Trailing slashes only say "directory"; a dataset is everything under the prefix anyway.
  const prefix = rawPrefix.replace(/\/+$/, '');
  if (prefix.startsWith('/') || prefix.includes('//')) {
    throw StorageErrors.invalidUri(
      uri,
      'the prefix must not contain empty path segments ("//")',
      field,
    );
  }
  if (prefix.split('/').some((s) => s === '.' || s === '..')) {
    throw StorageErrors.invalidUri(uri, 'the prefix must not contain "." or ".." segments', field);
  }
  if (/[\u0000-\u001f\u007f]/.test(prefix)) {
    throw StorageErrors.invalidUri(uri, 'the prefix must not contain control characters', field);
  }
  if (Buffer.byteLength(prefix) > 900) {
    throw StorageErrors.invalidUri(uri, 'the prefix is longer than 900 bytes', field);
  }
  return { scheme, uri, bucket, prefix };
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** Why `name` is not a valid S3 bucket name (general-purpose bucket rules), or undefined. */
export function s3BucketProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return 'must be 3 to 63 characters long';
  if (!/^[a-z0-9.-]+$/.test(name))
    return 'may only contain lowercase letters, digits, dots and hyphens';
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name))
    return 'must start and end with a letter or digit';
  if (name.includes('..')) return 'must not contain two adjacent dots';
  if (IPV4.test(name)) return 'must not look like an IP address';
  if (/^(xn--|sthree-|amzn-s3-demo-)/.test(name))
    return 'must not start with xn--, sthree- or amzn-s3-demo-';
  if (/(-s3alias|--ol-s3)$/.test(name)) return 'must not end with -s3alias or --ol-s3';
  return undefined;
}

/** Why `name` is not a valid GCS bucket name, or undefined. */
export function gcsBucketProblem(name: string): string | undefined {
  if (!/^[a-z0-9._-]+$/.test(name))
    return 'may only contain lowercase letters, digits, dots, hyphens and underscores';
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name))
    return 'must start and end with a letter or digit';
  if (name.includes('.')) {
    if (name.length > 222) return 'must be at most 222 characters long';
    if (name.split('.').some((part) => part.length === 0 || part.length > 63)) {
      return 'must have dot-separated parts of 1 to 63 characters';
    }
  } else if (name.length < 3 || name.length > 63) {
    return 'must be 3 to 63 characters long';
  }
  if (name.length < 3) return 'must be at least 3 characters long';
  if (IPV4.test(name)) return 'must not look like an IP address';
  if (name.startsWith('goog')) return 'must not start with "goog"';
  if (/g[o0]{2}g[l1]e/.test(name)) return 'must not contain "google" or close misspellings';
  return undefined;
}

/**
 * Checks a key relative to a dataset root: '' (the root itself) or '/'-separated segments,
 * none empty, '.' or '..'. Object stores allow more, but such keys could not be written to
 * a file system, so every driver refuses them alike.
 */
export function validateKey(key: string): void {
  if (typeof key !== 'string') throw StorageErrors.invalidKey(String(key), 'must be a string');
  if (key === '') return;
  if (key.startsWith('/')) throw StorageErrors.invalidKey(key, 'must be relative (no leading "/")');
  if (key.includes('\0')) throw StorageErrors.invalidKey(key, 'must not contain NUL characters');
  for (const seg of key.split('/')) {
    if (seg === '')
      throw StorageErrors.invalidKey(
        key,
        'must not contain empty segments ("//" or a trailing "/")',
      );
    if (seg === '.' || seg === '..')
      throw StorageErrors.invalidKey(key, 'must not contain "." or ".." segments');
  }
}

/** Checks a byte range [start, end] (inclusive). Throws invalid_range. */
export function checkRange(range: { start: number; end?: number } | undefined): void {
  if (!range) return;
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0) {
    throw StorageErrors.invalidRange(`start must be a whole number >= 0 (got ${start})`);
  }
  if (end !== undefined && (!Number.isSafeInteger(end) || end < start)) {
    throw StorageErrors.invalidRange(`end must be a whole number >= start (got ${start}-${end})`);
  }
}

/** The full object name of `key` under a bucket location's prefix. */
export function objectName(loc: BucketLocation, key: string): string {
  validateKey(key);
  if (loc.prefix === '') {
    if (key === '')
      throw StorageErrors.invalidKey(
        key,
        `${loc.uri} is a whole bucket: it has no object of its own`,
      );
    return key;
  }
  return key === '' ? loc.prefix : `${loc.prefix}/${key}`;
}

/** A URI naming one object of a dataset, for messages. */
export function objectUri(rootUri: string, key: string): string {
  if (key === '') return rootUri;
  return rootUri.endsWith('/') ? rootUri + key : `${rootUri}/${key}`;
}

// ---------------------------------------------------------------------------------------
// file roots (invariant 6)

const MAX_SYMLINKS = 40;

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Like realpath, but for a path that may not exist yet: the longest existing ancestor is
 * resolved (symlinks included, dangling ones followed to where they point), and the
 * missing rest appended.
 */
export async function realpathLoose(p: string, hops = 0): Promise<string> {
  try {
    return await fsp.realpath(p);
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
  const parent = path.dirname(p);
  if (parent === p) return p;
  const realParent = await realpathLoose(parent, hops);
  const candidate = path.join(realParent, path.basename(p));
  let isLink = false;
  try {
    isLink = (await fsp.lstat(candidate)).isSymbolicLink();
  } catch (err) {
    if (!isMissing(err)) throw err;
    return candidate;
  }
  if (!isLink) return candidate;
  // A dangling symlink: follow it by hand, so that creating the path later cannot escape.
  if (hops >= MAX_SYMLINKS) {
    throw Object.assign(new Error(`too many levels of symbolic links: ${p}`), { code: 'ELOOP' });
  }
  const target = await fsp.readlink(candidate);
  return realpathLoose(path.resolve(realParent, target), hops + 1);
}

/** Whether `p` is `root` or lies below it (both absolute and normalized). */
export function isInside(p: string, root: string): boolean {
  if (p === root) return true;
  const withSep = root.endsWith(path.sep) ? root : root + path.sep;
  return p.startsWith(withSep);
}

export interface ResolvedFile {
  /** The real path (symlinks resolved) the driver may touch. */
  path: string;
  /** The real path of the configured root it lies in. */
  root: string;
}

/** Real paths of the configured roots (roots that do not exist yet resolve loosely). */
export async function resolveRoots(roots: readonly string[]): Promise<string[]> {
  return Promise.all(roots.map((r) => realpathLoose(path.resolve(r))));
}

/**
 * Resolves a path (already absolute) against the roots: `..`, symlinks of every existing
 * component (and dangling ones), then requires the result inside one of the roots.
 * `uri` only names the request in the error.
 */
export async function resolveInsideRoots(
  absPath: string,
  roots: readonly string[],
  uri: string,
  field = 'uri',
): Promise<ResolvedFile> {
  const realRoots = await resolveRoots(roots);
  let real: string;
  try {
    real = await realpathLoose(path.resolve(absPath));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') {
      throw StorageErrors.invalidUri(uri, 'has too many levels of symbolic links', field);
    }
    if ((err as NodeJS.ErrnoException).code === 'ENAMETOOLONG') {
      throw StorageErrors.invalidUri(
        uri.length > 200 ? `${uri.slice(0, 200)}...` : uri,
        'has a path or path component longer than the file system allows (255 bytes a name)',
        field,
      );
    }
    if ((err as NodeJS.ErrnoException).code === 'EACCES') {
      throw StorageErrors.accessDenied(uri, (err as Error).message);
    }
    throw err;
  }
  // The longest matching root wins (roots may nest).
  let best: string | undefined;
  for (const root of realRoots) {
    if (isInside(real, root) && (best === undefined || root.length > best.length)) best = root;
  }
  if (best === undefined) throw StorageErrors.outsideRoots(uri, real, roots, field);
  return { path: real, root: best };
}

/**
 * Parses a file:// URI and resolves it inside the roots (invariant 6). The path may not
 * exist yet. Throws invalid_uri, scheme_not_supported or outside_roots.
 */
export async function resolveFileUri(
  uri: string,
  roots: readonly string[],
  field = 'uri',
): Promise<ResolvedFile> {
  const loc = parseStorageUri(uri, field);
  if (loc.scheme !== 'file') {
    throw StorageErrors.invalidUri(uri, 'must be a file:// URI here', field);
  }
  return resolveInsideRoots(loc.path, roots, uri, field);
}
