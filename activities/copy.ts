import { setMaxListeners } from 'node:events';
import { Transform, type Readable } from 'node:stream';
import type { BulkAccess, ObjectInfo, StorageDriver } from '../storage/driver';
import { keysOverlap, lexicalLocationKey } from '../storage/location-key';
import { objectUri } from '../storage/uri';
import { getDataset } from '../store/datasets';
import { identityText, parseIdentity, sameObject } from '../storage/identity';
import {
  deleteManifestRows,
  getJob,
  loadManifest,
  putManifestRows,
  setSourceRealPath,
  type ManifestRow,
} from '../store/jobs';
import { StorageErrors } from '../errors';
import { MoverErrors } from './failures';
import {
  chooseHash,
  createDigest,
  hashLabel,
  HashingStream,
  SourceCheck,
  type HashAlgorithm,
} from './hashing';
import type { MoverEnv } from './mover-env';
import { Throttle } from './throttle';
import type { CopyCheckpoint, CopyInput, CopyResult, PartCursor } from './types';

/**
 * The copy step: every source object streamed through a hash into the destination (SHA-256,
 * or BLAKE3 where neither end reports server checksums: see hashing.ts), a manifest row per
 * object (migration_objects) with its hash and algorithm, progress reported as it goes.
 *
 * Safe to run twice, and cheap the second time: objects whose manifest row says copied,
 * with a hash, and whose destination size matches, are skipped; a large object keeps what
 * an earlier attempt stored where the destination's driver writes resumably (S3 multipart
 * parts, file:// part files). Everything scheme-specific is the drivers' (their optional
 * capabilities, storage/driver.ts): this file asks for capabilities, never for a scheme.
 */
export interface CopyControl {
  signal: AbortSignal;
  /** 1 for the first attempt. */
  attempt: number;
  /** The checkpoint an earlier attempt reported (heartbeat details). */
  resume?: CopyCheckpoint;
  /** Called on every change; the caller decides how often to pass it on. */
  progress(cp: CopyCheckpoint): void;
  /**
   * The bandwidth limit of this copy, which the caller may change while it runs (the job's
   * limit, capped by the worker's). Absent: tuning.maxBytesPerSecond, fixed.
   */
  throttle?: Throttle;
}

/** Same location, or one inside the other: a copy would read what it writes. */
export function overlaps(a: string, b: string): boolean {
  return keysOverlap(lexicalLocationKey(a), lexicalLocationKey(b));
}

/**
 * Whether a listed object is the one a manifest row recorded. Rows from before identities
 * were recorded (null) count as the same, so that a copy resumed across the upgrade does not
 * start over; retire never deletes such rows (their identity cannot be proven).
 */
export function sameAsRecorded(row: ManifestRow, o: ObjectInfo): boolean {
  if (!row.source_identity) return row.size === o.size;
  return sameObject({ size: row.size, identity: parseIdentity(row.source_identity) }, o);
}

export async function collect(it: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of it) out.push(o);
  return out;
}

/** Runs `fn` over `items` with at most `n` in flight; stops at the first error. */
export async function pool<T>(
  items: readonly T[],
  n: number,
  signal: AbortSignal,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed: unknown;
  const lane = async () => {
    while (failed === undefined && !signal.aborted && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, lane));
  if (failed !== undefined)
    throw failed instanceof Error ? failed : new Error(JSON.stringify(failed));
  if (signal.aborted) throw signal.reason;
}

