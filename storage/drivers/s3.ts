import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  type HeadObjectCommandOutput,
  type S3ClientConfig,
  type _Object,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable, pipeline } from 'node:stream';
import { StorageError, StorageErrors } from '../../errors';
import { AwsCrc32c, Crc32cStream, base64ToHex } from '../checksum';
import { normalizeS3StorageClass, type S3StorageClass } from '../classes';
import type { ObjectInfo, StorageDriver, WriteOptions } from '../driver';
import { checkRange, objectName, objectUri, parseStorageUri, type BucketLocation } from '../uri';

/**
 * s3:// driver on @aws-sdk/client-s3, for AWS and S3-compatible servers (MinIO).
 *
 * - Endpoint and region come from dim's configuration only (`ignoreConfiguredEndpointUrls`:
 *   the SDK's own AWS_ENDPOINT_URL* variables are ignored); credentials from the SDK's
 *   standard chain unless given.
 * - Writes stream through a native CRC32C and go up as one PutObject (below `partSize`) or a
 *   multipart upload (lib-storage; memory bounded by about (queueSize + 2) × partSize), both
 *   with CRC32C checksums of type FULL_OBJECT: S3 validates every request, and the object
 *   keeps one CRC32C of its whole content, which is compared with the one computed here.
 * - The SDK computes checksums only when an operation requires one
 *   (`requestChecksumCalculation: 'WHEN_REQUIRED'`), so no aws-chunked trailers, which
 *   S3-compatible servers handle unevenly; we ask for CRC32C explicitly instead.
 */
export interface S3DriverOptions {
  /** S3-compatible endpoint (MinIO: http://127.0.0.1:9000); AWS when unset. */
  endpoint?: string;
  region: string;
  /** Path-style addressing; defaults to true when an endpoint is set. */
  forcePathStyle?: boolean;
  /** Explicit credentials (tests); otherwise the SDK's default provider chain. */
  credentials?: S3ClientConfig['credentials'];
  /** Multipart part size in bytes (default 8 MiB, min 5 MiB); objects up to it use one PutObject. */
  partSize?: number;
  /** Parts uploaded concurrently per object (default 4). */
  queueSize?: number;
  /** Keys per ListObjectsV2 page (default 1000, the S3 maximum). */
  listPageSize?: number;
  /** SDK attempts per request, with backoff for throttling and 5xx (default 5). */
  maxAttempts?: number;
  /** Largest object copyWithin() copies with one CopyObject (default 5 GiB, the S3 limit). */
  maxCopyObjectSize?: number;
}

const MiB = 1024 * 1024;
const MAX_PARTS = 10_000;
const MIN_PART = 5 * MiB;

interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

const CREDENTIAL_ERRORS = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'InvalidClientTokenId',
  'CredentialsProviderError',
  'AuthorizationHeaderMalformed',
]);
const THROTTLE_ERRORS = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'RequestThrottled',
  'ServiceUnavailable',
]);
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

