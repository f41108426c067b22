import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { Throttle } from './throttle';

/**
 * A pass-through stream that computes the SHA-256 and the byte count of what flows
 * through it, optionally paced by a Throttle, and reports each chunk (progress).
 */
export class HashingStream extends Transform {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;

  constructor(
    private readonly opts: {
      throttle?: Throttle;
      signal?: AbortSignal;
      onChunk?: (n: number) => void;
      highWaterMark?: number;
    } = {},
  ) {
    super(opts.highWaterMark ? { highWaterMark: opts.highWaterMark } : {});
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
    return this.hash.digest('hex');
  }
}

/** SHA-256 (hex) and length of everything a stream yields. */
export async function hashStream(
  stream: AsyncIterable<Buffer>,
  onChunk?: (n: number) => void,
): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    h.update(chunk);
    size += chunk.length;
    onChunk?.(chunk.length);
  }
  return { sha256: h.digest('hex'), size };
}
