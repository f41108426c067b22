import { execFile } from 'node:child_process';
import fs, { constants as fsConstants, promises as fsp } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { StorageErrors } from '../../errors';
import type { BulkAccess, ExpectedObject } from '../driver';
import { isInside, objectUri, resolveFileUri, resolveRoots, validateKey } from '../uri';
import { checkSame, errnoCode, infoOf } from './file-common';

/**
 * The file driver's bulk path for many small objects (BulkAccess). The driver's general
 * calls resolve every path from scratch (realpath of the roots, of the dataset root, of
 * each missing parent): right for one call, but for ten thousand small files it costs more
 * than the copy. Here each dataset root and each directory is resolved once and the result
 * checked against the roots. Links are never followed below the dataset root (as in the
 * rest of the driver): a directory whose real path is not its own path, or an object
 * opened with O_NOFOLLOW that is a link, fails with symlink_in_dataset naming the link.
 */
// Plain file descriptors for the many-small-files path: FileHandle objects cost more to
// create and close than the reads and writes of a 4 KiB file.
const fdOpen = promisify(fs.open);
const fdClose = promisify(fs.close);
const fdRead = (fd: number, buf: Buffer, off: number, len: number, pos: number) =>
  new Promise<number>((resolve, reject) =>
    fs.read(fd, buf, off, len, pos, (err, n) => (err ? reject(err) : resolve(n))),
  );
const fdWrite = (fd: number, buf: Buffer, off: number, len: number, pos: number) =>
  new Promise<number>((resolve, reject) =>
    fs.write(fd, buf, off, len, pos, (err, n) => (err ? reject(err) : resolve(n))),
  );
const fdStat = (fd: number) =>
  new Promise<fs.BigIntStats>((resolve, reject) =>
    fs.fstat(fd, { bigint: true }, (err, st) => (err ? reject(err) : resolve(st))),
  );

async function readUpTo(fd: number, buf: Buffer, len: number): Promise<number> {
  let got = 0;
  while (got < len) {
    const n = await fdRead(fd, buf, got, len - got, got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

export class FileBulk implements BulkAccess {
  private readonly dirs = new Map<string, Promise<string>>();
  private readonly made = new Map<string, Promise<void>>();
  private rootPath?: Promise<string>;

  constructor(
    private readonly roots: readonly string[],
    readonly rootUri: string,
    private readonly fsync: boolean,
  ) {}

  private async realRoots(): Promise<string[]> {
    return resolveRoots(this.roots);
  }

  /** The dataset root's real path (it may not exist yet). */
  root(): Promise<string> {
    return (this.rootPath ??= resolveFileUri(this.rootUri, this.roots).then((r) => r.path));
  }

  /** A directory's real path, checked inside the roots; cached. */
  private realDir(dir: string, uri: string): Promise<string> {
    let p = this.dirs.get(dir);
    if (!p) {
      p = (async () => {
        const real = await fsp.realpath(dir);
        const roots = await this.realRoots();
        if (!roots.some((r) => isInside(real, r)))
          throw StorageErrors.outsideRoots(uri, real, this.roots);
        // `dir` lies below the resolved dataset root: a different real path means a link.
        if (real !== dir) await this.refuseLink(dir);
        return real;
      })();
      p.catch(() => this.dirs.delete(dir));
      this.dirs.set(dir, p);
    }
    return p;
  }

  /** Throws symlink_in_dataset naming the first link on the way from the root to `dir`. */
  private async refuseLink(dir: string): Promise<never> {
    const root = await this.root();
    const rel = path.relative(root, dir).split(path.sep);
    let p = root;
    for (let i = 0; i < rel.length; i++) {
      p = path.join(p, rel[i]!);
      const st = await fsp.lstat(p).catch(() => undefined);
      if (st?.isSymbolicLink()) {
        throw StorageErrors.symlinkInDataset(
          objectUri(this.rootUri, rel.slice(0, i + 1).join('/')),
        );
      }
    }
    throw StorageErrors.symlinkInDataset(objectUri(this.rootUri, rel.join('/')));
  }

  private async split(key: string): Promise<{ dir: string; base: string; uri: string }> {
    validateKey(key);
    const root = await this.root();
    const uri = objectUri(this.rootUri, key);
    if (key === '') return { dir: path.dirname(root), base: path.basename(root), uri };
    const parts = key.split('/');
    const base = parts.pop()!;
    return { dir: path.join(root, ...parts), base, uri };
  }

  /** Opens an object for reading: O_NOFOLLOW on the name in its (resolved, checked) directory. */
  private async open(key: string): Promise<number> {
    const { dir, base, uri } = await this.split(key);
    const real = path.join(await this.realDir(dir, uri), base);
    try {
      return await fdOpen(real, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ELOOP') {
        throw StorageErrors.symlinkInDataset(uri);
      }
      throw err;
    }
  }

  async read(key: string, size: number, expect?: ExpectedObject): Promise<Buffer> {
    const uri = objectUri(this.rootUri, key);
    let fd: number;
    try {
      fd = await this.open(key);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR')
        throw StorageErrors.notFound(uri);
      throw err;
    }
    try {
      if (expect) checkSame(uri, expect, infoOf(key, await fdStat(fd)));
      const buf = Buffer.allocUnsafe(size + 1);
      const got = await readUpTo(fd, buf, size + 1);
      if (expect) checkSame(uri, expect, infoOf(key, await fdStat(fd)));
      return buf.subarray(0, got);
    } finally {
      await fdClose(fd);
    }
  }

  /** The real directory an object will be written into (created, resolved, checked). */
  private async targetDir(key: string): Promise<{ dir: string; base: string; uri: string }> {
    const { dir, base, uri } = await this.split(key);
    let made = this.made.get(dir);
    if (!made) {
      made = fsp.mkdir(dir, { recursive: true }).then(() => undefined);
      made.catch(() => this.made.delete(dir));
      this.made.set(dir, made);
    }
    await made;
    return { dir: await this.realDir(dir, uri), base, uri };
  }

  async write(key: string, data: Buffer): Promise<void> {
    const { dir, base } = await this.targetDir(key);
    const fd = await fdOpen(
      path.join(dir, base),
      fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | fsConstants.O_NOFOLLOW,
      0o666,
    );
    try {
      let done = 0;
      while (done < data.length) done += await fdWrite(fd, data, done, data.length - done, done);
    } finally {
      await fdClose(fd);
    }
  }

  /** One syncfs of the file system the dataset lies on, instead of an fsync per file. */
  async flush(): Promise<void> {
    if (this.fsync) await syncFileSystem(await this.root());
  }
}

/**
 * Flushes the file system holding `dir` to disk (syncfs, via coreutils `sync -f`): one
 * call instead of an fsync per small file. Falls back to a global `sync`.
 */
export async function syncFileSystem(dir: string): Promise<void> {
  const run = promisify(execFile);
  try {
    await run('sync', ['-f', dir]);
  } catch {
    await run('sync', []).catch(() => undefined);
  }
}
