import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  condition,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Duration, RetryPolicy } from '@temporalio/common';
import type { Activities } from '../activities';
import type { CopyResult, RecheckResult, VerifyResult } from '../activities/types';
import type { JobStatus } from '../store/schema';
import { approvalRefusal } from './approval';
import {
  approveSignal,
  cancelSignal,
  keepSourceSignal,
  progressQuery,
  retireNowSignal,
  searchAttributes,
  setBandwidthSignal,
  type MigrationInput,
  type MigrationProgress,
  type MigrationResult,
} from './migration-contract';

export * from './migration-contract';

/**
 * One migration of one dataset: copy → verify → switch → retire (DESIGN.md, "Migration
 * workflow"). Workflow id `migration-<job_key>`. The source stays primary until every
 * destination object is verified (invariant 1); the switch is one transaction (2); the
 * source is deleted only after it and only when allowed (3).
 *
 * Cancel (signal `cancel`, or a Temporal cancellation request) is honoured until the
 * switch begins: the copy stops, what it wrote is removed, the job ends `cancelled`.
 * From the switch on it is refused, and the refusal is recorded in `progress`.
 */

// ---------------------------------------------------------------------------------------
// activities: explicit timeouts, retries and cancellation for each

/** Backoff from 1 s; `maximumAttempts` undefined retries until the step's timeout. */
const retry = (
  maximumAttempts: number | undefined,
  maximumInterval: Duration = '1 minute',
): RetryPolicy => ({
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval,
  ...(maximumAttempts ? { maximumAttempts } : {}),
});

/** Copy and verify: long, heartbeating, cancellable (and waited for when cancelled). */
const { copy, verify } = proxyActivities<Activities>({
  startToCloseTimeout: '7 days',
  heartbeatTimeout: '15 seconds',
  retry: retry(25, '2 minutes'),
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});

/** Short bookkeeping: retried for as long as the database needs. */
const { updateStatus, switchDataset, setJobBandwidth } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: retry(undefined, '30 seconds'),
  cancellationType: ActivityCancellationType.TRY_CANCEL,
});

const { cleanup, retire, recheckSource } = proxyActivities<Activities>({
  startToCloseTimeout: '1 day',
  heartbeatTimeout: '1 minute',
  retry: retry(20, '2 minutes'),
  cancellationType: ActivityCancellationType.TRY_CANCEL,
});

/** Copy-verify rounds before a source that keeps changing fails the job (source_changed). */
const SOURCE_ROUNDS = 3;

// ---------------------------------------------------------------------------------------

/** The failure's code and message, for the job's `error`. */
function describe(err: unknown): { code: string; message: string } {
  let e: unknown = err;
  if (e instanceof ActivityFailure && e.cause) e = e.cause;
  if (e instanceof ApplicationFailure) return { code: e.type ?? 'error', message: e.message };
  if (e instanceof Error) return { code: 'error', message: e.message };
  return { code: 'error', message: String(e) };
}

