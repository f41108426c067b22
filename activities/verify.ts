import { setMaxListeners } from 'node:events';
import type { ObjectInfo } from '../storage/driver';
import { pipeHash, ShortReadError } from '../storage/pipe';
import { objectUri } from '../storage/uri';
import { loadManifest, type ManifestRow } from '../store/jobs';
import { discardUnfinishedWrites, ManifestWriter, pool } from './copy';
import { MoverErrors } from './failures';
import { createDigest, hashLabel, hashStream, rowAlgorithm } from './hashing';
import type { MoverEnv } from './mover-env';
import type { VerifyInput, VerifyResult } from './types';

/**
 * The verify step: the destination holds exactly the manifest's objects, each with the
 * manifest's size and hash (in the row's algorithm) — compared with the full-object checksum
 * the destination's server computed and keeps (storedChecksum: S3 FULL_OBJECT CRC32C, GCS
 * crc32c) when the row's hash is of that algorithm, without reading the object; otherwise
 * re-read and hashed. Rows that match become `verified`; a retry re-checks only the others.
 * Any difference fails the job before the switch (invariant 1; README "What verified means").
 */
/**
 * Where the destination offers a bulk path, smaller objects are read whole; where it reads
 * positionally, larger ones go through the positional pipe; otherwise a stream.
 */
const LOCAL_MIN_BYTES = 1024 * 1024;

export interface VerifyControl {
  signal: AbortSignal;
  progress(p: {
    objects_done: number;
    objects_total: number;
    bytes_done: number;
    bytes_total: number;
  }): void;
}

