import type { Logger } from '../runtime/log';
import type { Db } from '../store/db';
import { recordCopyRate } from '../store/jobs';
import { effectiveLimit } from '../migrations/bandwidth';
import { RateMeter } from './rate';
import type { Throttle } from './throttle';

/**
 * A running copy's side of bandwidth control. Every `everyMs` (1 s) one statement records the
 * copy's current rate on the job row and reads back the job's limit, which the throttle then
 * applies, capped by the worker's own limit. The job row is where a limit change lands (the
 * migration service writes it, and the workflow's `setBandwidth` signal writes it through an
 * activity), so a change reaches a copy that is running, and a copy that a new worker starts
 * after a kill, without restarting it: the limit is read, never carried in the copy's input.
 */
export interface BandwidthWatch {
  /** Records that the copy stopped (rate null) and stops watching. */
  stop(): Promise<void>;
}

export function watchBandwidth(opts: {
  db: Db;
  jobId: string;
  /** The worker's cap (DIM_COPY_MAX_BYTES_PER_S), if any. */
  workerLimit: number | undefined;
  throttle: Throttle;
  /** Bytes this attempt has written so far. */
  copied: () => number;
  log: Logger;
  everyMs?: number;
  now?: () => number;
}): BandwidthWatch {
  const now = opts.now ?? Date.now;
  const meter = new RateMeter();
  meter.add(now(), opts.copied());
  let busy: Promise<void> = Promise.resolve();
  let running = false;
  const tick = () => {
    if (running) return;
    running = true;
    meter.add(now(), opts.copied());
    busy = recordCopyRate(opts.db, opts.jobId, meter.rate())
      .then((row) => {
        if (!row) return;
        const limit = effectiveLimit(row.max_bytes_per_s, opts.workerLimit);
        if (limit !== opts.throttle.bytesPerSecond) {
          opts.log.info('copy bandwidth limit changed', {
            jobId: opts.jobId,
            from: opts.throttle.bytesPerSecond ?? null,
            to: limit ?? null,
          });
          opts.throttle.setRate(limit);
        }
      })
      .catch((err: unknown) =>
        opts.log.warn('could not read the bandwidth limit', { err: String(err) }),
      )
      .finally(() => {
        running = false;
      });
  };
  const timer = setInterval(tick, opts.everyMs ?? 1000);
  return {
    async stop() {
      clearInterval(timer);
      await busy;
      await recordCopyRate(opts.db, opts.jobId, null).catch(() => undefined);
    },
  };
}
