import { Storage, type CopyOptions, type File, type GetFilesOptions } from '@google-cloud/storage';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StorageError, StorageErrors } from '../../errors';
import { base64ToHex, gcsCrc32cGenerator } from '../checksum';
import { normalizeGcsStorageClass, type GcsStorageClass } from '../classes';
import type {
  ChecksumAlgorithm,
  DeleteOptions,
  DeleteOutcome,
  ObjectInfo,
  ReadOptions,
  StorageDriver,
  StoredChecksum,
  WriteOptions,
} from '../driver';
import { sameObject } from '../identity';
import { checkBucket } from '../buckets';
import { checkRange, objectName, objectUri, parseStorageUri, type BucketLocation } from '../uri';

/**
 * gs:// driver on @google-cloud/storage 7.x, for Google Cloud Storage and emulators
 * (fake-gcs-server).
 *
 * - The API endpoint comes from dim's configuration (STORAGE_EMULATOR_HOST); Google's own
 *   when unset. With a custom endpoint the SDK sends no credentials (emulators need none);
 *   otherwise Application Default Credentials.
 * - CRC32C checks (upload validation, whole-object downloads) use the native @node-rs/crc32
 *   through the SDK's `crc32cGenerator` option instead of its JavaScript CRC32C.
 * - Objects up to `resumableThreshold` (when the size is known) go up in one request;
 *   larger or unknown-size ones as a resumable upload streamed in one PUT, which the
 *   server finalizes only when complete.
 */
export interface GcsDriverOptions {
  /** The only buckets this driver may touch (DIM_BUCKETS); any when unset. */
  buckets?: readonly string[];
  /** API endpoint, e.g. http://127.0.0.1:4443 for fake-gcs-server; Google when unset. */
  endpoint?: string;
  projectId?: string;
  /** Send credentials to a custom endpoint too (a private Google endpoint, not an emulator). */
  authWithCustomEndpoint?: boolean;
  /** Objects above this size (bytes, default 8 MiB) or of unknown size use a resumable upload. */
  resumableThreshold?: number;
  /** Objects per list page (default 1000). */
  listPageSize?: number;
  /** SDK retries for transient errors and 429 (default 3). */
  maxRetries?: number;
}

const MiB = 1024 * 1024;

