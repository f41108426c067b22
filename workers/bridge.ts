import type SQLite from 'better-sqlite3';
import type { Consumer, EachBatchPayload, IHeaders, KafkaMessage } from 'kafkajs';
import { decodeAccessEvent } from '../events/access-event';
import { ID_HEADER } from '../events/kafka';
import { createKafka, ensureTopics } from '../events/kafka-client';
import { topicName } from '../events/topics';
import type { Logger } from '../runtime/log';
import { AccessWriter, type ApplyResult, type Incoming } from '../store/access';

/**
 * The bridge: reads `access_events` in batches and turns them into usage aggregates.
 *
 * - Kafka (KAFKA_BROKERS set): a consumer in group DIM_BRIDGE_GROUP, `eachBatch`, no
 *   offset commits to Kafka at all: the next offset of each partition is stored in SQLite
 *   (`consumer_offsets`) in the same transaction as the aggregates, and on every
 *   assignment the consumer seeks to it. Partitions never read start at the beginning.
 * - Local log (no Kafka): the same, reading the `event_log` table by `seq`, then deleting
 *   what it has aggregated.
 *
 * Malformed messages and unknown datasets go to `dead_letters` and are counted; they
 * never stop the bridge. See store/access.ts for the transaction and events/README.md.
 */
export interface BridgeOptions {
  sqlite: SQLite.Database;
  /** Consumer group (Kafka) and name in consumer_offsets. */
  group: string;
  topicPrefix: string;
  log: Logger;
  /** Read from Kafka when set, else from the local log. */
  kafka?: { brokers: string[]; clientId: string };
  /** Local log: a hook that calls back when events were appended in this process. */
  onAppend?: (listener: () => void) => () => void;
  /** Local log: how often to look for new rows when idle. */
  pollMs?: number;
  /** Local log: rows per transaction. */
  batchSize?: number;
}

export interface BridgeStats {
  applied: number;
  skipped: number;
  deadLettered: number;
  batches: number;
  lastBatchAt: number | undefined;
}

export interface RunningBridge {
  source: 'kafka' | 'local-log';
  stats(): BridgeStats;
  /** Resolves when the bridge stopped; rejects when it failed for good. */
  done: Promise<void>;
  stop(): Promise<void>;
}

const MAX_DEAD_LETTER_PAYLOAD = 10_000;

export async function startBridge(opts: BridgeOptions): Promise<RunningBridge> {
  const topic = topicName(opts.topicPrefix, 'access_events');
  const log = opts.log.child({ part: 'bridge' });
  const stats: BridgeStats = {
    applied: 0,
    skipped: 0,
    deadLettered: 0,
    batches: 0,
    lastBatchAt: undefined,
  };
  const record = (r: ApplyResult) => {
    stats.applied += r.applied;
    stats.skipped += r.skipped;
    stats.deadLettered += r.deadLettered;
    stats.batches++;
    stats.lastBatchAt = Date.now();
    if (r.deadLettered > 0) {
      log.warn('access events set aside in dead_letters', {
        count: r.deadLettered,
        total: stats.deadLettered,
      });
    }
  };
  const run = opts.kafka
    ? await runKafka(opts, opts.kafka, topic, log, record)
    : runLocal(opts, topic, log, record);
  log.info('bridge started', { source: run.source, topic, group: opts.group });
  return { ...run, stats: () => ({ ...stats }) };
}

// ---------------------------------------------------------------------------------------------

/** The `dim-id` header: `<source>:<n>`; '-' says "no id" (and ends a run). */
function headerOf(headers: IHeaders | undefined): string | undefined {
  const h = headers?.[ID_HEADER];
  if (h === undefined) return undefined;
  return (Array.isArray(h) ? h[0] : h)?.toString();
}

/** kafkajs 2.2.4 passes each record's batch along (not in its types). */
type WithBatch = KafkaMessage & { batchContext?: { firstOffset?: string } };

/**
 * Decodes one fetched batch of a partition. Ids are run-length encoded (events/kafka.ts):
 * a `dim-id: <source>:<n>` header starts a run; the following records of the same record
 * batch (same batchContext.firstOffset) are n+1, n+2, ... by their offsets. Records with
 * no header and no run (any other producer, kcat) have no id and always count.
 */
export function incomingFromKafka(messages: KafkaMessage[]): Incoming[] {
  let run: { batch: string; source: string; n: number; offset: number } | undefined;
  return messages.map((m) => {
    const offset = Number(m.offset);
    const batch = (m as WithBatch).batchContext?.firstOffset;
    const header = headerOf(m.headers);
    let id: { source?: string; n?: number } = {};
    if (header !== undefined) {
      run = undefined;
      const i = header.lastIndexOf(':');
      const n = i > 0 ? Number(header.slice(i + 1)) : NaN;
      if (Number.isSafeInteger(n) && n > 0) {
        id = { source: header.slice(0, i), n };
        if (batch !== undefined) run = { batch, source: id.source!, n, offset };
      }
    } else if (run && batch !== undefined && batch === run.batch) {
      id = { source: run.source, n: run.n + (offset - run.offset) };
    } else {
      run = undefined;
    }
    const d = decodeAccessEvent(m.value, Number(m.timestamp));
    return {
      offset,
      event: d.ok ? d.event : undefined,
      error: d.ok ? undefined : d.error,
      raw: () => (m.value ? m.value.toString('utf8').slice(0, MAX_DEAD_LETTER_PAYLOAD) : ''),
      ...id,
    };
  });
}