/** Batches manifest rows so that thousands of small objects cost a few transactions. */
export class ManifestWriter {
  private pending: ManifestRow[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private lastFlush = Date.now();
  constructor(
    private readonly env: MoverEnv,
    private readonly jobId: string,
    private readonly maxRows = 500,
    private readonly maxMs = 250,
  ) {}

  add(row: ManifestRow): Promise<void> {
    this.pending.push(row);
    if (this.pending.length >= this.maxRows || Date.now() - this.lastFlush >= this.maxMs) {
      return this.flush();
    }
    return Promise.resolve();
  }

  flush(): Promise<void> {
    const rows = this.pending;
    this.pending = [];
    this.lastFlush = Date.now();
    this.flushing = this.flushing.then(() => putManifestRows(this.env.db, this.jobId, rows));
    return this.flushing;
  }
}

export async function copyDataset(
  env: MoverEnv,
  input: CopyInput,
  ctl: CopyControl,
): Promise<CopyResult> {
  const { jobId, sourceUri, destUri } = input;
  const t = env.tuning ?? {};
  if (overlaps(sourceUri, destUri)) {
    throw MoverErrors.invalidDestination(
      `the destination ${destUri} overlaps the source ${sourceUri}: choose a location outside it`,
    );
  }
  const job = await getJob(env.db, jobId);
  if (!job) throw MoverErrors.jobMissing(jobId);
  const src = env.storage.driverFor(sourceUri);
  const dst = env.storage.driverFor(destUri);

  // 1. What there is to copy. A root that is a place of its own (file://) may be reached
  // through symlinks: record where it resolves now, so that retire can refuse a root
  // re-pointed since (invariant 3).
  if (src.resolveRoot) {
    await setSourceRealPath(env.db, jobId, (await src.resolveRoot(sourceUri)).path);
  }
  const objects = await collect(src.list(sourceUri));
  if (objects.length === 0) {
    await checkEmptySource(env, src, input);
    // An empty dataset still gets its (empty) place, so that it can be listed after the switch.
    if (dst.createRoot) await dst.createRoot(destUri);
  }
  const bytesTotal = objects.reduce((s, o) => s + o.size, 0);
  let manifest = await loadManifest(env.db, jobId);

  // 2. The destination must hold nothing but what this job wrote.
  const destNow = new Map((await collect(dst.list(destUri))).map((o) => [o.key, o]));
  const foreign = [...destNow.keys()].filter((k) => !manifest.has(k));
  if (foreign.length > 0) throw MoverErrors.destNotEmpty(destUri, foreign);

  // 3. Register every object before writing any, so a later attempt knows them as ours, with
  // its identity as listed now. An object that is not the one an earlier attempt (or round)
  // copied is copied again from scratch; one gone from the source leaves the destination.
  const fresh: ManifestRow[] = [];
  const changed = new Set<string>();
  for (const o of objects) {
    const row = manifest.get(o.key);
    if (!row || row.size !== o.size || !sameAsRecorded(row, o)) {
      if (row) changed.add(o.key);
      fresh.push({
        key: o.key,
        size: o.size,
        sha256: null,
        state: 'pending',
        source_identity: identityText(o.identity),
      });
    }
  }
  const listed = new Set(objects.map((o) => o.key));
  const gone = [...manifest.keys()].filter((k) => !listed.has(k));
  if (gone.length > 0) {
    // What an unfinished write of theirs left goes first (no write of this job is running).
    if (dst.discardUnfinishedWrites) {
      await dst.discardUnfinishedWrites(
        destUri,
        gone.map((key) => ({ key, size: manifest.get(key)!.size })),
      );
    }
    await pool(gone, Math.max(1, t.concurrency ?? 8), ctl.signal, async (key) => {
      await dst.delete(destUri, key);
      destNow.delete(key);
    });
    await deleteManifestRows(env.db, jobId, gone);
    env.log.info('objects gone from the source removed from the copy', {
      jobId,
      objects: gone.length,
    });
  }
  if (fresh.length > 0 || gone.length > 0) {
    await putManifestRows(env.db, jobId, fresh);
    manifest = await loadManifest(env.db, jobId);
  }

  const cp: CopyCheckpoint = {
    objects_total: objects.length,
    bytes_total: bytesTotal,
    objects_done: 0,
    bytes_done: 0,
    bytes_copied: 0,
    bytes_resumed: 0,
    cursor: [],
  };
  setMaxListeners(64, ctl.signal);
  // A resume point of an object that changed since is worth nothing: its bytes are old.
  const cursors = new Map<string, PartCursor>(
    (ctl.resume?.cursor ?? []).filter((c) => !changed.has(c.key)).map((c) => [c.key, c]),
  );
  const inFlight = new Map<string, PartCursor>();
  const report = () => {
    cp.cursor = [...inFlight.values()];
    ctl.progress(cp);
  };

  // 4. Skip what an earlier attempt finished (manifest says copied, destination agrees).
  const todo: ObjectInfo[] = [];
  let skipped = 0;
  for (const o of objects) {
    const row = manifest.get(o.key);
    const there = destNow.get(o.key);
    if (
      row &&
      row.sha256 &&
      row.state !== 'pending' &&
      row.size === o.size &&
      there?.size === o.size
    ) {
      cp.objects_done++;
      cp.bytes_done += o.size;
      cp.bytes_resumed += o.size;
      skipped++;
    } else {
      todo.push(o);
    }
  }
  report();

  // 5. Copy the rest: small objects many at a time, large ones resumable where possible.
  const throttle =
    ctl.throttle ?? (t.maxBytesPerSecond ? new Throttle(t.maxBytesPerSecond) : undefined);
  const writer = new ManifestWriter(env, jobId);
  const algorithm = chooseHash(src, dst, t.fileHash);
  // Both ends offer a bulk path (file:// to file://): small objects read and written whole,
  // made durable together at the end; larger ones written resumably, positionally.
  const bulk =
    src.bulk && dst.bulk ? { src: src.bulk(sourceUri), dst: dst.bulk(destUri) } : undefined;
  const minResumable = bulk
    ? Math.min(SMALL_OBJECT, t.resumableMinBytes ?? SMALL_OBJECT)
    : (t.resumableMinBytes ?? 64 * 1024 * 1024);
  const concurrency = Math.max(1, t.concurrency ?? 8);
  // Large objects hold buffers and saturate the disk alone: a few at a time.
  const bigLanes = new Semaphore(2);
  let lastReport = 0;
  const onBytes = (n: number) => {
    cp.bytes_done += n;
    cp.bytes_copied += n;
    if (n > 0) env.metrics?.addBytesCopied(n);
    const now = Date.now();
    if (now - lastReport >= 200) {
      lastReport = now;
      report();
    }
  };

  try {
    await pool(todo, concurrency, ctl.signal, async (o) => {
      let result: { sha256: string; size: number };
      if (bulk && o.size < minResumable) {
        result = await copySmall(
          bulk.src,
          bulk.dst,
          input.sourceUri,
          o,
          algorithm,
          throttle,
          ctl.signal,
        );
        onBytes(result.size);
      } else if (dst.writeResumable && o.size >= minResumable) {
        // A destination that writes resumably (S3 multipart, file:// part files): what is
        // stored survives a killed worker.
        await bigLanes.acquire();
        try {
          result = await resumableDriverCopy(src, dst, input, o, {
            algorithm,
            cursor: cursors.get(o.key),
            checkpointMs: t.checkpointMs ?? 1000,
            throttle,
            signal: ctl.signal,
            onBytes,
            onResumed: (n) => {
              cp.bytes_done += n;
              cp.bytes_resumed += n;
            },
            onCheckpoint: (c) => {
              inFlight.set(o.key, c);
              report();
            },
          });
        } finally {
          bigLanes.release();
        }
        inFlight.delete(o.key);
      } else {
        result = await streamObject(src, dst, input, o, algorithm, throttle, ctl.signal, onBytes);
      }
      await writer.add({
        key: o.key,
        size: result.size,
        sha256: result.sha256,
        state: 'copied',
        source_identity: identityText(o.identity),
        hash_algorithm: algorithm,
      });
      cp.objects_done++;
      if (env.metrics) env.metrics.objectsCopied++;
      report();
    });
  } finally {
    // Keep what is finished even when the attempt stops here (cancel, shutdown, error).
    await writer.flush();
    report();
  }
  // Small objects on the bulk path were written without an fsync each: one flush for all.
  if (bulk && todo.length > 0) await bulk.dst.flush();

  return {
    objects_total: objects.length,
    bytes_total: bytesTotal,
    bytes_copied: cp.bytes_copied,
    bytes_resumed: cp.bytes_resumed,
    objects_skipped: skipped,
    attempt: ctl.attempt,
  };
}

/** Objects up to this size are read, hashed and written whole on the local fast path. */
const SMALL_OBJECT = 1024 * 1024;

class Semaphore {
  private waiting: Array<() => void> = [];
  constructor(private free: number) {}
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

async function copySmall(
  src: BulkAccess,
  dst: BulkAccess,
  sourceUri: string,
  o: ObjectInfo,
  algorithm: HashAlgorithm,
  throttle: Throttle | undefined,
  signal: AbortSignal,
): Promise<{ sha256: string; size: number }> {
  let data: Buffer;
  try {
    data = await src.read(o.key, o.size, o);
  } catch (err) {
    if ((err as { code?: string }).code === 'not_found') {
      throw MoverErrors.sourceChanged(objectUri(sourceUri, o.key), 'it was deleted');
    }
    throw err;
  }
  if (data.length !== o.size) {
    throw MoverErrors.sourceChanged(
      objectUri(sourceUri, o.key),
      data.length > o.size
        ? `it holds more than the ${o.size} bytes listed`
        : `it has ${data.length} bytes, the listing said ${o.size}`,
    );
  }
  const digest = createDigest(algorithm);
  digest.update(data);
  const sha256 = digest.hex();
  if (throttle) await throttle.take(data.length, signal);
  if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
  await dst.write(o.key, data);
  return { sha256, size: data.length };
}

/**
 * One large object through the hash into a destination whose driver writes resumably: the
 * checkpoint carries the driver's token, and a later attempt passes it back. Bytes the earlier
 * attempt stored are read again (for the hash and the driver's check) but not sent or paced.
 */
async function resumableDriverCopy(
  src: StorageDriver,
  dst: StorageDriver,
  input: CopyInput,
  o: ObjectInfo,
  opts: {
    algorithm: HashAlgorithm;
    cursor: PartCursor | undefined;
    checkpointMs: number;
    throttle: Throttle | undefined;
    signal: AbortSignal;
    onBytes: (n: number) => void;
    onResumed: (n: number) => void;
    onCheckpoint: (c: PartCursor) => void;
  },
): Promise<{ sha256: string; size: number }> {
  const hash = createDigest(opts.algorithm);
  const check = new SourceCheck(opts.algorithm);
  check.expect(o.checksum);
  let seen = 0;
  const uri = objectUri(input.sourceUri, o.key);
  const info = await dst.writeResumable!(input.destUri, o.key, {
    size: o.size,
    storageClass: input.storageClass,
    ...(opts.cursor?.upload ? { resumeToken: opts.cursor.upload } : {}),
    checkpointMs: opts.checkpointMs,
    signal: opts.signal,
    // A source that reads positionally (file://) lets a positional writer skip the streams.
    ...(src.openRandomAccess
      ? {
          openSourceAt: () => src.openRandomAccess!(input.sourceUri, o.key, { expect: o }),
        }
      : {}),
    openSource: async (start) => {
      try {
        const body = await src.read(
          input.sourceUri,
          o.key,
          { start, end: Math.max(start, o.size - 1) },
          { expect: o, onChecksum: (c) => check.expect(c) },
        );
        return exactLength(body, o.size - start, uri);
      } catch (err) {
        if ((err as { code?: string }).code === 'not_found') {
          throw MoverErrors.sourceChanged(uri, 'it was deleted');
        }
        throw err;
      }
    },
    observe: async (chunk, resumed) => {
      hash.update(chunk);
      check.update(chunk);
      seen += chunk.length;
      if (resumed) {
        opts.onResumed(chunk.length);
        return;
      }
      if (opts.throttle) await opts.throttle.take(chunk.length, opts.signal);
      opts.onBytes(chunk.length);
    },
    onCheckpoint: (token, offset) =>
      opts.onCheckpoint({ key: o.key, offset, sha256: '', upload: token }),
  });
  if (seen !== o.size || info.size !== o.size) {
    throw MoverErrors.sourceChanged(
      uri,
      `${seen} bytes were read, the listing said ${o.size}, the destination holds ${info.size}`,
    );
  }
  const hex = hash.hex();
  check.check(uri, hex);
  checkStated(info, opts.algorithm, hex, objectUri(input.destUri, o.key));
  return { sha256: hex, size: o.size };
}

/**
 * The destination states the checksum it stored the object under (ObjectInfo.checksum): of
 * the content hash's algorithm, it must be the one computed here from the source's bytes.
 */
function checkStated(info: ObjectInfo, algorithm: HashAlgorithm, hex: string, uri: string): void {
  const c = info.checksum;
  if (c && c.algorithm === algorithm && c.value.toLowerCase() !== hex) {
    throw StorageErrors.checksumMismatch(uri, `${hashLabel(algorithm)} ${hex}`, c.value);
  }
}

/** `body`, failing with source_changed (retryable) unless it yields exactly `expected` bytes. */
function exactLength(body: Readable, expected: number, uri: string): Readable {
  let got = 0;
  const check = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      got += chunk.length;
      if (got > expected)
        return cb(
          MoverErrors.sourceChanged(uri, `it holds more than the ${expected} bytes listed`),
        );
      cb(null, chunk);
    },
    flush(cb) {
      if (got < expected)
        return cb(MoverErrors.sourceChanged(uri, `it ended after ${got} of ${expected} bytes`));
      cb();
    },
  });
  body.once('error', (err) => check.destroy(err));
  check.once('close', () => body.destroy());
  return body.pipe(check);
}

