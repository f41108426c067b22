import type SQLite from 'better-sqlite3';
import type { AccessEvent } from '../events/access-event';
import type { Db } from './db';

/**
 * Usage aggregates: what the bridge writes (per-dataset totals, hourly buckets,
 * `datasets.last_access_ts`) and what the API reads back.
 *
 * `AccessWriter.apply` is the bridge's hot path. It takes one batch of one partition and,
 * in ONE SQLite transaction, skips what was applied before (offsets below the stored next
 * offset: redelivery; `dim-id` numbers not above the source's watermark: a re-sent copy),
 * sets aside what is malformed or names an unknown dataset (`dead_letters`), adds the
 * rest to the aggregates and stores the new offset and watermarks. A crash before the
 * commit leaves nothing behind; after it, the offsets say the batch is done. So every
 * event counts exactly once (invariant 5). Raw prepared statements, for speed.
 */
export interface Incoming {
  offset: number;
  /** The decoded event, or why it could not be decoded. */
  event: AccessEvent | undefined;
  error?: string;
  /** The raw value, kept for a dead letter. */
  raw?: () => string;
  /** From the `dim-id` header: the sink instance that sent it and its number there. */
  source?: string;
  n?: number;
}

export interface ApplyResult {
  applied: number;
  /** Already applied: redelivered, or a re-sent copy. */
  skipped: number;
  deadLettered: number;
}

export interface Counters {
  reads: number;
  writes: number;
  bytesRead: number;
  bytesWritten: number;
  latSum: number;
  latCount: number;
  last: number;
}

const newCounters = (): Counters => ({
  reads: 0,
  writes: 0,
  bytesRead: 0,
  bytesWritten: 0,
  latSum: 0,
  latCount: 0,
  last: 0,
});

function add(c: Counters, e: AccessEvent) {
  if (e.op === 'read') {
    c.reads++;
    c.bytesRead += e.size_bytes;
  } else {
    c.writes++;
    c.bytesWritten += e.size_bytes;
  }
  c.latSum += e.client_lat_ms;
  c.latCount++;
  if (e.ts > c.last) c.last = e.ts;
}

export const HOUR_MS = 3_600_000;
export const hourOf = (ts: number) => Math.floor(ts / HOUR_MS) * HOUR_MS;

/** What one batch changes, decided before anything is written (`planBatch`). */
export interface BatchPlan {
  result: ApplyResult;
  deadLetters: Array<{ offset: number; payload: string; error: string }>;
  totals: Map<number, Counters>;
  buckets: Map<string, { id: number; hour: number; c: Counters }>;
  marks: Map<string, { n: number; changed: boolean }>;
}

/**
 * The batch's decisions, the same on both backends: what is redelivered (below the stored
 * offset) or a re-sent copy (not above its source's watermark), what is a dead letter, and
 * what adds to which totals and buckets. `markOf` and `exists` read the database (once per
 * source and per dataset of the batch) inside the caller's transaction.
 */
export function planBatch(
  batch: Incoming[],
  stored: number,
  markOf: (source: string) => number,
  exists: (datasetId: number) => boolean,
): BatchPlan {
  const result: ApplyResult = { applied: 0, skipped: 0, deadLettered: 0 };
  const plan: BatchPlan = {
    result,
    deadLetters: [],
    totals: new Map(),
    buckets: new Map(),
    marks: new Map(),
  };
  const { marks, totals, buckets } = plan;
  const known = new Map<number, boolean>();
  const deadLetter = (m: Incoming, error: string) => {
    plan.deadLetters.push({ offset: m.offset, payload: m.raw ? m.raw() : '', error });
    result.deadLettered++;
  };

  for (const m of batch) {
    if (m.offset < stored) {
      result.skipped++;
      continue;
    }
    if (m.source !== undefined && m.n !== undefined) {
      let mark = marks.get(m.source);
      if (!mark) {
        mark = { n: markOf(m.source), changed: false };
        marks.set(m.source, mark);
      }
      if (m.n <= mark.n) {
        result.skipped++;
        continue;
      }
      mark.n = m.n;
      mark.changed = true;
    }
    const e = m.event;
    if (!e) {
      deadLetter(m, m.error ?? 'malformed');
      continue;
    }
    let ok = known.get(e.dataset_id);
    if (ok === undefined) {
      ok = exists(e.dataset_id);
      known.set(e.dataset_id, ok);
    }
    if (!ok) {
      deadLetter(m, `value.dataset_id: dataset ${e.dataset_id} does not exist`);
      continue;
    }
    let t = totals.get(e.dataset_id);
    if (!t) totals.set(e.dataset_id, (t = newCounters()));
    add(t, e);
    const hour = hourOf(e.ts);
    const key = `${e.dataset_id}:${hour}`;
    let b = buckets.get(key);
    if (!b) buckets.set(key, (b = { id: e.dataset_id, hour, c: newCounters() }));
    add(b.c, e);
    result.applied++;
  }
  return plan;
}

