import { randomBytes } from 'node:crypto';
import { acquireLease, releaseLease } from '../store/leases';
import type { Db } from '../store/db';

/**
 * The job's write lease: whoever writes to or deletes from a job's destination holds it
 * (the copy while it runs; the cleanup while it removes what the copy wrote), so a cleanup
 * never runs while a copy of the same job is still writing. That happens when Temporal
 * ends a run without the workflow's own cancellation path (`temporal workflow terminate`,
 * a reset of a running job): the copy on the worker goes on until its next heartbeat tells
 * it the run is gone. A holder renews the lease while it works; one killed with kill -9
 * stops renewing and the lease expires, so nothing waits for ever. A holder that finds
 * its lease taken by another stops (`lost` aborts).
 */
export const JOB_WRITES_TTL_MS = 20_000;
const RENEW_MS = 2_000;
const WAIT_POLL_MS = 250;

export const jobWritesLease = (jobId: string) => `migration-writes:${jobId}`;

export interface HeldWrites {
  /** Aborts when another holder took the lease (ours expired): stop writing at once. */
  lost: AbortSignal;
  release(): Promise<void>;
}

/**
 * Takes the job's write lease, waiting until it is free (the signal aborts the wait;
 * `onWait` runs at each poll, e.g. to heartbeat).
 */
export async function holdJobWrites(
  db: Db,
  jobId: string,
  who: string,
  opts: { signal?: AbortSignal; onWait?: () => void } = {},
): Promise<HeldWrites> {
  for (;;) {
    const held = await tryHoldJobWrites(db, jobId, who);
    if (held) return held;
    if (opts.signal?.aborted) throw opts.signal.reason;
    opts.onWait?.();
    await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
  }
}

/** Takes the job's write lease if it is free; undefined while another holds it. */
export async function tryHoldJobWrites(
  db: Db,
  jobId: string,
  who: string,
): Promise<HeldWrites | undefined> {
  const name = jobWritesLease(jobId);
  const holder = `${who}#${randomBytes(4).toString('hex')}`;
  if (await acquireLease(db, name, holder, JOB_WRITES_TTL_MS)) return undefined;
  // Ours only if the row names us (a holder that released in between reads as "free").
  const row = await db
    .selectFrom('leases')
    .select('holder')
    .where('name', '=', name)
    .executeTakeFirst();
  if (row?.holder !== holder) return undefined;
  const lost = new AbortController();
  let renewing: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    renewing = acquireLease(db, name, holder, JOB_WRITES_TTL_MS)
      .then((other) => {
        if (other)
          lost.abort(new Error(`job ${jobId}: its destination is now written by ${other.holder}`));
      })
      .catch(() => undefined); // a failed renewal is retried; the lease outlives a few
  }, RENEW_MS);
  timer.unref();
  return {
    lost: lost.signal,
    async release() {
      clearInterval(timer);
      await renewing;
      await releaseLease(db, name, holder);
    },
  };
}
