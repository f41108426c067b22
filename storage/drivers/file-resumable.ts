import { createHash } from 'node:crypto';
import { promises as fsp, type Dirent } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { StorageErrors } from '../../errors';
import type { RandomAccessObject, ResumableWrite } from '../driver';
import { pipeCopy, PIPE_CHUNK, ShortReadError } from '../pipe';
import {
  commitFile,
  errnoCode,
  readerOf,
  TMP_RE,
  tmpPath,
  tmpPrefix,
  writeAt,
} from './file-common';

/**
 * The file driver's resumable writes. The object grows in a part file beside its final name
 * (a temporary name of the write protocol, `.<name>.dim-tmp-<16 hex>`, which list() hides;
 * the hex digits derive from the final path, so that every attempt uses the same part and
 * none leaves a stray one behind; a write without a token starts it afresh).
 * At each checkpoint the part is synced (when the driver fsyncs) and the token
 * `<16 hex>:<offset>` reported. A later call with that token reads the source from its
 * start again and compares it with the part, chunk by chunk: the bytes that match are kept
 * (and observed as resumed), the part is cut at the first chunk that differs, and the rest
 * is written. When the last byte is in, the part is committed over the final name.
 */

const TOKEN = /^([0-9a-f]{16}):(\d+)$/;
const MAX_WRITES_IN_FLIGHT = 8;

export interface PartWriteOptions {
  /** The object's final path (resolved inside the roots, no link below the dataset root). */
  final: string;
  /** The object's URI, for messages. */
  uri: string;
  fsync: boolean;
  /** Checkpoint at least once this many bytes were written (besides every checkpointMs). */
  checkpointBytes: number;
}

export async function writePartFile(
  o: PartWriteOptions,
  w: ResumableWrite,
): Promise<{ size: number }> {
  const { final, uri } = o;
  await fsp.mkdir(path.dirname(final), { recursive: true });
  // Where an earlier write got to: the token's part, up to its checkpoint, if it is there.
  const id = createHash('sha256').update(final).digest('hex').slice(0, 16);
  const part = tmpPath(final, id);
  let keep = 0;
  const m = w.resumeToken ? TOKEN.exec(w.resumeToken) : null;
  if (m && m[1] === id) {
    const st = await fsp.lstat(part).catch(() => undefined);
    if (st?.isFile()) keep = Math.min(Number(m[2]), Number(st.size), w.size);
  }
  const handle = await fsp.open(part, keep > 0 ? 'r+' : 'w', 0o666);
  let closed = false;
  const checkpointMs = w.checkpointMs ?? 1000;
  const checkpoint = async (at: number) => {
    // A checkpoint vouches only for bytes that are written (and synced, if asked).
    if (o.fsync) await handle.datasync();
    w.onCheckpoint(`${id}:${at}`, at);
  };
  try {
    let pos: number;
    if (w.openSourceAt) {
      const src = await w.openSourceAt();
      try {
        pos = await keepMatching(src.readAt.bind(src), handle, keep, w);
        await handle.truncate(pos);
        if (pos < w.size) {
          await pipeCopy({
            read: src.readAt.bind(src),
            write: (buf, length, position) => writeAt(handle, buf.subarray(0, length), position),
            from: pos,
            to: w.size,
            observe: (b) => w.observe(b, false),
            signal: w.signal,
            checkpoint: { everyMs: checkpointMs, everyBytes: o.checkpointBytes, at: checkpoint },
          });
        }
        // The bytes read are that object's only if it is still the expected one now.
        await src.check();
        pos = w.size;
      } catch (err) {
        if (err instanceof ShortReadError)
          throw StorageErrors.objectChanged(uri, `it is shorter than the ${w.size} bytes listed`);
        throw err;
      } finally {
        await src.close();
      }
    } else {
      pos = await fromStream(await w.openSource(0), handle, keep, w, {
        uri,
        checkpointMs,
        checkpointBytes: o.checkpointBytes,
        checkpoint,
      });
    }
    if (w.signal.aborted) throw w.signal.reason;
    if (pos !== w.size) {
      throw StorageErrors.objectChanged(uri, `it has ${pos} bytes, the listing said ${w.size}`);
    }
    closed = true;
    await commitFile(handle, part, final, o.fsync);
    return { size: pos };
  } finally {
    if (!closed) await handle.close().catch(() => undefined);
  }
}

/** Compares the source with the part over [0, keep), in chunks; resolves how much matches. */
async function keepMatching(
  read: RandomAccessObject['readAt'],
  handle: fsp.FileHandle,
  keep: number,
  w: ResumableWrite,
): Promise<number> {
  if (keep === 0) return 0;
  const a = Buffer.allocUnsafe(Math.min(PIPE_CHUNK, keep));
  const b = Buffer.allocUnsafe(a.length);
  const readPart = readerOf(handle);
  let pos = 0;
  while (pos < keep) {
    if (w.signal.aborted) throw w.signal.reason;
    const len = Math.min(a.length, keep - pos);
    const [n, k] = await Promise.all([read(a, len, pos), readPart(b, len, pos)]);
    if (n !== len || k !== len || !a.subarray(0, len).equals(b.subarray(0, len))) break;
    await w.observe(Buffer.from(a.subarray(0, len)), true);
    pos += len;
  }
  return pos;
}

