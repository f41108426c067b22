/**
 * A bandwidth limit for one activity's streams (operators cap how hard a migration may hit
 * the storage), shared by all of them and changeable while they run (POST /jobs/{id}/bandwidth).
 *
 * A token bucket without a burst: callers queue in order, the first is let through as soon
 * as the bucket is not in debt, and its bytes are booked as debt that drains at the current
 * rate. The debt is counted in bytes, not in time, so a new rate applies at once to what is
 * still owed: raising the limit mid-copy wakes the waiters early, lowering it holds them
 * longer. No rate (undefined) lets everything through.
 */
export class Throttle {
  /** Bytes booked beyond what the rate has paid off since `at` (never negative: no burst). */
  private debt = 0;
  private at = Date.now();
  private rate: number | undefined;
  private readonly queue: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(bytesPerSecond?: number) {
    this.setRate(bytesPerSecond);
  }

  /** The current limit in bytes per second (undefined: none). */
  get bytesPerSecond(): number | undefined {
    return this.rate;
  }

  /** Changes the limit; waiting callers are rescheduled at the new rate. */
  setRate(bytesPerSecond: number | undefined): void {
    if (bytesPerSecond !== undefined && !(bytesPerSecond > 0 && Number.isFinite(bytesPerSecond)))
      throw new Error('the bandwidth limit must be a positive number of bytes per second');
    this.drain(Date.now());
    this.rate = bytesPerSecond;
    if (bytesPerSecond === undefined) this.debt = 0;
    this.pump();
  }

  /** Resolves when `bytes` may be sent (at once while the budget allows). */
  take(bytes: number, signal?: AbortSignal): Promise<void> {
    if (this.rate === undefined && this.queue.length === 0) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { bytes, resolve, reject, signal, onAbort: undefined };
      if (signal) {
        w.onAbort = () => {
          const i = this.queue.indexOf(w);
          if (i >= 0) this.queue.splice(i, 1);
          reject(abortReason(signal));
          this.pump();
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.queue.push(w);
      this.pump();
    });
  }

  /** Pays off the debt for the time since the last look. */
  private drain(now: number): void {
    if (this.rate !== undefined && now > this.at) {
      this.debt = Math.max(0, this.debt - ((now - this.at) * this.rate) / 1000);
    }
    this.at = now;
  }

  /** Lets through whoever may go now, and sets a timer for the next one. */
  private pump(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.drain(Date.now());
    for (;;) {
      const w = this.queue[0];
      if (!w) return;
      // Fractions of a byte left by the clock's millisecond grain do not make anyone wait.
      if (this.rate !== undefined && this.debt >= 1) {
        const ms = Math.ceil((this.debt * 1000) / this.rate);
        this.timer = setTimeout(() => this.pump(), ms);
        return;
      }
      this.queue.shift();
      if (w.onAbort) w.signal?.removeEventListener('abort', w.onAbort);
      if (this.rate !== undefined) this.debt += w.bytes;
      w.resolve();
    }
  }
}

interface Waiter {
  bytes: number;
  resolve: () => void;
  reject: (err: Error) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted');
}
