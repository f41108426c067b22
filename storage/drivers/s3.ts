import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
  type HeadObjectCommandOutput,
  type S3ClientConfig,
  type _Object,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable, pipeline } from 'node:stream';
import { StorageError, StorageErrors } from '../../errors';
import { AwsCrc32c, Crc32c, Crc32cStream, base64ToHex } from '../checksum';
import { normalizeS3StorageClass, type S3StorageClass } from '../classes';
import type {
  ChecksumAlgorithm,
  DeleteOptions,
  DeleteOutcome,
  ObjectInfo,
  ReadOptions,
  ResumableWrite,
  StorageDriver,
  StoredChecksum,
  WriteOptions,
} from '../driver';
import { sameObject } from '../identity';
import { checkBucket } from '../buckets';
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
 * - Large objects the mover copies go through writeResumable(): a multipart upload whose parts
 *   outlive a killed worker; the next attempt keeps those that still match the source (by
 *   CRC32C) and completes the upload. discardUnfinishedWrites() aborts uploads never resumed.
 * - The SDK computes checksums only when an operation requires one
 *   (`requestChecksumCalculation: 'WHEN_REQUIRED'`), so no aws-chunked trailers, which
 *   S3-compatible servers handle unevenly; we ask for CRC32C explicitly instead.
 */
