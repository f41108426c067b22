import { randomBytes, type Hmac, type KeyObject } from 'node:crypto';
import type { Kafka, Message as KafkaMessage, PartitionMetadata, Producer } from 'kafkajs';
import { Partitioners } from './kafkajs';
import { DimError, Errors } from '../errors';
import type { Logger } from '../runtime/log';
import { createKafka, topicPartitions, withTimeout } from './kafka-client';
import { serialize } from './local-log';
import { addValue, finishRun, formatIdHeader, ID_HEADER, startRun } from './message-id';
import type { Outbox, OutboxEntry, OutboxRow } from './outbox';
import type { EventSink, Message, PublishOptions, Topic } from './sink';
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
  /** The store's outbox (SQLite or PostgreSQL: OpenedDb.backend.outbox). */
  outbox: Outbox;
  /** Signs message ids: events/message-id.ts eventIdKeyOf (DIM_EVENT_ID_KEY or the install's). */
  idKey: KeyObject;
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
}

export { ID_HEADER } from './message-id';

interface Pending {
  topic: string;
  messages: Message[];
  source: string | undefined;
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
  /** Outbox rows as last known: counted on append and relay, re-read by the timer. */
  private held: number;
  /**
   * Appends, one after another in call order, which is numbering order: the relay sends in
   * `seq` order, and the bridge skips a number below one it applied from the same source.
   */
  private appending: Promise<void> = Promise.resolve();
  /** Appends started so far: the relay goes direct only if none started since it looked. */
  private appendsStarted = 0;
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

  /** A sink that starts by relaying what the outbox holds, if anything. */
  static async open(opts: KafkaSinkOptions): Promise<KafkaEventSink> {
    return new KafkaEventSink(opts, await opts.outbox.size());
  }

  private constructor(
    private readonly opts: KafkaSinkOptions,
    buffered: number,
  ) {
    this.idKey = opts.idKey;
    this.kafka = createKafka({ brokers: opts.brokers, clientId: opts.clientId, log: opts.log });
    this.outbox = opts.outbox;
    this.held = buffered;
    this.sendTimeoutMs = opts.sendTimeoutMs ?? 5000;
    this.relayIntervalMs = opts.relayIntervalMs ?? 1000;
    this.maxPerSend = opts.maxPerSend ?? 1000;
    this.lingerMs = opts.lingerMs ?? 2;
    this.mode = buffered > 0 ? 'buffering' : 'direct';
    if (buffered > 0)
      opts.log.info('events buffered while Kafka was unreachable will be relayed', { buffered });
    this.schedule(0);
  }

