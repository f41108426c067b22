import { promises as fsp } from 'node:fs';
import { parseStorageUri } from '../storage/uri';
import { deleteManifest, getJob, isSwitched, loadManifest, markSourceRetired } from '../store/jobs';
import { discardUnfinishedWrites, pool } from './copy';
import { MoverErrors } from './failures';
import { partPaths, sweepFileDestination } from './file-parts';
import type { MoverEnv } from './mover-env';
import type { CleanupInput, CleanupResult, RetireInput, RetireResult } from './types';

/**
 * Undo (cancel, or a permanent failure before the switch): deletes every destination
 * object in this job's manifest — never anything else — with the part files of unfinished
 * writes, then the manifest. Refuses once the job has switched the dataset there.
 */
export async function cleanupDestination(
  env: MoverEnv,
  input: CleanupInput,
  signal: AbortSignal,
  progress: (deleted: number) => void,
): Promise<CleanupResult> {
  if (await isSwitched(env.db, input.jobId)) throw MoverErrors.alreadySwitched(input.jobId);
  const dst = env.storage.driverFor(input.destUri);
  const rows = [...(await loadManifest(env.db, input.jobId)).values()];
  const isFile = parseStorageUri(input.destUri).scheme === 'file' && env.fileRoots !== undefined;
  let deleted = 0;
  await pool(rows, Math.max(1, env.tuning?.concurrency ?? 16), signal, async (row) => {
    if (isFile) {
      const { part } = await partPaths(env.fileRoots!, input.destUri, row.key, input.jobId);
      await fsp.unlink(part).catch(() => undefined);
    }
    await dst.delete(input.destUri, row.key);
    deleted++;
    if (deleted % 100 === 0) progress(deleted);
  });
  if (isFile) await sweepFileDestination(env.fileRoots!, input.destUri, { removeEmptyRoot: true });
  await discardUnfinishedWrites(env, input.destUri, rows);
  await deleteManifest(env.db, input.jobId);
  progress(deleted);
  return { deleted };
}

/**
 * Retire: deletes the source objects this job copied, only once its switch has committed
 * (invariant 3) and only when the job allows it. Objects that appeared or changed at the
 * source since they were copied are kept (and counted), so nothing unique is lost.
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
    return { deleted: 0, kept: -1 };
  }
  const src = env.storage.driverFor(job.source_uri);
  const manifest = await loadManifest(env.db, input.jobId);
  const listing = [];
  for await (const o of src.list(job.source_uri)) listing.push(o);
  const doomed = listing.filter((o) => manifest.get(o.key)?.size === o.size);
  const kept = listing.length - doomed.length;
  let deleted = 0;
  await pool(doomed, Math.max(1, env.tuning?.concurrency ?? 16), signal, async (o) => {
    await src.delete(job.source_uri, o.key);
    deleted++;
    if (deleted % 100 === 0) progress(deleted);
  });
  if (kept === 0) await markSourceRetired(env.db, job.dataset_id, job.source_uri);
  else
    env.log.warn('source kept in part: objects changed or appeared since the copy', {
      jobId: job.job_id,
      kept,
    });
  progress(deleted);
  return { deleted, kept };
}