export interface S3DriverOptions {
  /** The only buckets this driver may touch (DIM_BUCKETS); any when unset. */
  buckets?: readonly string[];
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
  /** Full-object checksums (dim writes CRC32C of type FULL_OBJECT; others as uploaded). */
  readonly checksums: readonly ChecksumAlgorithm[] = ['crc32c', 'sha256', 'crc64nvme'];
  /** Every object dim writes carries a FULL_OBJECT CRC32C that the server checked. */
  readonly writeChecksum: ChecksumAlgorithm = 'crc32c';
  readonly client: S3Client;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly pageSize: number;
  private readonly buckets: readonly string[] | undefined;
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
    // Request bodies are not hashed into the signature (SigV4's UNSIGNED-PAYLOAD): the
    // CRC32C checksum every upload request carries already protects them, and signing would
    // cost a SHA-256 pass over every byte here and another on the server.
    this.client.middlewareStack.add(
      (next) => (args) => {
        const req = args.request as { headers?: Record<string, string> };
        if (req.headers) req.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
        return next(args);
      },
      { step: 'build', name: 'dimUnsignedPayload' },
    );
    this.partSize = Math.max(MIN_PART, opts.partSize ?? 8 * MiB);
    this.queueSize = Math.max(1, opts.queueSize ?? 4);
    this.pageSize = Math.min(1000, Math.max(1, opts.listPageSize ?? 1000));
    this.maxCopySize = opts.maxCopyObjectSize ?? 5 * 1024 * MiB;
    this.buckets = opts.buckets;
    this.aws = opts.endpoint === undefined;
  }

  /** Whether this is AWS itself (no custom endpoint): where an SSE-S3 object's ETag is its MD5. */
  private readonly aws: boolean;

  private loc(rootUri: string): BucketLocation {
    const loc = parseStorageUri(rootUri);
    if (loc.scheme !== 's3')
      throw StorageErrors.invalidUri(rootUri, 'the s3 driver only serves s3:// URIs');
    checkBucket(loc, this.buckets);
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
      ...(o.ETag ? { identity: { etag: o.ETag } } : {}),
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
      ...(h.ETag
        ? {
            identity: {
              etag: h.ETag,
              ...(h.VersionId && h.VersionId !== 'null' ? { versionId: h.VersionId } : {}),
            },
          }
        : {}),
    };
  }

  /**
   * The server's full-object checksum (HeadObject with ChecksumMode): S3 computes it from the
   * bytes of a single PUT, or combines it from the checked parts of a FULL_OBJECT multipart
   * upload, and refuses an upload whose claimed checksum differs (MinIO alike: checked by
   * experiment, see README "What verified means").
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
    const name = objectName(loc, key);
    const uri = objectUri(rootUri, key);
    // Conditional: the server serves the bytes only of the object with the listed ETag
    // (and version), so what is read is that very object, whatever was written since.
    const want = opts?.expect?.identity;
    // S3 reports full-object checksums only on a GET without a range: a range that covers
    // the whole object is left out when the caller wants the checksum.
    const size = opts?.expect?.size;
    const whole =
      range === undefined ||
      (range.start === 0 &&
        size !== undefined &&
        (range.end === undefined || range.end >= size - 1));
    const onChecksum = whole ? opts?.onChecksum : undefined;
    const sendRange = range && !(onChecksum && size !== undefined && size > 0);
    try {
      const res = await this.client.send(
        new GetObjectCommand({
          Bucket: loc.bucket,
          Key: name,
          ...(sendRange ? { Range: `bytes=${range.start}-${range.end ?? ''}` } : {}),
          ...(want?.etag ? { IfMatch: want.etag } : {}),
          ...(want?.versionId ? { VersionId: want.versionId } : {}),
          ...(onChecksum ? { ChecksumMode: 'ENABLED' as const } : {}),
        }),
      );
      if (!(res.Body instanceof Readable))
        throw new Error('GetObject returned no Node.js stream body');
      if (onChecksum) {
        const c = fullObjectChecksum(res) ?? this.etagMd5(res);
        if (c) onChecksum(c);
      }
      return res.Body;
    } catch (err) {
      // A range starting at or after the end (or any range of an empty object): no bytes.
      if (errName(err) === 'InvalidRange' || statusOf(err) === 416) return Readable.from([]);
      if (want && (errName(err) === 'PreconditionFailed' || statusOf(err) === 412)) {
        throw StorageErrors.objectChanged(uri, `its ETag is no longer ${want.etag}`);
      }
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
    const partSize = this.partSizeFor(opts?.size);
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

  async delete(rootUri: string, key: string, opts?: DeleteOptions): Promise<DeleteOutcome> {
    const loc = this.loc(rootUri);
    const name = objectName(loc, key);
    const ctx = { uri: objectUri(rootUri, key), bucket: loc.bucket };
    const expect = opts?.expect;
    if (!expect) {
      await this.call(
        () => this.client.send(new DeleteObjectCommand({ Bucket: loc.bucket, Key: name })),
        ctx,
      );
      return 'deleted';
    }
    // Conditional: head and compare, then delete exactly what was compared. A versioned
    // bucket deletes that version (a newer one written meanwhile stays); otherwise the
    // delete carries If-Match on the ETag, which S3 (and MinIO) refuse with 412 when the
    // object was replaced after the head.
    const now = await this.stat(rootUri, key);
    if (!now) return 'missing';
    if (!sameObject(expect, now)) return 'changed';
    const versionId = now.identity?.versionId;
    try {
      await this.client.send(
        new DeleteObjectCommand({
          Bucket: loc.bucket,
          Key: name,
          ...(versionId ? { VersionId: versionId } : { IfMatch: now.identity?.etag }),
        }),
      );
    } catch (err) {
      if (errName(err) === 'PreconditionFailed' || statusOf(err) === 412) return 'changed';
      if (errName(err) === 'NoSuchKey' || statusOf(err) === 404) return 'missing';
      throw mapS3Error(err, ctx);
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
   * A single-part ETag is the MD5 of the object's bytes where S3 documents it: no '-' (not
   * multipart), not encrypted with SSE-KMS or SSE-C, and SSE-S3 only on AWS itself (an
   * S3-compatible server may derive its ETags otherwise when it encrypts).
   */
  private etagMd5(h: {
    ETag?: string;
    ServerSideEncryption?: string;
    SSECustomerAlgorithm?: string;
  }): StoredChecksum | undefined {
    const etag = h.ETag?.replace(/"/g, '') ?? '';
    if (!/^[0-9a-f]{32}$/i.test(etag) || h.SSECustomerAlgorithm) return undefined;
    const sse = h.ServerSideEncryption;
    if (sse !== undefined && !(sse === 'AES256' && this.aws)) return undefined;
    return { algorithm: 'md5', value: etag.toLowerCase() };
  }

  /** The part size for an object: the configured one, larger if needed to stay within 10,000 parts. */
  private partSizeFor(size: number | undefined): number {
    return size !== undefined
      ? Math.max(this.partSize, Math.ceil(size / MAX_PARTS / MiB) * MiB)
      : this.partSize;
  }

  /**
   * A multipart upload that outlives the worker: the UploadId is the resume token, and each
   * finished run of parts a checkpoint. A later call with the token lists the parts the server
   * holds, reads the source again from the start, keeps each part whose size and CRC32C match
   * (the bytes are only hashed by the caller, not sent), and uploads the others, `queueSize`
   * at once. The object is completed with its full-object CRC32C, which S3 checks against the
   * parts. On failure the upload is left for the next attempt; discardUnfinishedWrites() (or
   * the bucket's lifecycle rule) removes what is never resumed.
   */
  async writeResumable(rootUri: string, key: string, w: ResumableWrite): Promise<ObjectInfo> {
    const loc = this.loc(rootUri);
    const name = objectName(loc, key);
    const uri = objectUri(rootUri, key);
    const ctx = { uri, bucket: loc.bucket };
    const storageClass = w.storageClass ? normalizeS3StorageClass(w.storageClass) : undefined;
    const partSize = this.partSizeFor(w.size);
    const parts = Math.max(1, Math.ceil(w.size / partSize));

    // 1. The parts an interrupted write left, or a new upload.
    const stored = new Map<number, { etag: string; crc: string; size: number }>();
    let uploadId = w.resumeToken;
    if (uploadId !== undefined) {
      try {
        await this.listParts(loc.bucket, name, uploadId, stored);
      } catch (err) {
        if (errName(err) !== 'NoSuchUpload' && statusOf(err) !== 404) throw mapS3Error(err, ctx);
        uploadId = undefined; // completed, aborted or expired meanwhile: start again
        stored.clear();
      }
    }
    if (uploadId === undefined) {
      const created = await this.call(
        () =>
          this.client.send(
            new CreateMultipartUploadCommand({
              Bucket: loc.bucket,
              Key: name,
              ContentType: 'application/octet-stream',
              ChecksumAlgorithm: 'CRC32C',
              ChecksumType: 'FULL_OBJECT',
              ...(storageClass ? { StorageClass: storageClass } : {}),
            }),
          ),
        ctx,
      );
      if (!created.UploadId)
        throw StorageErrors.unavailable(uri, 'CreateMultipartUpload returned no UploadId');
      uploadId = created.UploadId;
    }
    const id = uploadId;
    w.onCheckpoint(id, 0);

    // 2. The source part by part: kept parts checked, the others uploaded.
    const full = new Crc32c();
    const done: CompletedPart[] = [];
    const finished = new Array<boolean>(parts).fill(false);
    let frontier = 0; // parts 1..frontier are stored
    const markDone = (n: number) => {
      finished[n - 1] = true;
      const before = frontier;
      while (frontier < parts && finished[frontier]) frontier++;
      if (frontier > before) w.onCheckpoint(id, Math.min(w.size, frontier * partSize));
    };
    const inFlight = new Set<Promise<void>>();
    let failure: Error | undefined;
    const source = await w.openSource(0);
    const onAbort = () =>
      source.destroy(w.signal.reason instanceof Error ? w.signal.reason : new Error('aborted'));
    w.signal.addEventListener('abort', onAbort, { once: true });
    try {
      let n = 0;
      for await (const data of partsOf(source, partSize, w.size, uri)) {
        n++;
        const crc = new Crc32c();
        crc.update(data);
        const sum = crc.base64();
        const prev = stored.get(n);
        const keep = prev !== undefined && prev.size === data.length && prev.crc === sum;
        await w.observe(data, keep);
        full.update(data);
        if (keep) {
          done.push({ PartNumber: n, ETag: prev.etag, ChecksumCRC32C: sum });
          markDone(n);
          continue;
        }
        while (inFlight.size >= this.queueSize && failure === undefined)
          await Promise.race(inFlight);
        if (failure !== undefined) throw failure;
        const partNumber = n;
        const upload: Promise<void> = this.client
          .send(
            new UploadPartCommand({
              Bucket: loc.bucket,
              Key: name,
              UploadId: id,
              PartNumber: partNumber,
              Body: data,
              ContentLength: data.length,
              ChecksumCRC32C: sum,
            }),
            { abortSignal: w.signal },
          )
          .then((r) => {
            if (!r.ETag) throw new Error(`UploadPart ${partNumber} returned no ETag`);
            done.push({ PartNumber: partNumber, ETag: r.ETag, ChecksumCRC32C: sum });
            markDone(partNumber);
          })
          .catch((err: unknown) => {
            const mapped = mapS3Error(err, ctx);
            failure ??= mapped instanceof Error ? mapped : new Error(String(mapped));
          })
          .finally(() => inFlight.delete(upload));
        inFlight.add(upload);
      }
      await Promise.all(inFlight);
      if (failure !== undefined) throw failure;
      // Stopped after the last part was read: the upload stays unfinished, for a later attempt.
      if (w.signal.aborted) {
        throw w.signal.reason instanceof Error ? w.signal.reason : new Error('aborted');
      }
    } catch (err) {
      source.destroy();
      await Promise.allSettled(inFlight);
      throw err instanceof Error ? err : new Error(String(err));
    } finally {
      w.signal.removeEventListener('abort', onAbort);
    }

    // 3. Complete, with the full-object CRC32C S3 checks against the parts.
    done.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    const local = full.base64();
    const res = await this.call(
      () =>
        this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: loc.bucket,
            Key: name,
            UploadId: id,
            MultipartUpload: { Parts: done },
            ChecksumType: 'FULL_OBJECT',
            ChecksumCRC32C: local,
          }),
        ),
      ctx,
    );
    const stored32 = res.ChecksumCRC32C;
    if (stored32 && !stored32.includes('-') && stored32 !== local) {
      await this.delete(rootUri, key).catch(() => undefined);
      throw StorageErrors.checksumMismatch(uri, base64ToHex(local), base64ToHex(stored32));
    }
    return {
      key,
      size: w.size,
      storageClass: storageClass ?? 'STANDARD',
      checksum: { algorithm: 'crc32c', value: base64ToHex(local) },
    };
  }

  /** Every part of an unfinished upload, by number (throws NoSuchUpload when it is gone). */
  private async listParts(
    bucket: string,
    name: string,
    uploadId: string,
    into: Map<number, { etag: string; crc: string; size: number }>,
  ): Promise<void> {
    let marker: string | undefined;
    for (;;) {
      const page = await this.client.send(
        new ListPartsCommand({
          Bucket: bucket,
          Key: name,
          UploadId: uploadId,
          PartNumberMarker: marker,
        }),
      );
      for (const p of page.Parts ?? []) {
        // Without a part checksum the part cannot be checked: it is uploaded again.
        if (p.PartNumber && p.ETag && p.ChecksumCRC32C && p.Size !== undefined) {
          into.set(p.PartNumber, { etag: p.ETag, crc: p.ChecksumCRC32C, size: p.Size });
        }
      }
      if (!page.IsTruncated || !page.NextPartNumberMarker) return;
      marker = page.NextPartNumberMarker;
    }
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

/**
 * The source cut into parts of `partSize` bytes (the last one shorter): exactly `size` bytes,
 * else a conflict (the source changed since it was listed).
 */
async function* partsOf(
  source: AsyncIterable<Buffer>,
  partSize: number,
  size: number,
  uri: string,
): AsyncGenerator<Buffer> {
  let read = 0;
  let part = Buffer.allocUnsafe(Math.min(partSize, size));
  let fill = 0;
  for await (const chunk of source) {
    let at = 0;
    while (at < chunk.length) {
      if (read >= size) {
        throw StorageErrors.conflict(uri, `the source holds more than the ${size} bytes listed`);
      }
      const n = Math.min(chunk.length - at, part.length - fill);
      chunk.copy(part, fill, at, at + n);
      fill += n;
      at += n;
      read += n;
      if (fill === part.length) {
        yield part;
        part = Buffer.allocUnsafe(Math.min(partSize, size - read));
        fill = 0;
      }
    }
  }
  if (read !== size) {
    throw StorageErrors.conflict(uri, `the source ended after ${read} of the ${size} bytes listed`);
  }
  if (size === 0) yield Buffer.alloc(0);
}
