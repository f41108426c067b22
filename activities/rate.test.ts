import { RateMeter } from './rate';

describe('RateMeter', () => {
  it('is 0 before two samples', () => {
    const m = new RateMeter();
    expect(m.rate()).toBe(0);
    m.add(0, 100);
    expect(m.rate()).toBe(0);
  });

  it('measures bytes per second between the oldest sample in the window and the newest', () => {
    const m = new RateMeter(5000);
    for (let s = 0; s <= 5; s++) m.add(s * 1000, s * 1000); // 1000 B/s
    expect(m.rate()).toBe(1000);
    // The rate rises to 10000 B/s; after a full window only the new rate counts.
    for (let s = 6; s <= 11; s++) m.add(s * 1000, 5000 + (s - 5) * 10_000);
    expect(m.rate()).toBe(10_000);
  });

  it('follows a change within the window, not at once', () => {
    const m = new RateMeter(4000);
    for (let s = 0; s <= 4; s++) m.add(s * 1000, 0); // stalled
    m.add(5000, 4000); // 4000 bytes in the last second
    expect(m.rate()).toBe(1000); // averaged over the 4 s window
  });

  it('never reports a negative rate (bytes taken back after a failed write)', () => {
    const m = new RateMeter();
    m.add(0, 1000);
    m.add(1000, 0);
    expect(m.rate()).toBe(0);
  });
});