interface GcsError {
  code?: number | string;
  message?: string;
  errors?: { reason?: string; message?: string }[];
  response?: { status?: number };
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

function statusOf(err: unknown): number | undefined {
  const e = (err ?? {}) as GcsError;
  if (typeof e.code === 'number') return e.code;
  return e.response?.status;
}

/**
 * Translates an SDK error. `missing` says what a 404 means for the operation: the bucket
 * (list, write), or the object (the caller has checked the bucket).
 */
export function mapGcsError(
  err: unknown,
  ctx: { uri: string; bucket: string; missing: 'bucket' | 'object' },
): unknown {
  if (err instanceof StorageError) return err;
  const e = (err ?? {}) as GcsError;
  const status = statusOf(err);
  const reason = e.errors?.[0]?.reason ?? '';
  const msg = (e.message ?? String(err)).split('\n')[0] ?? '';
  const code = typeof e.code === 'string' ? e.code : '';
  if (status === 404) {
    return ctx.missing === 'bucket'
      ? StorageErrors.bucketNotFound('gs', ctx.bucket)
      : StorageErrors.notFound(ctx.uri);
  }
  if (
    status === 401 ||
    /could not load the default credentials|invalid_grant|unauthorized_client/i.test(msg)
  ) {
    return StorageErrors.badCredentials('gs', msg);
  }
  if (status === 403) {
    if (/rateLimitExceeded|userRateLimitExceeded/.test(reason))
      return StorageErrors.throttled(ctx.uri, msg);
    return StorageErrors.accessDenied(ctx.uri, msg);
  }
  if (status === 429) return StorageErrors.throttled(ctx.uri, msg);
  if (
    code === 'CONTENT_DOWNLOAD_MISMATCH' ||
    code === 'FILE_NO_UPLOAD' ||
    code === 'FILE_NO_UPLOAD_DELETE'
  ) {
    return StorageErrors.checksumMismatch(ctx.uri, 'local crc32c', `server: ${msg}`);
  }
  if (status === 400 && /storage ?class/i.test(msg)) {
    return new StorageError(
      'invalid_storage_class',
      400,
      `${ctx.uri}: the server refused the storage class: ${msg}`,
      false,
      {
        field: 'storage_class',
      },
    );
  }
  if (
    (status !== undefined && status >= 500) ||
    NETWORK_CODES.has(code) ||
    /socket hang up|network/i.test(msg)
  ) {
    return StorageErrors.unavailable(ctx.uri, msg, err);
  }
  return err;
}

function toInfo(key: string, f: File): ObjectInfo {
  const m = f.metadata;
  const crc = m.crc32c;
  // A composite object's crc32c still covers the whole object (GCS combines them).
  return {
    key,
    size: Number(m.size ?? 0),
    ...(m.updated ? { mtimeMs: Date.parse(m.updated) } : {}),
    storageClass: m.storageClass ?? 'STANDARD',
    ...(crc ? { checksum: { algorithm: 'crc32c' as const, value: base64ToHex(crc) } } : {}),
    ...(m.generation !== undefined && m.generation !== null
      ? {
          identity: {
            generation: String(m.generation),
            ...(m.metageneration !== undefined && m.metageneration !== null
              ? { metageneration: String(m.metageneration) }
              : {}),
          },
        }
      : {}),
  };
}

/** The crc32c of an `x-goog-hash` response header ("crc32c=…,md5=…"), else its md5. */
function googHash(h: string | string[] | undefined): StoredChecksum | undefined {
  const parts = (Array.isArray(h) ? h.join(',') : (h ?? '')).split(',').map((p) => p.trim());
  const get = (name: string) => parts.find((p) => p.startsWith(`${name}=`))?.slice(name.length + 1);
  const crc = get('crc32c');
  if (crc) return { algorithm: 'crc32c', value: base64ToHex(crc) };
  const md5 = get('md5');
  if (md5) return { algorithm: 'md5', value: base64ToHex(md5) };
  return undefined;
}

export class GcsDriver implements StorageDriver {
  readonly scheme = 'gs';
  /** GCS keeps a CRC32C of every object, composite ones included. */
  readonly checksums: readonly ChecksumAlgorithm[] = ['crc32c'];
  /** GCS computes every object's crc32c from its bytes (fake-gcs-server too: by experiment). */
  readonly writeChecksum: ChecksumAlgorithm = 'crc32c';
  readonly storage: Storage;
  private readonly resumableThreshold: number;
  private readonly pageSize: number;
  private readonly buckets: readonly string[] | undefined;

  constructor(opts: GcsDriverOptions = {}) {
    const endpoint = opts.endpoint?.replace(/\/+$/, '');
    this.storage = new Storage({
      ...(endpoint
        ? { apiEndpoint: endpoint, useAuthWithCustomEndpoint: opts.authWithCustomEndpoint ?? false }
        : {}),
      ...(opts.projectId ? { projectId: opts.projectId } : {}),
      crc32cGenerator: gcsCrc32cGenerator,
      retryOptions: { autoRetry: true, maxRetries: opts.maxRetries ?? 3 },
    });
    // The SDK prefers a STORAGE_EMULATOR_HOST from the environment over apiEndpoint for its
    // JSON API base URL; make the configured endpoint the only one used.
    if (endpoint) this.storage.baseUrl = `${endpoint}/storage/v1`;
    this.resumableThreshold = opts.resumableThreshold ?? 8 * MiB;
    this.pageSize = Math.min(1000, Math.max(1, opts.listPageSize ?? 1000));
    this.buckets = opts.buckets;
  }

  private loc(rootUri: string): BucketLocation {
    const loc = parseStorageUri(rootUri);
    if (loc.scheme !== 'gs')
      throw StorageErrors.invalidUri(rootUri, 'the gs driver only serves gs:// URIs');
    checkBucket(loc, this.buckets);
    return loc;
  }

  async close(): Promise<void> {
    return Promise.resolve();
  }

