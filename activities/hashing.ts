import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { Blake3Hasher } from '@napi-rs/blake-hash';
import { Crc32c } from '../storage/checksum';
import type { ChecksumAlgorithm, StorageDriver, StoredChecksum } from '../storage/driver';
import { MoverErrors } from './failures';
import type { Throttle } from './throttle';

/**
 * The content hashes of the manifest. CRC32C (native) where the destination's server keeps
 * and reports a full-object CRC32C it computed itself (storedChecksum, writeChecksum: S3,
 * GCS): the copy computes it while streaming, and the verify compares it with the server's
 * instead of reading the object again. Otherwise SHA-256 wherever an end is a service with
 * checksums of its own; BLAKE3 (native, @napi-rs/blake-hash: about 3× SHA-256 here) where
 * neither end reports any (file:// to file://), so that the copy and the re-read of the
 * verify cost less. Each manifest row records its algorithm (migration 012; rows from before
 * it are SHA-256).
 */
export const HASH_ALGORITHMS = ['sha256', 'blake3', 'crc32c'] as const;
export type HashAlgorithm = (typeof HASH_ALGORITHMS)[number];

/** A manifest row's algorithm: null (rows from before migration 012) or unknown is SHA-256. */
export function rowAlgorithm(recorded: string | null | undefined): HashAlgorithm {
  return (HASH_ALGORITHMS as readonly string[]).includes(recorded ?? '')
    ? (recorded as HashAlgorithm)
    : 'sha256';
}

export interface Digest {
  update(data: Buffer): void;
  /** Lower-case hex. */
  hex(): string;
}

export function createDigest(algorithm: HashAlgorithm | 'md5'): Digest {
  if (algorithm === 'crc32c') {
    const c = new Crc32c();
    return { update: (data) => c.update(data), hex: () => c.hex() };
  }
  if (algorithm === 'md5') {
    const h = createHash('md5');
    return { update: (data) => void h.update(data), hex: () => h.digest('hex') };
  }
  if (algorithm === 'blake3') {
    const h = new Blake3Hasher();
    return {
      update: (data) => void h.update(data),
      hex: () => h.digest('hex'),
    };
  }
  const h = createHash('sha256');
  return {
    update: (data) => void h.update(data),
    hex: () => h.digest('hex'),
  };
}

/** The name of an algorithm in messages. */
export const hashLabel = (a: HashAlgorithm | ChecksumAlgorithm): string =>
  ({ sha256: 'SHA-256', blake3: 'BLAKE3', crc32c: 'CRC32C', md5: 'MD5', crc64nvme: 'CRC64NVME' })[
    a
  ];

/**
 * The hash a job's copy uses: the destination's own full-object checksum where its server
 * keeps one it computed and reports it (storedChecksum; CRC32C, the one dim computes
 * natively), so that verify need not read the copy again; `fast` where neither end reports a
 * server checksum (both are dim's own, and the verify re-reads the destination); else SHA-256.
 */
export function chooseHash(
  src: StorageDriver,
  dst: StorageDriver,
  fast: HashAlgorithm = 'blake3',
): HashAlgorithm {
  if (dst.storedChecksum && dst.writeChecksum === 'crc32c') return 'crc32c';
  return src.checksums.length === 0 && dst.checksums.length === 0 ? fast : 'sha256';
}

/** The algorithms a source's reported checksum can be checked with (crc64nvme: not yet). */
function checkDigest(algorithm: ChecksumAlgorithm): Digest | undefined {
  if (algorithm === 'crc32c' || algorithm === 'sha256' || algorithm === 'md5')
    return createDigest(algorithm);
  return undefined;
}

/**
 * The source's own checksum of an object (its listing's, or the one its read reported),
 * compared with the bytes the copy read, so that a corrupt read fails the copy instead of
 * being copied and verified as it was read. Fed every byte of the object in order; a
 * checksum that arrives after the first byte, or of an algorithm dim does not compute, is
 * not checked.
 */
export class SourceCheck {
  private expected: StoredChecksum | undefined;
  private digest: Digest | undefined;
  private seen = 0;

  constructor(private readonly content: HashAlgorithm) {}

  expect(c: StoredChecksum | undefined): void {
    if (!c || this.expected || this.seen > 0) return;
    if (c.algorithm === this.content) {
      this.expected = c;
      return;
    }
    const d = checkDigest(c.algorithm);
    if (!d) return;
    this.expected = c;
    this.digest = d;
  }

  update(chunk: Buffer): void {
    this.seen += chunk.length;
    this.digest?.update(chunk);
  }

  /** Throws the retryable source_checksum_mismatch unless the read matches (`contentHex`: the content hash). */
  check(uri: string, contentHex: string): void {
    const e = this.expected;
    if (!e) return;
    const got = this.digest ? this.digest.hex() : contentHex;
    if (got !== e.value.toLowerCase())
      throw MoverErrors.sourceChecksumMismatch(uri, hashLabel(e.algorithm), e.value, got);
  }
}

/**
 * A pass-through stream that computes the hash and the byte count of what flows through
 * it, optionally paced by a Throttle, and reports each chunk (progress).
 */
export class HashingStream extends Transform {
  readonly hash: Digest;
  bytes = 0;

  constructor(
    private readonly opts: {
      algorithm?: HashAlgorithm;
      throttle?: Throttle;
      signal?: AbortSignal;
      onChunk?: (n: number) => void;
      highWaterMark?: number;
      /** Also sees every chunk (the source's checksum). */
      check?: SourceCheck;
    } = {},
  ) {
    super(opts.highWaterMark ? { highWaterMark: opts.highWaterMark } : {});
    this.hash = createDigest(opts.algorithm ?? 'sha256');
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.opts.check?.update(chunk);
    this.bytes += chunk.length;
    this.opts.onChunk?.(chunk.length);
    if (!this.opts.throttle) return cb(null, chunk);
    this.opts.throttle.take(chunk.length, this.opts.signal).then(
      () => cb(null, chunk),
      (err: unknown) => cb(err as Error),
    );
  }

  hex(): string {
    return this.hash.hex();
  }
}

/** The hash (hex) and length of everything a stream yields. */
export async function hashStream(
  stream: AsyncIterable<Buffer>,
  onChunk?: (n: number) => void,
  algorithm: HashAlgorithm = 'sha256',
): Promise<{ hex: string; size: number }> {
  const h = createDigest(algorithm);
  let size = 0;
  for await (const chunk of stream) {
    h.update(chunk);
    size += chunk.length;
    onChunk?.(chunk.length);
  }
  return { hex: h.hex(), size };
}
