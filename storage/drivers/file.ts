import { constants as fsConstants, promises as fsp, type BigIntStats, type Dirent } from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { StorageError, StorageErrors } from '../../errors';
import type {
  BulkAccess,
  ChecksumAlgorithm,
  DeleteOptions,
  DeleteOutcome,
  ObjectInfo,
  RandomAccessObject,
  ReadOptions,
  ResolvedRoot,
  ResumableWrite,
  StorageDriver,
  WriteOptions,
} from '../driver';
import { sameObject } from '../identity';
import {
  checkRange,
  isInside,
  objectUri,
  parseStorageUri,
  resolveInsideRoots,
  validateKey,
  type ResolvedFile,
} from '../uri';
import { FileBulk } from './file-bulk';
import { checkSame, commitFile, errnoCode, infoOf, readerOf, TMP_RE, tmpPath } from './file-common';
import { discardTmpFiles, removeEmptyTree, writePartFile } from './file-resumable';

export { checkSame, infoOf } from './file-common';

/**
 * file:// driver. Every call resolves the dataset root (symlinks included) and refuses
 * anything outside the configured roots (invariant 6). Below the root, links are never
 * followed: list, stat, read, write and delete walk the key with lstat and fail on a
 * symbolic link (symlink_in_dataset). Writes go to
 * a temporary name in the target directory, are fsynced, then renamed over the final name,
 * and the directory is fsynced: a crash leaves the old object or the new, never half a file
 * (file-common.ts, commitFile: the one place that protocol lives).
 *
 * Capabilities: resumable writes (part files, file-resumable.ts) and the sweep of their
 * leftovers, positional reads (openRandomAccess), a bulk path for many small objects
 * (file-bulk.ts), and dataset roots as places (resolveRoot, createRoot, removeRootIfEmpty).
 * No server checksums (the content is read again to be checked), no server-side copy.
 */
export interface FileDriverOptions {
  /** Absolute directories every path must resolve into. */
  roots: readonly string[];
  /** Read/write buffer size (default 1 MiB). */
  highWaterMark?: number;
  /** fsync files and directories on write (default true; tests may turn it off for speed). */
  fsync?: boolean;
  /** A resumable write checkpoints at least once this many bytes were written (default 64 MiB). */
  checkpointBytes?: number;
}

const DEFAULT_HWM = 1024 * 1024;