  async *list(rootUri: string): AsyncIterable<ObjectInfo> {
    const loc = this.loc(rootUri);
    const bucket = this.storage.bucket(loc.bucket);
    const ctx = { uri: rootUri, bucket: loc.bucket, missing: 'bucket' as const };
    if (loc.prefix !== '') {
      // A single-object dataset: the object named exactly like the prefix sorts first.
      const [first] = await this.call(
        () => bucket.getFiles({ autoPaginate: false, prefix: loc.prefix, maxResults: 1 }),
        ctx,
      );
      const f = first[0];
      if (f && f.name === loc.prefix) yield toInfo('', f);
    }
    const prefix = loc.prefix === '' ? '' : `${loc.prefix}/`;
    let query: GetFilesOptions | undefined = {
      autoPaginate: false,
      prefix,
      maxResults: this.pageSize,
    };
    while (query) {
      const q: GetFilesOptions = query;
      const [files, next] = await this.call(() => bucket.getFiles(q), ctx);
      for (const f of files) {
        const rel = f.name.slice(prefix.length);
        if (rel === '' || rel.endsWith('/')) continue; // folder placeholders are not objects
        yield toInfo(rel, f);
      }
      const token = (next as GetFilesOptions | null | undefined)?.pageToken;
      query = token ? { ...q, pageToken: token } : undefined;
    }
  }

  async stat(rootUri: string, key: string): Promise<ObjectInfo | undefined> {
    const loc = this.loc(rootUri);
    const uri = objectUri(rootUri, key);
    const file = this.storage.bucket(loc.bucket).file(objectName(loc, key));
    try {
      await file.getMetadata();
    } catch (err) {
      if (statusOf(err) === 404) {
        await this.checkBucket(loc, uri);
        return undefined;
      }
      throw mapGcsError(err, { uri, bucket: loc.bucket, missing: 'object' });
    }
    return toInfo(key, file);
  }

  /**
   * The object's crc32c (its metadata): the server computes it from the bytes it stored and
   * refuses an upload that claims another (fake-gcs-server 1.55 does both, by experiment).
   */
  async storedChecksum(rootUri: string, key: string): Promise<StoredChecksum | null> {
    const info = await this.stat(rootUri, key);
    if (!info) throw StorageErrors.notFound(objectUri(rootUri, key));
    return info.checksum ?? null;
  }

