import type { KeyObject } from 'node:crypto';
import type { Consumer, EachBatchPayload, IHeaders, KafkaMessage } from 'kafkajs';
import { decodeAccessEvent } from '../events/access-event';
import {
  addValue,
  eventIdKeyOf,
  finishRun,
  ID_HEADER,
  macMatches,
  parseIdHeader,
  startRun,
} from '../events/message-id';
import { createKafka, ensureTopics } from '../events/kafka-client';
import { topicName, type TopicSettings } from '../events/topics';
import type { Logger } from '../runtime/log';
import type { ApplyResult, Incoming } from '../store/access';
import type { OpenedDb } from '../store/db';
import { createMetricsRegistry, type Registry } from '../runtime/metrics';
import { bridgeMetrics, type PartitionLag } from './bridge-metrics';

/**
 * The bridge: reads `access_events` in batches and turns them into usage aggregates.
 *
 * - Kafka (KAFKA_BROKERS set): a consumer in group DIM_BRIDGE_GROUP, `eachBatch`, no
 *   offset commits to Kafka at all: the next offset of each partition is stored in the store
 *   (`consumer_offsets`) in the same transaction as the aggregates, and on every
 *   assignment the consumer seeks to it. Partitions never read start at the beginning.
 * - Local log (no Kafka): the same, reading the `event_log` table by `seq`, then deleting
 *   what it has aggregated.
 *
 * Malformed messages and unknown datasets go to `dead_letters` and are counted; they
 * never stop the bridge. See store/access.ts for the transaction and events/README.md.
 */
export interface BridgeOptions {
  /** The metadata store (SQLite or PostgreSQL): aggregates, offsets, the local log. */
  store: OpenedDb;
  /** Consumer group (Kafka) and name in consumer_offsets. */
  group: string;
  topicPrefix: string;
  log: Logger;
  /** Read from Kafka when set, else from the local log. */
  kafka?: { brokers: string[]; clientId: string; topics?: TopicSettings };
  /** Local log: a hook that calls back when events were appended in this process. */
  onAppend?: (listener: () => void) => () => void;
  /** Local log: how often to look for new rows when idle. */
  pollMs?: number;
  /** Local log: rows per transaction. */
  batchSize?: number;
  /** DIM_EVENT_ID_KEY; unset: the install's generated key (in the database). */
  idKey?: string;
  /** The process's metrics registry (runtime/metrics.ts); by default the bridge's own. */
  registry?: Registry;
}

export interface BridgeStats {
  applied: number;
  skipped: number;
  deadLettered: number;
  /** `dim-id` headers that did not verify (forged, or another key): their records counted as outside ones. */
  unverified: number;
  batches: number;
  lastBatchAt: number | undefined;
}

export interface RunningBridge {
  source: 'kafka' | 'local-log';
  stats(): BridgeStats;
  /** False once the bridge stopped or failed. */
  running(): boolean;
  /** Where its metrics are registered (workers/bridge-metrics.ts). */
  registry: Registry;
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
    unverified: 0,
    batches: 0,
    lastBatchAt: undefined,
  };
  const registry = opts.registry ?? createMetricsRegistry({ defaults: false });
  const metrics = bridgeMetrics(registry);
  const record = (r: ApplyResult) => {
    metrics.applied.inc(r.applied);
    metrics.skipped.inc(r.skipped);
    metrics.deadLetters.inc(r.deadLettered);
    metrics.batches.inc();
    metrics.lastBatch.set(Date.now() / 1000);
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
  const unverified = (count: number) => {
    metrics.unverified.inc(count);
    stats.unverified += count;
    log.warn(
      'dim-id headers that do not verify: counted as outside messages (forged, or DIM_EVENT_ID_KEY differs between dim processes)',
      { count, total: stats.unverified },
    );
  };
  const run = opts.kafka
    ? await runKafka(opts, opts.kafka, topic, log, record, unverified)
    : runLocal(opts, topic, log, record);
  metrics.setLagSource(run.source, topic, run.lag);
  let running = true;
  void run.done.then(
    () => (running = false),
    () => (running = false),
  );
  log.info('bridge started', { source: run.source, topic, group: opts.group });
  return {
    source: run.source,
    done: run.done,
    stop: run.stop,
    stats: () => ({ ...stats }),
    running: () => running,
    registry,
  };
}

// ---------------------------------------------------------------------------------------------

/** The `dim-id` header: `<source>:<n>:<count>:<mac>`; '-' says "no id". */
function headerOf(headers: IHeaders | undefined): string | undefined {
  const h = headers?.[ID_HEADER];
  if (h === undefined) return undefined;
  return (Array.isArray(h) ? h[0] : h)?.toString();
}

/** What a run's MAC is checked against: the install's key, the topic and partition read. */
export interface IdCheck {
  key: KeyObject;
  topic: string;
  partition: number;
}

/**
 * Decodes one fetched batch of a partition. Ids are run-length encoded and signed
 * (events/message-id.ts): a `dim-id: <source>:<n>:<count>:<mac>` header on a record
 * numbers it and the count-1 records after it n, n+1, ..., but only when the MAC over
 * them verifies. Anything else (no header, '-', an unsigned or forged header, a run
 * whose values or length differ from what dim signed, a run cut short) leaves the
 * records without an id: they count once per offset, like any outside producer's.
 * `unverified` counts the headers that looked like ids but did not verify.
 */