export async function migration(input: MigrationInput): Promise<MigrationResult> {
  const p: MigrationProgress = {
    job_id: input.jobId,
    status: 'queued',
    bytes_done: 0,
    bytes_total: 0,
    objects_done: 0,
    objects_total: 0,
    bytes_copied: 0,
    bytes_resumed: 0,
    copy_attempts: 0,
    error: null,
    approved_by: null,
    approval_refusals: [],
    cancel_requested_by: null,
    cancel_refusals: [],
    retire_at: null,
    source_retired: false,
    retired_by: null,
    max_bytes_per_s: input.maxBytesPerS ?? null,
    bandwidth_set_by: null,
  };
  let cancelReason: string | undefined;
  /** Set (synchronously, before anything awaits) once the switch may begin. */
  let pastSwitch = false;
  let retireNow = false;
  let keepSource = false;
  let work: CancellationScope | undefined;

  const requestCancel = (by: string, reason: string | undefined) => {
    if (pastSwitch) {
      const why =
        p.status === 'completed'
          ? 'the migration has completed'
          : `the dataset is switching or switched to ${input.destUri} (status ${p.status})`;
      p.cancel_refusals.push({
        at: new Date().toISOString(),
        by,
        reason: `cancel refused: ${why}; migrate it back with a new plan instead`,
      });
      log.info('cancel refused', { jobId: input.jobId, by, status: p.status });
      return;
    }
    if (p.cancel_requested_by) return;
    p.cancel_requested_by = by;
    cancelReason = reason ?? `cancelled by ${by}`;
    work?.cancel();
  };

  setHandler(progressQuery, () => p);
  // The same rule the migration service checks before it signals: an approval sent straight
  // through Temporal (Web UI, CLI) by someone who bypasses the API is held to it here.
  const rule = {
    plannedBy: input.requestedBy,
    fourEyes: input.fourEyes === true,
    approvers: input.approvers ?? [],
  };
  setHandler(approveSignal, (a) => {
    if (p.approved_by !== null) return;
    const by = a?.by;
    const why =
      by === undefined
        ? rule.fourEyes || rule.approvers.length > 0
          ? 'the approval does not say who approves ({"by": "<name>"}), and the policy requires it'
          : undefined
        : approvalRefusal(rule, by);
    if (why) {
      p.approval_refusals!.push({ at: new Date().toISOString(), by: by ?? 'unknown', reason: why });
      log.info('approval refused', { jobId: input.jobId, by, reason: why });
      return;
    }
    p.approved_by = by ?? 'unknown';
  });
  setHandler(cancelSignal, (a) => requestCancel(a?.by ?? 'unknown', a?.reason));
  let retireNowBy: string | undefined;
  setHandler(retireNowSignal, (a) => {
    retireNow = true;
    retireNowBy ??= a?.by;
  });
  setHandler(keepSourceSignal, () => {
    keepSource = true;
  });
  // A new bandwidth limit: kept for `progress` and written to the job row, where the running
  // copy reads it every second (activities/bandwidth.ts). The writes go one after the other,
  // so the row ends with the last limit signalled, whoever sent it (API, Temporal CLI).
  let bandwidthWrites: Promise<void> = Promise.resolve();
  setHandler(setBandwidthSignal, (a) => {
    const limit = a?.max_bytes_per_s;
    if (
      limit !== null &&
      !(typeof limit === 'number' && Number.isSafeInteger(limit) && limit > 0)
    ) {
      log.warn('bandwidth signal ignored: max_bytes_per_s must be a whole number above 0 or null', {
        jobId: input.jobId,
        by: a?.by,
      });
      return;
    }
    p.max_bytes_per_s = limit;
    p.bandwidth_set_by = a.by ?? 'unknown';
    bandwidthWrites = bandwidthWrites
      .then(() =>
        CancellationScope.nonCancellable(() =>
          setJobBandwidth({ jobId: input.jobId, maxBytesPerS: limit }),
        ),
      )
      .catch((err: unknown) =>
        log.warn('could not record the bandwidth limit', { error: describe(err).message }),
      );
  });
  // A cancellation request from Temporal itself (Web UI, `temporal workflow cancel`).
  let nativeCancel = false;
  CancellationScope.current().cancelRequested.catch(() => {
    nativeCancel = !pastSwitch;
    requestCancel('temporal', 'cancellation requested through Temporal');
  });

  const resetRun = workflowInfo().runId !== workflowInfo().originalExecutionRunId;
  const setStatus = async (status: JobStatus, error?: string | null) => {
    p.status = status;
    if (error !== undefined) p.error = error;
    upsertSearchAttributes([{ key: searchAttributes.status, value: status }]);
    await CancellationScope.nonCancellable(() =>
      updateStatus({
        jobId: input.jobId,
        status,
        error,
        runId: workflowInfo().runId,
        // A run made by a reset in Temporal (Web UI, `temporal workflow reset`): the mirror
        // starts it afresh (error cleared, audited) at its first status.
        ...(resetRun ? { reset: true } : {}),
        actors: {
          approved_by: p.approved_by,
          cancelled_by: p.cancel_requested_by,
          retired_by: p.retired_by ?? null,
        },
        // Until the copy has returned, the row's figures are the plan's estimate and the
        // copy's own progress (its heartbeats write them): zeros from here would erase them
        // (and the sweep's daily bytes cap counts bytes_total of jobs not yet copied).
        ...(p.copy_attempts > 0
          ? {
              progress: {
                bytes_done: p.bytes_done,
                bytes_total: p.bytes_total,
                objects_done: p.objects_done,
                objects_total: p.objects_total,
              },
            }
          : {}),
      }),
    );
  };

  /** Removes what this job wrote (never after the switch: the activity checks too). */
  const undo = () =>
    CancellationScope.nonCancellable(() => cleanup({ jobId: input.jobId, destUri: input.destUri }));

  const endCancelled = async (wroteSomething: boolean): Promise<MigrationResult> => {
    if (wroteSomething) await undo();
    await setStatus('cancelled', cancelReason ?? 'cancelled');
    if (nativeCancel) throw new CancelledFailure(cancelReason ?? 'cancelled');
    return p;
  };

  // ---- approval
  upsertSearchAttributes([
    { key: searchAttributes.datasetId, value: input.datasetId },
    { key: searchAttributes.jobKey, value: input.jobKey },
    { key: searchAttributes.targetTier, value: input.targetTier ?? 'none' },
  ]);
  if (input.requireApproval) {
    await setStatus('awaiting_approval');
    await CancellationScope.nonCancellable(() =>
      condition(() => p.approved_by !== null || p.cancel_requested_by !== null),
    );
    if (p.cancel_requested_by) return endCancelled(false);
  }
  if (p.cancel_requested_by) return endCancelled(false);

  // ---- copy and verify: cancellable, undone on cancel or permanent failure
  let outcome: 'verified' | 'cancelled';
  try {
    outcome = await copyAndVerify();
  } catch (err) {
    if (!p.cancel_requested_by && !isCancellation(err)) return fail(err);
    p.cancel_requested_by ??= 'temporal';
    outcome = 'cancelled';
  }
  if (outcome === 'cancelled') return endCancelled(true);

  // ---- the point of no return: from here a cancel is refused
  pastSwitch = true;
  try {
    await setStatus('switching');
    await CancellationScope.nonCancellable(() => switchDataset({ jobId: input.jobId }));
  } catch (err) {
    // The switch did not commit (it is one transaction and refuses when in doubt).
    return fail(err);
  }

  return CancellationScope.nonCancellable(async () => {
    if (input.retireSource) {
      await setStatus('retiring');
      if (input.retireGraceS > 0) {
        p.retire_at = new Date(Date.now() + input.retireGraceS * 1000).toISOString();
        await condition(() => retireNow || keepSource, `${input.retireGraceS} seconds`);
        p.retire_at = null;
      }
      if (!keepSource) {
        try {
          const retired = await retire({ jobId: input.jobId });
          p.source_retired = true;
          // Objects kept because they are not the ones copied (changed, shared, re-pointed root).
          if (retired.note) p.error = retired.note;
          p.retired_by = retireNowBy ?? 'policy';
        } catch (err) {
          // The data is safe at the destination: the job completes, the source stays.
          const { message } = describe(err);
          p.error = `the source was kept: retiring it failed (${message})`;
        }
      }
    }
    await setStatus('completed', p.error);
    return p;
  });

  async function copyAndVerify(): Promise<'verified' | 'cancelled'> {
    // With 'source-recheck': after verify, the source is listed again; what changed during
    // the copy is copied and verified again, at most SOURCE_ROUNDS times (never a stale switch).
    for (let round = 1; ; round++) {
      await setStatus('copying');
      if (p.cancel_requested_by) return 'cancelled';
      work = new CancellationScope();
      const copied: CopyResult = await work.run(() =>
        copy({
          jobId: input.jobId,
          datasetId: input.datasetId,
          sourceUri: input.sourceUri,
          destUri: input.destUri,
          storageClass: input.storageClass,
        }),
      );
      Object.assign(p, {
        bytes_total: copied.bytes_total,
        objects_total: copied.objects_total,
        bytes_done: copied.bytes_total,
        objects_done: copied.objects_total,
        bytes_copied: copied.bytes_copied,
        bytes_resumed: copied.bytes_resumed,
        copy_attempts: copied.attempt,
      });
      if (p.cancel_requested_by) return 'cancelled';

      await setStatus('verifying');
      if (p.cancel_requested_by) return 'cancelled';
      work = new CancellationScope();
      const verified: VerifyResult = await work.run(() =>
        verify({ jobId: input.jobId, destUri: input.destUri }),
      );
      work = undefined;
      log.info('verified', {
        jobId: input.jobId,
        objects: verified.objects,
        bytes: verified.bytes,
      });
      if (p.cancel_requested_by) return 'cancelled';
      if (!patched('source-recheck')) return 'verified';

      work = new CancellationScope();
      const recheck: RecheckResult = await work.run(() => recheckSource({ jobId: input.jobId }));
      work = undefined;
      if (p.cancel_requested_by) return 'cancelled';
      if (recheck.changed === 0) return 'verified';
      if (round >= SOURCE_ROUNDS) {
        throw ApplicationFailure.nonRetryable(
          `the source kept changing during the copy: after ${round} rounds, ${recheck.changed} object(s) still differ from what was copied (${recheck.keys.join(', ')}); plan again once it is quiet`,
          'source_changed',
        );
      }
      log.info('the source changed during the copy: copying again', {
        jobId: input.jobId,
        round,
        changed: recheck.changed,
      });
    }
  }

  /** Undo what was written, record the failure, and fail the run (so a retry may reuse the id). */
  async function fail(err: unknown): Promise<never> {
    const { code, message } = describe(err);
    log.warn('migration failed', { jobId: input.jobId, code, message });
    try {
      await undo();
    } catch (cleanupErr) {
      log.error('cleanup after failure failed', { error: describe(cleanupErr).message });
    }
    await setStatus('failed', `${code}: ${message}`);
    throw ApplicationFailure.nonRetryable(message, code);
  }
}
