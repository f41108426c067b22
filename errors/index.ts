/**
 * dim's typed errors. Each has a stable `code`, the HTTP status the API answers with, and,
 * where input was at fault, the `field` it names. The API's error middleware turns them
 * into problem+json, the CLI into one line, activities into non-retryable failures.
 */
export class DimError extends Error {
  override readonly name: string = 'DimError';
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly field?: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export const Errors = {
  invalid: (field: string, reason: string) =>
    new DimError('invalid_input', 400, `${field}: ${reason}`, field),
  notFound: (what: string, id: string | number) =>
    new DimError('not_found', 404, `${what} ${id} does not exist`, undefined, { id }),
  conflict: (message: string, field?: string) => new DimError('conflict', 409, message, field),
  forbidden: (message: string, field?: string) => new DimError('forbidden', 403, message, field),
  unavailable: (message: string, retryAfterS?: number) =>
    new DimError('unavailable', 503, message, undefined, retryAfterS ? { retryAfterS } : {}),
  tooLarge: (message: string) => new DimError('too_large', 413, message),
  /** A browser request from another site, refused while no API keys are configured. */
  crossSite: (field: string, reason: string) =>
    new DimError(
      'cross_site',
      403,
      `${field}: ${reason}; with no API keys configured dim accepts changes only from its own origin or from clients that are not browsers (configure DIM_API_KEYS to call it from elsewhere)`,
      field,
    ),
  unsupportedMediaType: (field: string, reason: string) =>
    new DimError('unsupported_media_type', 415, `${field}: ${reason}`, field),
};

/**
 * A storage failure (storage/): a DimError that also says whether trying again can help.
 * Activities turn `retryable: false` into a non-retryable failure; the API maps `status`.
 */
export class StorageError extends DimError {
  override readonly name: string = 'StorageError';
  constructor(
    code: string,
    status: number,
    message: string,
    readonly retryable: boolean,
    opts: { field?: string; extra?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(code, status, message, opts.field, opts.extra ?? {});
    if (opts.cause !== undefined) this.cause = opts.cause;
  }
}

/** One factory per storage failure. `uri` is the dataset or object the operation was about. */
export const StorageErrors = {
  invalidUri: (uri: string, reason: string, field = 'uri') =>
    new StorageError(
      'invalid_uri',
      400,
      `${field}: ${reason} (got ${JSON.stringify(uri)})`,
      false,
      {
        field,
        extra: { uri },
      },
    ),
  schemeNotSupported: (uri: string, scheme: string, field = 'uri') =>
    new StorageError(
      'scheme_not_supported',
      400,
      `${field}: scheme "${scheme}:" is not supported; use file:///abs/path, s3://bucket/prefix or gs://bucket/prefix`,
      false,
      { field, extra: { uri, scheme } },
    ),
  invalidKey: (key: string, reason: string) =>
    new StorageError('invalid_key', 400, `object key ${JSON.stringify(key)}: ${reason}`, false, {
      field: 'key',
      extra: { key },
    }),
  invalidRange: (reason: string) =>
    new StorageError('invalid_range', 400, `range: ${reason}`, false, { field: 'range' }),
  invalidStorageClass: (storageClass: string, scheme: string, allowed: readonly string[]) =>
    new StorageError(
      'invalid_storage_class',
      400,
      `storage_class: "${storageClass}" is not a ${scheme} storage class${allowed.length ? ` (one of ${allowed.join(', ')})` : ''}`,
      false,
      { field: 'storage_class', extra: { storageClass, scheme } },
    ),
  outsideRoots: (uri: string, resolved: string, roots: readonly string[], field = 'uri') =>
    new StorageError(
      'outside_roots',
      403,
      `${field}: ${uri} resolves to ${resolved}, which is outside the allowed file roots (${roots.join(', ') || 'none configured'})`,
      false,
      { field, extra: { uri, resolved } },
    ),
  wholeRoot: (uri: string, what: string, field = 'uri') =>
    new StorageError(
      'whole_root',
      400,
      `${field}: ${uri} is ${what}: a dataset must be a location inside it (e.g. ${uri.replace(/\/+$/, '')}/<name>); an administrator may allow whole roots and buckets with DIM_ALLOW_WHOLE_ROOT_DATASETS=true`,
      false,
      { field, extra: { uri } },
    ),
  outsideBuckets: (
    uri: string,
    scheme: string,
    bucket: string,
    allowed: readonly string[],
    field = 'uri',
  ) =>
    new StorageError(
      'outside_buckets',
      400,
      `${field}: bucket ${scheme}://${bucket} is not one of the configured buckets (DIM_BUCKETS: ${allowed.map((b) => `${scheme}://${b}`).join(', ') || `no ${scheme}:// bucket`})`,
      false,
      { field, extra: { uri, bucket } },
    ),
  notFound: (uri: string) =>
    new StorageError('not_found', 404, `${uri} does not exist`, false, { extra: { uri } }),
  bucketNotFound: (scheme: string, bucket: string) =>
    new StorageError(
      'bucket_not_found',
      404,
      `bucket ${scheme}://${bucket} does not exist`,
      false,
      {
        extra: { bucket },
      },
    ),
  accessDenied: (uri: string, detail?: string) =>
    new StorageError(
      'access_denied',
      403,
      `access to ${uri} was denied${detail ? `: ${detail}` : ''}`,
      false,
      { extra: { uri } },
    ),
  badCredentials: (scheme: string, detail: string) =>
    new StorageError(
      'bad_credentials',
      403,
      `the ${scheme} credentials were rejected or are missing: ${detail}`,
      false,
      { extra: { scheme } },
    ),
  conflict: (uri: string, detail: string) =>
    new StorageError('storage_conflict', 409, `${uri}: ${detail}`, false, { extra: { uri } }),
  throttled: (uri: string, detail?: string) =>
    new StorageError(
      'throttled',
      429,
      `the storage service is throttling requests for ${uri}${detail ? `: ${detail}` : ''}; retry later`,
      true,
      { extra: { uri } },
    ),
  checksumMismatch: (uri: string, expected: string, actual: string) =>
    new StorageError(
      'checksum_mismatch',
      503,
      `${uri}: checksum mismatch (sent ${expected}, stored ${actual})`,
      true,
      { extra: { uri, expected, actual } },
    ),
  /** A symbolic link inside a dataset (file://): dim neither follows nor deletes through one. */
  symlinkInDataset: (uri: string) =>
    new StorageError(
      'symlink_in_dataset',
      409,
      `the dataset holds a symbolic link at ${uri}: dim does not follow links inside a dataset; replace it with the files it points to, or remove it`,
      false,
      { extra: { uri } },
    ),
  /** The object is no longer the one a listing saw (conditional read); retryable: list again. */
  objectChanged: (uri: string, detail: string) =>
    new StorageError(
      'source_changed',
      503,
      `the source object ${uri} changed since it was listed: ${detail}`,
      true,
      { extra: { uri } },
    ),
  unavailable: (uri: string, detail: string, cause?: unknown) =>
    new StorageError(
      'storage_unavailable',
      503,
      `storage for ${uri} is unavailable: ${detail}`,
      true,
      {
        extra: { uri },
        cause,
      },
    ),
};

/**
 * Whether an error is worth retrying: a StorageError says so itself; other DimErrors are
 * about input or state and are not; anything else (a bug, a network blip) may be.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof StorageError) return err.retryable;
  if (err instanceof DimError) return err.code === 'unavailable';
  return true;
}