export function incomingFromKafka(
  messages: KafkaMessage[],
  check: IdCheck,
): { incoming: Incoming[]; unverified: number } {
  const incoming: Incoming[] = messages.map((m) => {
    const d = decodeAccessEvent(m.value, Number(m.timestamp));
    return {
      offset: Number(m.offset),
      event: d.ok ? d.event : undefined,
      error: d.ok ? undefined : d.error,
      raw: () => (m.value ? m.value.toString('utf8').slice(0, MAX_DEAD_LETTER_PAYLOAD) : ''),
      source: undefined,
      n: undefined,
    };
  });
  let unverified = 0;
  for (let i = 0; i < messages.length; i++) {
    const header = headerOf(messages[i]!.headers);
    if (header === undefined || header === '-') continue;
    const id = parseIdHeader(header);
    if (!id || !runVerifies(messages, i, id, check)) {
      unverified++;
      continue;
    }
    for (let j = 0; j < id.count; j++) {
      const m = incoming[i + j]!;
      m.source = id.source;
      m.n = id.n + j;
    }
    i += id.count - 1;
  }
  return { incoming, unverified };
}

/** The run starting at `i`: all `count` records fetched, none with its own header, MAC equal. */
function runVerifies(
  messages: KafkaMessage[],
  i: number,
  id: { source: string; n: number; count: number; mac: Buffer },
  check: IdCheck,
): boolean {
  if (i + id.count > messages.length) return false;
  const mac = startRun(check.key, check.topic, check.partition, id.source, id.n);
  for (let j = i; j < i + id.count; j++) {
    const m = messages[j]!;
    if (j > i && headerOf(m.headers) !== undefined) return false;
    addValue(mac, m.value);
  }
  return macMatches(finishRun(mac, id.count), id.mac);
}

/** A running consumer loop, and how far behind it is (for dim_bridge_consumer_lag). */
type Run = Pick<RunningBridge, 'source' | 'done' | 'stop'> & { lag: () => Promise<PartitionLag[]> };

async function runKafka(
  opts: BridgeOptions,
  kafkaOpts: { brokers: string[]; clientId: string; topics?: TopicSettings },
  topic: string,
  log: Logger,
  record: (r: ApplyResult) => void,
  unverified: (count: number) => void,
): Promise<Run> {
  const writer = opts.store.backend.accessStore(opts.group, topic, 'kafka');
  const key = await eventIdKeyOf(opts.idKey, opts.store.db);
  const kafka = createKafka({ ...kafkaOpts, log });
  await ensureTopics(kafka, [topic], log, kafkaOpts.topics);

  let stopping = false;
  let failures = 0;
  let consumer: Consumer | undefined;
  let wake: (() => void) | undefined;

  const eachBatch = async (payload: EachBatchPayload) => {
    const { batch } = payload;
    // Not resolved: kafkajs fetches these again (after a rebalance, from SQLite's offset).
    if (batch.messages.length === 0 || !payload.isRunning() || payload.isStale()) return;
    const { incoming, unverified: bad } = incomingFromKafka(batch.messages, {
      key,
      topic,
      partition: batch.partition,
    });
    if (bad > 0) unverified(bad);
    const next = incoming[incoming.length - 1]!.offset + 1;
    record(await writer.apply(batch.partition, incoming, next));
    payload.resolveOffset(batch.messages[batch.messages.length - 1]!.offset);
    await writer.forgetOldSources();
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
        // Resume where the store says, not where Kafka's group offsets say (we never commit
        // those). Should a fetch start before a seek lands, the batch's offsets below the
        // stored one are skipped by the transaction: nothing counts twice.
        void (async () => {
          for (const partition of payload.memberAssignment[topic] ?? []) {
            const next = await writer.storedOffset(partition);
            if (next !== undefined) c.seek({ topic, partition, offset: String(next) });
          }
        })().catch((err: unknown) =>
          log.warn('could not read the stored offsets', { err: (err as Error).message }),
        );
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
  // Consumer lag: the high watermarks from one admin client, kept connected between scrapes.
  let admin: ReturnType<typeof kafka.admin> | undefined;
  const lag = async (): Promise<PartitionLag[]> => {
    if (!admin) {
      const a = kafka.admin({ retry: { retries: 0 } });
      await a.connect();
      admin = a;
    }
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      return Promise.all(
        offsets.map(async (o) => ({
          partition: o.partition,
          lag: Number(o.high) - ((await writer.storedOffset(o.partition)) ?? Number(o.low)),
        })),
      );
    } catch (err) {
      const a = admin;
      admin = undefined;
      await a.disconnect().catch(() => undefined);
      throw err;
    }
  };
  return {
    source: 'kafka',
    done,
    lag,
    stop: async () => {
      stopping = true;
      await admin?.disconnect().catch(() => undefined);
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
): Run {
  const { store } = opts;
  const writer = store.backend.accessStore(opts.group, topic, 'local-log');
  const batchSize = opts.batchSize ?? 5000;
  const pollMs = opts.pollMs ?? 200;
  const reader = store.backend.localLogReader;
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
        const from = (await writer.storedOffset(0)) ?? 0;
        const rows = await reader.read(topic, from, batchSize);
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
          record(await writer.apply(0, incoming, rows[rows.length - 1]!.seq + 1));
          moved = true;
        }
        if (Date.now() - lastPrune > 2000 || (!moved && lastPrune === 0)) {
          lastPrune = Date.now();
          const next = await writer.storedOffset(0);
          // The log is a buffer, not an archive: what is aggregated goes.
          if (next !== undefined) await reader.prune(topic, next);
          await writer.forgetOldSources();
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
  // The local log is one partition (0): rows from the stored next seq to the highest.
  const lag = async (): Promise<PartitionLag[]> => {
    const { hi, lo } = await reader.span(topic);
    const next = (await writer.storedOffset(0)) ?? lo ?? 0;
    return [{ partition: 0, lag: hi === null ? 0 : hi + 1 - next }];
  };
  return {
    source: 'local-log',
    done,
    lag,
    stop: async () => {
      stopping = true;
      wake?.();
      unsubscribe?.();
      await done;
    },
  };
}
