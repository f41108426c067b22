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
  unavailable: (message: string, retryAfterS?: number) =>
    new DimError('unavailable', 503, message, undefined, retryAfterS ? { retryAfterS } : {}),
  tooLarge: (message: string) => new DimError('too_large', 413, message),
};
