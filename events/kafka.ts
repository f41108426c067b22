import { randomBytes, type Hmac, type KeyObject } from 'node:crypto';
import type SQLite from 'better-sqlite3';
import type { Kafka, Message as KafkaMessage, PartitionMetadata, Producer } from 'kafkajs';
import { Partitioners } from './kafkajs';
import { DimError, Errors } from '../errors';
import type { Logger } from '../runtime/log';
import { createKafka, topicPartitions, withTimeout } from './kafka-client';
import { serialize } from './local-log';
import { addValue, eventIdKey, finishRun, formatIdHeader, ID_HEADER, startRun } from './message-id';
import { Outbox, type OutboxEntry, type OutboxRow } from './outbox';
import type { EventSink, Message, Topic } from './sink';
import { TOPICS, topicName, type TopicSettings } from './topics';

/**
 * EventSink on Kafka, with a local outbox for when Kafka is unreachable.
 *
 * - One send at a time: concurrent `publish` calls are gathered into one produce request
 *   (group commit, with a short linger), sent by a kafkajs idempotent producer
 *   (acks=all), key = dataset id, partition = Kafka's default (murmur2 of the key),
 *   computed here.
 * - Message ids: this sink instance has a random `source` id and numbers the messages
 *   of each partition 1, 2, 3, ... Since sends are one at a time, a source's numbers only
 *   grow within a partition. The id travels run-length encoded in a header
 *   `dim-id: <source>:<n>:<count>:<mac>` on the first message of each partition in a send
 *   (and wherever the numbering jumps); the next count-1 messages are n+1, n+2, ...
 *   `mac` signs the run, values included, with the install's key (events/message-id.ts):
 *   only runs dim sent can move a watermark (see workers/bridge.ts). The bridge skips a
 *   message whose number is not above the highest it applied for that (source,
 *   partition): a copy. One header per partition per send instead of one per message:
 *   headers cost kafkajs, Kafka and the bridge about 15% of their ingestion CPU.
 * - When a send fails or times out, its messages (which Kafka may or may not have kept)
 *   go to the outbox with the ids and partitions they already had, and so does
 *   everything published until the outbox is empty again. A relay loop sends the outbox
 *   in order, deleting rows once Kafka acknowledged them. A message sent twice is
 *   therefore counted once.
 * - The outbox is bounded (`bufferMax`): past it, `publish` rejects with a 503 and a
 *   Retry-After instead of filling the disk.
 */
export interface KafkaSinkOptions {
  brokers: string[];
  clientId: string;
  topicPrefix: string;
  /** How missing topics are created; default DEFAULT_TOPIC_SETTINGS. */
  topics?: TopicSettings;
  bufferMax: number;
  sqlite: SQLite.Database;
  log: Logger;
  /** A send that takes longer is treated as failed (its messages go to the outbox). */
  sendTimeoutMs?: number;
  /** How often the relay tries Kafka again while the outbox holds rows. */
  relayIntervalMs?: number;
  /** Largest produce request, in messages (kafkajs' per-send costs grow faster than linearly). */
  maxPerSend?: number;
  /**
   * How long a send waits for more publishes to join it (like librdkafka's linger.ms):
   * many small requests become one produce request, which costs Kafka and kafkajs far
   * less CPU than one each. Skipped when a full request is already waiting.
   */
  lingerMs?: number;
  /** DIM_EVENT_ID_KEY; unset: the install's generated key (in the database). */
  idKey?: string;
}

export { ID_HEADER } from './message-id';

interface Pending {
  topic: string;
  messages: Message[];
  resolve: () => void;
  reject: (err: Error) => void;
}

/** A run of consecutive numbers of one source in one partition, while a send is built. */
interface Run {
  first: KafkaMessage;
  source: string;
  n: number;
  count: number;
  mac: Hmac;
}

/** A numbered message. `partition` null: buffered before the partition counts were known. */
interface Rec {
  topic: string;
  key: string;
  value: string;
  partition: number | null;
  source: string;
  n: number;
}

export interface KafkaSinkState {
  mode: 'direct' | 'buffering';
  buffered: number;
  /** Why Kafka was last considered unreachable. */
  lastError: string | undefined;
  since: number;
  relayed: number;
}

const toEntry = (r: Rec): OutboxEntry => ({
  topic: r.topic,
  key: r.key,
  value: r.value,
  msgId: `${r.source}:${r.n}`,
  partition: r.partition,
});

function fromRow(row: OutboxRow): Rec {
  const id = row.msg_id ?? '';
  const i = id.lastIndexOf(':');
  return {
    topic: row.topic,
    key: row.key,
    value: row.value,
    partition: row.partition,
    source: i > 0 ? id.slice(0, i) : '',
    n: i > 0 ? Number(id.slice(i + 1)) : 0,
  };
}