export async function verifyDataset(
  env: MoverEnv,
  input: VerifyInput,
  ctl: VerifyControl,
): Promise<VerifyResult> {
  const { jobId, destUri } = input;
  const dst = env.storage.driverFor(destUri);
  const manifest = await loadManifest(env.db, jobId);
  const listing = new Map<string, ObjectInfo>();
  for await (const o of dst.list(destUri)) listing.set(o.key, o);

  const problems: string[] = [];
  if (listing.size !== manifest.size) {
    problems.push(`the destination holds ${listing.size} object(s), the manifest ${manifest.size}`);
  }
  for (const key of listing.keys()) {
    if (!manifest.has(key)) problems.push(`${JSON.stringify(key)} is not in the manifest`);
  }
  for (const row of manifest.values()) {
    const info = listing.get(row.key);
    if (row.state === 'pending' || !row.sha256)
      problems.push(`${JSON.stringify(row.key)} was never copied`);
    else if (!info) problems.push(`${JSON.stringify(row.key)} is missing`);
    else if (info.size !== row.size) {
      problems.push(`${JSON.stringify(row.key)} has ${info.size} bytes, the manifest ${row.size}`);
    }
  }
  if (problems.length > 0) throw MoverErrors.verifyMismatch(destUri, problems);

  const rows = [...manifest.values()];
  const p = {
    objects_total: rows.length,
    bytes_total: rows.reduce((s, r) => s + r.size, 0),
    objects_done: 0,
    bytes_done: 0,
  };
  const todo: ManifestRow[] = [];
  for (const r of rows) {
    if (r.state === 'verified') {
      p.objects_done++;
      p.bytes_done += r.size;
    } else todo.push(r);
  }
  ctl.progress(p);

  const writer = new ManifestWriter(env, jobId);
  const bulk = dst.bulk?.(destUri);
  setMaxListeners(64, ctl.signal);
  let reread = 0;
  let proven = 0;
  let lastReport = 0;
  try {
    await pool(todo, Math.max(1, env.tuning?.concurrency ?? 16), ctl.signal, async (row) => {
      const info = listing.get(row.key)!;
      // Each row with the algorithm the copy used (rows from before migration 012: SHA-256).
      const algorithm = rowAlgorithm(row.hash_algorithm);
      let sha: string;
      // The server's own checksum of the stored bytes, when it keeps one of the row's
      // algorithm: from the listing if it carries it (GCS), else asked for (S3: a HEAD).
      let stored: { algorithm: string; value: string } | null = null;
      if (dst.storedChecksum && algorithm === dst.writeChecksum) {
        stored =
          info.checksum?.algorithm === algorithm
            ? info.checksum
            : await dst.storedChecksum(destUri, row.key);
      }
      if (stored?.algorithm === algorithm) {
        sha = stored.value.toLowerCase();
        p.bytes_done += row.size;
      } else if (bulk && row.size < LOCAL_MIN_BYTES) {
        const data = await bulk.read(row.key, row.size);
        if (data.length !== row.size) {
          problems.push(
            `${JSON.stringify(row.key)} reads ${data.length > row.size ? 'more than' : data.length} bytes, the manifest says ${row.size}`,
          );
          return;
        }
        const digest = createDigest(algorithm);
        digest.update(data);
        sha = digest.hex();
        p.bytes_done += row.size;
        env.metrics?.addBytesVerified(row.size);
        reread++;
      } else if (dst.openRandomAccess) {
        // Positional reads over reused buffers (see storage/pipe.ts).
        const hash = createDigest(algorithm);
        const obj = await dst.openRandomAccess(destUri, row.key);
        try {
          await pipeHash({
            read: (buf, len, pos) => obj.readAt(buf, len, pos),
            from: 0,
            to: row.size,
            signal: ctl.signal,
            observe: (b) => {
              hash.update(b);
              p.bytes_done += b.length;
              env.metrics?.addBytesVerified(b.length);
            },
          });
          // Nothing may follow the manifest's last byte.
          const extra = await obj.readAt(Buffer.alloc(1), 1, row.size);
          if (extra > 0) {
            problems.push(
              `${JSON.stringify(row.key)} is longer than the manifest's ${row.size} bytes`,
            );
            return;
          }
        } catch (err) {
          if (err instanceof ShortReadError) {
            problems.push(
              `${JSON.stringify(row.key)} is shorter than the manifest's ${row.size} bytes`,
            );
            return;
          }
          throw err;
        } finally {
          await obj.close();
        }
        sha = hash.hex();
        reread++;
      } else {
        const stream = await dst.read(
          destUri,
          row.key,
          row.size > 0 ? { start: 0, end: row.size - 1 } : undefined,
        );
        const abort = () => stream.destroy(new Error('aborted'));
        ctl.signal.addEventListener('abort', abort, { once: true });
        try {
          const h = await hashStream(
            stream as AsyncIterable<Buffer>,
            (n) => {
              p.bytes_done += n;
              env.metrics?.addBytesVerified(n);
              const now = Date.now();
              if (now - lastReport >= 200) {
                lastReport = now;
                ctl.progress(p);
              }
            },
            algorithm,
          );
          if (h.size !== row.size) {
            problems.push(
              `${JSON.stringify(row.key)} reads ${h.size} bytes, the manifest says ${row.size}`,
            );
            return;
          }
          sha = h.hex;
          reread++;
        } finally {
          ctl.signal.removeEventListener('abort', abort);
        }
      }
      const fromServer = stored?.algorithm === algorithm;
      if (sha !== row.sha256) {
        problems.push(
          `${objectUri(destUri, row.key)}: ${fromServer ? "the server's stored " : ''}${hashLabel(algorithm)} ${sha} differs from the copied ${row.sha256}`,
        );
        return;
      }
      if (fromServer) proven++;
      await writer.add({ ...row, state: 'verified' });
      p.objects_done++;
      env.metrics?.addObjectsVerified(1);
    });
  } finally {
    await writer.flush();
    ctl.progress(p);
  }
  if (problems.length > 0) throw MoverErrors.verifyMismatch(destUri, problems);

  // Leftovers of interrupted writes (hidden from listings) go before the dataset switches here.
  await discardUnfinishedWrites(env, destUri, rows);
  return { objects: rows.length, bytes: p.bytes_total, reread, proven };
}
