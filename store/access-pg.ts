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
 * serialization failure would run the batch again). Reads and writes are a few
 * statements per batch over arrays (`= any`, `unnest`), not one per row.
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
    await sql`select pg_advisory_xact_lock(hashtext(${JSON.stringify(['dim-bridge', consumer, topic])}), ${partition})`.execute(
      trx,
    );
    const stored = (await this.storedOffset(partition, trx)) ?? -1;

    // What planBatch may ask, read up front in two statements.
    const sources = new Set<string>();
    const ids = new Set<number>();
    for (const m of batch) {
      if (m.offset < stored) continue;
      if (m.source !== undefined && m.n !== undefined) sources.add(m.source);
      if (m.event) ids.add(m.event.dataset_id);
    }
    const marks = new Map<string, number>();
    if (sources.size > 0) {
      const rows = await trx
        .selectFrom('source_marks')
        .select(['source', 'last_n'])
        .where('consumer', '=', consumer)
        .where('topic', '=', topic)
        .where('partition', '=', partition)
        .where(sql<boolean>`source = any(${[...sources]}::text[])`)
        .execute();
      for (const r of rows) marks.set(r.source, Number(r.last_n));
    }
    const existing = new Set<number>();
    if (ids.size > 0) {
      const { rows } = await sql<{
        id: number;
      }>`select id from datasets where id = any(${[...ids]}::integer[])`.execute(trx);
      for (const r of rows) existing.add(r.id);
    }
    const plan = planBatch(
      batch,
      stored,
      (source) => marks.get(source) ?? 0,
      (id) => existing.has(id),
    );

    if (plan.deadLetters.length > 0) {
      const d = plan.deadLetters;
      await sql`insert into dead_letters (source, topic, partition, "offset", payload, error, ts)
        select ${this.deadLetterSource}, ${topic}, ${partition}, o, p, e, ${now}
        from unnest(${d.map((x) => String(x.offset))}::text[], ${d.map((x) => noNul(x.payload))}::text[],
          ${d.map((x) => noNul(x.error))}::text[]) as v(o, p, e)`.execute(trx);
    }
    const totals = [...plan.totals].sort((a, b) => a[0] - b[0]);
    if (totals.length > 0) {
      const col = (f: (c: (typeof totals)[number][1]) => number) => totals.map(([, c]) => f(c));
      const tids = totals.map(([id]) => id);
      await sql`insert into access_totals (dataset_id, read_count, write_count, bytes_read,
          bytes_written, lat_sum_ms, lat_count, last_access_ts)
        select * from unnest(${tids}::integer[], ${col((c) => c.reads)}::bigint[],
          ${col((c) => c.writes)}::bigint[], ${col((c) => c.bytesRead)}::bigint[],
          ${col((c) => c.bytesWritten)}::bigint[], ${col((c) => c.latSum)}::float8[],
          ${col((c) => c.latCount)}::bigint[], ${col((c) => c.last)}::bigint[])
        on conflict (dataset_id) do update set ${counters('access_totals')},
          last_access_ts = greatest(coalesce(access_totals.last_access_ts, 0), excluded.last_access_ts)`.execute(
        trx,
      );
      await sql`update datasets set last_access_ts = v.ts
        from unnest(${tids}::integer[], ${col((c) => c.last)}::bigint[]) as v(id, ts)
        where datasets.id = v.id and (datasets.last_access_ts is null or datasets.last_access_ts < v.ts)`.execute(
        trx,
      );
    }
    const buckets = [...plan.buckets.values()].sort((a, b) => a.id - b.id || a.hour - b.hour);
    if (buckets.length > 0) {
      const col = (f: (c: (typeof buckets)[number]['c']) => number) => buckets.map((b) => f(b.c));
      await sql`insert into access_aggregates (dataset_id, hour, read_count, write_count,
          bytes_read, bytes_written, lat_sum_ms, lat_count)
        select * from unnest(${buckets.map((b) => b.id)}::integer[],
          ${buckets.map((b) => b.hour)}::bigint[], ${col((c) => c.reads)}::bigint[],
          ${col((c) => c.writes)}::bigint[], ${col((c) => c.bytesRead)}::bigint[],
          ${col((c) => c.bytesWritten)}::bigint[], ${col((c) => c.latSum)}::float8[],
          ${col((c) => c.latCount)}::bigint[])
        on conflict (dataset_id, hour) do update set ${counters('access_aggregates')}`.execute(trx);
    }
    const changed = [...plan.marks].filter(([, m]) => m.changed);
    if (changed.length > 0) {
      await trx
        .insertInto('source_marks')
        .values(
          changed.map(([source, m]) => ({
            consumer,
            topic,
            partition,
            source,
            last_n: m.n,
            updated_at: now,
          })),
        )
        .onConflict((oc) =>
          oc.columns(['consumer', 'topic', 'partition', 'source']).doUpdateSet((eb) => ({
            last_n: eb.ref('excluded.last_n'),
            updated_at: eb.ref('excluded.updated_at'),
          })),
        )
        .execute();
    }
    if (nextOffset > stored) {
      await trx
        .insertInto('consumer_offsets')
        .values({ consumer, topic, partition, next_offset: String(nextOffset), updated_at: now })
        .onConflict((oc) =>
          oc.columns(['consumer', 'topic', 'partition']).doUpdateSet((eb) => ({
            next_offset: eb.ref('excluded.next_offset'),
            updated_at: eb.ref('excluded.updated_at'),
          })),
        )
        .execute();
    }
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
