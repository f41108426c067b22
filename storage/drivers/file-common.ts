import { randomBytes } from 'node:crypto';
import { constants as fsConstants, promises as fsp, type BigIntStats } from 'node:fs';
import path from 'node:path';
import { StorageErrors } from '../../errors';
import type { ExpectedObject, ObjectInfo } from '../driver';
import { describeChange, provableIdentity, sameObject } from '../identity';

/**
 * What the file driver's parts share: the identity of a file, the names of unfinished
 * writes, and the one write protocol of file:// (a temporary name in the target directory,
 * fsync, rename over the final name, fsync of the directory: a crash leaves the old object
 * or the new, never half a file). write(), writeResumable() and nothing else commit files.
 */

/** Temporary files of unfinished writes: `.<name>.dim-tmp-<16 hex>`. list() never shows them. */
export const TMP_RE = /^\..*\.dim-tmp-[0-9a-f]{16}$/;

/** The temporary name of an unfinished write of `final` (`id`: 16 hex digits, random by default). */
export function tmpPath(final: string, id = randomBytes(8).toString('hex')): string {
  return path.join(path.dirname(final), `${tmpPrefix(path.basename(final))}${id}`);
}

/** What every temporary name of an object called `base` starts with. */
export const tmpPrefix = (base: string): string => `.${base}.dim-tmp-`;

export function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** An object's info from its (l)stat, with the identity the file system proves. */
export function infoOf(key: string, st: BigIntStats): ObjectInfo {
  return {
    key,
    size: Number(st.size),
    mtimeMs: Number(st.mtimeMs),
    identity: {
      mtimeNs: st.mtimeNs.toString(),
      ctimeNs: st.ctimeNs.toString(),
      dev: st.dev.toString(),
      ino: st.ino.toString(),
      nlink: Number(st.nlink),
    },
  };
}

/** Throws source_changed (retryable) unless `now` is the object `expect` describes. */
export function checkSame(uri: string, expect: ExpectedObject, now: ObjectInfo): void {
  // An expectation without identity (not from this driver) can only be checked by size.
  if (!provableIdentity(expect.identity)) {
    if (expect.size !== now.size)
      throw StorageErrors.objectChanged(uri, describeChange(expect, now));
    return;
  }
  if (!sameObject(expect, now)) throw StorageErrors.objectChanged(uri, describeChange(expect, now));
}

/**
 * The commit of the write protocol: the temporary file `tmp` (open as `handle`, fully
 * written) becomes `final`. Closes `handle`.
 */
export async function commitFile(
  handle: fsp.FileHandle,
  tmp: string,
  final: string,
  fsync: boolean,
): Promise<void> {
  if (fsync) await handle.sync();
  await handle.close();
  await fsp.rename(tmp, final);
  if (fsync) await fsyncDir(path.dirname(final));
}

export async function fsyncDir(dir: string): Promise<void> {
  let h: fsp.FileHandle | undefined;
  try {
    h = await fsp.open(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
    await h.sync();
  } catch {
    // Some file systems refuse fsync on directories; the rename itself has happened.
  } finally {
    await h?.close().catch(() => undefined);
  }
}

/** Positional reads from a file handle: fills `length` bytes unless the file ends first. */
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

/** Writes all of `chunk` at `position` (short writes continued). */
export async function writeAt(
  handle: fsp.FileHandle,
  chunk: Buffer,
  position: number,
): Promise<void> {
  let written = 0;
  while (written < chunk.length) {
    const r = await handle.write(chunk, written, chunk.length - written, position + written);
    written += r.bytesWritten;
  }
}
