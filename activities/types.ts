import type { JobProgress } from '../store/jobs';
import type { JobStatus } from '../store/schema';

/** Inputs and results of the migration activities (plain JSON: they cross Temporal). */

export interface CopyInput {
  jobId: string;
  datasetId: number;
  sourceUri: string;
  destUri: string;
  storageClass: string;
}

/** Where a large object's resumable write got to: bytes stored durably, and the driver's token. */
export interface PartCursor {
  key: string;
  offset: number;
  /**
   * Always '' since the drivers own resumable writes (they check what they kept against the
   * source on resume); kept so that heartbeat details keep their shape. A cursor of an older
   * worker (a SHA-256 here, no token) makes the object start over.
   */
  sha256: string;
  /** The resume token of the driver's resumable write (S3: the multipart UploadId; file: part and offset). */
  upload?: string;
}

/** The copy's heartbeat details: progress, and the cursor a retry resumes from. */
export interface CopyCheckpoint {
  objects_total: number;
  bytes_total: number;
  objects_done: number;
  bytes_done: number;
  /** Bytes this attempt wrote to the destination so far. */
  bytes_copied: number;
  /** Bytes this attempt found at the destination already (earlier attempts) and kept. */
  bytes_resumed: number;
  /** Large objects in flight, each with its verified resume point. */
  cursor: PartCursor[];
}

export interface CopyResult {
  objects_total: number;
  bytes_total: number;
  /** Bytes written by the attempt that finished (a resumed copy writes less than bytes_total). */
  bytes_copied: number;
  /** Bytes kept from earlier attempts: whole objects the manifest vouched for, plus resumed chunks. */
  bytes_resumed: number;
  objects_skipped: number;
  /** Which attempt of the activity this was (1 = first). */
  attempt: number;
}

/** A job's new bandwidth limit, bytes per second (null: none). */
export interface BandwidthInput {
  jobId: string;
  maxBytesPerS: number | null;
}

export interface VerifyInput {
  jobId: string;
  destUri: string;
}

export interface VerifyResult {
  objects: number;
  bytes: number;
  /** Objects whose content was re-read and hashed (the others matched a server checksum). */
  reread: number;
  /** Objects whose server-computed checksum (storedChecksum) matched the copy's, not re-read. */
  proven?: number;
}

export interface StatusInput {
  jobId: string;
  status: JobStatus;
  error?: string | null;
  runId?: string;
  progress?: Partial<JobProgress>;
  /** Who approved, cancelled and retired the job so far, as the workflow knows it. */
  actors?: JobActors;
  /** The run was made by a reset in Temporal (its run id differs from the original one). */
  reset?: boolean;
}

export interface JobActors {
  approved_by: string | null;
  cancelled_by: string | null;
  retired_by: string | null;
}

export interface SwitchInput {
  jobId: string;
}

export interface SwitchResult {
  version: number;
  objects: number;
  bytes: number;
  alreadySwitched: boolean;
}

export interface CleanupInput {
  jobId: string;
  destUri: string;
}

export interface CleanupResult {
  deleted: number;
}

export interface RecheckInput {
  jobId: string;
}

export interface RecheckResult {
  /** Source objects changed, added or removed since the copy listed them (0: the copy is current). */
  changed: number;
  /** The first few of them, each with "(changed)", "(new)" or "(gone)". */
  keys: string[];
}

export interface RetireInput {
  jobId: string;
}

export interface RetireResult {
  deleted: number;
  /** Source objects left in place: skipped ones, and any not in the manifest (-1: retire is off). */
  kept: number;
  /**
   * Manifest objects retire did not delete because they are not provably the ones the copy
   * read: changed, hard-linked (shared), vanished, or become a symbolic link.
   */
  skipped_changed: number;
  /** The first 100 of them, with the reason when it is not "changed". */
  skipped_keys: string[];
  /** Set when the source root now resolves elsewhere than at copy time: nothing was deleted. */
  root_moved?: string;
  /** What the job's error says about the source kept, or undefined when nothing was kept. */
  note?: string;
}

/** The `migration_status` message (DESIGN.md, "Topics"). */
export interface MigrationStatusMessage {
  job_id: string;
  job_key: string;
  dataset_id: number;
  status: JobStatus;
  bytes_done: number;
  bytes_total: number;
  objects_done: number;
  objects_total: number;
  error: string | null;
  ts: string;
}
