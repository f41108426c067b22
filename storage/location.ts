import type { Config } from '../config';
import { Errors } from '../errors';

/**
 * Validates a storage URI from a request and returns it normalized. Placeholder until
 * storage/uri.ts lands: scheme check only.
 */
export function checkLocation(
  uri: string,
  field: string,
  _storage: Config['storage'],
): Promise<string> {
  if (!/^(file|s3|gs):\/\//.test(uri)) {
    return Promise.reject(
      Errors.invalid(field, 'unsupported URI scheme: use file://, s3:// or gs://'),
    );
  }
  return Promise.resolve(uri);
}