  publish(topic: Topic, messages: Message[], opts?: PublishOptions): Promise<void> {
    if (this.closed) return Promise.reject(Errors.unavailable('the event sink is closed', 5));
    if (messages.length === 0) return Promise.resolve();
    const name = topicName(this.opts.topicPrefix, topic);
    if (this.mode === 'buffering') {
      // Kafka is down (or the outbox is still draining, and order matters): keep them here.
      try {
        this.checkBound(messages.length);
      } catch (err) {
        return Promise.reject(asUnavailable(err));
      }
      return this.toOutbox(this.numberAll(name, messages, opts?.source).map(toEntry));
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ topic: name, messages, source: opts?.source, resolve, reject });
      this.queued += messages.length;
      this.pump();
    });
  }

  state(): KafkaSinkState {
    return {
      mode: this.mode,
      buffered: this.held,
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
        `Kafka unreachable since ${new Date(this.since).toISOString()} (${this.lastError}); ${this.held} events buffered locally`,
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
    if (rest.length) await this.bufferItems(rest);
    await this.appending;
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

  /**
   * Gives each message its partition (Kafka's default for its key) and its number there:
   * the sink's own running numbers, or 1, 2, ... per partition under `source` when the
   * publish names one (PublishOptions), the same each time the same messages are numbered.
   */
  private numberAll(topic: string, messages: Message[], source?: string): Rec[] {
    if (source === undefined) return messages.map((m) => this.number(topic, m));
    const count = this.partitionCounts.get(topic);
    const numbers = new Map<number, number>();
    let loose = 0;
    return messages.map((m) => {
      const value = serialize(m.value);
      // Partitions not known yet: one sequence under a source of its own (as below).
      if (count === undefined)
        return { topic, key: m.key, value, partition: null, source: `${source}~`, n: ++loose };
      const partition = this.partitionOf(topic, m.key, count);
      const n = (numbers.get(partition) ?? 0) + 1;
      numbers.set(partition, n);
      return { topic, key: m.key, value, partition, source, n };
    });
  }

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
    const partition = this.partitionOf(topic, m.key, count);
    const k = `${topic}\0${partition}`;
    const n = (this.numbers.get(k) ?? 0) + 1;
    this.numbers.set(k, n);
    return { topic, key: m.key, value, partition, source: this.source, n };
  }

  /** Kafka's default partition for `key` among `count` partitions (murmur2). */
  private partitionOf(topic: string, key: string, count: number): number {
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
    return this.partitioner({ topic, partitionMetadata: meta, message: { key, value: null } });
  }

  private checkBound(adding: number) {
    const held = this.held;
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
      records = items.flatMap((it) => this.numberAll(it.topic, it.messages, it.source));
      for (; sent < records.length; sent += this.maxPerSend) {
        await this.send(producer, records.slice(sent, sent + this.maxPerSend));
      }
      for (const it of items) it.resolve();
    } catch (err) {
      this.goBuffering(err);
      // Whatever Kafka may have kept of the failed send is re-sent with the same ids.
      const kept =
        records === undefined
          ? this.bufferItems(items)
          : this.bufferRecords(items, records.slice(sent));
      // Those queued behind go to the outbox too, in order.
      this.queued = 0;
      await Promise.all([kept, this.bufferItems(this.queue.splice(0))]);
    }
  }

  /** Writes already numbered records to the outbox (no bound: they were accepted), settles items. */
  private async bufferRecords(items: Pending[], records: Rec[]): Promise<void> {
    this.schedule(this.relayIntervalMs);
    await this.settle(items, this.toOutbox(records.map(toEntry)));
  }

  /** Numbers never-sent publishes and writes them to the outbox, within the bound. */
  private async bufferItems(items: Pending[]): Promise<void> {
    if (items.length === 0) return;
    this.schedule(this.relayIntervalMs);
    let kept: Promise<void>;
    try {
      const count = items.reduce((n, it) => n + it.messages.length, 0);
      this.checkBound(count);
      kept = this.toOutbox(
        items.flatMap((it) => this.numberAll(it.topic, it.messages, it.source).map(toEntry)),
      );
    } catch (err) {
      kept = Promise.reject(asUnavailable(err));
    }
    await this.settle(items, kept);
  }

  /** Resolves the publishes once their messages are kept, or rejects them all. */
  private async settle(items: Pending[], kept: Promise<void>): Promise<void> {
    try {
      await kept;
      for (const it of items) it.resolve();
    } catch (err) {
      const e = asUnavailable(err);
      for (const it of items) it.reject(e);
    }
  }

  /** Appends numbered entries to the outbox after every append started before (call order). */
  private toOutbox(entries: OutboxEntry[]): Promise<void> {
    this.appendsStarted++;
    this.held += entries.length;
    const done = this.appending.then(() => this.outbox.append(entries));
    this.appending = done.catch(() => undefined);
    return done.catch((err: unknown) => {
      this.held = Math.max(0, this.held - entries.length);
      throw asUnavailable(err);
    });
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
    // What this process appended is committed before the head is read; an append started
    // after that keeps the sink buffering (its rows must go out before anything direct).
    const started = this.appendsStarted;
    await this.appending;
    let rows: OutboxRow[];
    try {
      rows = await this.outbox.head(this.maxPerSend);
    } catch (err) {
      this.opts.log.warn('could not read the outbox; trying again later', {
        err: (err as Error).message,
      });
      this.schedule(this.relayIntervalMs);
      return false;
    }
    if (rows.length === 0) {
      if (this.appendsStarted !== started) return true;
      this.held = 0;
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
    try {
      await this.outbox.deleteThrough(rows[rows.length - 1]!.seq);
    } catch (err) {
      // Sent but still held: relayed again later, with the same ids (counted once).
      this.opts.log.warn('could not forget relayed outbox rows; they will be sent again', {
        err: (err as Error).message,
      });
      this.schedule(this.relayIntervalMs);
      return false;
    }
    this.held = Math.max(0, this.held - rows.length);
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
    return this.partitionOf(r.topic, r.key, this.partitionCounts.get(r.topic) ?? 1);
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
      // Rows another process left (or this one could not relay yet): relay them.
      this.outbox.size().then(
        (n) => {
          this.held = n;
          if (n > 0 && this.mode === 'direct' && !this.closed) {
            this.mode = 'buffering';
            this.pump();
          }
        },
        (err: unknown) =>
          this.opts.log.debug('could not read the outbox size', { err: (err as Error).message }),
      );
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
