import { ApplicationFailure, Context } from '@temporalio/activity';
import type { EventSink } from '../events/sink';
import type { Logger } from '../runtime/log';
import type { StorageDriver } from '../storage/driver';
import type { Db } from '../store/db';
import { setJobBandwidth, switchDataset, updateJobProgress } from '../store/jobs';
import { getJob } from '../store/jobs';
import { effectiveLimit } from '../migrations/bandwidth';
import { watchBandwidth } from './bandwidth';
import { Throttle } from './throttle';
import { cleanupDestination, retireSource } from './cleanup';
import { copyDataset } from './copy';
import { recheckSource } from './recheck';
import { MoverErrors, toActivityFailure } from './failures';
import type { MoverMetrics } from './metrics';
import type { MoverEnv, MoverTuning } from './mover-env';
import { mirrorStatus, statusMessage } from './status';
import type {
  CleanupInput,
  CleanupResult,
  CopyCheckpoint,
  CopyInput,
  CopyResult,
  BandwidthInput,
  RecheckInput,
  RecheckResult,
  RetireInput,
  RetireResult,
  StatusInput,
  SwitchInput,
  SwitchResult,
  VerifyInput,
  VerifyResult,
} from './types';
import { verifyDataset } from './verify';
import { holdJobWrites } from './write-lease';

/** What the migration activities need; the worker wires real adapters, tests too. */
export interface MigrationDeps {
  log: Logger;
  db?: Db;
  storage?: { driverFor(uri: string): StorageDriver };
  events?: EventSink;
  tuning?: MoverTuning;
  metrics?: MoverMetrics;
  /**
   * Aborted when the worker begins to shut down (SIGTERM): running copies record their
   * progress in a last heartbeat and end the attempt, so another attempt resumes at once.
   */
  shutdown?: AbortSignal;
}

const HEARTBEAT_MS = 1000;
const DB_PROGRESS_MS = 1000;
const PUBLISH_MS = 5000;

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) {
    throw ApplicationFailure.nonRetryable(
      `this worker was started without ${what}: migration activities cannot run here`,
      'worker_misconfigured',
    );
  }
  return value;
}

/** A running activity's id, unique on this worker (activity ids repeat across workflows). */
function activeId(ctx: Context): string {
  return `${ctx.info.workflowExecution?.workflowId ?? '-'}/${ctx.info.activityId}`;
}

/** Aborts when the activity is cancelled or the worker shuts down. */
function activitySignal(ctx: Context, shutdown: AbortSignal | undefined): AbortSignal {
  return shutdown ? AbortSignal.any([ctx.cancellationSignal, shutdown]) : ctx.cancellationSignal;
}

/** The error that ends an attempt: a cancellation as such, a shutdown as retryable. */
function endOfAttempt(ctx: Context, deps: MigrationDeps, err: unknown): unknown {
  if (ctx.cancellationSignal.aborted) {
    return ctx.cancellationSignal.reason instanceof Error ? ctx.cancellationSignal.reason : err;
  }
  if (deps.shutdown?.aborted) {
    return ApplicationFailure.retryable(
      'the worker is shutting down; another attempt resumes from the last checkpoint',
      'worker_shutdown',
    );
  }
  return toActivityFailure(err);
}

