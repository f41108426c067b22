import { ApplicationFailure } from '@temporalio/common';
import { DimError, isRetryable } from '../errors';

/**
 * Why a migration step cannot go on. Each is a DimError with a stable code; the activity
 * wrapper turns the permanent ones into non-retryable ApplicationFailures with that code,
 * so the workflow stops retrying and records a clear reason.
 */
export class MoverError extends DimError {
  override readonly name: string = 'MoverError';
  constructor(
    code: string,
    message: string,
    readonly retryable = false,
    extra: Record<string, unknown> = {},
  ) {
    super(code, retryable ? 503 : 409, message, undefined, extra);
  }
}

export const MoverErrors = {
  jobMissing: (jobId: string) =>
    new MoverError('job_missing', `migration job ${jobId} does not exist in the database`),
  sourceMissing: (uri: string, detail: string) =>
    new MoverError('source_missing', `the source ${uri} ${detail}`, false, { uri }),
  destNotEmpty: (uri: string, keys: string[]) =>
    new MoverError(
      'dest_not_empty',
      `the destination ${uri} holds data this job did not write (${keys
        .slice(0, 3)
        .map((k) => JSON.stringify(k || '(the root itself)'))
        .join(
          ', ',
        )}${keys.length > 3 ? `, and ${keys.length - 3} more` : ''}); choose an empty location`,
      false,
      { uri, keys: keys.slice(0, 20) },
    ),
  invalidDestination: (reason: string) => new MoverError('invalid_destination', reason),
  sourceChanged: (uri: string, detail: string) =>
    new MoverError(
      'source_changed',
      `the source object ${uri} changed while it was copied: ${detail}`,
      true,
      {
        uri,
      },
    ),
  /** A read that does not match the source's own checksum of the object: read again. */
  sourceChecksumMismatch: (uri: string, algorithm: string, expected: string, actual: string) =>
    new MoverError(
      'source_checksum_mismatch',
      `the source object ${uri} read with ${algorithm} ${actual}, but its server reports ${expected}: the read was corrupt`,
      true,
      { uri, algorithm, expected, actual },
    ),
  verifyMismatch: (uri: string, problems: string[]) =>
    new MoverError(
      'verify_mismatch',
      `verification of ${uri} failed: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? `; and ${problems.length - 5} more` : ''}`,
      false,
      { uri, problems: problems.slice(0, 50) },
    ),
  notVerified: (n: number) =>
    new MoverError(
      'not_verified',
      `${n} object(s) of the destination are not verified: refusing to switch`,
    ),
  datasetMoved: (datasetId: number, current: string, source: string) =>
    new MoverError(
      'dataset_moved',
      `dataset ${datasetId} is now at ${current}, not at this job's source ${source}: refusing to switch`,
    ),
  destOverlaps: (
    datasetId: number,
    dest: string,
    other: { id: number; name: string; path_uri: string },
  ) =>
    new MoverError(
      'dest_overlaps',
      `the destination ${dest} overlaps dataset ${other.id} "${other.name}" (${other.path_uri}), registered during the migration: refusing to switch dataset ${datasetId} there (datasets may not overlap)`,
      false,
      { dest, dataset: other },
    ),
  datasetGone: (datasetId: number) =>
    new MoverError('dataset_gone', `dataset ${datasetId} was deleted during the migration`),
  alreadySwitched: (jobId: string) =>
    new MoverError(
      'already_switched',
      `job ${jobId} has switched the dataset to its destination: refusing to delete it`,
    ),
  notSwitched: (jobId: string) =>
    new MoverError(
      'not_switched',
      `job ${jobId} has not switched the dataset: refusing to delete the source`,
    ),
};

/** Translates an error for Temporal: permanent ones become non-retryable, with their code. */
export function toActivityFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof DimError) {
    return ApplicationFailure.create({
      message: err.message,
      type: err.code,
      nonRetryable: !(err instanceof MoverError ? err.retryable : isRetryable(err)),
      details: [err.extra],
      cause: err,
    });
  }
  return err;
}
