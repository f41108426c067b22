import type { Logger } from '../runtime/log';
import type { StorageDriver } from '../storage/driver';
import type { Db } from '../store/db';
import type { MoverMetrics } from './metrics';

/** Knobs of the mover; the defaults suit a worker, tests and benchmarks turn them. */
export interface MoverTuning {
  /** Objects copied or verified at once (default 16). */
  concurrency?: number;
  /** A bandwidth cap for one copy, in bytes per second (default: none). */
  maxBytesPerSecond?: number;
  /** Objects at least this large are written resumably where the destination allows (64 MiB). */
  resumableMinBytes?: number;
  /** How often a resumable write records a checkpoint (default 1000 ms). */
  checkpointMs?: number;
  /** Sync resumable writes at checkpoints and before their rename (default true). */
  fsync?: boolean;
}

/** What the mover (copy, verify, cleanup, retire) needs from the outside world. */
export interface MoverEnv {
  db: Db;
  storage: { driverFor(uri: string): StorageDriver };
  /** The file roots (config.storage.fileRoots): enables resumable file:// writes and checks. */
  fileRoots?: readonly string[];
  log: Logger;
  tuning?: MoverTuning;
  metrics?: MoverMetrics;
}
