import type { TierName } from '../types';

/**
 * A trace for `dim simulate`: datasets, and their access events bucketed on the step grid.
 * Pure data; the CLI parses the files, this folds them into arrays the strategies share.
 *
 * The grid (issue 10, item 6): steps of `stepMs` aligned to multiples of the step since the
 * Unix epoch, from the start of the step holding the first event to the end of the step
 * holding the last. Step k is [t0 + k·step, t0 + (k+1)·step); the decision at boundary k
 * knows the events of steps 0..k-1 only.
 */
export interface SimDataset {
  id: number;
  name: string;
  size_bytes: number;
  object_count: number;
  latency_slo_ms: number | null;
  current_tier: TierName;
  policy: string | null;
}

export type SimOp = 'read' | 'write';

/**
 * The events of one dataset, folded per step that holds at least one ("active" steps), in
 * time order. Slices [off[i], off[i+1]) of the arrays belong to dataset i.
 */
export interface Trace {
  datasets: SimDataset[];
  stepMs: number;
  /** Start of step 0 (ms since the epoch). */
  t0: number;
  /** Number of steps; 0 when there are no events. */
  steps: number;
  events: number;
  off: Int32Array;
  step: Int32Array;
  reads: Float64Array;
  writes: Float64Array;
  bytesRead: Float64Array;
  bytesWritten: Float64Array;
  /** The time of the last event in the step. */
  lastTs: Float64Array;
}

/** Collects events (in time order) into columns, then folds them per dataset and step. */
export class TraceBuilder {
  private n = 0;
  private ds = new Int32Array(1024);
  private op = new Uint8Array(1024);
  private size = new Float64Array(1024);
  private ts = new Float64Array(1024);

  constructor(readonly datasets: SimDataset[]) {}

  /** `dsIndex` is the dataset's index in `datasets`; events must come in time order. */
  add(dsIndex: number, op: SimOp, sizeBytes: number, ts: number): void {
    if (this.n === this.ds.length) this.grow();
    const i = this.n++;
    this.ds[i] = dsIndex;
    this.op[i] = op === 'read' ? 0 : 1;
    this.size[i] = sizeBytes;
    this.ts[i] = ts;
  }

  get count(): number {
    return this.n;
  }

  private grow(): void {
    const m = this.ds.length * 2;
    const g = <T extends Int32Array | Uint8Array | Float64Array>(a: T, make: (n: number) => T) => {
      const b = make(m);
      b.set(a);
      return b;
    };
    this.ds = g(this.ds, (k) => new Int32Array(k));
    this.op = g(this.op, (k) => new Uint8Array(k));
    this.size = g(this.size, (k) => new Float64Array(k));
    this.ts = g(this.ts, (k) => new Float64Array(k));
  }

  build(stepMs: number): Trace {
    const nd = this.datasets.length;
    const n = this.n;
    const t0 = n === 0 ? 0 : Math.floor(this.ts[0]! / stepMs) * stepMs;
    const steps = n === 0 ? 0 : Math.floor((this.ts[n - 1]! - t0) / stepMs) + 1;
    // A stable counting sort by dataset keeps each dataset's events in time order.
    const count = new Int32Array(nd + 1);
    for (let i = 0; i < n; i++) count[this.ds[i]! + 1]!++;
    for (let d = 0; d < nd; d++) count[d + 1]! += count[d]!;
    const order = new Int32Array(n);
    const at = count.slice(0, nd);
    for (let i = 0; i < n; i++) order[at[this.ds[i]!]!++] = i;
    // Fold events of the same dataset and step.
    const off = new Int32Array(nd + 1);
    const step = new Int32Array(n);
    const reads = new Float64Array(n);
    const writes = new Float64Array(n);
    const bytesRead = new Float64Array(n);
    const bytesWritten = new Float64Array(n);
    const lastTs = new Float64Array(n);
    let a = -1;
    for (let d = 0; d < nd; d++) {
      off[d] = a + 1;
      let cur = -1;
      for (let j = count[d]!; j < count[d + 1]!; j++) {
        const e = order[j]!;
        const ts = this.ts[e]!;
        const k = Math.floor((ts - t0) / stepMs);
        if (k !== cur) {
          a++;
          cur = k;
          step[a] = k;
        }
        if (this.op[e] === 0) {
          reads[a]!++;
          bytesRead[a]! += this.size[e]!;
        } else {
          writes[a]!++;
          bytesWritten[a]! += this.size[e]!;
        }
        lastTs[a] = ts;
      }
    }
    off[nd] = a + 1;
    const m = a + 1;
    return {
      datasets: this.datasets,
      stepMs,
      t0,
      steps,
      events: n,
      off,
      step: step.slice(0, m),
      reads: reads.slice(0, m),
      writes: writes.slice(0, m),
      bytesRead: bytesRead.slice(0, m),
      bytesWritten: bytesWritten.slice(0, m),
      lastTs: lastTs.slice(0, m),
    };
  }
}