/**
 * The bridge's store of usage aggregates and consumer positions, on either backend
 * (store/access-store.ts): SQLite's `AccessWriter` below, PostgreSQL's in store/access-pg.ts.
 */
export interface AccessStore {
  /**
   * Applies one partition's batch and sets its next offset to `nextOffset` (the offset
   * after the batch's last message), all in one transaction.
   */
  apply(partition: number, batch: Incoming[], nextOffset: number): Promise<ApplyResult>;
  /** The next offset to read per partition, as stored (absent: never read). */
  storedOffset(partition: number): Promise<number | undefined>;
  /** Drops watermarks of sources not seen for `maxAgeMs` (at most once an hour). */
  forgetOldSources(maxAgeMs?: number): Promise<void>;
}

/** SQLite's AccessStore: raw prepared statements in one IMMEDIATE transaction, for speed. */
export class AccessWriter {
  private readonly stmts;
  private lastForget = 0;
  private readonly tx: SQLite.Transaction<
    (partition: number, batch: Incoming[], nextOffset: number) => ApplyResult
  >;

  constructor(
    private readonly sqlite: SQLite.Database,
    /** Name in consumer_offsets / source_marks (the bridge's group). */
    private readonly consumer: string,
    /** The topic (or local log topic) read. */
    private readonly topic: string,
    /** Written into dead_letters.source: `kafka` or `local-log`. */
    private readonly deadLetterSource: string,
  ) {
    const counters = (t: string) =>
      `read_count = ${t}.read_count + excluded.read_count,
       write_count = ${t}.write_count + excluded.write_count,
       bytes_read = ${t}.bytes_read + excluded.bytes_read,
       bytes_written = ${t}.bytes_written + excluded.bytes_written,
       lat_sum_ms = ${t}.lat_sum_ms + excluded.lat_sum_ms,
       lat_count = ${t}.lat_count + excluded.lat_count`;
    this.stmts = {
      offset: sqlite.prepare<[string, string, number], { next_offset: string }>(
        'select next_offset from consumer_offsets where consumer = ? and topic = ? and partition = ?',
      ),
      setOffset: sqlite.prepare<[string, string, number, string, number]>(
        `insert into consumer_offsets (consumer, topic, partition, next_offset, updated_at) values (?, ?, ?, ?, ?)
         on conflict (consumer, topic, partition) do update set next_offset = excluded.next_offset, updated_at = excluded.updated_at`,
      ),
      mark: sqlite.prepare<[string, string, number, string], { last_n: number }>(
        'select last_n from source_marks where consumer = ? and topic = ? and partition = ? and source = ?',
      ),
      setMark: sqlite.prepare<[string, string, number, string, number, number]>(
        `insert into source_marks (consumer, topic, partition, source, last_n, updated_at) values (?, ?, ?, ?, ?, ?)
         on conflict (consumer, topic, partition, source) do update set last_n = excluded.last_n, updated_at = excluded.updated_at`,
      ),
      forget: sqlite.prepare<[string, number]>(
        'delete from source_marks where consumer = ? and updated_at < ?',
      ),
      dataset: sqlite.prepare<[number], { id: number }>('select id from datasets where id = ?'),
      total: sqlite.prepare(
        `insert into access_totals (dataset_id, read_count, write_count, bytes_read, bytes_written, lat_sum_ms, lat_count, last_access_ts)
         values (?, ?, ?, ?, ?, ?, ?, ?)
         on conflict (dataset_id) do update set ${counters('access_totals')},
           last_access_ts = max(coalesce(access_totals.last_access_ts, 0), excluded.last_access_ts)`,
      ),
      bucket: sqlite.prepare(
        `insert into access_aggregates (dataset_id, hour, read_count, write_count, bytes_read, bytes_written, lat_sum_ms, lat_count)
         values (?, ?, ?, ?, ?, ?, ?, ?)
         on conflict (dataset_id, hour) do update set ${counters('access_aggregates')}`,
      ),
      lastAccess: sqlite.prepare<[number, number, number]>(
        'update datasets set last_access_ts = ? where id = ? and (last_access_ts is null or last_access_ts < ?)',
      ),
      deadLetter: sqlite.prepare<[string, string, number, string, string, string, number]>(
        `insert into dead_letters (source, topic, partition, "offset", payload, error, ts) values (?, ?, ?, ?, ?, ?, ?)`,
      ),
    };
    this.tx = sqlite.transaction((p: number, b: Incoming[], next: number) =>
      this.applyInTx(p, b, next),
    );
  }

