import { createHash, type Hash } from 'node:crypto';
import { constants as fsConstants, promises as fsp, type Dirent } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { StorageErrors } from '../errors';
import type { ExpectedObject } from '../storage/driver';
import { checkSame, infoOf } from '../storage/drivers/file';
import { objectUri, resolveFileUri } from '../storage/uri';
import { MoverErrors } from './failures';
import { pipeCopy, pipeHash, ShortReadError } from './pipe';
import type { Throttle } from './throttle';
import type { PartCursor } from './types';

/**
 * Resumable writes of large objects to file:// destinations. The object grows in a part
 * file beside its final name (`.<name>.dim-tmp-<16 hex>`, the pattern the file driver's
 * list() hides), named after the job and key so that the next attempt finds it. At each
 * checkpoint the part is synced and its length and SHA-256 so far are reported; a retry
 * re-hashes that prefix, and if it matches, truncates the part there and reads the source
 * from that offset on. Chunks past the checkpoint are written again, so repeats are safe.
 * When the last byte is in, the part is synced and renamed over the final name.
 */

/** Temporary files of unfinished writes (ours and the file driver's). */
export const TMP_FILE = /^\..*\.dim-tmp-[0-9a-f]{16}$/;

export function partFileName(jobId: string, key: string, finalPath: string): string {
  const tag = createHash('sha256').update(`${jobId}\0${key}`).digest('hex').slice(0, 16);
  return `.${path.basename(finalPath)}.dim-tmp-${tag}`;
}

export interface PartPaths {
  final: string;
  part: string;
}

/** The final and part paths of one destination object, resolved inside the roots. */
export async function partPaths(
  roots: readonly string[],
  destUri: string,
  key: string,
  jobId: string,
): Promise<PartPaths> {
  const { path: final } = await resolveFileUri(objectUri(destUri, key), roots);
  return { final, part: path.join(path.dirname(final), partFileName(jobId, key, final)) };
}

export interface ResumableCopyOptions {
  paths: PartPaths;
  key: string;
  /** The source object's size (from the listing). */
  size: number;
  /** Opens the source from byte `start` on. */
  openSource: (start: number) => Promise<Readable>;
  /** The source's real path when it is a plain file (file:// inside the roots): read directly. */
  sourceFile?: string;
  /** The listing's entry of the source: `sourceFile` must be that very file before and after. */
  expectSource?: ExpectedObject;
  /** The source object's URI, for messages. */
  sourceUri?: string;
  /** Where an earlier attempt got to, if it reported one. */
  cursor?: PartCursor;
  throttle?: Throttle;
  signal: AbortSignal;
  /** Sync the part at checkpoints and before the rename (durable across machine crashes). */
  fsync: boolean;
  checkpointMs: number;
  onBytes: (n: number) => void;
  onCheckpoint: (c: PartCursor) => void;
}

export interface ResumableCopyResult {
  sha256: string;
  size: number;
  /** Bytes kept from the earlier attempt's part file. */
  resumed: number;
  /** Bytes written by this call. */
  copied: number;
}

async function hashPrefix(file: string, length: number, signal: AbortSignal): Promise<Hash> {
  const hash = createHash('sha256');
  if (length === 0) return hash;
  const handle = await fsp.open(file, fsConstants.O_RDONLY);
  try {
    await pipeHash({ read: readerOf(handle), from: 0, to: length, hash, signal });
  } finally {
    await handle.close();
  }
  return hash;
}

/** Positional reads from a file handle, for the pipe. */
export const readerOf =
  (handle: fsp.FileHandle) =>
  async (buf: Buffer, length: number, position: number): Promise<number> => {
    let got = 0;
    while (got < length) {
      const r = await handle.read(buf, got, length - got, position + got);
      if (r.bytesRead === 0) break;
      got += r.bytesRead;
    }
    return got;
  };

const writerOf =
  (handle: fsp.FileHandle) =>
  (buf: Buffer, length: number, position: number): Promise<void> =>
    writeAll(handle, buf.subarray(0, length), position);

