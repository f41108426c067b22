import { sql } from 'kysely';
import type { Db } from '../store/db';
import { Errors } from '../errors';
import { serialize, type LocalLogReader } from './local-log';
import type { EventSink, Message, PublishOptions, Topic } from './sink';
import { topicName } from './topics';

/**
 * The durable local log (events/local-log.ts) on PostgreSQL: the same `event_log` table
 * and bound. One difference matters: PostgreSQL hands out `seq` values at insert time but
 * transactions may commit in another order, and a bridge that read seq 11 before seq 10
 * committed would store "next: 12" and never count 10. So every append takes one
 * transaction-level advisory lock before inserting: appends commit in `seq` order, and
 * what a reader sees is always a prefix of the log.
 */
const APPEND_LOCK = sql`pg_advisory_xact_lock(hashtext('dim-event-log'))`;

type Listener = () => void;

export class PgLocalLogSink implements EventSink {
  private readonly accessTopic: string;
  private readonly listeners = new Set<Listener>();
  /** The backlog as last read (`backlog()` is synchronous: /health and metrics read it). */
  private known = 0;
  private refreshing: Promise<void> | undefined;

  constructor(private readonly opts: { db: Db; topicPrefix: string; bufferMax: number }) {
    this.accessTopic = topicName(opts.topicPrefix, 'access_events');
  }

  /** As LocalLogSink.publish: a source already recorded appends nothing. */
  async publish(topic: Topic, messages: Message[], opts?: PublishOptions): Promise<void> {
    if (messages.length === 0) return;
    try {
      const backlog = await this.readBacklog();
      if (backlog + messages.length > this.opts.bufferMax) {
        throw Errors.unavailable(
          `the local event log holds ${backlog} events not yet aggregated (limit ${this.opts.bufferMax}): is the bridge running?`,
          10,
        );
      }
      const name = topicName(this.opts.topicPrefix, topic);
      const ts = Date.now();
      await this.opts.db.transaction().execute(async (trx) => {
        await sql`select ${APPEND_LOCK}`.execute(trx);
        if (opts?.source !== undefined) {
          const fresh = await trx
            .insertInto('appended_requests')
            .values({ source: opts.source, created_at: ts })
            .onConflict((oc) => oc.column('source').doNothing())
            .returning('source')
            .executeTakeFirst();
          if (fresh === undefined) return; // an earlier run appended these very events
        }
        await sql`insert into event_log (topic, key, value, ts)
          select ${name}, k, v, ${ts}
          from unnest(${messages.map((m) => m.key)}::text[],
            ${messages.map((m) => serialize(m.value))}::text[]) with ordinality as x(k, v, i)
          order by i`.execute(trx);
      });
    } catch (err) {
      throw asUnavailable(err);
    }
    for (const l of this.listeners) l();
  }

  /** Access events not yet aggregated, as last read (refreshed in the background). */
  backlog(): number {
    this.refreshing ??= this.readBacklog()
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => (this.refreshing = undefined));
    return this.known;
  }

  private async readBacklog(): Promise<number> {
    const { rows } = await sql<{ lo: number | null; hi: number | null }>`
      select (select min(seq) from event_log where topic = ${this.accessTopic}) as lo,
        (select max(seq) from event_log) as hi`.execute(this.opts.db);
    const { lo, hi } = rows[0]!;
    this.known = lo === null || hi === null ? 0 : hi - lo + 1;
    return this.known;
  }

  onAppend(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.refreshing;
  }
}

/** The bridge's reads of the local log on PostgreSQL. */
export function pgLocalLogReader(db: Db): LocalLogReader {
  return {
    async read(topic, from, limit) {
      return db
        .selectFrom('event_log')
        .select(['seq', 'value', 'ts'])
        .where('topic', '=', topic)
        .where('seq', '>=', from)
        .orderBy('seq')
        .limit(limit)
        .execute();
    },
    async prune(topic, below) {
      await sql`delete from event_log where seq in (select seq from event_log
        where topic = ${topic} and seq < ${below} order by seq limit 20000)`.execute(db);
    },
    async span(topic) {
      const row = await db
        .selectFrom('event_log')
        .select((eb) => [eb.fn.max('seq').as('hi'), eb.fn.min('seq').as('lo')])
        .where('topic', '=', topic)
        .executeTakeFirstOrThrow();
      return { hi: row.hi ?? null, lo: row.lo ?? null };
    },
  };
}

function asUnavailable(err: unknown): Error {
  if (err instanceof Error && 'status' in err) return err;
  return Errors.unavailable(
    `could not write to the local event log: ${(err as Error).message ?? String(err)}`,
    5,
  );
}
