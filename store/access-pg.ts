import { sql, type Kysely } from 'kysely';
import { planBatch, type AccessStore, type ApplyResult, type Incoming } from './access';
import type { Db } from './db';
import { retrying } from './dialect';
import type { Database } from './schema';

/**
 * The bridge's transaction on PostgreSQL (the AccessStore of store/access.ts, whose
 * `planBatch` makes the same decisions as on SQLite). One read-committed transaction per
 * batch that first takes a transaction-level advisory lock on (consumer, topic,
 * partition): two bridges that both hold a partition for a moment (a rebalance) apply its
 * batches one after the other, and each reads the offset and watermarks the other
 * committed, so a batch is applied once (invariant 5). The aggregates are upserts that
 * add, which PostgreSQL makes atomic per row; they are written in key order, so two
 * partitions' batches touching the same datasets cannot deadlock (and a deadlock or
 * serialization failure would run the batch again). Three statements per batch over
 * arrays (`= any`, `unnest`), not one per row: the lock, one read, one write (data-modifying
 * CTEs). Each round trip to the server costs the bridge and the server CPU (syscalls,
 * wake-ups, parse and plan), which is most of a small batch's cost: bench/bridge-apply.
 */
export class PgAccessStore implements AccessStore {
  private lastForget = 0;

  constructor(
    private readonly db: Db,
    private readonly consumer: string,
    private readonly topic: string,
    private readonly deadLetterSource: string,
  ) {}

  async storedOffset(
    partition: number,
    db: Kysely<Database> = this.db,
  ): Promise<number | undefined> {
    const row = await db
      .selectFrom('consumer_offsets')
      .select('next_offset')
      .where('consumer', '=', this.consumer)
      .where('topic', '=', this.topic)
      .where('partition', '=', partition)
      .executeTakeFirst();
    return row ? Number(row.next_offset) : undefined;
  }

  async forgetOldSources(maxAgeMs = 30 * 86_400_000): Promise<void> {
    if (Date.now() - this.lastForget < 3_600_000) return;
    this.lastForget = Date.now();
    await this.db
      .deleteFrom('source_marks')
      .where('consumer', '=', this.consumer)
      .where('updated_at', '<', Date.now() - maxAgeMs)
      .execute();
  }

  apply(partition: number, batch: Incoming[], nextOffset: number): Promise<ApplyResult> {
    return retrying(this.db, 'read committed', (trx) =>
      this.applyInTx(trx, partition, batch, nextOffset),
    );
  }