  async read(
    rootUri: string,
    key: string,
    range?: { start: number; end?: number },
    opts?: ReadOptions,
  ): Promise<Readable> {
    checkRange(range);
    const loc = this.loc(rootUri);
    const uri = objectUri(rootUri, key);
    // Conditional: read the listed generation itself; a newer one is not what was listed.
    const generation = opts?.expect?.identity?.generation;
    const size = opts?.expect?.size;
    const whole =
      range === undefined ||
      (range.start === 0 &&
        size !== undefined &&
        (range.end === undefined || range.end >= size - 1));
    const file = this.storage
      .bucket(loc.bucket)
      .file(objectName(loc, key), generation ? { generation: Number(generation) } : {});
    const stream = file.createReadStream({
      decompress: false, // the stored bytes, even for gzip-encoded objects
      ...(range
        ? { start: range.start, ...(range.end !== undefined ? { end: range.end } : {}) }
        : { validation: 'crc32c' as const }),
    });
    // The request starts on the first read: start it, and wait for the response so that
    // a missing object or bucket rejects here, typed, instead of erroring the stream later.
    try {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error) => {
          stream.off('response', onResponse);
          reject(err);
        };
        const onResponse = (res: {
          statusCode?: number;
          headers?: Record<string, string | string[] | undefined>;
        }) => {
          if (res.statusCode !== undefined && res.statusCode < 300) {
            if (whole && opts?.onChecksum) {
              const c = googHash(res.headers?.['x-goog-hash']);
              if (c) opts.onChecksum(c);
            }
            stream.off('error', onError);
            resolve();
          }
        };
        stream.once('error', onError);
        stream.on('response', onResponse);
        stream.read(0);
      });
    } catch (err) {
      stream.destroy();
      if (statusOf(err) === 416) return Readable.from([]);
      if (generation && (statusOf(err) === 404 || statusOf(err) === 412)) {
        await this.checkBucket(loc, uri);
        throw StorageErrors.objectChanged(uri, `generation ${generation} is no longer there`);
      }
      if (statusOf(err) === 404) await this.checkBucket(loc, uri);
      throw mapGcsError(err, { uri, bucket: loc.bucket, missing: 'object' });
    }
    return stream;
  }

  async write(
    rootUri: string,
    key: string,
    body: Readable,
    opts?: WriteOptions,
  ): Promise<ObjectInfo> {
    const uri = objectUri(rootUri, key);
    let loc: BucketLocation;
    let file: File;
    let storageClass: GcsStorageClass | undefined;
    try {
      loc = this.loc(rootUri);
      file = this.storage.bucket(loc.bucket).file(objectName(loc, key));
      storageClass = opts?.storageClass ? normalizeGcsStorageClass(opts.storageClass) : undefined;
    } catch (err) {
      body.destroy();
      throw err;
    }
    const resumable = opts?.size === undefined || opts.size > this.resumableThreshold;
    const ws = file.createWriteStream({
      resumable,
      validation: 'crc32c',
      ...(storageClass ? { metadata: { storageClass } } : {}),
    });
    try {
      await pipeline(body, ws);
    } catch (err) {
      body.destroy();
      throw mapGcsError(err, { uri, bucket: loc.bucket, missing: 'bucket' });
    }
    // The upload's response (now file.metadata) has size, crc32c and storage class.
    return toInfo(key, file);
  }

  async delete(rootUri: string, key: string, opts?: DeleteOptions): Promise<DeleteOutcome> {
    const loc = this.loc(rootUri);
    const uri = objectUri(rootUri, key);
    const file = this.storage.bucket(loc.bucket).file(objectName(loc, key));
    const expect = opts?.expect;
    let generation: string | undefined;
    if (expect) {
      // Conditional: compare, then delete with ifGenerationMatch, which the server refuses
      // (412) if another generation was written after the compare: no window at all.
      const now = await this.stat(rootUri, key);
      if (!now) return 'missing';
      if (!sameObject(expect, now)) return 'changed';
      generation = now.identity?.generation;
      if (!generation) return 'changed'; // nothing to make the delete conditional on
    }
    try {
      await file.delete(generation ? { ifGenerationMatch: generation } : {});
    } catch (err) {
      if (statusOf(err) === 404) {
        await this.checkBucket(loc, uri); // a missing object is fine, a missing bucket is not
        return 'missing';
      }
      if (generation && statusOf(err) === 412) return 'changed';
      throw mapGcsError(err, { uri, bucket: loc.bucket, missing: 'object' });
    }
    return 'deleted';
  }

  async copyWithin(
    srcRootUri: string,
    srcKey: string,
    dstRootUri: string,
    dstKey: string,
    opts?: WriteOptions,
  ): Promise<ObjectInfo | undefined> {
    const src = this.loc(srcRootUri);
    const dst = this.loc(dstRootUri);
    const srcUri = objectUri(srcRootUri, srcKey);
    const storageClass = opts?.storageClass
      ? normalizeGcsStorageClass(opts.storageClass)
      : undefined;
    const srcFile = this.storage.bucket(src.bucket).file(objectName(src, srcKey));
    const dstFile = this.storage.bucket(dst.bucket).file(objectName(dst, dstKey));
    // The rewrite body is the destination object's resource: storageClass sets its class.
    const copyOpts = (storageClass ? { storageClass } : {}) as CopyOptions;
    try {
      await srcFile.copy(dstFile, copyOpts);
    } catch (err) {
      if (statusOf(err) === 404) {
        await this.checkBucket(dst, objectUri(dstRootUri, dstKey));
        await this.checkBucket(src, srcUri);
      }
      throw mapGcsError(err, { uri: srcUri, bucket: src.bucket, missing: 'object' });
    }
    const info = await this.stat(dstRootUri, dstKey);
    if (storageClass && info && info.storageClass !== storageClass) {
      // The server ignored the class in the rewrite (fake-gcs-server does): let the caller
      // stream it instead, which sets the class on upload.
      await this.delete(dstRootUri, dstKey);
      return undefined;
    }
    return info;
  }

  // -------------------------------------------------------------------------------------

  private async call<T>(
    fn: () => Promise<T>,
    ctx: { uri: string; bucket: string; missing: 'bucket' | 'object' },
  ): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw mapGcsError(err, ctx);
    }
  }

  /** After a 404 on an object: throws bucket_not_found if the bucket is missing. */
  private async checkBucket(loc: BucketLocation, uri: string): Promise<void> {
    const [exists] = await this.call(() => this.storage.bucket(loc.bucket).exists(), {
      uri,
      bucket: loc.bucket,
      missing: 'bucket',
    });
    if (!exists) throw StorageErrors.bucketNotFound('gs', loc.bucket);
  }
}
