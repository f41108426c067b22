import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { loadConfig } from '../config';
import { FileDriver } from '../storage/drivers/file';
import type { StorageDriver } from '../storage/driver';
import { chooseHash, createDigest, HashingStream, hashStream } from './hashing';

/** The manifest's hashes: known vectors, the choice per job, the configuration entry. */
const hex = (alg: 'sha256' | 'blake3', data: string) => {
  const d = createDigest(alg);
  d.update(Buffer.from(data));
  return d.hex();
};

describe('createDigest', () => {
  it('computes BLAKE3 and SHA-256 (published test vectors)', () => {
    expect(hex('blake3', '')).toBe(
      'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262',
    );
    expect(hex('blake3', 'abc')).toBe(
      '6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85',
    );
    expect(hex('sha256', 'abc')).toBe(createHash('sha256').update('abc').digest('hex'));
  });

  it('hashes a stream in chunks as it would the whole', async () => {
    const data = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    const chunks = [data.subarray(0, 5), data.subarray(5, 2_000_000), data.subarray(2_000_000)];
    const whole = createDigest('blake3');
    whole.update(data);
    const h = await hashStream(Readable.from(chunks), undefined, 'blake3');
    expect(h).toEqual({ hex: whole.hex(), size: data.length });
    const s = new HashingStream({ algorithm: 'blake3' });
    for await (const c of Readable.from(chunks).pipe(s)) void c;
    expect([s.hex(), s.bytes]).toEqual([h.hex, data.length]);
  });
});

describe('chooseHash', () => {
  const file = new FileDriver({ roots: ['/tmp'] });
  const withChecksums = { checksums: ['crc32c'] } as unknown as StorageDriver;
  it('uses the fast hash only where neither end reports server checksums', () => {
    expect(chooseHash(file, file)).toBe('blake3');
    expect(chooseHash(file, file, 'sha256')).toBe('sha256');
    expect(chooseHash(file, withChecksums)).toBe('sha256');
    expect(chooseHash(withChecksums, file, 'blake3')).toBe('sha256');
  });
});

describe('DIM_FILE_HASH', () => {
  it('defaults to blake3, accepts sha256, and names itself when wrong', () => {
    expect(loadConfig({}).mover.fileHash).toBe('blake3');
    expect(loadConfig({ DIM_FILE_HASH: 'sha256' }).mover.fileHash).toBe('sha256');
    expect(() => loadConfig({ DIM_FILE_HASH: 'md5' })).toThrow(/DIM_FILE_HASH/);
  });
});