export class KafkaEventSink implements EventSink {
  private readonly kafka: Kafka;
  private readonly outbox: Outbox;
  private readonly source = randomBytes(6).toString('base64url');
  /** Numbers per `${topic}\0${partition}`. */
  private readonly numbers = new Map<string, number>();
  /** For messages buffered before the partition counts were known: one sequence, own source. */
  private loose = 0;
  private partitionCounts = new Map<string, number>();
  private readonly partitioner = Partitioners.DefaultPartitioner();
  private readonly fakeMetadata = new Map<number, PartitionMetadata[]>();
  private queue: Pending[] = [];
  private queued = 0;
  private mode: 'direct' | 'buffering';
  private since = Date.now();
  private lastError: string | undefined;
  private relayed = 0;
  private producer: Producer | undefined;
  private connecting: Promise<Producer> | undefined;
  private pumping: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** kafkajs calls abandoned after a timeout: close() lets them settle (bounded). */
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly sendTimeoutMs: number;
  private readonly relayIntervalMs: number;
  private readonly maxPerSend: number;
  private readonly lingerMs: number;
  /** Signs message ids (events/message-id.ts). */
  private readonly idKey: KeyObject;

  constructor(private readonly opts: KafkaSinkOptions) {
    this.idKey = eventIdKey(opts.idKey, opts.sqlite);
    this.kafka = createKafka({ brokers: opts.brokers, clientId: opts.clientId, log: opts.log });
    this.outbox = new Outbox(opts.sqlite);
    this.sendTimeoutMs = opts.sendTimeoutMs ?? 5000;
    this.relayIntervalMs = opts.relayIntervalMs ?? 1000;
    this.maxPerSend = opts.maxPerSend ?? 1000;
    this.lingerMs = opts.lingerMs ?? 2;
    const buffered = this.outbox.size();
    this.mode = buffered > 0 ? 'buffering' : 'direct';
    if (buffered > 0)
      opts.log.info('events buffered while Kafka was unreachable will be relayed', { buffered });
    this.schedule(0);
  }

