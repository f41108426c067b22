import type { DeleteOutcome } from '../storage/driver';
import { parseIdentity } from '../storage/identity';
import { deleteManifest, getJob, isSwitched, loadManifest, markSourceRetired } from '../store/jobs';
import { discardUnfinishedWrites, pool } from './copy';
import { MoverErrors } from './failures';
import type { MoverEnv } from './mover-env';
import { holdJobWrites } from './write-lease';
import type { CleanupInput, CleanupResult, RetireInput, RetireResult } from './types';

/**
 * Undo (cancel, or a permanent failure before the switch): deletes every destination
 * object in this job's manifest — never anything else — with what unfinished writes of
 * them left (the driver's discardUnfinishedWrites), the root's place if it is left empty
 * (removeRootIfEmpty), then the manifest. Refuses once the job has switched the dataset there.
 * It holds the job's write lease (write-lease.ts) while it deletes: a copy of the job that
 * is still stopping (its run terminated in Temporal) finishes first.
 */
export async function cleanupDestination(
  env: MoverEnv,
  input: CleanupInput,
  signal: AbortSignal,
  progress: (deleted: number) => void,
): Promise<CleanupResult> {
  const held = await holdJobWrites(env.db, input.jobId, 'cleanup', {
    signal,
    onWait: () => progress(0),
  });
  try {
    return await removeJobWrites(env, input, AbortSignal.any([signal, held.lost]), progress);
  } finally {
    await held.release();
  }
}

/** The body of cleanupDestination, for a caller that holds the job's write lease. */
export async function removeJobWrites(
  env: MoverEnv,
  input: CleanupInput,
  signal: AbortSignal,
  progress: (deleted: number) => void,
): Promise<CleanupResult> {
  if (await isSwitched(env.db, input.jobId)) throw MoverErrors.alreadySwitched(input.jobId);
  const dst = env.storage.driverFor(input.destUri);
  const rows = [...(await loadManifest(env.db, input.jobId)).values()];
  let deleted = 0;
  await pool(rows, Math.max(1, env.tuning?.concurrency ?? 16), signal, async (row) => {
    await dst.delete(input.destUri, row.key);
    deleted++;
    if (deleted % 100 === 0) progress(deleted);
  });
  await discardUnfinishedWrites(env, input.destUri, rows);
  if (dst.removeRootIfEmpty) await dst.removeRootIfEmpty(input.destUri);
  await deleteManifest(env.db, input.jobId);
  progress(deleted);
  return { deleted };
}

/** Keys a retire result (and the job's error) names at most. */
const SKIPPED_KEYS = 100;

/**
 * Retire: deletes the source objects this job copied, only once its switch has committed
 * (invariant 3) and only when the job allows it. It walks the MANIFEST, never a fresh
 * listing: an object that appeared after the copy listed the source is never deleted. Each
 * manifest object is deleted only if it is still the very one the copy read (the driver's
 * conditional delete: file size + mtime/ctime + dev + inode compared with lstat, S3 ETag or
 * version, GCS generation); changed, hard-linked (unless the policy allows), vanished or
 * linked ones are kept and named. A file:// root that resolves elsewhere than at copy time
 * deletes nothing.
 */
export async function retireSource(
  env: MoverEnv,
  input: RetireInput,
  signal: AbortSignal,
  progress: (deleted: number) => void,
): Promise<RetireResult> {
  const job = await getJob(env.db, input.jobId);
  if (!job) throw MoverErrors.jobMissing(input.jobId);
  if (!(await isSwitched(env.db, input.jobId))) throw MoverErrors.notSwitched(input.jobId);
  if (!job.retire_source) {
    return { deleted: 0, kept: -1, skipped_changed: 0, skipped_keys: [] };
  }
  const rows = [...(await loadManifest(env.db, input.jobId)).values()];
  const uri = job.source_uri;

  // As the source's driver resolves a root that is a place of its own (file://), now.
  const src = env.storage.driverFor(uri);
  if (src.resolveRoot && job.source_real_path) {
    const now = (await src.resolveRoot(uri)).path;
    if (now !== job.source_real_path) {
      const root_moved = `retire deleted nothing: the source ${uri} now resolves to ${now}, not to ${job.source_real_path} as when it was copied`;
      env.log.warn('source root re-pointed since the copy: nothing deleted', {
        jobId: job.job_id,
        now,
      });
      return {
        deleted: 0,
        kept: rows.length,
        skipped_changed: 0,
        skipped_keys: [],
        root_moved,
        note: root_moved,
      };
    }
  }

  // As the policy said when the job was planned (the job row records it).
  const allowShared = job.retire_linked_files === 1;
  let deleted = 0;
  const skipped: string[] = [];
  await pool(rows, Math.max(1, env.tuning?.concurrency ?? 16), signal, async (row) => {
    const identity = parseIdentity(row.source_identity);
    if (!identity) {
      skipped.push(`${row.key} (identity not recorded)`);
      return;
    }
    let outcome: DeleteOutcome;
    try {
      outcome = await src.delete(uri, row.key, {
        expect: { size: row.size, identity },
        allowShared,
      });
    } catch (err) {
      if ((err as { code?: string }).code !== 'symlink_in_dataset') throw err;
      skipped.push(`${row.key} (symbolic link)`);
      return;
    }
    if (outcome === 'deleted') {
      deleted++;
      if (deleted % 100 === 0) progress(deleted);
    } else if (outcome === 'changed') skipped.push(row.key);
    else if (outcome === 'shared') skipped.push(`${row.key} (hard-linked)`);
    else skipped.push(`${row.key} (gone)`);
  });
  skipped.sort();

  // Whatever is left (skipped, or added after the listing) keeps the source a replica.
  let left = skipped.length;
  if (left === 0) {
    try {
      for await (const o of src.list(uri)) {
        void o;
        left++;
      }
    } catch (err) {
      env.log.warn('could not list the source after retiring it', {
        jobId: job.job_id,
        err: String(err),
      });
      left = Math.max(left, 1);
    }
  }
  if (left === 0) await markSourceRetired(env.db, job.dataset_id, uri);
  else
    env.log.warn('source kept in part: objects changed or appeared since the copy', {
      jobId: job.job_id,
      kept: left,
      skipped: skipped.length,
    });
  progress(deleted);
  const named = skipped.slice(0, SKIPPED_KEYS);
  const note =
    skipped.length > 0
      ? `retire skipped ${skipped.length} changed object(s): ${named.join(', ')}${skipped.length > named.length ? `, and ${skipped.length - named.length} more` : ''}`
      : undefined;
  return {
    deleted,
    kept: left,
    skipped_changed: skipped.length,
    skipped_keys: named,
    ...(note ? { note } : {}),
  };
}