/** The streamed source into the part: the first `keep` bytes compared, the rest written. */
async function fromStream(
  src: Readable,
  handle: fsp.FileHandle,
  keep: number,
  w: ResumableWrite,
  c: {
    uri: string;
    checkpointMs: number;
    checkpointBytes: number;
    checkpoint: (at: number) => Promise<void>;
  },
): Promise<number> {
  const onAbort = () =>
    src.destroy(w.signal.reason instanceof Error ? w.signal.reason : new Error('aborted'));
  w.signal.addEventListener('abort', onAbort, { once: true });
  const inFlight: Promise<void>[] = [];
  const readPart = readerOf(handle);
  let comparing = keep > 0;
  let pos = 0;
  let lastCheckpoint = Date.now();
  let lastAt = 0;
  try {
    for await (const whole of src as AsyncIterable<Buffer>) {
      let chunk = whole;
      if (comparing) {
        const len = Math.min(chunk.length, keep - pos);
        const stored = Buffer.allocUnsafe(len);
        const got = await readPart(stored, len, pos);
        if (got === len && stored.equals(chunk.subarray(0, len))) {
          await w.observe(chunk.subarray(0, len), true);
          pos += len;
          chunk = chunk.subarray(len);
        }
        if (pos >= keep || chunk.length > 0) {
          // Past what was kept, or a difference: the part ends here, the rest is written.
          comparing = false;
          await handle.truncate(pos);
          lastAt = pos;
        }
        if (chunk.length === 0) continue;
      }
      if (pos + chunk.length > w.size) {
        throw StorageErrors.objectChanged(c.uri, `it grew past ${w.size} bytes`);
      }
      await w.observe(chunk, false);
      // Positional writes run in the thread pool while the next chunk is read and observed.
      const wr = writeAt(handle, chunk, pos);
      wr.catch(() => undefined);
      inFlight.push(wr);
      if (inFlight.length >= MAX_WRITES_IN_FLIGHT) await inFlight.shift();
      pos += chunk.length;
      if (
        pos < w.size &&
        (Date.now() - lastCheckpoint >= c.checkpointMs || pos - lastAt >= c.checkpointBytes)
      ) {
        while (inFlight.length > 0) await inFlight.shift();
        await c.checkpoint(pos);
        lastCheckpoint = Date.now();
        lastAt = pos;
      }
    }
    while (inFlight.length > 0) await inFlight.shift();
    if (comparing) await handle.truncate(pos); // the source ended inside the kept part
    return pos;
  } finally {
    w.signal.removeEventListener('abort', onAbort);
    await Promise.allSettled(inFlight);
  }
}

/**
 * Removes the temporary files of unfinished writes of these objects (part files, and the
 * temporary names of interrupted write() calls), then the directories that leaves empty,
 * below `root` only. A directory reached through a link is left alone. Resolves the count.
 */
export async function discardTmpFiles(
  root: string,
  keys: readonly string[],
  pruneEmpty: (dir: string) => Promise<void>,
): Promise<number> {
  const byDir = new Map<string, Set<string>>();
  for (const key of keys) {
    const dir = key === '' ? path.dirname(root) : path.join(root, ...key.split('/').slice(0, -1));
    const base = key === '' ? path.basename(root) : key.split('/').pop()!;
    let bases = byDir.get(dir);
    if (!bases) byDir.set(dir, (bases = new Set()));
    bases.add(base);
  }
  let removed = 0;
  for (const [dir, bases] of byDir) {
    let entries: Dirent[];
    try {
      if ((await fsp.realpath(dir)) !== dir) continue;
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') continue;
      throw err;
    }
    let any = false;
    for (const e of entries) {
      if (!e.isFile() || !TMP_RE.test(e.name)) continue;
      const base = e.name.slice(1, -'.dim-tmp-'.length - 16);
      if (!bases.has(base) || !e.name.startsWith(tmpPrefix(base))) continue;
      await fsp.unlink(path.join(dir, e.name)).catch(() => undefined);
      removed++;
      any = true;
    }
    if (any) await pruneEmpty(dir);
  }
  return removed;
}

/** Removes the empty directories below `dir` (never through a link), then `dir` if empty. */
export async function removeEmptyTree(dir: string): Promise<boolean> {
  let entries: Dirent[];
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch {
    return false;
  }
  let empty = true;
  for (const e of entries) {
    if (e.isDirectory() && (await removeEmptyTree(path.join(dir, e.name)))) continue;
    empty = false;
  }
  if (!empty) return false;
  return fsp.rmdir(dir).then(
    () => true,
    () => false,
  );
}
