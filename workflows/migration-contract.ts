import { defineQuery, defineSignal } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { JobStatus, Tier } from '../store/schema';

/**
 * The migration workflow's contract with its callers (API, CLI, tests): input, progress,
 * signals, query and search attributes. Kept apart from the workflow so that importing it
 * outside a worker pulls in no workflow code.
 */
export interface MigrationInput {
  jobId: string;
  jobKey: string;
  datasetId: number;
  sourceUri: string;
  destUri: string;
  storageClass: string;
  targetTier: Tier | null;
  requireApproval: boolean;
  retireSource: boolean;
  /** Seconds between the switch and the deletion of the source (0: at once). */
  retireGraceS: number;
  /** The caller who planned the migration. */
  requestedBy: string;
  /** The policy's four-eyes rule: the approver must not be `requestedBy` (absent: off). */
  fourEyes?: boolean;
  /** Caller names allowed to approve (absent or empty: anyone who may send the signal). */
  approvers?: string[];
  /** The job's bandwidth limit when planned, bytes per second (absent or null: none). */
  maxBytesPerS?: number | null;
}

export interface Refusal {
  at: string;
  by: string;
  reason: string;
}

export interface MigrationProgress {
  job_id: string;
  status: JobStatus;
  bytes_done: number;
  bytes_total: number;
  objects_done: number;
  objects_total: number;
  /** Bytes the copy wrote in its last attempt (resumed objects and chunks are not re-copied). */
  bytes_copied: number;
  /** Bytes found already at the destination from an earlier attempt and kept. */
  bytes_resumed: number;
  copy_attempts: number;
  error: string | null;
  approved_by: string | null;
  /** Approvals the workflow ignored, and why (four-eyes, approver list). */
  approval_refusals?: Refusal[];
  cancel_requested_by: string | null;
  cancel_refusals: Refusal[];
  /** ISO time the source will be deleted at, while the job waits out the grace period. */
  retire_at: string | null;
  source_retired: boolean;
  /** Who retired the source: `policy` after the grace period, or who sent `retireNow`. */
  retired_by?: string | null;
  /** The job's bandwidth limit now, bytes per second (null: none; the worker's cap still applies). */
  max_bytes_per_s?: number | null;
  /** Who last changed it with `setBandwidth` (null: as planned). */
  bandwidth_set_by?: string | null;
}

export type MigrationResult = MigrationProgress;

/** Registered name of the workflow function (workflows/migration.ts). */
export const MIGRATION_WORKFLOW = 'migration';

export interface SignalArgs {
  by?: string;
  reason?: string;
}

export const approveSignal = defineSignal<[SignalArgs?]>('approve');
export const cancelSignal = defineSignal<[SignalArgs?]>('cancel');
/** Ends the retirement grace period now. */
export const retireNowSignal = defineSignal<[SignalArgs?]>('retireNow');
/** Keeps the source: the retirement is skipped (the job still completes). */
export const keepSourceSignal = defineSignal<[SignalArgs?]>('keepSource');
export interface BandwidthArgs {
  by?: string;
  /** Bytes per second, a whole number above 0; null: no limit of the job's own. */
  max_bytes_per_s: number | null;
}

/** Changes the job's bandwidth limit; a running copy applies it within a second, without restarting. */
export const setBandwidthSignal = defineSignal<[BandwidthArgs]>('setBandwidth');
export const progressQuery = defineQuery<MigrationProgress>('progress');

export const searchAttributes = {
  datasetId: defineSearchAttributeKey('DimDatasetId', SearchAttributeType.INT),
  jobKey: defineSearchAttributeKey('DimJobKey', SearchAttributeType.KEYWORD),
  targetTier: defineSearchAttributeKey('DimTargetTier', SearchAttributeType.KEYWORD),
  status: defineSearchAttributeKey('DimStatus', SearchAttributeType.KEYWORD),
};

export const migrationWorkflowId = (jobKey: string) => `migration-${jobKey}`;
