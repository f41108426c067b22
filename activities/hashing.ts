import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { Blake3Hasher } from '@napi-rs/blake-hash';
import type { StorageDriver } from '../storage/driver';
import type { Throttle } from './throttle';

/**
 * The content hashes of the manifest. SHA-256 is the default wherever an end is a service
 * with checksums of its own; BLAKE3 (native, @napi-rs/blake-hash: about 3× SHA-256 here)
 * where neither end reports any (file:// to file://), so that the copy and the re-read of
 * the verify cost less. Each manifest row records its algorithm (migration 012; rows from
 * before it are SHA-256).
 */
export const HASH_ALGORITHMS = ['sha256', 'blake3'] as const;
export type HashAlgorithm = (typeof HASH_ALGORITHMS)[number];

export interface Digest {
  update(data: Buffer): void;
  /** Lower-case hex. */
  hex(): string;
}

export function createDigest(algorithm: HashAlgorithm): Digest {
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
export const hashLabel = (a: HashAlgorithm): string => (a === 'sha256' ? 'SHA-256' : 'BLAKE3');

/**
 * The hash a job's copy uses: `fast` where neither end reports a server checksum (both are
 * dim's own, and the verify re-reads the destination), else SHA-256 (a server may prove it).
 */
export function chooseHash(
  src: StorageDriver,
  dst: StorageDriver,
  fast: HashAlgorithm = 'blake3',
): HashAlgorithm {
  return src.checksums.length === 0 && dst.checksums.length === 0 ? fast : 'sha256';
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
    } = {},
  ) {
    super(opts.highWaterMark ? { highWaterMark: opts.highWaterMark } : {});
    this.hash = createDigest(opts.algorithm ?? 'sha256');
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
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