  /**
   * Drops watermarks of sources not seen for `maxAgeMs` (30 days): every API start is a new
   * source. A copy of a message from such a source, relayed after an outage longer than
   * that, would count again.
   */
  forgetOldSources(maxAgeMs = 30 * 86_400_000): void {
    if (Date.now() - this.lastForget < 3_600_000) return;
    this.lastForget = Date.now();
    this.stmts.forget.run(this.consumer, Date.now() - maxAgeMs);
  }

  /** The next offset to read per partition, as stored (absent: never read). */
  storedOffset(partition: number): number | undefined {
    const row = this.stmts.offset.get(this.consumer, this.topic, partition);
    return row ? Number(row.next_offset) : undefined;
  }

  /**
   * Applies one partition's batch and sets its next offset to `nextOffset` (the offset
   * after the batch's last message), all in one transaction.
   */
  apply(partition: number, batch: Incoming[], nextOffset: number): ApplyResult {
    return this.tx.immediate(partition, batch, nextOffset);
  }

  private applyInTx(partition: number, batch: Incoming[], nextOffset: number): ApplyResult {
    const s = this.stmts;
    const now = Date.now();
    const stored = this.storedOffset(partition) ?? -1;
    const plan = planBatch(
      batch,
      stored,
      (source) => {
        const row = s.mark.get(this.consumer, this.topic, partition, source);
        return row ? Number(row.last_n) : 0;
      },
      (id) => s.dataset.get(id) !== undefined,
    );
    for (const d of plan.deadLetters) {
      s.deadLetter.run(
        this.deadLetterSource,
        this.topic,
        partition,
        String(d.offset),
        d.payload,
        d.error,
        now,
      );
    }
    for (const [id, c] of plan.totals) {
      s.total.run(id, c.reads, c.writes, c.bytesRead, c.bytesWritten, c.latSum, c.latCount, c.last);
      s.lastAccess.run(c.last, id, c.last);
    }
    for (const { id, hour, c } of plan.buckets.values()) {
      s.bucket.run(id, hour, c.reads, c.writes, c.bytesRead, c.bytesWritten, c.latSum, c.latCount);
    }
    for (const [source, mark] of plan.marks) {
      if (mark.changed) s.setMark.run(this.consumer, this.topic, partition, source, mark.n, now);
    }
    if (nextOffset > stored) {
      s.setOffset.run(this.consumer, this.topic, partition, String(nextOffset), now);
    }
    return plan.result;
  }
}

export interface UsageBucket {
  hour: number;
  read_count: number;
  write_count: number;
  bytes_read: number;
  bytes_written: number;
  mean_client_lat_ms: number | null;
}

/** Hourly buckets of one dataset with `from <= hour < to` (only hours with events). */
export async function usageBuckets(
  db: Db,
  datasetId: number,
  from: number,
  to: number,
): Promise<UsageBucket[]> {
  const rows = await db
    .selectFrom('access_aggregates')
    .selectAll()
    .where('dataset_id', '=', datasetId)
    .where('hour', '>=', hourOf(from))
    .where('hour', '<', to)
    .orderBy('hour')
    .execute();
  return rows.map((r) => ({
    hour: Number(r.hour),
    read_count: Number(r.read_count),
    write_count: Number(r.write_count),
    bytes_read: Number(r.bytes_read),
    bytes_written: Number(r.bytes_written),
    mean_client_lat_ms: Number(r.lat_count) > 0 ? r.lat_sum_ms / Number(r.lat_count) : null,
  }));
}
