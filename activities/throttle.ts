/**
 * A shared bandwidth limit for one activity's streams (operators cap how hard a migration
 * may hit the storage). Virtual-time scheduling: each caller books its bytes after the
 * previous booking and waits until its slot starts.
 */
export class Throttle {
  private nextFree = 0;
  constructor(private readonly bytesPerSecond: number) {
    if (!(bytesPerSecond > 0)) throw new Error('the bandwidth limit must be positive');
  }

  /** Resolves when `bytes` may be sent (at once while the budget allows). */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const now = Date.now();
    const start = Math.max(now, this.nextFree);
    this.nextFree = start + (bytes / this.bytesPerSecond) * 1000;
    const wait = start - now;
    if (wait <= 0) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(done, wait);
      function done() {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }
      function onAbort() {
        clearTimeout(timer);
        reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      }
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