  private async applyInTx(
    trx: Kysely<Database>,
    partition: number,
    batch: Incoming[],
    nextOffset: number,
  ): Promise<ApplyResult> {
    const { consumer, topic } = this;
    const now = Date.now();
    // The lock first, in a statement of its own: the reads below must take their snapshot
    // after it is held (read committed: one snapshot per statement), so that they see what
    // a bridge that held the partition before committed.
    await sql`select pg_advisory_xact_lock(hashtext(${JSON.stringify(['dim-bridge', consumer, topic])}), ${partition})`.execute(
      trx,
    );

    // What planBatch may ask, read up front in one statement: the stored offset, the
    // batch's sources' watermarks, which of its datasets exist.
    const sources = new Set<string>();
    const ids = new Set<number>();
    for (const m of batch) {
      if (m.source !== undefined && m.n !== undefined) sources.add(m.source);
      if (m.event) ids.add(m.event.dataset_id);
    }
    const { rows } = await sql<{
      next_offset: string | null;
      marks: Array<[string, number]>;
      existing: number[];
    }>`select
        (select next_offset from consumer_offsets
          where consumer = ${consumer} and topic = ${topic} and partition = ${partition}) as next_offset,
        (select coalesce(json_agg(json_build_array(source, last_n)), '[]') from source_marks
          where consumer = ${consumer} and topic = ${topic} and partition = ${partition}
            and source = any(${[...sources]}::text[])) as marks,
        (select coalesce(json_agg(id), '[]') from datasets
          where id = any(${[...ids]}::integer[])) as existing`.execute(trx);
    const read = rows[0]!;
    const stored = read.next_offset === null ? -1 : Number(read.next_offset);
    const marks = new Map(read.marks);
    const existing = new Set(read.existing);
    const plan = planBatch(
      batch,
      stored,
      (source) => marks.get(source) ?? 0,
      (id) => existing.has(id),
    );

    // Every write in one statement (data-modifying CTEs, each over arrays; an empty array
    // writes nothing). The aggregates go in key order, so two partitions' batches touching
    // the same datasets take their row locks in one order (and a deadlock or serialization
    // failure runs the batch again).
    const d = plan.deadLetters;
    const totals = [...plan.totals].sort((a, b) => a[0] - b[0]);
    const tcol = (f: (c: (typeof totals)[number][1]) => number) => totals.map(([, c]) => f(c));
    const tids = totals.map(([id]) => id);
    const buckets = [...plan.buckets.values()].sort((a, b) => a.id - b.id || a.hour - b.hour);
    const bcol = (f: (c: (typeof buckets)[number]['c']) => number) => buckets.map((b) => f(b.c));
    const changed = [...plan.marks].filter(([, m]) => m.changed);
    const setOffset = nextOffset > stored;
    if (d.length === 0 && totals.length === 0 && changed.length === 0 && !setOffset)
      return plan.result;
    await sql`with
      dead as (
        insert into dead_letters (source, topic, partition, "offset", payload, error, ts)
        select ${this.deadLetterSource}, ${topic}, ${partition}, o, p, e, ${now}
        from unnest(${d.map((x) => String(x.offset))}::text[], ${d.map((x) => noNul(x.payload))}::text[],
          ${d.map((x) => noNul(x.error))}::text[]) as v(o, p, e)),
      totals as (
        insert into access_totals (dataset_id, read_count, write_count, bytes_read,
          bytes_written, lat_sum_ms, lat_count, last_access_ts)
        select * from unnest(${tids}::integer[], ${tcol((c) => c.reads)}::bigint[],
          ${tcol((c) => c.writes)}::bigint[], ${tcol((c) => c.bytesRead)}::bigint[],
          ${tcol((c) => c.bytesWritten)}::bigint[], ${tcol((c) => c.latSum)}::float8[],
          ${tcol((c) => c.latCount)}::bigint[], ${tcol((c) => c.last)}::bigint[])
        on conflict (dataset_id) do update set ${counters('access_totals')},
          last_access_ts = greatest(coalesce(access_totals.last_access_ts, 0), excluded.last_access_ts)),
      last_access as (
        update datasets set last_access_ts = v.ts
        from unnest(${tids}::integer[], ${tcol((c) => c.last)}::bigint[]) as v(id, ts)
        where datasets.id = v.id and (datasets.last_access_ts is null or datasets.last_access_ts < v.ts)),
      hourly as (
        insert into access_aggregates (dataset_id, hour, read_count, write_count,
          bytes_read, bytes_written, lat_sum_ms, lat_count)
        select * from unnest(${buckets.map((b) => b.id)}::integer[],
          ${buckets.map((b) => b.hour)}::bigint[], ${bcol((c) => c.reads)}::bigint[],
          ${bcol((c) => c.writes)}::bigint[], ${bcol((c) => c.bytesRead)}::bigint[],
          ${bcol((c) => c.bytesWritten)}::bigint[], ${bcol((c) => c.latSum)}::float8[],
          ${bcol((c) => c.latCount)}::bigint[])
        on conflict (dataset_id, hour) do update set ${counters('access_aggregates')}),
      watermarks as (
        insert into source_marks (consumer, topic, partition, source, last_n, updated_at)
        select ${consumer}, ${topic}, ${partition}, s, n, ${now}
        from unnest(${changed.map(([source]) => source)}::text[],
          ${changed.map(([, m]) => m.n)}::bigint[]) as v(s, n)
        on conflict (consumer, topic, partition, source) do update
          set last_n = excluded.last_n, updated_at = excluded.updated_at),
      next_offset as (
        insert into consumer_offsets (consumer, topic, partition, next_offset, updated_at)
        select ${consumer}, ${topic}, ${partition}, ${String(nextOffset)}, ${now}
        where ${setOffset}
        on conflict (consumer, topic, partition) do update
          set next_offset = excluded.next_offset, updated_at = excluded.updated_at)
      select 1`.execute(trx);
    return plan.result;
  }
}

const counters = (t: string) =>
  sql.raw(`read_count = ${t}.read_count + excluded.read_count,
    write_count = ${t}.write_count + excluded.write_count,
    bytes_read = ${t}.bytes_read + excluded.bytes_read,
    bytes_written = ${t}.bytes_written + excluded.bytes_written,
    lat_sum_ms = ${t}.lat_sum_ms + excluded.lat_sum_ms,
    lat_count = ${t}.lat_count + excluded.lat_count`);

/** PostgreSQL's text holds no NUL character (SQLite's does): a raw payload's become U+FFFD. */
const noNul = (s: string) => s.replace(/\0/g, '\uFFFD');