  publish(topic: Topic, messages: Message[]): Promise<void> {
    if (this.closed) return Promise.reject(Errors.unavailable('the event sink is closed', 5));
    if (messages.length === 0) return Promise.resolve();
    const name = topicName(this.opts.topicPrefix, topic);
    if (this.mode === 'buffering') {
      // Kafka is down (or the outbox is still draining, and order matters): keep them here.
      try {
        this.checkBound(messages.length);
        this.outbox.append(messages.map((m) => toEntry(this.number(name, m))));
        return Promise.resolve();
      } catch (err) {
        return Promise.reject(asUnavailable(err));
      }
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ topic: name, messages, resolve, reject });
      this.queued += messages.length;
      this.pump();
    });
  }

  state(): KafkaSinkState {
    return {
      mode: this.mode,
      buffered: this.outbox.size(),
      lastError: this.lastError,
      since: this.since,
      relayed: this.relayed,
    };
  }

  /** For /health: fails while events are being buffered because Kafka is unreachable. */
  health(): Promise<void> {
    if (this.mode === 'direct' || this.lastError === undefined) return Promise.resolve();
    return Promise.reject(
      new Error(
        `Kafka unreachable since ${new Date(this.since).toISOString()} (${this.lastError}); ${this.outbox.size()} events buffered locally`,
      ),
    );
  }

  /** Sends what is queued (or buffers it), stops the relay and disconnects. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.pump();
    await this.pumping;
    const rest = this.queue.splice(0);
    this.queued = 0;
    if (rest.length) this.bufferItems(rest);
    const p = this.producer;
    this.producer = undefined;
    await p?.disconnect().catch(() => undefined);
    if (this.inFlight.size > 0) {
      await withTimeout(Promise.allSettled([...this.inFlight]), 3000, 'kafkajs').catch(
        () => undefined,
      );
    }
  }

  // ---------------------------------------------------------------------------------------

  /** Gives a message its partition (Kafka's default for its key) and its number there. */
  private number(topic: string, m: Message): Rec {
    const value = serialize(m.value);
    const count = this.partitionCounts.get(topic);
    if (count === undefined) {
      // Not connected yet since start: numbered under a source of their own, one sequence
      // for all partitions (still growing within each), partition chosen when relayed.
      return {
        topic,
        key: m.key,
        value,
        partition: null,
        source: `${this.source}~`,
        n: ++this.loose,
      };
    }
    let meta = this.fakeMetadata.get(count);
    if (!meta) {
      meta = Array.from({ length: count }, (_, i) => ({
        partitionId: i,
        leader: 0,
        replicas: [],
        isr: [],
        partitionErrorCode: 0,
      }));
      this.fakeMetadata.set(count, meta);
    }
    const partition = this.partitioner({
      topic,
      partitionMetadata: meta,
      message: { key: m.key, value: null },
    });
    const k = `${topic}\0${partition}`;
    const n = (this.numbers.get(k) ?? 0) + 1;
    this.numbers.set(k, n);
    return { topic, key: m.key, value, partition, source: this.source, n };
  }

  private checkBound(adding: number) {
    const held = this.outbox.size();
    if (held + adding > this.opts.bufferMax) {
      throw Errors.unavailable(
        `Kafka is unreachable and ${held} events are already buffered locally (limit ${this.opts.bufferMax}); retry later`,
        30,
      );
    }
  }

  /** Runs the single sender unless it is running already. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = this.run().finally(() => {
      this.pumping = undefined;
      if (!this.closed && this.queue.length > 0) this.pump();
    });
  }

  private async run(): Promise<void> {
    for (;;) {
      if (this.mode === 'buffering') {
        if (this.closed) return;
        const drained = await this.relayChunk();
        if (!drained) return; // Kafka still down, or more later: the timer calls again
        continue;
      }
      if (this.queue.length === 0) return;
      if (this.lingerMs > 0 && this.queued < this.maxPerSend && !this.closed) {
        await new Promise((r) => setTimeout(r, this.lingerMs));
      }
      await this.sendQueued();
    }
  }

  /** Takes queued publishes (whole ones, about maxPerSend messages) and sends them. */
  private async sendQueued(): Promise<void> {
    const items: Pending[] = [];
    let count = 0;
    while (this.queue.length > 0 && (items.length === 0 || count < this.maxPerSend)) {
      const item = this.queue.shift()!;
      items.push(item);
      count += item.messages.length;
    }
    this.queued -= count;
    let records: Rec[] | undefined;
    let sent = 0;
    try {
      const producer = await this.getProducer();
      records = items.flatMap((it) => it.messages.map((m) => this.number(it.topic, m)));
      for (; sent < records.length; sent += this.maxPerSend) {
        await this.send(producer, records.slice(sent, sent + this.maxPerSend));
      }
      for (const it of items) it.resolve();
    } catch (err) {
      this.goBuffering(err);
      // Whatever Kafka may have kept of the failed send is re-sent with the same ids.
      if (records) this.bufferRecords(items, records.slice(sent));
      else this.bufferItems(items);
      // Those queued behind go to the outbox too, in order.
      this.queued = 0;
      this.bufferItems(this.queue.splice(0));
    }
  }

  /** Writes already numbered records to the outbox (no bound: they were accepted), settles items. */
  private bufferRecords(items: Pending[], records: Rec[]): void {
    try {
      this.outbox.append(records.map(toEntry));
      for (const it of items) it.resolve();
    } catch (err) {
      const e = asUnavailable(err);
      for (const it of items) it.reject(e);
    }
    this.schedule(this.relayIntervalMs);
  }

  /** Numbers never-sent publishes and writes them to the outbox, within the bound. */
  private bufferItems(items: Pending[]): void {
    if (items.length === 0) return;
    try {
      const fresh = items.flatMap((it) => it.messages.map((m) => this.number(it.topic, m)));
      this.checkBound(fresh.length);
      this.outbox.append(fresh.map(toEntry));
      for (const it of items) it.resolve();
    } catch (err) {
      const e = asUnavailable(err);
      for (const it of items) it.reject(e);
    }
    this.schedule(this.relayIntervalMs);
  }

  private goBuffering(err: unknown): void {
    const message = (err as Error).message ?? String(err);
    this.dropProducer();
    this.lastError = message;
    if (this.mode === 'direct') {
      this.mode = 'buffering';
      this.since = Date.now();
      this.opts.log.warn('Kafka is unreachable: buffering events in the local outbox', {
        err: message,
      });
    }
  }

  /**
   * Relays the oldest outbox rows. Returns true when it made progress and the caller may
   * go on; false when Kafka is still down or the outbox is empty (then back to direct).
   */
  private async relayChunk(): Promise<boolean> {
    const rows = this.outbox.head(this.maxPerSend);
    if (rows.length === 0) {
      if (this.mode === 'buffering') {
        this.mode = 'direct';
        this.opts.log.info('Kafka is reachable again: buffered events relayed', {
          relayed: this.relayed,
          after_ms: Date.now() - this.since,
        });
        this.since = Date.now();
        this.lastError = undefined;
      }
      return this.queue.length > 0;
    }
    try {
      const producer = await this.getProducer();
      await this.send(producer, rows.map(fromRow));
    } catch (err) {
      this.goBuffering(err);
      this.opts.log.debug('relay attempt failed', { err: this.lastError });
      this.schedule(this.relayIntervalMs);
      return false;
    }
    this.outbox.deleteThrough(rows[rows.length - 1]!.seq);
    this.relayed += rows.length;
    return true;
  }

  /**
   * One produce request. Every message gets its partition explicitly, so each partition's
   * messages form one record batch, in this order; a signed `dim-id` header starts each
   * run of consecutive numbers of one source within a partition.
   */
  private async send(producer: Producer, records: Rec[]): Promise<void> {
    const byTopic = new Map<string, KafkaMessage[]>();
    // The open run of each partition: its first message (which gets the header), its MAC.
    const runs = new Map<string, Run>();
    const close = (run: Run) => {
      run.first.headers = {
        [ID_HEADER]: formatIdHeader(run.source, run.n, run.count, finishRun(run.mac, run.count)),
      };
    };
    for (const r of records) {
      let list = byTopic.get(r.topic);
      if (!list) byTopic.set(r.topic, (list = []));
      const partition = r.partition ?? this.partitionFor(r);
      const k = `${r.topic}\0${partition}`;
      const run = runs.get(k);
      if (run && run.source === r.source && run.n + run.count === r.n) {
        addValue(run.mac, r.value);
        run.count++;
        list.push({ key: r.key, value: r.value, partition });
        continue;
      }
      if (run) close(run);
      if (!r.source) {
        runs.delete(k);
        list.push({ key: r.key, value: r.value, partition, headers: { [ID_HEADER]: '-' } });
        continue;
      }
      const first: KafkaMessage = { key: r.key, value: r.value, partition };
      const mac = startRun(this.idKey, r.topic, partition, r.source, r.n);
      addValue(mac, r.value);
      runs.set(k, { first, source: r.source, n: r.n, count: 1, mac });
      list.push(first);
    }
    for (const run of runs.values()) close(run);
    await this.deadline(
      producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      }),
      'Kafka produce',
    );
  }

  /** The partition of a message buffered before the counts were known (its id is its own). */
  private partitionFor(r: Rec): number {
    const count = this.partitionCounts.get(r.topic) ?? 1;
    const meta = Array.from({ length: count }, (_, i) => ({
      partitionId: i,
      leader: 0,
      replicas: [],
      isr: [],
      partitionErrorCode: 0,
    }));
    return this.partitioner({
      topic: r.topic,
      partitionMetadata: meta,
      message: { key: r.key, value: null },
    });
  }

  /** Runs a kafkajs call with a deadline; if abandoned, it is remembered until it settles. */
  private deadline<T>(p: Promise<T>, what: string): Promise<T> {
    const tracked = p.finally(() => this.inFlight.delete(tracked));
    tracked.catch(() => undefined);
    this.inFlight.add(tracked);
    return withTimeout(p, this.sendTimeoutMs, what);
  }

  private getProducer(): Promise<Producer> {
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connect(): Promise<Producer> {
    if (this.producer) return this.producer;
    const producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    try {
      await this.deadline(producer.connect(), 'Kafka connect');
      // Creates missing topics, and learns how many partitions each has.
      const counts = await this.deadline(
        topicPartitions(
          this.kafka,
          TOPICS.map((t) => topicName(this.opts.topicPrefix, t)),
          this.opts.log,
          this.opts.topics,
        ),
        'Kafka topic metadata',
      );
      for (const [t, n] of counts) this.partitionCounts.set(t, n);
    } catch (err) {
      void this.deadline(producer.disconnect(), 'Kafka disconnect').catch(() => undefined);
      throw err;
    }
    this.producer = producer;
    return producer;
  }

  private dropProducer(): void {
    const p = this.producer;
    this.producer = undefined;
    // A send still in flight may yet land: its copy in the outbox carries the same ids.
    if (p) void p.disconnect().catch(() => undefined);
  }

  /**
   * Wakes the sender after `ms`, and then periodically: relays the outbox while it holds
   * rows (also rows another process left there), and connects ahead of the first publish.
   */
  private schedule(ms: number): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.mode === 'direct' && this.outbox.size() > 0) this.mode = 'buffering';
      if (this.mode === 'direct' && !this.producer) {
        this.getProducer().catch((err: unknown) =>
          this.opts.log.debug('Kafka not reachable yet', { err: (err as Error).message }),
        );
      }
      this.pump();
      this.schedule(this.mode === 'buffering' ? this.relayIntervalMs : 5000);
    }, ms);
    this.timer.unref();
  }
}

function asUnavailable(err: unknown): Error {
  if (err instanceof DimError) return err;
  return Errors.unavailable(
    `could not keep the events: ${(err as Error).message ?? String(err)}`,
    5,
  );
}
