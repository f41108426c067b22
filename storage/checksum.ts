import { crc32c } from '@node-rs/crc32';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * CRC32C (Castagnoli) with the native @node-rs/crc32 (GB/s, hardware-accelerated),
 * in the shapes the cloud SDKs accept instead of their JavaScript implementations.
 */

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function toBytes(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0);
  return b;
}

/** Incremental CRC32C. */
export class Crc32c {
  private value = 0;

  update(data: Uint8Array): void {
    this.value = crc32c(asBuffer(data), this.value);
  }

  /** The big-endian 4 bytes (what S3 and GCS base64-encode). */
  bytes(): Buffer {
    return toBytes(this.value);
  }

  base64(): string {
    return this.bytes().toString('base64');
  }

  hex(): string {
    return this.bytes().toString('hex');
  }

  reset(): void {
    this.value = 0;
  }
}

/** The `Checksum` constructor shape of @aws-sdk/client-s3's `checksumAlgorithms` option. */
export class AwsCrc32c {
  private readonly crc = new Crc32c();

  update(data: Uint8Array): void {
    this.crc.update(data);
  }

  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.crc.bytes());
  }

  reset(): void {
    this.crc.reset();
  }
}

/** The `crc32cGenerator` of @google-cloud/storage: base64 in, base64 out. */
export function gcsCrc32cGenerator(): {
  update: (data: Buffer) => void;
  toString: () => string;
  validate: (value: string) => boolean;
} {
  const crc = new Crc32c();
  return {
    update: (data: Buffer) => crc.update(data),
    toString: () => crc.base64(),
    validate: (value: string) => value === crc.base64(),
  };
}

/** base64 (as S3 and GCS report checksums) → lowercase hex (as ObjectInfo carries them). */
export function base64ToHex(b64: string): string {
  return Buffer.from(b64, 'base64').toString('hex');
}

/** A pass-through stream that computes the CRC32C and byte count of what flows through. */
export class Crc32cStream extends Transform {
  readonly crc = new Crc32c();
  bytes = 0;

  constructor(highWaterMark?: number) {
    super(highWaterMark ? { highWaterMark } : {});
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.crc.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}
