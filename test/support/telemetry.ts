import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import type { AccessEvent } from '../../events/access-event';
import { addValue, eventIdKey, finishRun, formatIdHeader, startRun } from '../../events/message-id';
import { insertDataset } from '../../store/datasets';
import type { OpenedDb } from '../../store/db';
import { repoRoot } from './dim-process';
import { datasetRow } from './rows';

/** Helpers for the telemetry tests: deterministic events, expected sums, polling. */
export const BROKERS = ['127.0.0.1:9092'];

/** A prefix no other test or engineer uses: its own topics, its own consumer group. */
export const uniquePrefix = (what: string) =>
  `t-${what}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}.`;

export async function createDatasets(store: OpenedDb, count: number): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    const d = await insertDataset(
      store.db,
      datasetRow(`ds-${i}`, `file:///shared_storage/ds-${i}`),
    );
    ids.push(d.id);
  }
  return ids;
}

/** Event number i of a run: spread over the datasets, a quarter writes, sizes vary. */
export function eventAt(i: number, ids: number[], ts: number): AccessEvent {
  return {
    dataset_id: ids[i % ids.length]!,
    op: i % 4 === 0 ? 'write' : 'read',
    size_bytes: 1 + (i % 1000),
    client_lat_ms: i % 50,
    ts: ts + (i % 1000),
  };
}

export interface Sums {
  reads: number;
  writes: number;
  bytesRead: number;
  bytesWritten: number;
}

export function expectedSums(from: number, to: number, ids: number[]): Map<number, Sums> {
  const out = new Map<number, Sums>();
  for (const id of ids) out.set(id, { reads: 0, writes: 0, bytesRead: 0, bytesWritten: 0 });
  for (let i = from; i < to; i++) {
    const e = eventAt(i, ids, 0);
    const s = out.get(e.dataset_id)!;
    if (e.op === 'read') {
      s.reads++;
      s.bytesRead += e.size_bytes;
    } else {
      s.writes++;
      s.bytesWritten += e.size_bytes;
    }
  }
  return out;
}

export function actualSums(store: OpenedDb): Map<number, Sums> {
  const rows = store.sqlite
    .prepare(
      'select dataset_id as id, read_count as reads, write_count as writes, bytes_read as bytesRead, bytes_written as bytesWritten from access_totals',
    )
    .all() as Array<Sums & { id: number }>;
  return new Map(rows.map(({ id, ...s }) => [id, s]));
}

/** Events counted so far (totals), and the same summed from the hourly buckets. */
export function counted(store: OpenedDb): { totals: number; buckets: number } {
  const t = store.sqlite
    .prepare('select coalesce(sum(read_count + write_count), 0) as n from access_totals')
    .get() as { n: number };
  const b = store.sqlite
    .prepare('select coalesce(sum(read_count + write_count), 0) as n from access_aggregates')
    .get() as { n: number };
  return { totals: t.n, buckets: b.n };
}

export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
  everyMs = 100,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Waits for the count to reach `n`, then a little longer to be sure it does not pass it. */
export async function waitForCount(store: OpenedDb, n: number, timeoutMs = 60_000) {
  await waitFor(
    `${n} events counted (at ${counted(store).totals})`,
    () => counted(store).totals >= n,
    timeoutMs,
  );
  await new Promise((r) => setTimeout(r, 1500));
}

export function kafkaClient(clientId = 'dim-test'): Kafka {
  return new Kafka({ clientId, brokers: BROKERS, logLevel: logLevel.NOTHING });
}

export async function createTopic(kafka: Kafka, topic: string, partitions = 4): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: [{ topic, numPartitions: partitions }],
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
}

export async function deleteTopics(kafka: Kafka, prefix: string): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length) await admin.deleteTopics({ topics });
  } catch {
    // best effort
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * The `dim-id` header dim's own sink would put on a run of `values` (numbers n, n+1, ...)
 * in `partition`, signed with the install's key (the one in `store`).
 */
export function signedIdHeader(
  store: OpenedDb,
  topic: string,
  partition: number,
  source: string,
  n: number,
  values: string[],
): string {
  const mac = startRun(eventIdKey(undefined, store.sqlite), topic, partition, source, n);
  for (const v of values) addValue(mac, v);
  return formatIdHeader(source, n, values.length, finishRun(mac, values.length));
}

/** A plain producer, as any Kafka client (kcat) would be: no dim headers. */
export async function plainProducer(kafka: Kafka): Promise<Producer> {
  const p = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await p.connect();
  return p;
}

export async function produceEvents(
  producer: Producer,
  topic: string,
  from: number,
  to: number,
  ids: number[],
  ts: number,
  chunk = 2000,
): Promise<void> {
  for (let i = from; i < to; i += chunk) {
    const messages = [];
    for (let j = i; j < Math.min(to, i + chunk); j++) {
      const e = eventAt(j, ids, ts);
      messages.push({ key: String(e.dataset_id), value: JSON.stringify(e) });
    }
    await producer.send({ topic, messages });
  }
}

const run = promisify(execFile);

/** dev/services for one service; resolves once the command returned (start: healthy). */
export async function services(action: 'start' | 'stop' | 'status', name: string): Promise<string> {
  const { stdout } = await run(path.join(repoRoot, 'dev', 'services'), [action, name], {
    cwd: repoRoot,
    timeout: 240_000,
  });
  return stdout;
}

/** POSTs a JSON body; returns the status (and the body when it is not a 202). */
export async function post(url: string, body: unknown): Promise<{ status: number; text: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

/**
 * Four clients POST batches of `batch` events to a `dim api` child until it is killed:
 * `kill` runs once `killAt` events were accepted. Returns what was accepted (202) and how
 * many batches lost their answer with the process (each may or may not have landed).
 */
export async function ingestUntilKilled(opts: {
  url: string;
  ids: number[];
  ts: number;
  batch: number;
  killAt: number;
  kill: () => void;
}): Promise<{ accepted: number; unanswered: number }> {
  const { url, ids, ts, batch } = opts;
  let next = 0;
  let accepted = 0;
  let unanswered = 0;
  const client = async () => {
    for (;;) {
      const from = next;
      next += batch;
      const events = Array.from({ length: batch }, (_, j) => eventAt(from + j, ids, ts));
      try {
        const res = await post(`${url}/access-events`, events);
        if (res.status !== 202) throw new Error(`unexpected ${res.status}: ${res.text}`);
        accepted += batch;
      } catch (err) {
        if ((err as Error).message.startsWith('unexpected')) throw err;
        unanswered++;
        return; // the API is gone
      }
    }
  };
  const clients = [client(), client(), client(), client()];
  await waitFor(`${opts.killAt} accepted`, () => accepted >= opts.killAt, 60_000, 5);
  opts.kill();
  await Promise.all(clients);
  return { accepted, unanswered };
}
