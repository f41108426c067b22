import {
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { StorageError } from '../../errors';
import type { ObjectInfo } from '../driver';
import { FileDriver } from './file';

/**
 * The file driver's rules about links (issue 9): below a dataset root nothing follows a
 * symbolic link (list, stat, read, delete fail with symlink_in_dataset naming it, and
 * delete removes nothing); the root itself may be reached through links. Conditional
 * deletes compare the identity a listing recorded and keep hard-linked files.
 */
let base: string;
let root: string;
let d: FileDriver;
const uri = (...p: string[]) => pathToFileURL(path.join(root, ...p)).href;

beforeEach(() => {
  base = realpathSync(mkdtempSync(path.join(tmpdir(), 'dim-file-driver-')));
  root = path.join(base, 'root');
  mkdirSync(path.join(root, 'A', 'sub'), { recursive: true });
  mkdirSync(path.join(root, 'B'), { recursive: true });
  writeFileSync(path.join(root, 'A', 'own.txt'), 'A owns this');
  writeFileSync(path.join(root, 'A', 'sub', 'deep.txt'), 'deep');
  writeFileSync(path.join(root, 'B', 'f'), 'B owns this');
  d = new FileDriver({ roots: [root], fsync: false });
});

afterEach(() => rmSync(base, { recursive: true, force: true }));

async function listAll(rootUri: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of d.list(rootUri)) out.push(o);
  return out;
}

async function rejection(p: Promise<unknown>): Promise<StorageError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof StorageError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

const bFiles = () => readFileSync(path.join(root, 'B', 'f'), 'utf8');

describe('symbolic links inside a dataset', () => {
  it.each([
    [
      'a directory link to another dataset',
      () => symlinkSync(path.join(root, 'B'), path.join(root, 'A', 'shared')),
    ],
    ['a file link to another dataset', () => symlinkSync('../B/f', path.join(root, 'A', 'shared'))],
    ['a dangling link', () => symlinkSync('../nowhere', path.join(root, 'A', 'shared'))],
  ])('%s fails the listing, naming the link', async (_what, make) => {
    make();
    const e = await rejection(listAll(uri('A')));
    expect(e.code).toBe('symlink_in_dataset');
    expect(e.retryable).toBe(false);
    expect(e.message).toContain(`${uri('A')}/shared`);
    expect(e.message).toMatch(/does not follow links inside a dataset/);
  });

  it('stat, read, write and delete refuse a key through a link; delete removes nothing', async () => {
    symlinkSync(path.join(root, 'B'), path.join(root, 'A', 'shared'));
    symlinkSync('../B/f', path.join(root, 'A', 'flink'));
    for (const key of ['shared/f', 'flink']) {
      for (const op of [
        () => d.stat(uri('A'), key),
        () => d.read(uri('A'), key),
        () => d.delete(uri('A'), key),
        () => d.delete(uri('A'), key, { expect: { size: 11 } }),
      ]) {
        const e = await rejection(op());
        expect([key, e.code]).toEqual([key, 'symlink_in_dataset']);
      }
    }
    const w = await rejection(d.write(uri('A'), 'shared/new', Readable.from([Buffer.from('x')])));
    expect(w.code).toBe('symlink_in_dataset');
    expect(existsSync(path.join(root, 'B', 'new'))).toBe(false);
    expect(bFiles()).toBe('B owns this');
    expect(existsSync(path.join(root, 'A', 'shared'))).toBe(true); // the link itself stays too
    expect(existsSync(path.join(root, 'A', 'flink'))).toBe(true);
  });

  it('a directory of the key replaced by a link is refused too', async () => {
    rmSync(path.join(root, 'A', 'sub'), { recursive: true });
    mkdirSync(path.join(root, 'B', 'sub'));
    writeFileSync(path.join(root, 'B', 'sub', 'deep.txt'), 'B deep');
    symlinkSync(path.join(root, 'B', 'sub'), path.join(root, 'A', 'sub'));
    const e = await rejection(d.delete(uri('A'), 'sub/deep.txt'));
    expect(e.code).toBe('symlink_in_dataset');
    expect(e.message).toContain(`${uri('A')}/sub`);
    expect(readFileSync(path.join(root, 'B', 'sub', 'deep.txt'), 'utf8')).toBe('B deep');
  });

  it('the dataset root itself may be reached through a link (roots are resolved)', async () => {
    symlinkSync(path.join(root, 'A'), path.join(root, 'A-current'));
    const listed = await listAll(uri('A-current'));
    expect(listed.map((o) => o.key)).toEqual(['own.txt', 'sub/deep.txt']);
    expect(await d.delete(uri('A-current'), 'own.txt')).toBe('deleted');
    expect(existsSync(path.join(root, 'A', 'own.txt'))).toBe(false);
    expect(existsSync(path.join(root, 'A-current'))).toBe(true);
  });
});

