import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { crc32c } from '@node-rs/crc32';
import { StorageError } from '../../errors';
import { capabilitiesOf, type Capability } from '../../storage/capabilities';
import type { ObjectInfo, StorageDriver } from '../../storage/driver';
import { provableIdentity, sameObject } from '../../storage/identity';

/**
 * The one contract every StorageDriver meets, with a case for every capability (a driver
 * that does not offer one is asserted not to): run for file:// in the unit project, with no
 * server (storage/drivers/file.contract.test.ts), and against MinIO and fake-gcs-server by
 * test/integration/storage-contract.test.ts. Each test works in a fresh dataset root from
 * `makeRootUri(label)`.
 */
export interface ContractOptions {
  /** Exactly the capabilities the driver offers (storage/capabilities.ts). */
  capabilities: Capability[];
  /** A storage class the backend accepts on write, and how stat() reports it. */
  storageClass?: { write: string; reported: string };
  /** Size of the "large" object (default 20 MiB + 123 bytes: several multipart parts). */
  largeSize?: number;
  /** Part size the driver was configured with, to read across a part boundary. */
  partSize?: number;
  /** Number of keys for the pagination test (default 1050, over S3's 1000 per page). */
  manyKeys?: number;
  /** A dataset root in a bucket that does not exist. */
  missingBucketUri?: () => string;
  /** A driver whose credentials the server rejects, and a root it would use. */
  badCredentials?: () => { driver: StorageDriver; rootUri: string };
  /** Dataset roots outside the file roots (invariant 6). */
  escapeUris?: () => string[] | Promise<string[]>;
}

const MiB = 1024 * 1024;

export async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function listAll(driver: StorageDriver, rootUri: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of driver.list(rootUri)) out.push(o);
  return out;
}

/** A stream of `data` in chunks of `chunk` bytes. */
export function bodyOf(data: Buffer | string, chunk = 256 * 1024): Readable {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += chunk) parts.push(buf.subarray(i, i + chunk));
  return Readable.from(parts);
}

/** A stream that yields `okBytes` bytes and then fails. */
function failingBody(okBytes: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= okBytes) {
        this.destroy(new Error('source failed mid-stream'));
        return;
      }
      const n = Math.min(MiB, okBytes - sent);
      sent += n;
      this.push(randomBytes(n));
    },
  });
}

function crc32cHex(data: Buffer): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc32c(data) >>> 0);
  return b.toString('hex');
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function rejection(p: Promise<unknown>): Promise<StorageError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof StorageError) return err;
    throw new Error(`expected a StorageError, got: ${String(err)}`, { cause: err });
  }
  throw new Error('expected the promise to reject');
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

async function mapLimit<T>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  });
  await Promise.all(workers);
}