export function createMigrationActivities(deps: MigrationDeps) {
  const env = (): MoverEnv => ({
    db: required(deps.db, 'a database'),
    storage: required(deps.storage, 'storage drivers'),
    log: deps.log,
    tuning: deps.tuning,
    metrics: deps.metrics,
  });
  const events = () => required(deps.events, 'an event sink');

  return {
    /** Mirrors a status to migration_jobs and publishes it on migration_status. */
    async updateStatus(input: StatusInput): Promise<void> {
      try {
        await mirrorStatus({ db: env().db, events: events(), metrics: deps.metrics }, input);
      } catch (err) {
        throw toActivityFailure(err);
      }
    },

    /** Streams every object through SHA-256 into the destination; resumes where it stopped. */
    async copy(input: CopyInput): Promise<CopyResult> {
      const ctx = Context.current();
      const e = env();
      const sink = events();
      const resume = ctx.info.heartbeatDetails as CopyCheckpoint | undefined;
      // One writer of the job's destination at a time: an attempt of a run Temporal ended
      // (terminate, reset) may still be stopping, and a cleanup may be removing its writes.
      const held = await holdJobWrites(e.db, input.jobId, `copy:${activeId(ctx)}`, {
        signal: activitySignal(ctx, deps.shutdown),
        onWait: () => ctx.heartbeat(resume),
      }).catch((err: unknown) => {
        throw endOfAttempt(ctx, deps, err);
      });
      const signal = AbortSignal.any([activitySignal(ctx, deps.shutdown), held.lost]);
      const stepId = activeId(ctx);
      const track = deps.metrics?.begin(stepId, {
        job_id: input.jobId,
        step: 'copy',
        attempt: ctx.info.attempt,
      });
      let latest: CopyCheckpoint | undefined = resume
        ? { ...resume, cursor: resume.cursor }
        : undefined;
      let lastDb = 0;
      let lastPublish = 0;
      let writing: Promise<void> = Promise.resolve();
      const persist = (cp: CopyCheckpoint, publish: boolean) => {
        const progress = {
          bytes_done: cp.bytes_done,
          bytes_total: cp.bytes_total,
          objects_done: cp.objects_done,
          objects_total: cp.objects_total,
        };
        writing = writing
          .then(async () => {
            await updateJobProgress(e.db, input.jobId, progress);
            if (publish) {
              const job = await getJob(e.db, input.jobId);
              if (job)
                await sink.publish('migration_status', [
                  { key: String(job.dataset_id), value: statusMessage(job) },
                ]);
            }
          })
          .catch((err: unknown) =>
            deps.log.warn('could not record copy progress', { err: String(err) }),
          );
      };
      const beat = () => {
        if (latest) ctx.heartbeat(latest);
      };
      // The job's bandwidth limit as it is now (a signal may have changed it since the plan),
      // capped by this worker's; re-read every second while the copy runs.
      const job = await getJob(e.db, input.jobId);
      const workerLimit = deps.tuning?.maxBytesPerSecond;
      const throttle = new Throttle(effectiveLimit(job?.max_bytes_per_s, workerLimit));
      let copied = 0;
      const bandwidth = watchBandwidth({
        db: e.db,
        jobId: input.jobId,
        workerLimit,
        throttle,
        copied: () => copied,
        log: deps.log,
      });
      const timer = setInterval(beat, HEARTBEAT_MS);
      if (ctx.info.attempt > 1) {
        deps.log.info('copy resumes', {
          jobId: input.jobId,
          attempt: ctx.info.attempt,
          cursor: resume?.cursor.map((c) => ({ key: c.key, offset: c.offset })) ?? [],
        });
      }
      try {
        const result = await copyDataset(e, input, {
          signal,
          attempt: ctx.info.attempt,
          resume,
          throttle,
          progress(cp) {
            copied = cp.bytes_copied;
            latest = { ...cp, cursor: [...cp.cursor] };
            track?.(cp);
            const now = Date.now();
            if (now - lastDb >= DB_PROGRESS_MS) {
              lastDb = now;
              const publish = now - lastPublish >= PUBLISH_MS;
              if (publish) lastPublish = now;
              persist(latest, publish);
            }
          },
        });
        if (latest) persist(latest, false);
        await writing;
        return result;
      } catch (err) {
        beat(); // the last checkpoint goes out with the end of this attempt
        if (latest) persist(latest, false);
        await writing;
        throw endOfAttempt(ctx, deps, err);
      } finally {
        clearInterval(timer);
        await bandwidth.stop();
        deps.metrics?.end(stepId);
        await held
          .release()
          .catch((err: unknown) =>
            deps.log.warn('could not release the job write lease', { err: String(err) }),
          );
      }
    },

    /** Records a job's bandwidth limit (the workflow's `setBandwidth` signal); a running copy reads it. */
    async setJobBandwidth(input: BandwidthInput): Promise<void> {
      try {
        await setJobBandwidth(env().db, input.jobId, input.maxBytesPerS);
      } catch (err) {
        throw toActivityFailure(err);
      }
    },

    /** Re-reads the destination and compares count, sizes and SHA-256 with the manifest. */
    async verify(input: VerifyInput): Promise<VerifyResult> {
      const ctx = Context.current();
      const e = env();
      let latest: unknown;
      const timer = setInterval(() => ctx.heartbeat(latest), HEARTBEAT_MS);
      const stepId = activeId(ctx);
      const track = deps.metrics?.begin(stepId, {
        job_id: input.jobId,
        step: 'verify',
        attempt: ctx.info.attempt,
      });
      let lastDb = 0;
      try {
        return await verifyDataset(e, input, {
          signal: activitySignal(ctx, deps.shutdown),
          progress(p) {
            latest = { ...p };
            track?.(p);
            const now = Date.now();
            if (now - lastDb >= DB_PROGRESS_MS) {
              lastDb = now;
              void updateJobProgress(e.db, input.jobId, p).catch(() => undefined);
            }
          },
        });
      } catch (err) {
        throw endOfAttempt(ctx, deps, err);
      } finally {
        clearInterval(timer);
        deps.metrics?.end(stepId);
      }
    },

    /** One transaction: dataset pointer, tier, version, size, replicas. Idempotent by job. */
    async switchDataset(input: SwitchInput): Promise<SwitchResult> {
      const e = env();
      try {
        const out = await switchDataset(e.db, input.jobId);
        switch (out.kind) {
          case 'switched':
          case 'already':
            e.log.info('dataset switched', {
              jobId: input.jobId,
              version: out.version,
              again: out.kind === 'already',
            });
            return {
              version: out.version,
              objects: out.objects,
              bytes: out.bytes,
              alreadySwitched: out.kind === 'already',
            };
          case 'job_gone':
            throw MoverErrors.jobMissing(input.jobId);
          case 'dataset_gone': {
            const job = await getJob(e.db, input.jobId);
            throw MoverErrors.datasetGone(job?.dataset_id ?? -1);
          }
          case 'dataset_moved': {
            const job = await getJob(e.db, input.jobId);
            throw MoverErrors.datasetMoved(
              job?.dataset_id ?? -1,
              out.current,
              job?.source_uri ?? '?',
            );
          }
          case 'not_verified':
            throw MoverErrors.notVerified(out.unverified);
          case 'dest_overlaps': {
            const job = await getJob(e.db, input.jobId);
            const { id, name, path_uri } = out.other;
            throw MoverErrors.destOverlaps(job?.dataset_id ?? -1, job?.dest_uri ?? '?', {
              id,
              name,
              path_uri,
            });
          }
        }
      } catch (err) {
        throw toActivityFailure(err);
      }
    },

    /** Deletes what this job wrote at the destination (before the switch only). */
    async cleanup(input: CleanupInput): Promise<CleanupResult> {
      const ctx = Context.current();
      try {
        return await cleanupDestination(env(), input, ctx.cancellationSignal, (n) =>
          ctx.heartbeat({ deleted: n }),
        );
      } catch (err) {
        throw toActivityFailure(err);
      }
    },

    /** Before the switch: lists the source again and says what changed since the copy listed it. */
    async recheckSource(input: RecheckInput): Promise<RecheckResult> {
      const ctx = Context.current();
      try {
        return await recheckSource(env(), input, (n) => ctx.heartbeat({ listed: n }));
      } catch (err) {
        throw toActivityFailure(err);
      }
    },

    /** Deletes the copied source objects, after the switch and only if allowed. */
    async retire(input: RetireInput): Promise<RetireResult> {
      const ctx = Context.current();
      try {
        return await retireSource(env(), input, ctx.cancellationSignal, (n) =>
          ctx.heartbeat({ deleted: n }),
        );
      } catch (err) {
        throw toActivityFailure(err);
      }
    },
  };
}

export type MigrationActivities = ReturnType<typeof createMigrationActivities>;
