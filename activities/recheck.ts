import { getJob, loadManifest } from '../store/jobs';
import { collect, sameAsRecorded } from './copy';
import { MoverErrors } from './failures';
import type { MoverEnv } from './mover-env';
import type { RecheckInput, RecheckResult } from './types';

/** Keys named in a recheck's result (and so in the job's messages). */
const KEYS_NAMED = 20;

/**
 * Before the switch: lists the source again and compares it with the manifest, object by
 * object (identity as the copy listed it). Anything changed, added or removed during the
 * copy means the copy is stale: the workflow copies again (the copy re-copies exactly those
 * objects) and verifies again, a bounded number of rounds. Never switches to a stale copy.
 */
export async function recheckSource(
  env: MoverEnv,
  input: RecheckInput,
  beat: (n: number) => void,
): Promise<RecheckResult> {
  const job = await getJob(env.db, input.jobId);
  if (!job) throw MoverErrors.jobMissing(input.jobId);
  const differ: string[] = [];
  const src = env.storage.driverFor(job.source_uri);
  if (src.resolveRoot && job.source_real_path) {
    const now = (await src.resolveRoot(job.source_uri)).path;
    if (now !== job.source_real_path) differ.push(`(the root now resolves to ${now})`);
  }
  const manifest = await loadManifest(env.db, input.jobId);
  let n = 0;
  const objects = await collect(
    (async function* () {
      for await (const o of src.list(job.source_uri)) {
        if (++n % 1000 === 0) beat(n);
        yield o;
      }
    })(),
  );
  const listed = new Set<string>();
  for (const o of objects) {
    listed.add(o.key);
    const row = manifest.get(o.key);
    if (!row) differ.push(`${o.key || '(the root)'} (new)`);
    else if (!sameAsRecorded(row, o)) differ.push(`${o.key || '(the root)'} (changed)`);
  }
  for (const key of manifest.keys()) {
    if (!listed.has(key)) differ.push(`${key || '(the root)'} (gone)`);
  }
  if (differ.length > 0) {
    env.log.info('the source changed during the copy', {
      jobId: input.jobId,
      objects: differ.length,
      keys: differ.slice(0, KEYS_NAMED),
    });
  }
  return { changed: differ.length, keys: differ.slice(0, KEYS_NAMED) };
}
