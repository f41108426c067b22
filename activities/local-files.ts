import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs, { constants as fsConstants, promises as fsp } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { StorageErrors } from '../errors';
import type { ExpectedObject } from '../storage/driver';
import { checkSame, infoOf } from '../storage/drivers/file';
import { isInside, objectUri, resolveFileUri, resolveRoots, validateKey } from '../storage/uri';

/**
 * The mover's fast path where both ends are file:// datasets inside the roots. The file
 * driver resolves every path from scratch (realpath of the roots, of the dataset root,
 * of each missing parent): right for one call, but for ten thousand small files it costs
 * more than the copy. Here each dataset root and each directory is resolved once and the
 * result checked against the roots. Links are never followed below the dataset root (as in
 * the file driver): a directory whose real path is not its own path, or an object opened
 * with O_NOFOLLOW that is a link, fails with symlink_in_dataset naming the link.
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
const fdSync = promisify(fs.fsync);
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

export class LocalTree {
  private readonly dirs = new Map<string, Promise<string>>();
  private readonly made = new Map<string, Promise<void>>();
  private rootPath?: Promise<string>;

  constructor(
    private readonly roots: readonly string[],
    readonly rootUri: string,
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

  /** The path to read an object at (the caller opens it with O_NOFOLLOW). */
  async sourcePath(key: string): Promise<string> {
    const { dir, base, uri } = await this.split(key);
    const real = path.join(await this.realDir(dir, uri), base);
    const st = await fsp.lstat(real);
    if (st.isSymbolicLink()) throw StorageErrors.symlinkInDataset(uri);
    return real;
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

  /**
   * Reads a whole (small) object. With `expect` (the listing's entry), the open file must
   * be that very object before and after the read (fstat), else source_changed.
   */
  async readAll(key: string, size: number, expect?: ExpectedObject): Promise<Buffer> {
    const fd = await this.open(key);
    try {
      const uri = objectUri(this.rootUri, key);
      if (expect) checkSame(uri, expect, infoOf(key, await fdStat(fd)));
      const buf = Buffer.allocUnsafe(size);
      const got = await readUpTo(fd, buf, size);
      if (expect) checkSame(uri, expect, infoOf(key, await fdStat(fd)));
      return got === size ? buf : buf.subarray(0, got);
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

  /**
   * Writes a whole object in place. Only for a migration's own destination: nobody reads
   * it before the switch, every key in it is in the job's manifest before it is written,
   * and a row says `copied` only after its write completed (a torn file is rewritten by
   * the next attempt, and verify re-reads everything). `atomic` writes a temporary name
   * and renames it instead, as the file driver does.
   */
  async writeAll(key: string, data: Buffer, fsync: boolean, atomic = false): Promise<void> {
    const { dir, base } = await this.targetDir(key);
    if (!atomic) {
      const fd = await fdOpen(
        path.join(dir, base),
        fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | fsConstants.O_NOFOLLOW,
        0o666,
      );
      try {
        let done = 0;
        while (done < data.length) done += await fdWrite(fd, data, done, data.length - done, done);
        if (fsync) await fdSync(fd);
      } finally {
        await fdClose(fd);
      }
      return;
    }
    const tmp = path.join(dir, `.${base}.dim-tmp-${randomBytes(8).toString('hex')}`);
    const h = await fsp.open(tmp, 'wx', 0o666);
    try {
      let done = 0;
      while (done < data.length) {
        done += (await h.write(data, done, data.length - done, done)).bytesWritten;
      }
      if (fsync) await h.sync();
    } catch (err) {
      await h.close().catch(() => undefined);
      await fsp.unlink(tmp).catch(() => undefined);
      throw err;
    }
    await h.close();
    await fsp.rename(tmp, path.join(dir, base));
  }

  /** SHA-256 and size of a whole (small) object, from the directory cache. */
  async hashAll(
    key: string,
    size: number,
  ): Promise<{ sha256: string; size: number; longer: boolean }> {
    const fd = await this.open(key);
    try {
      const buf = Buffer.allocUnsafe(size + 1);
      const got = await readUpTo(fd, buf, size + 1);
      const body = buf.subarray(0, Math.min(got, size));
      return {
        sha256: createHash('sha256').update(body).digest('hex'),
        size: body.length,
        longer: got > size,
      };
    } finally {
      await fdClose(fd);
    }
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
