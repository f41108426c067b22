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

/** In-process counters of the mover, exposed by the worker's /metrics (Prometheus text). */
export class MoverMetrics {
  /** The copies and verifies in flight here, by activity id. */
  readonly active = new Map<string, ActiveStep>();
  bytesCopied = 0;
  bytesVerified = 0;
  objectsCopied = 0;
  readonly statusChanges = new Map<JobStatus, number>();

  addBytesCopied(n: number): void {
    this.bytesCopied += n;
  }

  addBytesVerified(n: number): void {
    this.bytesVerified += n;
  }

  addStatus(status: JobStatus): void {
    this.statusChanges.set(status, (this.statusChanges.get(status) ?? 0) + 1);
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
    this.active.set(id, entry);
    return (p) => {
      entry.bytes_done = p.bytes_done;
      entry.bytes_total = p.bytes_total;
      entry.objects_done = p.objects_done;
      entry.objects_total = p.objects_total;
    };
  }

  end(id: string): void {
    this.active.delete(id);
  }

  /** Prometheus exposition lines. */
  lines(): string[] {
    const out = [
      '# HELP dim_mover_bytes_copied_total Bytes the copy activities wrote to destinations.',
      '# TYPE dim_mover_bytes_copied_total counter',
      `dim_mover_bytes_copied_total ${this.bytesCopied}`,
      '# HELP dim_mover_bytes_verified_total Bytes the verify activities re-read and hashed.',
      '# TYPE dim_mover_bytes_verified_total counter',
      `dim_mover_bytes_verified_total ${this.bytesVerified}`,
      '# HELP dim_mover_objects_copied_total Objects the copy activities wrote.',
      '# TYPE dim_mover_objects_copied_total counter',
      `dim_mover_objects_copied_total ${this.objectsCopied}`,
      '# HELP dim_mover_active_steps Copy and verify activities running on this worker.',
      '# TYPE dim_mover_active_steps gauge',
      `dim_mover_active_steps ${this.active.size}`,
      '# HELP dim_migration_jobs_status_total Migration jobs that entered each status (on this worker).',
      '# TYPE dim_migration_jobs_status_total counter',
    ];
    for (const [status, n] of [...this.statusChanges].sort(([a], [b]) => a.localeCompare(b))) {
      out.push(`dim_migration_jobs_status_total{status="${status}"} ${n}`);
    }
    return out;
  }
}