export function runDriverContract(
  name: string,
  makeDriver: () => StorageDriver | Promise<StorageDriver>,
  makeRootUri: (label: string) => string,
  opts: ContractOptions,
): void {
  const offers = (c: Capability) => opts.capabilities.includes(c);
  /** The server checksum write() and stat() report (dim's drivers keep CRC32C where they can). */
  const checksum = offers('checksums') ? ('crc32c' as const) : undefined;
  describe(`storage driver contract: ${name}`, () => {
    let d: StorageDriver;

    beforeAll(async () => {
      d = await makeDriver();
    });

    it(`offers exactly its capabilities: ${opts.capabilities.join(', ') || 'none'}`, () => {
      expect(capabilitiesOf(d).sort()).toEqual([...opts.capabilities].sort());
      expect(d.checksums.length > 0).toBe(offers('checksums'));
      expect(d.writeChecksum !== undefined).toBe(offers('storedChecksum'));
    });

    it('writes, stats and reads back nested keys; lists them sorted, relative to the root', async () => {
      const root = makeRootUri('nested');
      const keys = ['b', 'a/b/c', 'a-b', 'a/b/d', 'z/é', 'a/0', 'a/b.txt'];
      for (const k of keys) {
        const info = await d.write(root, k, bodyOf(`content of ${k}`));
        expect(info.key).toBe(k);
        expect(info.size).toBe(Buffer.byteLength(`content of ${k}`));
      }
      const listed = await listAll(d, root);
      expect(listed.map((o) => o.key)).toEqual([...keys].sort(byteOrder));
      for (const o of listed) expect(o.size).toBe(Buffer.byteLength(`content of ${o.key}`));
      const st = await d.stat(root, 'a/b/c');
      expect(st).toMatchObject({ key: 'a/b/c', size: Buffer.byteLength('content of a/b/c') });
      expect(typeof st?.mtimeMs).toBe('number');
      expect((await readAll(await d.read(root, 'z/é'))).toString()).toBe('content of z/é');
    });

    it('treats a single object as a dataset with key "", and keeps sibling prefixes apart', async () => {
      const base = makeRootUri('single');
      const one = `${base}/one.bin`;
      await d.write(one, '', bodyOf('just one'));
      await d.write(`${base}/one.bin-2`, '', bodyOf('a sibling'));
      await d.write(`${base}/ds`, 'x', bodyOf('in ds'));
      await d.write(`${base}/ds-2`, 'y', bodyOf('next to ds'));
      expect(await listAll(d, one)).toEqual([expect.objectContaining({ key: '', size: 8 })]);
      expect(await d.stat(one, '')).toMatchObject({ key: '', size: 8 });
      expect((await readAll(await d.read(one, ''))).toString()).toBe('just one');
      expect((await listAll(d, `${base}/ds`)).map((o) => o.key)).toEqual(['x']);
      expect((await listAll(d, `${base}/ds/`)).map((o) => o.key)).toEqual(['x']);
    });

    it('lists an empty or missing dataset as nothing', async () => {
      expect(await listAll(d, makeRootUri('never-written'))).toEqual([]);
      expect(await d.stat(makeRootUri('never-written'), 'x')).toBeUndefined();
    });

    it(`lists more keys than one page holds (${opts.manyKeys ?? 1050})`, async () => {
      const root = makeRootUri('many');
      const n = opts.manyKeys ?? 1050;
      const keys = Array.from({ length: n }, (_, i) => `k/${String(i).padStart(5, '0')}`);
      await mapLimit(keys, 32, (k) => d.write(root, k, bodyOf(k), { size: k.length }));
      const listed = await listAll(d, root);
      expect(listed.length).toBe(n);
      expect(listed.map((o) => o.key)).toEqual(keys);
    }, 120_000);

    it('stores and reads empty objects', async () => {
      const root = makeRootUri('empty');
      const info = await d.write(root, 'empty', bodyOf(''));
      expect(info.size).toBe(0);
      if (checksum) expect(info.checksum).toEqual({ algorithm: 'crc32c', value: '00000000' });
      expect(await d.stat(root, 'empty')).toMatchObject({ size: 0 });
      expect((await readAll(await d.read(root, 'empty'))).length).toBe(0);
      expect((await readAll(await d.read(root, 'empty', { start: 0 }))).length).toBe(0);
      expect((await listAll(d, root)).map((o) => [o.key, o.size])).toEqual([['empty', 0]]);
    });

    it('writes and reads a large object (multipart / resumable), keeping its checksum', async () => {
      const root = makeRootUri('large');
      const size = opts.largeSize ?? 20 * MiB + 123;
      const data = randomBytes(size);
      const info = await d.write(root, 'big.bin', bodyOf(data, MiB + 7));
      expect(info.size).toBe(size);
      const st = await d.stat(root, 'big.bin');
      expect(st?.size).toBe(size);
      if (checksum) {
        const expected = { algorithm: 'crc32c', value: crc32cHex(data) };
        expect(info.checksum).toEqual(expected);
        expect(st?.checksum).toEqual(expected);
      } else {
        expect(info.checksum).toBeUndefined();
        expect(st?.checksum).toBeUndefined();
      }
      expect(sha256(await readAll(await d.read(root, 'big.bin')))).toBe(sha256(data));
      // A range across a part boundary.
      const boundary = opts.partSize ?? 5 * MiB;
      const part = await readAll(
        await d.read(root, 'big.bin', { start: boundary - 10, end: boundary + 9 }),
      );
      expect(part.equals(data.subarray(boundary - 10, boundary + 10))).toBe(true);
    }, 60_000);

    it('serves byte ranges, inclusive, clamped at the end', async () => {
      const root = makeRootUri('ranges');
      const data = randomBytes(1000);
      await d.write(root, 'r', bodyOf(data));
      const range = async (start: number, end?: number) =>
        readAll(await d.read(root, 'r', end === undefined ? { start } : { start, end }));
      expect((await range(0, 0)).equals(data.subarray(0, 1))).toBe(true);
      expect((await range(10, 19)).equals(data.subarray(10, 20))).toBe(true);
      expect((await range(990)).equals(data.subarray(990))).toBe(true);
      expect((await range(995, 5000)).equals(data.subarray(995))).toBe(true);
      expect((await range(1000)).length).toBe(0);
      expect((await range(5000)).length).toBe(0);
      expect((await rejection(d.read(root, 'r', { start: 10, end: 5 }))).code).toBe(
        'invalid_range',
      );
      expect((await rejection(d.read(root, 'r', { start: -1 }))).code).toBe('invalid_range');
    });

    it('overwrites an object with new content and size', async () => {
      const root = makeRootUri('overwrite');
      await d.write(root, 'o', bodyOf('first version, longer'));
      const info = await d.write(root, 'o', bodyOf('second'));
      expect(info.size).toBe(6);
      expect((await readAll(await d.read(root, 'o'))).toString()).toBe('second');
      expect(await d.stat(root, 'o')).toMatchObject({ size: 6 });
      expect((await listAll(d, root)).map((o) => o.key)).toEqual(['o']);
    });

    it('deletes objects; deleting a missing one is not an error', async () => {
      const root = makeRootUri('delete');
      await d.write(root, 'keep', bodyOf('k'));
      await d.write(root, 'dir/sub/gone', bodyOf('g'));
      await d.delete(root, 'dir/sub/gone');
      expect(await d.stat(root, 'dir/sub/gone')).toBeUndefined();
      expect((await listAll(d, root)).map((o) => o.key)).toEqual(['keep']);
      await d.delete(root, 'dir/sub/gone');
      await d.delete(root, 'never/was');
      await d.delete(root, 'keep');
      expect(await listAll(d, root)).toEqual([]);
    });

    it('reports an identity in list and stat; a rewrite under the same key, same size, changes it', async () => {
      const root = makeRootUri('identity');
      await d.write(root, 'o', bodyOf('version one'));
      const [listed] = await listAll(d, root);
      const st = await d.stat(root, 'o');
      expect(listed?.identity).toBeDefined();
      expect(provableIdentity(listed?.identity)).toBeDefined();
      expect(sameObject(listed!, st!)).toBe(true);
      await d.write(root, 'o', bodyOf('version two'));
      expect(sameObject(listed!, (await d.stat(root, 'o'))!)).toBe(false);
    });

    it('reads conditionally: the listed object, or source_changed (retryable)', async () => {
      const root = makeRootUri('cond-read');
      await d.write(root, 'o', bodyOf('version one'));
      const [listed] = await listAll(d, root);
      expect(
        (await readAll(await d.read(root, 'o', undefined, { expect: listed! }))).toString(),
      ).toBe('version one');
      await d.write(root, 'o', bodyOf('version two'));
      const e = await rejection(
        d.read(root, 'o', undefined, { expect: listed! }).then((s) => readAll(s)),
      );
      expect([e.code, e.retryable]).toEqual(['source_changed', true]);
    });

    it('deletes conditionally (delete with expect): deleted, changed or missing', async () => {
      const root = makeRootUri('cond-delete');
      await d.write(root, 'same', bodyOf('unchanged'));
      await d.write(root, 'rewritten', bodyOf('version one'));
      const listed = new Map((await listAll(d, root)).map((o) => [o.key, o]));
      await d.write(root, 'rewritten', bodyOf('version two')); // same size, other object
      expect(await d.delete(root, 'rewritten', { expect: listed.get('rewritten')! })).toBe(
        'changed',
      );
      expect((await readAll(await d.read(root, 'rewritten'))).toString()).toBe('version two');
      expect(await d.delete(root, 'same', { expect: listed.get('same')! })).toBe('deleted');
      expect(await d.stat(root, 'same')).toBeUndefined();
      expect(await d.delete(root, 'same', { expect: listed.get('same')! })).toBe('missing');
      // No identity: nothing proves it is the same object, so it is kept.
      expect(await d.delete(root, 'rewritten', { expect: { size: 11 } })).toBe('changed');
      expect(await d.stat(root, 'rewritten')).toBeDefined();
    });

    it('reports a missing object: stat undefined, read not_found', async () => {
      const root = makeRootUri('missing');
      await d.write(root, 'present', bodyOf('p'));
      expect(await d.stat(root, 'absent')).toBeUndefined();
      const e = await rejection(d.read(root, 'absent'));
      expect(e.code).toBe('not_found');
      expect(e.retryable).toBe(false);
    });

    it('never leaves a partial object when the source fails mid-write', async () => {
      const root = makeRootUri('atomic');
      await expect(d.write(root, 'new', failingBody(7 * MiB))).rejects.toThrow();
      expect(await d.stat(root, 'new')).toBeUndefined();
      await d.write(root, 'old', bodyOf('the old content'));
      await expect(d.write(root, 'old', failingBody(7 * MiB))).rejects.toThrow();
      expect((await readAll(await d.read(root, 'old'))).toString()).toBe('the old content');
      expect((await listAll(d, root)).map((o) => o.key)).toEqual(['old']);
    }, 30_000);

    it('refuses keys that could escape or do not name an object', async () => {
      const root = makeRootUri('keys');
      for (const bad of ['../x', 'a/../../x', '/abs', 'a//b', 'a/']) {
        const e = await rejection(d.write(root, bad, bodyOf('x')));
        expect(e.code).toBe('invalid_key');
      }
      expect((await rejection(d.stat(root, '../x'))).code).toBe('invalid_key');
    });

    if (opts.storageClass) {
      const sc = opts.storageClass;
      it(`writes with a storage class (${sc.write})`, async () => {
        const root = makeRootUri('class');
        const info = await d.write(root, 'c', bodyOf('classy'), { storageClass: sc.write });
        expect(info.storageClass).toBe(sc.reported);
        expect((await d.stat(root, 'c'))?.storageClass).toBe(sc.reported);
        expect((await listAll(d, root))[0]?.storageClass).toBe(sc.reported);
        const e = await rejection(
          d.write(root, 'c2', bodyOf('x'), { storageClass: 'NO_SUCH_CLASS' }),
        );
        expect(e.code).toBe('invalid_storage_class');
        expect(e.field).toBe('storage_class');
      });
    }

    it(
      checksum
        ? 'reports the server checksum of small objects (checksums)'
        : 'reports no server checksum: its objects are read again to be checked (no checksums)',
      async () => {
        const root = makeRootUri('checksum');
        const data = Buffer.from('checksum me');
        const info = await d.write(root, 'c', bodyOf(data), { size: data.length });
        const [listed] = await listAll(d, root);
        if (!checksum) {
          expect([info.checksum, (await d.stat(root, 'c'))?.checksum, listed?.checksum]).toEqual([
            undefined,
            undefined,
            undefined,
          ]);
          return;
        }
        expect(info.checksum).toEqual({ algorithm: 'crc32c', value: crc32cHex(data) });
        expect((await d.stat(root, 'c'))?.checksum).toEqual(info.checksum);
        expect(d.checksums).toContain('crc32c');
      },
    );

    it(`${offers('storedChecksum') ? 'reports' : 'does not report'} the checksum the server computed for what it stores (storedChecksum, writeChecksum)`, async () => {
      expect(typeof d.storedChecksum).toBe(offers('storedChecksum') ? 'function' : 'undefined');
      const root = makeRootUri('stored-checksum');
      const small = Buffer.from('proven by the server');
      const large = randomBytes(opts.partSize ? opts.partSize * 2 + 77 : 2 * MiB + 77);
      const a = await d.write(root, 'a', bodyOf(small), { size: small.length });
      // Larger than a part: multipart (S3) or resumable (GCS) upload, streamed of unknown size.
      const b = await d.write(root, 'd/b', bodyOf(large));
      if (!d.storedChecksum) {
        expect(d.writeChecksum).toBeUndefined();
        return;
      }
      expect(d.writeChecksum).toBe('crc32c');
      const want = (data: Buffer) => ({ algorithm: d.writeChecksum, value: crc32cHex(data) });
      // What write() states is what the server reports, and it is the bytes' own CRC32C.
      expect(a.checksum).toEqual(want(small));
      expect(b.checksum).toEqual(want(large));
      expect(await d.storedChecksum(root, 'a')).toEqual(want(small));
      expect(await d.storedChecksum(root, 'd/b')).toEqual(want(large));
      // An object replaced since reports the new content's checksum.
      const other = Buffer.from('proven by the server!');
      await d.write(root, 'a', bodyOf(other), { size: other.length });
      expect(await d.storedChecksum(root, 'a')).toEqual(want(other));
      expect((await rejection(d.storedChecksum(root, 'missing'))).code).toBe('not_found');
      // A resumable write stores the same full-object checksum.
      if (d.writeResumable) {
        const info = await d.writeResumable(root, 'r', {
          size: large.length,
          openSource: (start) => Promise.resolve(bodyOf(large.subarray(start))),
          observe: () => undefined,
          onCheckpoint: () => undefined,
          signal: new AbortController().signal,
        });
        expect(info.checksum).toEqual(want(large));
        expect(await d.storedChecksum(root, 'r')).toEqual(want(large));
      }
    });

    it(`${offers('storedChecksum') ? 'reports' : 'does not report'} the server's checksum with a read of the whole object (read onChecksum)`, async () => {
      const root = makeRootUri('read-checksum');
      const data = randomBytes(5000);
      await d.write(root, 'x', bodyOf(data), { size: data.length });
      const [listed] = await listAll(d, root);
      const seen: unknown[] = [];
      const whole = await d.read(
        root,
        'x',
        { start: 0, end: data.length - 1 },
        { expect: listed!, onChecksum: (c) => seen.push(c) },
      );
      expect((await readAll(whole)).equals(data)).toBe(true);
      const part = await d.read(
        root,
        'x',
        { start: 10, end: 99 },
        { expect: listed!, onChecksum: (c) => seen.push(['part', c]) },
      );
      expect((await readAll(part)).equals(data.subarray(10, 100))).toBe(true);
      expect(seen).toEqual(
        offers('storedChecksum') ? [{ algorithm: 'crc32c', value: crc32cHex(data) }] : [],
      );
    });

    it(`${offers('copyWithin') ? 'copies' : 'does not copy'} within the service (copyWithin)`, async () => {
      expect(typeof d.copyWithin).toBe(offers('copyWithin') ? 'function' : 'undefined');
      if (!d.copyWithin) return;
      const root = makeRootUri('copy-src');
      const dst = makeRootUri('copy-dst');
      const data = randomBytes(3000);
      await d.write(root, 'a/b', bodyOf(data));
      const info = await d.copyWithin(root, 'a/b', dst, 'x/y');
      expect(info).toMatchObject({ key: 'x/y', size: 3000 });
      if (checksum) expect(info?.checksum).toEqual({ algorithm: 'crc32c', value: crc32cHex(data) });
      expect((await readAll(await d.read(dst, 'x/y'))).equals(data)).toBe(true);
      if (opts.storageClass) {
        // With a storage class: copied into that class, or undefined (caller streams) when
        // the server cannot do both at once.
        const sc = opts.storageClass;
        const classed = await d.copyWithin(root, 'a/b', dst, 'x/z', { storageClass: sc.write });
        if (classed) expect((await d.stat(dst, 'x/z'))?.storageClass).toBe(sc.reported);
        else expect(await d.stat(dst, 'x/z')).toBeUndefined();
      }
      expect((await rejection(d.copyWithin(root, 'nope', dst, 'z'))).code).toBe('not_found');
    });

    it(`${offers('writeResumable') ? 'resumes' : 'cannot resume'} an interrupted write, keeping only the parts that still match (writeResumable, discardUnfinishedWrites)`, async () => {
      expect(typeof d.writeResumable).toBe(offers('writeResumable') ? 'function' : 'undefined');
      expect(typeof d.discardUnfinishedWrites).toBe(
        offers('discardUnfinishedWrites') ? 'function' : 'undefined',
      );
      if (!d.writeResumable) return;
      const part = opts.partSize ?? 5 * MiB;
      const root = makeRootUri('resumable');
      const data = randomBytes(3 * part + 1234);
      const objects = [{ key: 'big', size: data.length }];
      /** Source that yields its first `upTo` bytes and then stalls until destroyed. */
      const stalling = (upTo: number) => {
        let sent = false;
        return new Readable({
          read() {
            if (!sent) this.push(data.subarray(0, upTo));
            sent = true;
          },
        });
      };
      const interrupted = async (previous?: Buffer) => {
        const ac = new AbortController();
        let token = '';
        let offset = 0;
        const w = d.writeResumable!(root, 'big', {
          size: data.length,
          openSource: () => Promise.resolve(stalling(2 * part + 100)),
          observe: () => undefined,
          onCheckpoint: (t, o) => {
            token = t;
            offset = o;
            if (o >= 2 * part) ac.abort(new Error('stopped'));
          },
          signal: ac.signal,
        });
        await expect(w).rejects.toThrow('stopped');
        // A checkpoint at the end of the second part (S3), or of what was read by then (file).
        expect(offset).toBeGreaterThanOrEqual(2 * part);
        expect(offset).toBeLessThanOrEqual(2 * part + 100);
        // Nothing new is visible: no object yet, or the previous one unchanged.
        if (previous)
          expect((await readAll(await d.read(root, 'big'))).equals(previous)).toBe(true);
        else expect(await d.stat(root, 'big')).toBeUndefined();
        return token;
      };
      const resume = async (source: Buffer, token: string) => {
        const seen = { resumed: 0, fresh: 0 };
        const hash = createHash('sha256');
        const info = await d.writeResumable!(root, 'big', {
          size: source.length,
          resumeToken: token,
          openSource: (start) => Promise.resolve(bodyOf(source.subarray(start))),
          observe: (chunk, resumed) => {
            hash.update(chunk);
            seen[resumed ? 'resumed' : 'fresh'] += chunk.length;
          },
          onCheckpoint: () => undefined,
          signal: new AbortController().signal,
        });
        expect(hash.digest('hex')).toBe(sha256(source));
        expect(info).toMatchObject({ key: 'big', size: source.length });
        if (checksum)
          expect(info.checksum).toEqual({ algorithm: 'crc32c', value: crc32cHex(source) });
        expect((await readAll(await d.read(root, 'big'))).equals(source)).toBe(true);
        return seen;
      };

      // The second part changed at the source meanwhile: only the first is kept.
      const token = await interrupted();
      const changed = Buffer.from(data);
      changed[part + 10] = changed[part + 10]! ^ 0xff;
      expect(await resume(changed, token)).toEqual({
        resumed: part,
        fresh: changed.length - part,
      });
      expect(await d.discardUnfinishedWrites?.(root, objects)).toBe(0); // completed, none left

      // Interrupted, then discarded: resuming with the stale token starts over.
      const stale = await interrupted(changed);
      if (d.discardUnfinishedWrites) expect(await d.discardUnfinishedWrites(root, objects)).toBe(1);
      expect(await resume(data, stale)).toEqual(
        d.discardUnfinishedWrites
          ? { resumed: 0, fresh: data.length }
          : { resumed: 2 * part, fresh: data.length - 2 * part },
      );
    }, 60_000);

    it(`${offers('openRandomAccess') ? 'reads' : 'does not read'} positionally (openRandomAccess)`, async () => {
      expect(typeof d.openRandomAccess).toBe(offers('openRandomAccess') ? 'function' : 'undefined');
      if (!d.openRandomAccess) return;
      const root = makeRootUri('positional');
      const data = randomBytes(3000);
      await d.write(root, 'r', bodyOf(data));
      const [listed] = await listAll(d, root);
      const obj = await d.openRandomAccess(root, 'r', { expect: listed! });
      try {
        expect(obj.size).toBe(3000);
        const buf = Buffer.alloc(1000);
        expect(await obj.readAt(buf, 1000, 500)).toBe(1000);
        expect(buf.equals(data.subarray(500, 1500))).toBe(true);
        expect(await obj.readAt(buf, 1000, 2500)).toBe(500);
        expect(buf.subarray(0, 500).equals(data.subarray(2500))).toBe(true);
        expect(await obj.readAt(buf, 1, 3000)).toBe(0);
        await obj.check();
      } finally {
        await obj.close();
      }
      await d.write(root, 'r', bodyOf(randomBytes(3000))); // another object, same size
      const e = await rejection(d.openRandomAccess(root, 'r', { expect: listed! }));
      expect([e.code, e.retryable]).toEqual(['source_changed', true]);
      expect((await rejection(d.openRandomAccess(root, 'absent'))).code).toBe('not_found');
    });

    it(`${offers('bulk') ? 'reads and writes' : 'has no'} many small objects in bulk (bulk)`, async () => {
      expect(typeof d.bulk).toBe(offers('bulk') ? 'function' : 'undefined');
      if (!d.bulk) return;
      const root = makeRootUri('bulk');
      const b = d.bulk(root);
      const objects = Array.from({ length: 50 }, (_, i) => ({
        key: `d${i % 5}/o${i}`,
        data: randomBytes(100 + i),
      }));
      await mapLimit(objects, 8, (o) => b.write(o.key, o.data));
      await b.write('empty', Buffer.alloc(0));
      await b.flush();
      const listed = new Map((await listAll(d, root)).map((o) => [o.key, o]));
      expect(listed.size).toBe(51);
      for (const o of objects) {
        expect(listed.get(o.key)?.size).toBe(o.data.length);
        expect((await b.read(o.key, o.data.length, listed.get(o.key))).equals(o.data)).toBe(true);
      }
      expect((await b.read('empty', 0)).length).toBe(0);
      // Longer than the caller thinks: one byte more comes back.
      expect((await b.read('d0/o0', 10)).length).toBe(11);
      await d.write(root, 'd0/o0', bodyOf(randomBytes(100))); // another object, same size
      const e = await rejection(b.read('d0/o0', 100, listed.get('d0/o0')));
      expect([e.code, e.retryable]).toEqual(['source_changed', true]);
      expect((await rejection(b.read('absent', 1))).code).toBe('not_found');
      expect((await rejection(b.write('../x', Buffer.from('x')))).code).toBe('invalid_key');
    });

    it(`${offers('resolveRoot') ? 'has' : 'has no'} dataset roots as places of their own (resolveRoot, createRoot, removeRootIfEmpty)`, async () => {
      for (const c of ['resolveRoot', 'createRoot', 'removeRootIfEmpty'] as const)
        expect([c, typeof d[c]]).toEqual([c, offers(c) ? 'function' : 'undefined']);
      if (!d.resolveRoot || !d.createRoot || !d.removeRootIfEmpty) return;
      const root = makeRootUri('place');
      expect((await d.resolveRoot(root)).exists).toBe(false);
      await d.createRoot(root);
      const here = await d.resolveRoot(root);
      expect(here.exists).toBe(true);
      expect(await d.resolveRoot(`${root}/`)).toEqual(here);
      expect(await listAll(d, root)).toEqual([]);
      await d.write(root, 'a/b', bodyOf('kept'));
      await d.removeRootIfEmpty(root);
      expect((await readAll(await d.read(root, 'a/b'))).toString()).toBe('kept');
      await d.createRoot(root); // already there: nothing changes
      expect((await listAll(d, root)).map((o) => o.key)).toEqual(['a/b']);
      await d.delete(root, 'a/b');
      await d.createRoot(root);
      await d.removeRootIfEmpty(root);
      expect((await d.resolveRoot(root)).exists).toBe(false);
    });

    if (
      opts.capabilities.includes('writeResumable') &&
      opts.capabilities.includes('openRandomAccess')
    ) {
      it('resumes a positional write from a positional source (writeResumable with openSourceAt)', async () => {
        const part = opts.partSize ?? 5 * MiB;
        const src = makeRootUri('positional-src');
        const dst = makeRootUri('positional-dst');
        const data = randomBytes(3 * part + 1234);
        await d.write(src, 'big', bodyOf(data, MiB));
        const [listed] = await listAll(d, src);
        const write = (
          token: string | undefined,
          ac: AbortController,
          onOffset?: (o: number) => void,
        ) => {
          const seen = { resumed: 0, fresh: 0, token: '', offset: 0 };
          const hash = createHash('sha256');
          const p = d.writeResumable!(dst, 'big', {
            size: data.length,
            ...(token ? { resumeToken: token } : {}),
            openSource: () => Promise.reject(new Error('positional only')),
            openSourceAt: () => d.openRandomAccess!(src, 'big', { expect: listed! }),
            observe: (chunk, resumed) => {
              hash.update(chunk);
              seen[resumed ? 'resumed' : 'fresh'] += chunk.length;
            },
            onCheckpoint: (t, o) => {
              seen.token = t;
              seen.offset = o;
              onOffset?.(o);
            },
            signal: ac.signal,
          });
          return { p, seen, hash };
        };
        const first = new AbortController();
        const a = write(undefined, first, (o) => {
          if (o >= part) first.abort(new Error('stopped'));
        });
        await expect(a.p).rejects.toThrow('stopped');
        expect(a.seen.offset).toBeGreaterThanOrEqual(part);
        expect(await d.stat(dst, 'big')).toBeUndefined();
        const b = write(a.seen.token, new AbortController());
        const info = await b.p;
        expect(info).toMatchObject({ key: 'big', size: data.length });
        expect([b.seen.resumed, b.seen.fresh]).toEqual([
          a.seen.offset,
          data.length - a.seen.offset,
        ]);
        expect(b.hash.digest('hex')).toBe(sha256(data));
        expect(sha256(await readAll(await d.read(dst, 'big')))).toBe(sha256(data));
        expect(await d.discardUnfinishedWrites?.(dst, [{ key: 'big', size: data.length }])).toBe(0);
        // The source replaced since it was listed: the write fails, nothing appears.
        await d.write(src, 'big', bodyOf(randomBytes(data.length), MiB));
        await d.delete(dst, 'big');
        const e = await rejection(write(undefined, new AbortController()).p);
        expect([e.code, e.retryable]).toEqual(['source_changed', true]);
        expect(await d.stat(dst, 'big')).toBeUndefined();
      }, 60_000);
    }

    if (opts.missingBucketUri) {
      const missing = opts.missingBucketUri;
      it('names a missing bucket on every operation', async () => {
        const root = missing();
        const ops: [string, () => Promise<unknown>][] = [
          ['list', () => listAll(d, root)],
          ['stat', () => d.stat(root, 'x')],
          ['read', () => d.read(root, 'x')],
          ['write', () => d.write(root, 'x', bodyOf('x'))],
          ['write (large)', () => d.write(root, 'y', bodyOf(randomBytes(6 * MiB)))],
          ['delete', () => d.delete(root, 'x')],
        ];
        for (const [op, fn] of ops) {
          const e = await rejection(fn());
          expect([op, e.code, e.retryable]).toEqual([op, 'bucket_not_found', false]);
          expect(e.status).toBe(404);
        }
      }, 30_000);
    }

    if (opts.badCredentials) {
      const bad = opts.badCredentials;
      it('reports rejected credentials as bad_credentials, not retryable', async () => {
        const { driver, rootUri } = bad();
        try {
          const ops: [string, () => Promise<unknown>][] = [
            ['list', () => listAll(driver, rootUri)],
            ['stat', () => driver.stat(rootUri, 'x')],
            ['read', () => driver.read(rootUri, 'x')],
            ['write', () => driver.write(rootUri, 'x', bodyOf('x'))],
            ['delete', () => driver.delete(rootUri, 'x')],
          ];
          for (const [op, fn] of ops) {
            const e = await rejection(fn());
            expect([op, e.code, e.retryable]).toEqual([op, 'bad_credentials', false]);
          }
        } finally {
          await driver.close?.();
        }
      });
    }

    if (opts.escapeUris) {
      const escapes = opts.escapeUris;
      it('refuses every operation outside the file roots (invariant 6)', async () => {
        for (const root of await escapes()) {
          const ops: [string, () => Promise<unknown>][] = [
            ['list', () => listAll(d, root)],
            ['stat', () => d.stat(root, 'x')],
            ['read', () => d.read(root, 'x')],
            ['write', () => d.write(root, 'x', bodyOf('x'))],
            ['delete', () => d.delete(root, 'x')],
          ];
          for (const [op, fn] of ops) {
            const e = await rejection(fn());
            expect([root, op, e.code, e.retryable]).toEqual([root, op, 'outside_roots', false]);
          }
        }
      });
    }
  });
}
