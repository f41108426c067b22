import type { Logger } from '../runtime/log';
import type { StorageDriver } from '../storage/driver';
import type { Db } from '../store/db';
import type { HashAlgorithm } from './hashing';
import type { MoverMetrics } from './metrics';

/** Knobs of the mover; the defaults suit a worker, tests and benchmarks turn them. */
export interface MoverTuning {
  /** The hash where neither end reports server checksums (DIM_FILE_HASH; default blake3). */
  fileHash?: HashAlgorithm;
  /** Objects copied or verified at once (default 16). */
  concurrency?: number;
  /** A bandwidth cap for one copy, in bytes per second (default: none). */
  maxBytesPerSecond?: number;
  /** Objects at least this large are written resumably where the destination's driver can (64 MiB). */
  resumableMinBytes?: number;
  /** How often a resumable write records a checkpoint (default 1000 ms). */
  checkpointMs?: number;
  /**
   * @deprecated Ignored: the drivers own their writes; the file driver's `fsync` option
   * (storage overrides) decides whether its writes are synced. Kept so callers still compile.
   */
  fsync?: boolean;
}

/** What the mover (copy, verify, cleanup, retire) needs from the outside world. */
export interface MoverEnv {
  db: Db;
  storage: { driverFor(uri: string): StorageDriver };
  log: Logger;
  tuning?: MoverTuning;
  metrics?: MoverMetrics;
}