/** One object through the hash into the destination (whole, via the driver's atomic write). */
async function streamObject(
  src: StorageDriver,
  dst: StorageDriver,
  input: CopyInput,
  o: ObjectInfo,
  algorithm: HashAlgorithm,
  throttle: Throttle | undefined,
  signal: AbortSignal,
  onBytes: (n: number) => void,
): Promise<{ sha256: string; size: number }> {
  let body: Readable;
  const check = new SourceCheck(algorithm);
  check.expect(o.checksum);
  try {
    // A bounded range lets the driver size its buffers to the object (small files are common).
    // Conditional on the listed identity: the bytes read are that very object's.
    body = await src.read(
      input.sourceUri,
      o.key,
      o.size > 0 ? { start: 0, end: o.size - 1 } : undefined,
      { expect: o, onChecksum: (c) => check.expect(c) },
    );
  } catch (err) {
    if ((err as { code?: string }).code === 'not_found') {
      throw MoverErrors.sourceChanged(objectUri(input.sourceUri, o.key), 'it was deleted');
    }
    throw err;
  }
  let copied = 0;
  const hasher = new HashingStream({
    algorithm,
    throttle,
    signal,
    check,
    onChunk: (n) => {
      copied += n;
      onBytes(n);
    },
  });
  const abort = () => {
    const reason = signal.reason instanceof Error ? signal.reason : new Error('aborted');
    body.destroy(reason);
    hasher.destroy(reason);
  };
  signal.addEventListener('abort', abort, { once: true });
  body.once('error', (err) => hasher.destroy(err));
  body.pipe(hasher);
  try {
    const info = await dst.write(input.destUri, o.key, hasher, {
      storageClass: input.storageClass,
      size: o.size,
    });
    if (info.size !== hasher.bytes) {
      throw MoverErrors.sourceChanged(
        objectUri(input.sourceUri, o.key),
        `${hasher.bytes} bytes were read, the destination holds ${info.size}`,
      );
    }
    const hex = hasher.hex();
    check.check(objectUri(input.sourceUri, o.key), hex);
    checkStated(info, algorithm, hex, objectUri(input.destUri, o.key));
    return { sha256: hex, size: hasher.bytes };
  } catch (err) {
    // The bytes of a failed whole-object write are lost: take them back out of the progress.
    onBytes(-copied);
    throw err;
  } finally {
    signal.removeEventListener('abort', abort);
  }
}