export async function resumableFileCopy(o: ResumableCopyOptions): Promise<ResumableCopyResult> {
  const { part, final } = o.paths;
  await fsp.mkdir(path.dirname(final), { recursive: true });

  // Where to start: the reported checkpoint, if the part still holds exactly those bytes.
  let offset = 0;
  let hash = createHash('sha256');
  if (o.cursor && o.cursor.offset > 0 && o.cursor.offset <= o.size) {
    const st = await fsp.stat(part).catch(() => undefined);
    if (st && st.size >= o.cursor.offset) {
      const h = await hashPrefix(part, o.cursor.offset, o.signal);
      if (h.copy().digest('hex') === o.cursor.sha256) {
        offset = o.cursor.offset;
        hash = h;
      }
    }
  }
  const resumed = offset;

  const handle = await fsp.open(part, offset > 0 ? 'r+' : 'w', 0o666);
  let closed = false;
  try {
    await handle.truncate(offset);
    let pos = offset;
    const checkpoint = async (at: number) => {
      // A checkpoint vouches only for bytes that are written (and synced, if asked).
      if (o.fsync) await handle.datasync();
      o.onCheckpoint({ key: o.key, offset: at, sha256: hash.copy().digest('hex') });
    };
    if (pos < o.size && o.sourceFile) {
      // Both ends are plain files: positional reads and writes over reused buffers.
      let src: fsp.FileHandle;
      try {
        src = await fsp.open(o.sourceFile, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ELOOP') {
          throw StorageErrors.symlinkInDataset(o.sourceUri ?? o.key);
        }
        throw err;
      }
      const uri = o.sourceUri ?? o.key;
      try {
        if (o.expectSource)
          checkSame(uri, o.expectSource, infoOf(o.key, await src.stat({ bigint: true })));
        await pipeCopy({
          read: readerOf(src),
          write: writerOf(handle),
          from: pos,
          to: o.size,
          hash,
          signal: o.signal,
          throttle: o.throttle,
          onBytes: o.onBytes,
          checkpoint: { everyMs: o.checkpointMs, at: checkpoint },
        });
        // The bytes read are that file's only if it is still the listed one now.
        if (o.expectSource)
          checkSame(uri, o.expectSource, infoOf(o.key, await src.stat({ bigint: true })));
      } catch (err) {
        if (err instanceof ShortReadError)
          throw MoverErrors.sourceChanged(o.key, `it is shorter than the ${o.size} bytes listed`);
        throw err;
      } finally {
        await src.close();
      }
      pos = o.size;
    } else if (pos < o.size) {
      const src = await o.openSource(pos);
      const onAbort = () =>
        src.destroy(o.signal.reason instanceof Error ? o.signal.reason : new Error('aborted'));
      o.signal.addEventListener('abort', onAbort, { once: true });
      const inFlight: Promise<void>[] = [];
      let lastCheckpoint = Date.now();
      try {
        for await (const chunk of src as AsyncIterable<Buffer>) {
          if (pos + chunk.length > o.size) {
            throw MoverErrors.sourceChanged(o.key, `it grew past ${o.size} bytes`);
          }
          hash.update(chunk);
          if (o.throttle) await o.throttle.take(chunk.length, o.signal);
          // Positional writes run in the thread pool while the next chunk is read and hashed.
          const w = writeAll(handle, chunk, pos);
          w.catch(() => undefined);
          inFlight.push(w);
          if (inFlight.length >= MAX_WRITES_IN_FLIGHT) await inFlight.shift();
          pos += chunk.length;
          o.onBytes(chunk.length);
          if (Date.now() - lastCheckpoint >= o.checkpointMs && pos < o.size) {
            while (inFlight.length > 0) await inFlight.shift();
            await checkpoint(pos);
            lastCheckpoint = Date.now();
          }
        }
        while (inFlight.length > 0) await inFlight.shift();
      } finally {
        o.signal.removeEventListener('abort', onAbort);
        await Promise.allSettled(inFlight);
      }
    }
    if (o.signal.aborted) throw o.signal.reason;
    if (pos !== o.size) {
      throw MoverErrors.sourceChanged(o.key, `it has ${pos} bytes, the listing said ${o.size}`);
    }
    if (o.fsync) await handle.sync();
    await handle.close();
    closed = true;
    await fsp.rename(part, final);
    if (o.fsync) await syncDir(path.dirname(final));
    return { sha256: hash.digest('hex'), size: pos, resumed, copied: pos - resumed };
  } finally {
    if (!closed) await handle.close().catch(() => undefined);
  }
}

const MAX_WRITES_IN_FLIGHT = 8;

async function writeAll(handle: fsp.FileHandle, chunk: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < chunk.length) {
    const r = await handle.write(chunk, written, chunk.length - written, position + written);
    written += r.bytesWritten;
  }
}

async function syncDir(dir: string): Promise<void> {
  const h = await fsp
    .open(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY)
    .catch(() => undefined);
  if (!h) return;
  try {
    await h.sync();
  } catch {
    // some file systems refuse fsync on directories; the rename has happened
  } finally {
    await h.close().catch(() => undefined);
  }
}

/**
 * Removes leftovers of unfinished writes under a file:// dataset root (part files and the
 * driver's temporary files), then the directories that are left empty, the root included.
 */
export async function sweepFileDestination(
  roots: readonly string[],
  rootUri: string,
  opts: { removeEmptyRoot: boolean },
): Promise<number> {
  const { path: root } = await resolveFileUri(rootUri, roots);
  let removed = 0;
  const walk = async (dir: string): Promise<boolean> => {
    let entries: Dirent[];
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch {
      return false;
    }
    let empty = true;
    for (const e of entries) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (await walk(full)) {
          await fsp.rmdir(full).catch(() => (empty = false));
        } else empty = false;
      } else if (e.isFile() && TMP_FILE.test(e.name)) {
        await fsp.unlink(full).catch(() => undefined);
        removed++;
      } else {
        empty = false;
      }
    }
    return empty;
  };
  const st = await fsp.lstat(root).catch(() => undefined);
  if (!st?.isDirectory()) return removed;
  const empty = await walk(root);
  if (empty && opts.removeEmptyRoot) await fsp.rmdir(root).catch(() => undefined);
  return removed;
}
