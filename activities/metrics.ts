import type { JobStatus } from '../store/schema';

/** In-process counters of the mover, exposed by the worker's /metrics (Prometheus text). */
export class MoverMetrics {
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
      '# HELP dim_migration_jobs_status_total Migration jobs that entered each status (on this worker).',
      '# TYPE dim_migration_jobs_status_total counter',
    ];
    for (const [status, n] of [...this.statusChanges].sort(([a], [b]) => a.localeCompare(b))) {
      out.push(`dim_migration_jobs_status_total{status="${status}"} ${n}`);
    }
    return out;
  }
}