async function runKafka(
  opts: BridgeOptions,
  kafkaOpts: { brokers: string[]; clientId: string },
  topic: string,
  log: Logger,
  record: (r: ApplyResult) => void,
): Promise<Omit<RunningBridge, 'stats'>> {
  const writer = new AccessWriter(opts.sqlite, opts.group, topic, 'kafka');
  const kafka = createKafka({ ...kafkaOpts, log });
  await ensureTopics(kafka, [topic], log);

  let stopping = false;
  let failures = 0;
  let consumer: Consumer | undefined;
  let wake: (() => void) | undefined;

  const eachBatch = async (payload: EachBatchPayload) => {
    const { batch } = payload;
    // Not resolved: kafkajs fetches these again (after a rebalance, from SQLite's offset).
    if (batch.messages.length === 0 || !payload.isRunning() || payload.isStale()) return;
    const incoming = incomingFromKafka(batch.messages);
    const next = incoming[incoming.length - 1]!.offset + 1;
    record(writer.apply(batch.partition, incoming, next));
    payload.resolveOffset(batch.messages[batch.messages.length - 1]!.offset);
    writer.forgetOldSources();
    await payload.heartbeat();
  };

  // One consumer at a time; a new one if kafkajs gives up on the old (it restarts itself
  // after retriable errors, e.g. while Kafka is down, and only gives up on the others).
  const loop = async () => {
    while (!stopping) {
      const c = kafka.consumer({
        groupId: opts.group,
        maxBytesPerPartition: 4 << 20,
        maxBytes: 16 << 20,
        maxWaitTimeInMs: 250,
        // A bridge killed with -9 holds its partitions until this expires: keep it short.
        sessionTimeout: 10_000,
        heartbeatInterval: 1000,
        retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 5000 },
      });
      consumer = c;
      const crashed = new Promise<void>((resolve) => {
        wake = resolve;
        c.on(c.events.CRASH, ({ payload }) => {
          log.warn('Kafka consumer crashed', {
            err: payload.error.message,
            restart: payload.restart,
          });
          if (!payload.restart) resolve();
        });
      });
      c.on(c.events.GROUP_JOIN, ({ payload }) => {
        // Resume where SQLite says, not where Kafka's group offsets say (we never commit those).
        for (const partition of payload.memberAssignment[topic] ?? []) {
          const next = writer.storedOffset(partition);
          if (next !== undefined) c.seek({ topic, partition, offset: String(next) });
        }
        log.debug('partitions assigned', { partitions: payload.memberAssignment[topic] });
      });
      try {
        await c.connect();
        await c.subscribe({ topics: [topic], fromBeginning: true });
        failures = 0;
        await c.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: 1,
          eachBatch,
        });
        await crashed;
      } catch (err) {
        // Once per outage at warn level (kafkajs retries below are at debug).
        const fields = { err: (err as Error).message };
        if (failures++ === 0) log.warn('Kafka consumer could not start; retrying', fields);
        else log.debug('Kafka consumer could not start; retrying', fields);
      } finally {
        await c.disconnect().catch(() => undefined);
      }
      if (!stopping) await new Promise((r) => setTimeout(r, 2000));
    }
  };
  const done = loop();
  return {
    source: 'kafka',
    done,
    stop: async () => {
      stopping = true;
      await consumer?.disconnect().catch(() => undefined);
      wake?.();
      await done;
    },
  };
}

function runLocal(
  opts: BridgeOptions,
  topic: string,
  log: Logger,
  record: (r: ApplyResult) => void,
): Omit<RunningBridge, 'stats'> {
  const { sqlite } = opts;
  const writer = new AccessWriter(sqlite, opts.group, topic, 'local-log');
  const batchSize = opts.batchSize ?? 5000;
  const pollMs = opts.pollMs ?? 200;
  const read = sqlite.prepare<[string, number, number], { seq: number; value: string; ts: number }>(
    'select seq, value, ts from event_log where topic = ? and seq >= ? order by seq limit ?',
  );
  // In slices, so that the API's appends never wait long for the write lock.
  const prune = sqlite.prepare<[string, number]>(
    'delete from event_log where seq in (select seq from event_log where topic = ? and seq < ? order by seq limit 20000)',
  );
  let stopping = false;
  let wake: (() => void) | undefined;
  let pending = false;
  const unsubscribe = opts.onAppend?.(() => {
    pending = true;
    wake?.();
  });
  let lastPrune = 0;

  const loop = async () => {
    while (!stopping) {
      pending = false;
      let moved = false;
      try {
        const from = writer.storedOffset(0) ?? 0;
        const rows = read.all(topic, from, batchSize);
        if (rows.length > 0) {
          const incoming: Incoming[] = rows.map((r) => {
            const d = decodeAccessEvent(r.value, r.ts);
            return {
              offset: r.seq,
              event: d.ok ? d.event : undefined,
              error: d.ok ? undefined : d.error,
              raw: () => r.value.slice(0, MAX_DEAD_LETTER_PAYLOAD),
            };
          });
          record(writer.apply(0, incoming, rows[rows.length - 1]!.seq + 1));
          moved = true;
        }
        if (Date.now() - lastPrune > 2000 || (!moved && lastPrune === 0)) {
          lastPrune = Date.now();
          const next = writer.storedOffset(0);
          // The log is a buffer, not an archive: what is aggregated goes.
          if (next !== undefined) prune.run(topic, next);
          writer.forgetOldSources();
        }
      } catch (err) {
        log.warn('local log batch failed; retrying', { err: (err as Error).message });
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      if (moved && !stopping) {
        await new Promise((r) => setImmediate(r)); // let the API breathe between batches
        continue;
      }
      if (!pending && !stopping) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, pollMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
    }
  };
  const done = loop();
  return {
    source: 'local-log',
    done,
    stop: async () => {
      stopping = true;
      wake?.();
      unsubscribe?.();
      await done;
    },
  };
}
