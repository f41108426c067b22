import { sql } from 'kysely';
import type { Db } from '../store/db';
import type { Outbox, OutboxEntry, OutboxRow } from './outbox';

/**
 * The Kafka outbox (events/outbox.ts) on PostgreSQL. PostgreSQL hands out `seq` at insert
 * time but transactions may commit in another order: a relay that read seq 11 before seq 10
 * committed, then deleted "through 11", would drop 10 unsent. So every append takes one
 * transaction-level advisory lock (as the local log does, events/local-log-pg.ts): appends
 * from every process commit in `seq` order, and what a relay reads is a prefix.
 */
const APPEND_LOCK = sql`pg_advisory_xact_lock(hashtext('dim-event-outbox'))`;

export class PgOutbox implements Outbox {
  constructor(private readonly db: Db) {}

  async size(): Promise<number> {
    const { rows } = await sql<{ lo: number | null; hi: number | null }>`
      select min(seq) as lo, max(seq) as hi from event_outbox`.execute(this.db);
    const { lo, hi } = rows[0]!;
    return lo === null || hi === null ? 0 : hi - lo + 1;
  }

  async append(entries: OutboxEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const ts = Date.now();
    await this.db.transaction().execute(async (trx) => {
      await sql`select ${APPEND_LOCK}`.execute(trx);
      await sql`insert into event_outbox (topic, key, value, ts, msg_id, partition)
        select t, k, v, ${ts}, m, p
        from unnest(${entries.map((e) => e.topic)}::text[], ${entries.map((e) => e.key)}::text[],
          ${entries.map((e) => e.value)}::text[], ${entries.map((e) => e.msgId)}::text[],
          ${entries.map((e) => e.partition)}::int[]) with ordinality as x(t, k, v, m, p, i)
        order by i`.execute(trx);
    });
  }

  async head(limit: number): Promise<OutboxRow[]> {
    return this.db
      .selectFrom('event_outbox')
      .select(['seq', 'topic', 'key', 'value', 'msg_id', 'partition'])
      .orderBy('seq')
      .limit(limit)
      .execute();
  }

  async deleteThrough(seq: number): Promise<void> {
    await this.db.deleteFrom('event_outbox').where('seq', '<=', seq).execute();
  }
}
