/**
 * The current rate of a copy: bytes per second over the last `windowMs` (default 5 s), from
 * samples of a running byte count. Pure: the caller passes the clock.
 */
export class RateMeter {
  private samples: { at: number; total: number }[] = [];
  constructor(private readonly windowMs = 5000) {}

  /** Records the running total at time `at` (ms). */
  add(at: number, total: number): void {
    this.samples.push({ at, total });
    // Keep one sample at or before the window's start, so the window is always covered.
    while (this.samples.length > 2 && this.samples[1]!.at <= at - this.windowMs) {
      this.samples.shift();
    }
  }

  /** Bytes per second between the oldest sample in the window and the newest; 0 before two samples. */
  rate(): number {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.at <= first.at) return 0;
    return Math.max(0, ((last.total - first.total) * 1000) / (last.at - first.at));
  }
}