/**
 * Removes what interrupted writes of a job's objects left at the destination, hidden from
 * listings (S3: multipart uploads of a worker killed mid-upload). Once the copy has ended:
 * before the switch, and when undoing a job. A failure is logged, not fatal: the copied data
 * is whole either way, and the leftovers are only garbage.
 */
export async function discardUnfinishedWrites(
  env: MoverEnv,
  destUri: string,
  rows: readonly { key: string; size: number }[],
): Promise<void> {
  const dst = env.storage.driverFor(destUri);
  if (!dst.discardUnfinishedWrites || rows.length === 0) return;
  try {
    const n = await dst.discardUnfinishedWrites(destUri, rows);
    if (n > 0) env.log.info('discarded unfinished uploads', { destUri, uploads: n });
  } catch (err) {
    env.log.warn('could not discard unfinished uploads at the destination', {
      destUri,
      err: err instanceof Error ? err.message : String(err),
    });
  }
}

/** An empty listing: an empty dataset, or a source that is not there. */
async function checkEmptySource(
  env: MoverEnv,
  src: StorageDriver,
  input: CopyInput,
): Promise<void> {
  if (src.resolveRoot && !(await src.resolveRoot(input.sourceUri)).exists) {
    throw MoverErrors.sourceMissing(input.sourceUri, 'does not exist');
  }
  const ds = await getDataset(env.db, input.datasetId);
  if (ds && Number(ds.size_bytes) > 0) {
    throw MoverErrors.sourceMissing(
      input.sourceUri,
      `holds no objects, but dataset ${ds.id} declares ${ds.size_bytes} bytes`,
    );
  }
}