/** Translates an SDK error into a typed StorageError (unknown ones are passed through). */
export function mapS3Error(err: unknown, ctx: { uri: string; bucket: string }): unknown {
  if (err instanceof StorageError) return err;
  const e = (err ?? {}) as SdkError;
  const name = e.name ?? e.Code ?? '';
  const status = e.$metadata?.httpStatusCode;
  const msg = e.message ?? String(err);
  if (name === 'NoSuchBucket') return StorageErrors.bucketNotFound('s3', ctx.bucket);
  if (name === 'NoSuchKey' || name === 'NotFound') return StorageErrors.notFound(ctx.uri);
  if (CREDENTIAL_ERRORS.has(name)) return StorageErrors.badCredentials('s3', `${name}: ${msg}`);
  if (
    name === 'AccessDenied' ||
    name === 'AllAccessDisabled' ||
    name === 'AccountProblem' ||
    name === 'Forbidden'
  ) {
    return StorageErrors.accessDenied(ctx.uri, msg);
  }
  if (THROTTLE_ERRORS.has(name) || status === 429 || status === 503)
    return StorageErrors.throttled(ctx.uri, `${name}: ${msg}`);
  if (name === 'InvalidStorageClass') {
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
  if (name === 'InvalidBucketName')
    return StorageErrors.invalidUri(ctx.uri, `invalid bucket name: ${msg}`);
  if (name === 'InvalidObjectState') {
    return StorageErrors.conflict(
      ctx.uri,
      'the object is archived (GLACIER / DEEP_ARCHIVE): restore it before reading',
    );
  }
  if (name === 'PermanentRedirect' || name === 'IllegalLocationConstraintException') {
    return new StorageError(
      'bucket_wrong_region',
      400,
      `bucket ${ctx.bucket} is in another region: ${msg}`,
      false,
    );
  }
  if (
    name === 'BadDigest' ||
    name === 'InvalidDigest' ||
    name === 'XAmzContentChecksumMismatch' ||
    name === 'XAmzContentSHA256Mismatch'
  ) {
    return StorageErrors.checksumMismatch(ctx.uri, 'client checksum', `server: ${name}`);
  }
  if (
    name === 'TimeoutError' ||
    NETWORK_CODES.has(e.code ?? '') ||
    (status !== undefined && status >= 500)
  ) {
    return StorageErrors.unavailable(ctx.uri, `${name || e.code || 'error'}: ${msg}`, err);
  }
  if (status === 403) return StorageErrors.accessDenied(ctx.uri, `${name}: ${msg}`);
  return err;
}

function errName(err: unknown): string | undefined {
  return (err as SdkError | undefined)?.name;
}

function statusOf(err: unknown): number | undefined {
  return (err as SdkError | undefined)?.$metadata?.httpStatusCode;
}

/** A checksum S3 reports that covers the whole object (a composite one does not). */
function fullObjectChecksum(h: {
  ChecksumType?: string;
  ChecksumSHA256?: string;
  ChecksumCRC32C?: string;
  ChecksumCRC64NVME?: string;
}): ObjectInfo['checksum'] {
  if (h.ChecksumType === 'COMPOSITE') return undefined;
  const ok = (v: string | undefined): v is string =>
    v !== undefined && v !== '' && !v.includes('-');
  if (ok(h.ChecksumSHA256)) return { algorithm: 'sha256', value: base64ToHex(h.ChecksumSHA256) };
  if (ok(h.ChecksumCRC32C)) return { algorithm: 'crc32c', value: base64ToHex(h.ChecksumCRC32C) };
  if (ok(h.ChecksumCRC64NVME))
    return { algorithm: 'crc64nvme', value: base64ToHex(h.ChecksumCRC64NVME) };
  return undefined;
}

/** CopySource: "bucket/key" with the key URL-encoded but its slashes kept. */
function copySource(bucket: string, key: string): string {
  return `${bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}`;
}

export class S3Driver implements StorageDriver {
  readonly scheme = 's3';
  readonly client: S3Client;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly pageSize: number;
  private readonly maxCopySize: number;

  constructor(opts: S3DriverOptions) {
    this.client = new S3Client({
      region: opts.region,
      ...(opts.endpoint
        ? { endpoint: opts.endpoint, forcePathStyle: opts.forcePathStyle ?? true }
        : { forcePathStyle: opts.forcePathStyle ?? false, followRegionRedirects: true }),
      ignoreConfiguredEndpointUrls: true,
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      checksumAlgorithms: { CRC32C: AwsCrc32c },
      maxAttempts: opts.maxAttempts ?? 5,
      retryMode: 'adaptive',
    });
    this.partSize = Math.max(MIN_PART, opts.partSize ?? 8 * MiB);
    this.queueSize = Math.max(1, opts.queueSize ?? 4);
    this.pageSize = Math.min(1000, Math.max(1, opts.listPageSize ?? 1000));
    this.maxCopySize = opts.maxCopyObjectSize ?? 5 * 1024 * MiB;
  }

  private loc(rootUri: string): BucketLocation {
    const loc = parseStorageUri(rootUri);
    if (loc.scheme !== 's3')
      throw StorageErrors.invalidUri(rootUri, 'the s3 driver only serves s3:// URIs');
    return loc;
  }

  async close(): Promise<void> {
    this.client.destroy();
    return Promise.resolve();
  }

  async *list(rootUri: string): AsyncIterable<ObjectInfo> {
    const loc = this.loc(rootUri);
    const ctx = { uri: rootUri, bucket: loc.bucket };
    const info = (key: string, o: _Object): ObjectInfo => ({
      key,
      size: o.Size ?? 0,
      ...(o.LastModified ? { mtimeMs: o.LastModified.getTime() } : {}),
      storageClass: o.StorageClass ?? 'STANDARD',
    });
    if (loc.prefix !== '') {
      // The dataset may be a single object named exactly like the prefix: it sorts first.
      const first = await this.call(
        () =>
          this.client.send(
            new ListObjectsV2Command({ Bucket: loc.bucket, Prefix: loc.prefix, MaxKeys: 1 }),
          ),
        ctx,
      );
      const o = first.Contents?.[0];
      if (o?.Key === loc.prefix) yield info('', o);
    }
    const prefix = loc.prefix === '' ? '' : `${loc.prefix}/`;
    let token: string | undefined;
    do {
      const page = await this.call(
        () =>
          this.client.send(
            new ListObjectsV2Command({
              Bucket: loc.bucket,
              Prefix: prefix,
              MaxKeys: this.pageSize,
              ContinuationToken: token,
            }),
          ),
        ctx,
      );
      for (const o of page.Contents ?? []) {
        if (!o.Key) continue;
        const rel = o.Key.slice(prefix.length);
        if (rel === '' || rel.endsWith('/')) continue; // "folder" markers are not objects
        yield info(rel, o);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async stat(rootUri: string, key: string): Promise<ObjectInfo | undefined> {
    const loc = this.loc(rootUri);
    const name = objectName(loc, key);
    const uri = objectUri(rootUri, key);
    let h: HeadObjectCommandOutput;
    try {
      h = await this.client.send(
        new HeadObjectCommand({ Bucket: loc.bucket, Key: name, ChecksumMode: 'ENABLED' }),
      );
    } catch (err) {
      if (errName(err) === 'NotFound' || errName(err) === 'NoSuchKey' || statusOf(err) === 404) {
        await this.checkBucket(loc, uri);
        return undefined;
      }
      throw await this.diagnoseHead(err, loc, name, uri);
    }
    const checksum = fullObjectChecksum(h);
    return {
      key,
      size: h.ContentLength ?? 0,
      ...(h.LastModified ? { mtimeMs: h.LastModified.getTime() } : {}),
      storageClass: h.StorageClass ?? 'STANDARD',
      ...(checksum ? { checksum } : {}),
    };
  }

  async read(
    rootUri: string,
    key: string,
    range?: { start: number; end?: number },
  ): Promise<Readable> {
    checkRange(range);
    const loc = this.loc(rootUri);
    const name = objectName(loc, key);
    const uri = objectUri(rootUri, key);
    try {
      const res = await this.client.send(
        new GetObjectCommand({
          Bucket: loc.bucket,
          Key: name,
          ...(range ? { Range: `bytes=${range.start}-${range.end ?? ''}` } : {}),
        }),
      );
      if (!(res.Body instanceof Readable))
        throw new Error('GetObject returned no Node.js stream body');
      return res.Body;
    } catch (err) {
      // A range starting at or after the end (or any range of an empty object): no bytes.
      if (errName(err) === 'InvalidRange' || statusOf(err) === 416) return Readable.from([]);
      throw mapS3Error(err, { uri, bucket: loc.bucket });
    }
  }

  async write(
    rootUri: string,
    key: string,
    body: Readable,
    opts?: WriteOptions,
  ): Promise<ObjectInfo> {
    const uri = objectUri(rootUri, key);
    let loc: BucketLocation;
    let name: string;
    let storageClass: S3StorageClass | undefined;
    try {
      loc = this.loc(rootUri);
      name = objectName(loc, key);
      storageClass = opts?.storageClass ? normalizeS3StorageClass(opts.storageClass) : undefined;
    } catch (err) {
      body.destroy();
      throw err;
    }
    const ctx = { uri, bucket: loc.bucket };
    const hasher = new Crc32cStream();
    pipeline(body, hasher, () => undefined); // errors reach the upload through `hasher`
    // Keep within S3's 10,000 parts when the size is known.
    const partSize =
      opts?.size !== undefined
        ? Math.max(this.partSize, Math.ceil(opts.size / MAX_PARTS / MiB) * MiB)
        : this.partSize;
    const upload = new Upload({
      client: this.client,
      partSize,
      queueSize: this.queueSize,
      leavePartsOnError: false,
      params: {
        Bucket: loc.bucket,
        Key: name,
        Body: hasher,
        ContentType: 'application/octet-stream',
        ChecksumAlgorithm: 'CRC32C',
        ChecksumType: 'FULL_OBJECT',
        ...(storageClass ? { StorageClass: storageClass } : {}),
      },
    });
    let stored: string | undefined;
    try {
      const res = await upload.done();
      stored = res.ChecksumCRC32C;
    } catch (err) {
      hasher.destroy();
      body.destroy();
      throw mapS3Error(err, ctx);
    }
    const local = hasher.crc.base64();
    if (stored !== undefined && stored !== '' && !stored.includes('-') && stored !== local) {
      // Every request was checksummed, so this means a bug, not a flaky wire: remove it.
      await this.delete(rootUri, key).catch(() => undefined);
      throw StorageErrors.checksumMismatch(uri, base64ToHex(local), base64ToHex(stored));
    }
    return {
      key,
      size: hasher.bytes,
      storageClass: storageClass ?? 'STANDARD',
      ...(stored === local
        ? { checksum: { algorithm: 'crc32c' as const, value: base64ToHex(local) } }
        : {}),
    };
  }

  async delete(rootUri: string, key: string): Promise<void> {
    const loc = this.loc(rootUri);
    const name = objectName(loc, key);
    await this.call(
      () => this.client.send(new DeleteObjectCommand({ Bucket: loc.bucket, Key: name })),
      {
        uri: objectUri(rootUri, key),
        bucket: loc.bucket,
      },
    );
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
    const srcName = objectName(src, srcKey);
    const dstName = objectName(dst, dstKey);
    const storageClass = opts?.storageClass
      ? normalizeS3StorageClass(opts.storageClass)
      : undefined;
    const srcUri = objectUri(srcRootUri, srcKey);
    const dstUri = objectUri(dstRootUri, dstKey);
    const info = await this.stat(srcRootUri, srcKey);
    if (!info) throw StorageErrors.notFound(srcUri);
    if (info.size > this.maxCopySize) return undefined;
    const res = await this.call(
      () =>
        this.client.send(
          new CopyObjectCommand({
            Bucket: dst.bucket,
            Key: dstName,
            CopySource: copySource(src.bucket, srcName),
            ChecksumAlgorithm: 'CRC32C',
            MetadataDirective: 'COPY',
            ...(storageClass ? { StorageClass: storageClass } : {}),
          }),
        ),
      { uri: dstUri, bucket: dst.bucket },
    );
    const crc = res.CopyObjectResult?.ChecksumCRC32C;
    const checksum =
      crc && !crc.includes('-')
        ? { algorithm: 'crc32c' as const, value: base64ToHex(crc) }
        : info.checksum?.algorithm === 'crc32c'
          ? info.checksum
          : undefined;
    return {
      key: dstKey,
      size: info.size,
      ...(res.CopyObjectResult?.LastModified
        ? { mtimeMs: res.CopyObjectResult.LastModified.getTime() }
        : {}),
      storageClass: storageClass ?? 'STANDARD',
      ...(checksum ? { checksum } : {}),
    };
  }

  /**
   * Aborts the unfinished multipart uploads of these objects (left by a worker killed
   * mid-upload; an upload that fails in-process aborts its own). Only objects larger than one
   * part can have one. Each key is looked up by its exact name: MinIO filters uploads by an
   * exact key only, not by a prefix, and a whole-bucket listing could be huge.
   */
  async discardUnfinishedWrites(
    rootUri: string,
    objects: readonly { key: string; size: number }[],
  ): Promise<number> {
    const loc = this.loc(rootUri);
    const names = objects.filter((o) => o.size > this.partSize).map((o) => objectName(loc, o.key));
    let aborted = 0;
    let next = 0;
    const lane = async () => {
      while (next < names.length) {
        const name = names[next++]!;
        const ctx = { uri: `s3://${loc.bucket}/${name}`, bucket: loc.bucket };
        let keyMarker: string | undefined;
        let uploadIdMarker: string | undefined;
        for (;;) {
          const page = await this.call(
            () =>
              this.client.send(
                new ListMultipartUploadsCommand({
                  Bucket: loc.bucket,
                  Prefix: name,
                  KeyMarker: keyMarker,
                  UploadIdMarker: uploadIdMarker,
                }),
              ),
            ctx,
          );
          for (const u of page.Uploads ?? []) {
            if (u.Key !== name || !u.UploadId) continue; // AWS: also longer keys with this prefix
            const uploadId = u.UploadId;
            try {
              await this.client.send(
                new AbortMultipartUploadCommand({
                  Bucket: loc.bucket,
                  Key: name,
                  UploadId: uploadId,
                }),
              );
              aborted++;
            } catch (err) {
              if (errName(err) !== 'NoSuchUpload' && statusOf(err) !== 404)
                throw mapS3Error(err, ctx);
            }
          }
          if (!page.IsTruncated) break;
          keyMarker = page.NextKeyMarker;
          uploadIdMarker = page.NextUploadIdMarker;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, names.length) }, lane));
    return aborted;
  }

  // -------------------------------------------------------------------------------------

  /** Runs one SDK call, translating its errors. */
  private async call<T>(fn: () => Promise<T>, ctx: { uri: string; bucket: string }): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw mapS3Error(err, ctx);
    }
  }

  /** After a 404 on an object: a missing bucket is an error, a missing object is not. */
  private async checkBucket(loc: BucketLocation, uri: string): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: loc.bucket }));
    } catch (err) {
      if (errName(err) === 'NotFound' || errName(err) === 'NoSuchBucket' || statusOf(err) === 404) {
        throw StorageErrors.bucketNotFound('s3', loc.bucket);
      }
      throw await this.diagnoseHead(err, loc, '', uri);
    }
  }

  /**
   * HEAD responses carry no error body, so a 403 cannot tell bad credentials from a denied
   * object: ask a GET-style request (a one-key listing) for the real error code.
   */
  private async diagnoseHead(
    err: unknown,
    loc: BucketLocation,
    name: string,
    uri: string,
  ): Promise<unknown> {
    if (statusOf(err) !== 403) return mapS3Error(err, { uri, bucket: loc.bucket });
    try {
      await this.client.send(
        new ListObjectsV2Command({ Bucket: loc.bucket, Prefix: name, MaxKeys: 1 }),
      );
    } catch (listErr) {
      return mapS3Error(listErr, { uri, bucket: loc.bucket });
    }
    return StorageErrors.accessDenied(uri, 'HEAD was refused (403)');
  }
}