describe('identity and conditional deletes', () => {
  it('list and stat report size, mtime/ctime in ns, device, inode and link count', async () => {
    const [o] = await listAll(uri('A', 'own.txt'));
    expect(o).toMatchObject({
      key: '',
      size: 11,
      identity: {
        mtimeNs: expect.stringMatching(/^\d+$/),
        ctimeNs: expect.stringMatching(/^\d+$/),
        dev: expect.stringMatching(/^\d+$/),
        ino: expect.stringMatching(/^\d+$/),
        nlink: 1,
      },
    });
    expect((await d.stat(uri('A'), 'own.txt'))?.identity).toEqual(o!.identity);
  });

  it('deletes only the very object listed: a rewrite with the same size is "changed"', async () => {
    const [o] = (await listAll(uri('A'))).filter((x) => x.key === 'own.txt');
    writeFileSync(path.join(root, 'A', 'own.txt'), 'A owns THIS'); // same size
    expect(await d.delete(uri('A'), 'own.txt', { expect: o! })).toBe('changed');
    expect(readFileSync(path.join(root, 'A', 'own.txt'), 'utf8')).toBe('A owns THIS');
    const [now] = (await listAll(uri('A'))).filter((x) => x.key === 'own.txt');
    expect(await d.delete(uri('A'), 'own.txt', { expect: now! })).toBe('deleted');
    expect(await d.delete(uri('A'), 'own.txt', { expect: now! })).toBe('missing');
  });

  it('an expectation without identity proves nothing: kept', async () => {
    expect(await d.delete(uri('A'), 'own.txt', { expect: { size: 11 } })).toBe('changed');
    expect(existsSync(path.join(root, 'A', 'own.txt'))).toBe(true);
  });

  it('keeps a hard-linked file ("shared") unless allowed', async () => {
    linkSync(path.join(root, 'A', 'own.txt'), path.join(root, 'B', 'also-own.txt'));
    const o = await d.stat(uri('A'), 'own.txt');
    expect(o?.identity?.nlink).toBe(2);
    expect(await d.delete(uri('A'), 'own.txt', { expect: o! })).toBe('shared');
    expect(existsSync(path.join(root, 'A', 'own.txt'))).toBe(true);
    expect(await d.delete(uri('A'), 'own.txt', { expect: o!, allowShared: true })).toBe('deleted');
    expect(readFileSync(path.join(root, 'B', 'also-own.txt'), 'utf8')).toBe('A owns this');
  });

  it('a conditional read fails with source_changed (retryable) when the file is not the listed one', async () => {
    const o = await d.stat(uri('A'), 'own.txt');
    writeFileSync(path.join(root, 'A', 'own.txt'), 'A owns THIS');
    const e = await rejection(d.read(uri('A'), 'own.txt', undefined, { expect: o! }));
    expect([e.code, e.retryable]).toEqual(['source_changed', true]);
    const now = await d.stat(uri('A'), 'own.txt');
    const chunks: Buffer[] = [];
    for await (const c of await d.read(uri('A'), 'own.txt', undefined, { expect: now! }))
      chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('A owns THIS');
  });
});