/** Byte-wise (UTF-8) comparison, the order S3 and GCS list keys in. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export class FileDriver implements StorageDriver {
  readonly scheme = 'file';
  readonly checksums: readonly ChecksumAlgorithm[] = [];
  private readonly roots: readonly string[];
  private readonly hwm: number;
  private readonly fsync: boolean;
  private readonly checkpointBytes: number;

  constructor(opts: FileDriverOptions) {
    for (const r of opts.roots) {
      if (!path.isAbsolute(r)) throw new Error(`file root must be an absolute path: ${r}`);
    }
    this.roots = opts.roots.map((r) => path.resolve(r));
    this.hwm = opts.highWaterMark ?? DEFAULT_HWM;
    this.fsync = opts.fsync ?? true;
    this.checkpointBytes = opts.checkpointBytes ?? 64 * 1024 * 1024;
  }

  /** The dataset root, resolved inside the roots. */
  private async root(rootUri: string): Promise<ResolvedFile> {
    const loc = parseStorageUri(rootUri);
    if (loc.scheme !== 'file')
      throw StorageErrors.invalidUri(rootUri, 'the file driver only serves file:// URIs');
    return resolveInsideRoots(loc.path, this.roots, rootUri);
  }

  /** One object's real path, inside the roots (the key may cross symlinks inside the dataset). */
  private async objectPath(
    rootUri: string,
    key: string,
  ): Promise<{ root: ResolvedFile; file: ResolvedFile }> {
    validateKey(key);
    const root = await this.root(rootUri);
    if (key === '') return { root, file: root };
    const file = await resolveInsideRoots(
      path.join(root.path, ...key.split('/')),
      this.roots,
      objectUri(rootUri, key),
    );
    return { root, file };
  }

  private mapError(err: unknown, uri: string): unknown {
    if (err instanceof StorageError) return err;
    switch (errnoCode(err)) {
      case 'ENOENT':
      case 'ENOTDIR':
        return StorageErrors.notFound(uri);
      case 'EACCES':
      case 'EPERM':
      case 'EROFS':
        return StorageErrors.accessDenied(uri, (err as Error).message);
      case 'EISDIR':
      case 'EEXIST':
      case 'ENOTEMPTY':
        return StorageErrors.conflict(uri, `a directory is in the way (${errnoCode(err)})`);
      case 'ENOSPC':
      case 'EDQUOT':
        return StorageErrors.unavailable(uri, 'no space left on the device', err);
      case 'ELOOP':
        return StorageErrors.invalidUri(uri, 'has too many levels of symbolic links');
      case 'EMFILE':
      case 'ENFILE':
      case 'EIO':
      case 'EAGAIN':
      case 'EBUSY':
        return StorageErrors.unavailable(uri, (err as Error).message, err);
      default:
        return err;
    }
  }

  async *list(rootUri: string): AsyncIterable<ObjectInfo> {
    const root = await this.root(rootUri);
    let st: BigIntStats;
    try {
      // The root itself may be reached through symlinks (it is resolved); nothing below it.
      st = await fsp.stat(root.path, { bigint: true });
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return;
      throw this.mapError(err, rootUri);
    }
    if (st.isFile()) {
      yield infoOf('', st);
      return;
    }
    if (!st.isDirectory()) return;
    yield* this.walk(rootUri, root.path, '');
  }

  /**
   * Depth-first over one directory. Entries are sorted by name, with '/' appended to
   * directories, which yields keys in global byte order ("a-b" before "a/b"). Links are
   * never followed: a symbolic link fails the listing (symlink_in_dataset), naming it.
   * Temporary files of unfinished writes, sockets, fifos and devices are skipped.
   */
  private async *walk(rootUri: string, dir: string, keyPrefix: string): AsyncGenerator<ObjectInfo> {
    let entries: Dirent[];
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return; // removed while listing
      throw this.mapError(err, objectUri(rootUri, keyPrefix.replace(/\/$/, '')));
    }
    const items: { name: string; sortKey: string; full: string; st: BigIntStats }[] = [];
    for (const ent of entries) {
      if (TMP_RE.test(ent.name)) continue;
      if (ent.isSymbolicLink())
        throw StorageErrors.symlinkInDataset(objectUri(rootUri, keyPrefix + ent.name));
      const full = path.join(dir, ent.name);
      let st: BigIntStats;
      try {
        st = await fsp.lstat(full, { bigint: true });
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') continue; // removed meanwhile
        throw this.mapError(err, objectUri(rootUri, keyPrefix + ent.name));
      }
      if (st.isSymbolicLink())
        throw StorageErrors.symlinkInDataset(objectUri(rootUri, keyPrefix + ent.name));
      if (!st.isFile() && !st.isDirectory()) continue; // sockets, fifos, devices
      items.push({
        name: ent.name,
        sortKey: st.isDirectory() ? `${ent.name}/` : ent.name,
        full,
        st,
      });
    }
    items.sort((a, b) => compareUtf8(a.sortKey, b.sortKey));
    for (const it of items) {
      const key = keyPrefix + it.name;
      if (it.st.isDirectory()) yield* this.walk(rootUri, it.full, `${key}/`);
      else yield infoOf(key, it.st);
    }
  }

  /**
   * One object's path below the resolved dataset root, walked component by component with
   * lstat: a symbolic link anywhere below the root fails with symlink_in_dataset (naming
   * it). Resolves the final entry's lstat, or undefined when something on the way is missing.
   */
  private async entry(
    rootUri: string,
    key: string,
  ): Promise<{ root: ResolvedFile; file: string; st: BigIntStats | undefined }> {
    validateKey(key);
    const root = await this.root(rootUri);
    const parts = key === '' ? [] : key.split('/');
    let p = root.path;
    let st: BigIntStats | undefined;
    try {
      st = await fsp.stat(root.path, { bigint: true });
      for (let i = 0; i < parts.length; i++) {
        if (!st.isDirectory()) {
          st = undefined;
          break;
        }
        p = path.join(p, parts[i]!);
        st = await fsp.lstat(p, { bigint: true });
        if (st.isSymbolicLink()) {
          throw StorageErrors.symlinkInDataset(objectUri(rootUri, parts.slice(0, i + 1).join('/')));
        }
      }
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT' && errnoCode(err) !== 'ENOTDIR') {
        throw this.mapError(err, objectUri(rootUri, key));
      }
      st = undefined;
    }
    return { root, file: st ? p : path.join(root.path, ...parts), st };
  }

  async stat(rootUri: string, key: string): Promise<ObjectInfo | undefined> {
    const { st } = await this.entry(rootUri, key);
    return st?.isFile() ? infoOf(key, st) : undefined;
  }

  async read(
    rootUri: string,
    key: string,
    range?: { start: number; end?: number },
    opts?: ReadOptions,
  ): Promise<Readable> {
    checkRange(range);
    const uri = objectUri(rootUri, key);
    const { file, st: found } = await this.entry(rootUri, key);
    if (!found) throw StorageErrors.notFound(uri);
    let handle: fsp.FileHandle;
    try {
      // O_NOFOLLOW: a link put in its place since the lstat fails (ELOOP) instead of being read.
      handle = await fsp.open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    } catch (err) {
      if (errnoCode(err) === 'ELOOP') throw StorageErrors.symlinkInDataset(uri);
      throw this.mapError(err, uri);
    }
    try {
      const st = await handle.stat({ bigint: true });
      if (!st.isFile()) throw StorageErrors.notFound(uri);
      const expect = opts?.expect;
      if (expect) checkSame(uri, expect, infoOf(key, st));
      const start = range?.start ?? 0;
      if (start >= Number(st.size)) {
        await handle.close();
        return Readable.from([]);
      }
      if (!expect) {
        return handle.createReadStream({
          start,
          end: range?.end,
          highWaterMark: this.hwm,
          autoClose: true,
        });
      }
      // Conditional: the file must still be the expected one once every byte was read.
      const body = handle.createReadStream({
        start,
        end: range?.end,
        highWaterMark: this.hwm,
        autoClose: false,
      });
      const after = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          cb(null, chunk);
        },
        flush(cb) {
          handle
            .stat({ bigint: true })
            .then((now) => {
              checkSame(uri, expect, infoOf(key, now));
              cb();
            })
            .catch((err: Error) => cb(err));
        },
      });
      body.once('error', (err) => after.destroy(err));
      after.once('close', () => {
        body.destroy();
        void handle.close().catch(() => undefined);
      });
      return body.pipe(after);
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw this.mapError(err, uri);
    }
  }

  async write(
    rootUri: string,
    key: string,
    body: Readable,
    _opts?: WriteOptions,
  ): Promise<ObjectInfo> {
    const uri = objectUri(rootUri, key);
    let target: string;
    try {
      // No write through a link below the dataset root either (it could land in another
      // dataset): entry() fails on one in the existing part of the path.
      await this.entry(rootUri, key);
      target = (await this.objectPath(rootUri, key)).file.path;
    } catch (err) {
      body.destroy();
      throw err;
    }
    const dir = path.dirname(target);
    const tmp = tmpPath(target);
    let handle: fsp.FileHandle | undefined;
    try {
      // mkdir + open may race a delete() that prunes now-empty directories: try twice.
      for (let attempt = 0; ; attempt++) {
        try {
          await fsp.mkdir(dir, { recursive: true });
          handle = await fsp.open(tmp, 'wx', 0o666);
          break;
        } catch (err) {
          if (errnoCode(err) !== 'ENOENT' || attempt >= 2) throw err;
        }
      }
      const written = await writeAll(body, handle, this.hwm);
      const st = await handle.stat();
      if (st.size !== written) {
        throw StorageErrors.unavailable(
          uri,
          `the file has ${st.size} bytes, ${written} were written`,
        );
      }
      const h = handle;
      handle = undefined;
      await commitFile(h, tmp, target, this.fsync);
      return { key, size: st.size, mtimeMs: st.mtimeMs };
    } catch (err) {
      body.destroy();
      if (handle) await handle.close().catch(() => undefined);
      await fsp.unlink(tmp).catch(() => undefined);
      const code = errnoCode(err);
      if (code === 'ENOTDIR' || code === 'EEXIST') {
        throw StorageErrors.conflict(uri, 'a file is in the way of the directories this key needs');
      }
      throw this.mapError(err, uri);
    }
  }

  async delete(rootUri: string, key: string, opts?: DeleteOptions): Promise<DeleteOutcome> {
    const uri = objectUri(rootUri, key);
    // Never through a link: entry() fails on one anywhere below the dataset root.
    const { root, file, st } = await this.entry(rootUri, key);
    if (!st) return 'missing';
    if (st.isDirectory()) {
      // A directory is not an object: nothing to delete, but prune it if it is empty.
      await this.pruneEmptyDirs(file, root);
      return 'missing';
    }
    if (opts?.expect) {
      if (!sameObject(opts.expect, infoOf(key, st))) return 'changed';
      if (st.nlink > 1n && !opts.allowShared) return 'shared';
    }
    // The window left: between this lstat and the unlink, another process may replace the
    // name (POSIX has no "unlink if still this inode"); see README, "What retire deletes".
    try {
      await fsp.unlink(file);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
      throw this.mapError(err, uri);
    }
    await this.pruneEmptyDirs(path.dirname(file), root);
    return 'deleted';
  }

  /** The object's final path for a write: no link below the root, inside the roots. */
  private async writeTarget(rootUri: string, key: string): Promise<string> {
    await this.entry(rootUri, key);
    return (await this.objectPath(rootUri, key)).file.path;
  }

  async writeResumable(rootUri: string, key: string, w: ResumableWrite): Promise<ObjectInfo> {
    const uri = objectUri(rootUri, key);
    const final = await this.writeTarget(rootUri, key);
    try {
      const { size } = await writePartFile(
        { final, uri, fsync: this.fsync, checkpointBytes: this.checkpointBytes },
        w,
      );
      return { key, size };
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOTDIR' || code === 'EEXIST') {
        throw StorageErrors.conflict(uri, 'a file is in the way of the directories this key needs');
      }
      throw this.mapError(err, uri);
    }
  }

  async discardUnfinishedWrites(
    rootUri: string,
    objects: readonly { key: string; size: number }[],
  ): Promise<number> {
    const root = await this.root(rootUri);
    for (const o of objects) validateKey(o.key);
    return discardTmpFiles(
      root.path,
      objects.map((o) => o.key),
      (dir) => this.pruneEmptyDirs(dir, root),
    );
  }

  async openRandomAccess(
    rootUri: string,
    key: string,
    opts?: ReadOptions,
  ): Promise<RandomAccessObject> {
    const uri = objectUri(rootUri, key);
    const { file, st: found } = await this.entry(rootUri, key);
    if (!found?.isFile()) throw StorageErrors.notFound(uri);
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    } catch (err) {
      if (errnoCode(err) === 'ELOOP') throw StorageErrors.symlinkInDataset(uri);
      throw this.mapError(err, uri);
    }
    const expect = opts?.expect;
    const check = async () => {
      if (expect) checkSame(uri, expect, infoOf(key, await handle.stat({ bigint: true })));
    };
    try {
      const st = await handle.stat({ bigint: true });
      if (!st.isFile()) throw StorageErrors.notFound(uri);
      if (expect) checkSame(uri, expect, infoOf(key, st));
      return {
        size: Number(st.size),
        readAt: readerOf(handle),
        check,
        close: () => handle.close(),
      };
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw this.mapError(err, uri);
    }
  }

  bulk(rootUri: string): BulkAccess {
    return new FileBulk(this.roots, rootUri, this.fsync);
  }

  async resolveRoot(rootUri: string): Promise<ResolvedRoot> {
    const { path: p } = await this.root(rootUri);
    const exists = await fsp.stat(p).then(
      () => true,
      () => false,
    );
    return { path: p, exists };
  }

  async createRoot(rootUri: string): Promise<void> {
    const { path: p } = await this.root(rootUri);
    try {
      await fsp.mkdir(p, { recursive: true });
    } catch (err) {
      throw this.mapError(err, rootUri);
    }
  }

  async removeRootIfEmpty(rootUri: string): Promise<void> {
    const root = await this.root(rootUri);
    const st = await fsp.lstat(root.path).catch(() => undefined);
    // Never a configured root itself, nor anything above one.
    if (!st?.isDirectory() || isInside(root.root, root.path)) return;
    await removeEmptyTree(root.path);
  }

  /**
   * Removes `dir` and its parents while they are empty, up to and including the dataset
   * root, never above it and never a configured root.
   */
  private async pruneEmptyDirs(dir: string, root: ResolvedFile): Promise<void> {
    let d = dir;
    while (isInside(d, root.path) && d !== root.root && !isInside(root.root, d)) {
      try {
        await fsp.rmdir(d);
      } catch {
        return; // not empty, gone, or not ours to remove: stop
      }
      if (d === root.path) return;
      d = path.dirname(d);
    }
  }
}

/** Copies a stream into a file, gathering small chunks into writev calls of about `batch` bytes. */
async function writeAll(body: Readable, handle: fsp.FileHandle, batch: number): Promise<number> {
  let total = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async () => {
    let bufs = pending;
    pending = [];
    pendingBytes = 0;
    while (bufs.length > 0) {
      const { bytesWritten } = await handle.writev(bufs);
      total += bytesWritten;
      // Short writes are rare but legal: continue with what is left.
      let skip = bytesWritten;
      while (bufs.length > 0 && skip >= bufs[0]!.length) {
        skip -= bufs[0]!.length;
        bufs = bufs.slice(1);
      }
      if (skip > 0 && bufs.length > 0) bufs = [bufs[0]!.subarray(skip), ...bufs.slice(1)];
    }
  };
  for await (const chunk of body) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    if (buf.length === 0) continue;
    pending.push(buf);
    pendingBytes += buf.length;
    if (pendingBytes >= batch || pending.length >= 512) await flush();
  }
  await flush();
  return total;
}
