import type { Config } from '../config';
import type { StorageDriver } from './driver';
import { FileDriver, type FileDriverOptions } from './drivers/file';
import { GcsDriver, type GcsDriverOptions } from './drivers/gcs';
import { S3Driver, type S3DriverOptions } from './drivers/s3';
import { parseStorageUri, type StorageLocation, type StorageScheme } from './uri';

export type { ObjectInfo, StorageDriver, WriteOptions } from './driver';
export { FileDriver } from './drivers/file';
export { GcsDriver } from './drivers/gcs';
export { S3Driver } from './drivers/s3';
export {
  parseStorageUri,
  resolveFileUri,
  validateKey,
  objectUri,
  type BucketLocation,
  type FileLocation,
  type StorageLocation,
  type StorageScheme,
} from './uri';

export type StorageConfig = Config['storage'];

/** Extra driver options beyond the configuration (tests, benchmarks, tuning). */
export interface StorageOverrides {
  file?: Partial<Omit<FileDriverOptions, 'roots'>>;
  s3?: Partial<Omit<S3DriverOptions, 'endpoint' | 'region' | 'buckets'>>;
  gcs?: Partial<Omit<GcsDriverOptions, 'endpoint' | 'projectId' | 'buckets'>>;
}

export interface Storage {
  /** The driver for a URI's scheme. Throws invalid_uri / scheme_not_supported. */
  driverFor(uri: string): StorageDriver;
  /** Parses and validates a storage URI (no I/O). */
  parse(uri: string, field?: string): StorageLocation;
  /** Releases the drivers' connections. */
  close(): Promise<void>;
}

/**
 * The storage drivers for one configuration, chosen by URI scheme. Endpoints come only
 * from `config` (invariant 6): an s3:// or gs:// URI without a configured endpoint goes to
 * AWS or Google themselves, never to a host named in a request; and the S3 and GCS drivers
 * refuse every bucket outside `config.buckets` (DIM_BUCKETS) when it is set. The cloud
 * drivers are created on first use.
 */
export function createStorage(config: StorageConfig, overrides: StorageOverrides = {}): Storage {
  const drivers = new Map<StorageScheme, StorageDriver>();
  const make = (scheme: StorageScheme): StorageDriver => {
    switch (scheme) {
      case 'file':
        return new FileDriver({ ...overrides.file, roots: config.fileRoots });
      case 's3':
        return new S3Driver({
          ...overrides.s3,
          endpoint: config.s3.endpoint,
          region: config.s3.region,
          buckets: config.buckets?.s3,
        });
      case 'gs':
        return new GcsDriver({
          ...overrides.gcs,
          endpoint: config.gcs.endpoint,
          projectId: config.gcs.projectId,
          buckets: config.buckets?.gs,
        });
    }
  };
  return {
    parse: (uri, field) => parseStorageUri(uri, field),
    driverFor(uri: string): StorageDriver {
      const { scheme } = parseStorageUri(uri);
      let d = drivers.get(scheme);
      if (!d) {
        d = make(scheme);
        drivers.set(scheme, d);
      }
      return d;
    },
    async close(): Promise<void> {
      const all = [...drivers.values()];
      drivers.clear();
      await Promise.all(all.map((d) => (d.close ? d.close() : Promise.resolve())));
    },
  };
}
