import { Registry, type Counter, type Gauge } from 'prom-client';
import { counter, gauge } from '../runtime/metrics';
import type { JobStatus } from '../store/schema';

type Progress = Pick<ActiveStep, 'bytes_done' | 'bytes_total' | 'objects_done' | 'objects_total'>;

/** One copy or verify running on this worker now (the worker's GET /jobs). */
export interface ActiveStep {
  job_id: string;
  step: 'copy' | 'verify';
  attempt: number;
  started_at: string;
  bytes_done: number;
  bytes_total: number;
  objects_done: number;
  objects_total: number;
}

/**
 * The mover's counters, as prom-client metrics in the process registry (runtime/metrics.ts):
 * `dim_mover_bytes_copied_total`, `dim_mover_bytes_verified_total`,
 * `dim_mover_objects_copied_total`, `dim_mover_objects_verified_total`,
 * `dim_mover_active_steps{step}` and `dim_migration_jobs_status_total{status}`.
 * Without a registry (tests) it keeps its own.
 */
export class MoverMetrics {
  /** The copies and verifies in flight here, by activity id. */
  readonly active = new Map<string, ActiveStep>();
  private readonly bytesCopiedTotal: Counter;
  private readonly bytesVerifiedTotal: Counter;
  private readonly objectsCopiedTotal: Counter;
  private readonly objectsVerifiedTotal: Counter;
  private readonly activeSteps: Gauge<'step'>;
  private readonly statusTotal: Counter<'status'>;
  // What this instance counted (the registry's counters may be shared with another).
  private counted = { bytesCopied: 0, bytesVerified: 0, objectsCopied: 0, objectsVerified: 0 };

  constructor(readonly registry: Registry = new Registry()) {
    this.bytesCopiedTotal = counter(registry, {
      name: 'dim_mover_bytes_copied_total',
      help: 'Bytes the copy activities wrote to destinations.',
    });
    this.bytesVerifiedTotal = counter(registry, {
      name: 'dim_mover_bytes_verified_total',
      help: 'Bytes the verify activities re-read and hashed.',
    });
    this.objectsCopiedTotal = counter(registry, {
      name: 'dim_mover_objects_copied_total',
      help: 'Objects the copy activities wrote.',
    });
    this.objectsVerifiedTotal = counter(registry, {
      name: 'dim_mover_objects_verified_total',
      help: 'Destination objects the verify activities found equal to the manifest.',
    });
    this.activeSteps = gauge(registry, {
      name: 'dim_mover_active_steps',
      help: 'Copy and verify activities running on this worker now.',
      labelNames: ['step'],
    });
    for (const step of ['copy', 'verify']) this.activeSteps.inc({ step }, 0);
    this.statusTotal = counter(registry, {
      name: 'dim_migration_jobs_status_total',
      help: 'Migration jobs that entered each status (mirrored by this worker).',
      labelNames: ['status'],
    });
  }

  get bytesCopied(): number {
    return this.counted.bytesCopied;
  }

  get bytesVerified(): number {
    return this.counted.bytesVerified;
  }

  get objectsCopied(): number {
    return this.counted.objectsCopied;
  }

  /** `metrics.objectsCopied++` (activities/copy.ts) counts one object more. */
  set objectsCopied(n: number) {
    const by = n - this.counted.objectsCopied;
    this.counted.objectsCopied = n;
    if (by > 0) this.objectsCopiedTotal.inc(by);
  }

  get objectsVerified(): number {
    return this.counted.objectsVerified;
  }

  addBytesCopied(n: number): void {
    if (!(n > 0)) return;
    this.counted.bytesCopied += n;
    this.bytesCopiedTotal.inc(n);
  }

  addBytesVerified(n: number): void {
    if (!(n > 0)) return;
    this.counted.bytesVerified += n;
    this.bytesVerifiedTotal.inc(n);
  }

  addObjectsVerified(n: number): void {
    if (!(n > 0)) return;
    this.counted.objectsVerified += n;
    this.objectsVerifiedTotal.inc(n);
  }

  addStatus(status: JobStatus): void {
    this.statusTotal.inc({ status });
  }

  /** Records a step starting; returns the function that records its progress. */
  begin(id: string, step: Omit<ActiveStep, 'started_at' | keyof Progress>): (p: Progress) => void {
    const entry: ActiveStep = {
      ...step,
      started_at: new Date().toISOString(),
      bytes_done: 0,
      bytes_total: 0,
      objects_done: 0,
      objects_total: 0,
    };
    const before = this.active.get(id);
    if (before) this.activeSteps.dec({ step: before.step });
    this.active.set(id, entry);
    this.activeSteps.inc({ step: entry.step });
    return (p) => {
      entry.bytes_done = p.bytes_done;
      entry.bytes_total = p.bytes_total;
      entry.objects_done = p.objects_done;
      entry.objects_total = p.objects_total;
    };
  }

  end(id: string): void {
    const entry = this.active.get(id);
    if (!entry) return;
    this.active.delete(id);
    this.activeSteps.dec({ step: entry.step });
  }
}
