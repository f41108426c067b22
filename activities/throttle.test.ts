import { Throttle } from './throttle';

/** The throttle on jest's fake clock: when each caller is let through, never how long a test takes. */
describe('Throttle', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  /** Starts `take(bytes)` and reports whether it has resolved. */
  function taking(t: Throttle, bytes: number, signal?: AbortSignal) {
    const state = { done: false, error: undefined as unknown };
    t.take(bytes, signal).then(
      () => (state.done = true),
      (err: unknown) => (state.error = err),
    );
    return state;
  }

  it('without a limit lets everything through at once', async () => {
    const t = new Throttle();
    const a = taking(t, 1e9);
    await jest.advanceTimersByTimeAsync(0);
    expect(a.done).toBe(true);
  });

  it('lets the first chunk through and paces the next ones at the rate, in order', async () => {
    const t = new Throttle(1000);
    const a = taking(t, 1000);
    const b = taking(t, 500);
    const c = taking(t, 500);
    await jest.advanceTimersByTimeAsync(0);
    expect([a.done, b.done, c.done]).toEqual([true, false, false]);
    await jest.advanceTimersByTimeAsync(999);
    expect(b.done).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    expect([b.done, c.done]).toEqual([true, false]);
    await jest.advanceTimersByTimeAsync(500);
    expect(c.done).toBe(true);
  });

  it('does not save up idle time as a burst', async () => {
    const t = new Throttle(1000);
    await jest.advanceTimersByTimeAsync(10_000);
    const a = taking(t, 1000);
    const b = taking(t, 1000);
    await jest.advanceTimersByTimeAsync(0);
    expect([a.done, b.done]).toEqual([true, false]);
  });

  it('applies a raised limit to what is still owed, waking the waiter early', async () => {
    const t = new Throttle(1000);
    taking(t, 1000);
    const b = taking(t, 1000);
    await jest.advanceTimersByTimeAsync(100); // 900 bytes still owed: 900 ms at 1000 B/s
    t.setRate(10_000); // 90 ms at 10000 B/s
    await jest.advanceTimersByTimeAsync(89);
    expect(b.done).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    expect(b.done).toBe(true);
  });

  it('applies a lowered limit to what is still owed, holding the waiter longer', async () => {
    const t = new Throttle(10_000);
    taking(t, 10_000);
    const b = taking(t, 1);
    await jest.advanceTimersByTimeAsync(500); // 5000 bytes owed
    t.setRate(1000); // 5 s
    await jest.advanceTimersByTimeAsync(4999);
    expect(b.done).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    expect(b.done).toBe(true);
  });

  it('lifting the limit lets every waiter through at once; setting one later paces again', async () => {
    const t = new Throttle(1);
    taking(t, 1e6);
    const waiting = [taking(t, 1e6), taking(t, 1e6)];
    await jest.advanceTimersByTimeAsync(1000);
    expect(waiting.map((w) => w.done)).toEqual([false, false]);
    t.setRate(undefined);
    await jest.advanceTimersByTimeAsync(0);
    expect(waiting.map((w) => w.done)).toEqual([true, true]);
    expect(t.bytesPerSecond).toBeUndefined();

    t.setRate(1000);
    const a = taking(t, 1000);
    const b = taking(t, 1000);
    await jest.advanceTimersByTimeAsync(0);
    expect([a.done, b.done]).toEqual([true, false]);
    await jest.advanceTimersByTimeAsync(1000);
    expect(b.done).toBe(true);
  });

  it('an aborted waiter leaves the queue with the abort reason; the next one moves up', async () => {
    const t = new Throttle(1000);
    taking(t, 1000);
    const ctl = new AbortController();
    const b = taking(t, 1000, ctl.signal);
    const c = taking(t, 1);
    ctl.abort(new Error('cancelled'));
    await jest.advanceTimersByTimeAsync(0);
    expect((b.error as Error).message).toBe('cancelled');
    await jest.advanceTimersByTimeAsync(1000);
    expect(c.done).toBe(true);
    expect(b.done).toBe(false);
  });

  it('refuses a limit that is not a positive number', () => {
    expect(() => new Throttle(0)).toThrow(/positive/);
    expect(() => new Throttle(1).setRate(-1)).toThrow(/positive/);
    expect(() => new Throttle(1).setRate(Number.NaN)).toThrow(/positive/);
  });
});
