/**
 * Positional copy and hash loops over a small ring of reused buffers: the next chunks
 * are read while the current one is hashed and the previous ones written, and no buffer
 * is allocated per chunk (streams allocate one per read, which costs more in garbage
 * collection than the copy itself at GB/s). Used by the file driver's resumable writes and
 * by anyone reading a driver's RandomAccessObject.
 */
export const PIPE_CHUNK = 4 * 1024 * 1024;
export const PIPE_SLOTS = 4;

export type ReadAt = (buf: Buffer, length: number, position: number) => Promise<number>;
export type WriteAt = (buf: Buffer, length: number, position: number) => Promise<void>;

export interface PipeOptions {
  read: ReadAt;
  /** [from, to) of the source. */
  from: number;
  to: number;
  /** Sees every chunk, in order, before it is written (the caller hashes and paces here). */
  observe: (chunk: Buffer) => void | Promise<void>;
  signal: AbortSignal;
  chunk?: number;
  slots?: number;
}

export interface CopyPipeOptions extends PipeOptions {
  write: WriteAt;
  /**
   * Called with the length of the written, observed prefix at most every `everyMs`, or once
   * `everyBytes` more were written.
   */
  checkpoint?: { everyMs: number; everyBytes?: number; at: (position: number) => Promise<void> };
}

/** Thrown when the source holds fewer bytes than expected (it changed while read). */
export class ShortReadError extends Error {
  constructor(
    readonly position: number,
    readonly expected: number,
    readonly got: number,
  ) {
    super(`read ${got} bytes at offset ${position}, expected ${expected}`);
  }
}

const isPromise = (p: Promise<void> | undefined): p is Promise<void> => p !== undefined;

interface Job {
  slot: number;
  at: number;
  len: number;
  read: Promise<number>;
}

async function run(o: CopyPipeOptions | PipeOptions, write: WriteAt | undefined): Promise<void> {
  // Buffers no larger than the range (a 2 MiB object needs no 4 MiB buffers).
  const chunk = Math.min(o.chunk ?? PIPE_CHUNK, Math.max(64 * 1024, o.to - o.from));
  const slots = Math.max(1, Math.min(o.slots ?? PIPE_SLOTS, Math.ceil((o.to - o.from) / chunk)));
  const bufs = Array.from({ length: slots }, () => Buffer.allocUnsafeSlow(chunk));
  const writing: Array<Promise<void> | undefined> = new Array<Promise<void> | undefined>(slots);
  const queue: Job[] = [];
  let next = o.from;
  const schedule = (slot: number) => {
    if (next >= o.to) return;
    const at = next;
    const len = Math.min(chunk, o.to - at);
    next += len;
    const free = writing[slot] ?? Promise.resolve();
    const read = free.then(() => o.read(bufs[slot]!, len, at));
    read.catch(() => undefined); // awaited in order below; never unhandled meanwhile
    queue.push({ slot, at, len, read });
  };
  for (let s = 0; s < slots; s++) schedule(s);
  const cp = 'checkpoint' in o ? o.checkpoint : undefined;
  let lastCheckpoint = Date.now();
  let lastAt = o.from;
  try {
    while (queue.length > 0) {
      if (o.signal.aborted)
        throw o.signal.reason instanceof Error ? o.signal.reason : new Error('aborted');
      const job = queue.shift()!;
      const n = await job.read;
      if (n !== job.len) throw new ShortReadError(job.at, job.len, n);
      const b = bufs[job.slot]!.subarray(0, n);
      const seen = o.observe(b);
      if (seen) await seen;
      if (write) {
        const w = write(b, n, job.at);
        w.catch(() => undefined);
        writing[job.slot] = w;
      }
      schedule(job.slot);
      const end = job.at + n;
      if (
        cp &&
        end < o.to &&
        (Date.now() - lastCheckpoint >= cp.everyMs ||
          (cp.everyBytes !== undefined && end - lastAt >= cp.everyBytes))
      ) {
        await Promise.all(writing.filter(isPromise)); // everything up to `end` is written
        await cp.at(end);
        lastCheckpoint = Date.now();
        lastAt = end;
      }
    }
    await Promise.all(writing.filter(isPromise));
  } finally {
    // Never leave reads or writes running into buffers or handles the caller closes.
    await Promise.allSettled([...writing.filter(isPromise), ...queue.map((j) => j.read)]);
  }
}

/** Reads [from, to) through `observe` into `write` at the same offsets. */
export function pipeCopy(o: CopyPipeOptions): Promise<void> {
  return run(o, o.write);
}

/** Reads [from, to) through `observe`. */
export function pipeHash(o: PipeOptions): Promise<void> {
  return run(o, undefined);
}
