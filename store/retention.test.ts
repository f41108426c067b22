import path from 'node:path';
import type { Retention } from '../config';
import { loadConfig } from '../config';
import { silentLogger } from '../runtime/log';
import { startTestApi } from '../test/support/api';
import { tempDir } from '../test/support/dim-process';
import { waitFor } from '../test/support/telemetry';
import type { OpenedDb } from './db';
import { rawQuery } from './dialect';
import { openTestStore } from '../test/support/store';
import {
  pruneAll,
  pruneAuditLog,
  pruneDeadLetters,
  pruneEventLog,
  pruneIdempotencyKeys,
  pruneAppendedRequests,
  setAuditDetailsMax,
  startRetention,
} from './retention';

/** Each prune function on a real database: SQLite (a temp file) or PostgreSQL (unit-pg). */
describe('retention', () => {
  let store: OpenedDb;
  const DAY = 86_400_000;
  const now = Date.now();
  beforeEach(async () => {
    store = await openTestStore(path.join(tempDir('retention'), 'dim.db'));
  });
  afterEach(() => store.close());

  /** What the prune functions take: better-sqlite3's handle on SQLite, Kysely on PostgreSQL. */
  const target = () => (store.dialect === 'postgres' ? store.db : store.sqlite);
  const query = async <T>(sql: string, ...args: unknown[]) =>
    (await store.db.executeQuery(rawQuery(store.db, sql, args))).rows as T[];
  const count = async (sql: string, ...args: unknown[]) =>
    Number((await query<{ n: number }>(sql, ...args))[0]!.n);
  /** Rows into `table`, a thousand per statement. */
  async function insertRows(table: 'event_log' | 'dead_letters', rows: object[]) {
    for (let i = 0; i < rows.length; i += 1000)
      await store.db
        .insertInto(table)
        .values(rows.slice(i, i + 1000) as never)
        .execute();
  }

  /** `n` rows of a topic, the first `old` of them `ageMs` old, the rest now. */
  async function logRows(topic: string, n: number, old: number, ageMs: number) {
    await insertRows(
      'event_log',
      Array.from({ length: n }, (_, i) => ({
        topic,
        key: '1',
        value: `{"i":${i}}`,
        ts: i < old ? now - ageMs : now,
      })),
    );
  }
  const logCount = (topic: string) =>
    count('select count(*) as n from event_log where topic = ?', topic);

  it('event_log: other topics keep their recent rows, at most maxRows each; access events stay', async () => {
    await logRows('migration_status', 5000, 4500, 8 * DAY); // more than one slice is old
    await logRows('p.recommendations', 300, 0, 0);
    await logRows('access_events', 3000, 3000, 30 * DAY); // the bridge's backlog: never pruned here
    await logRows('p.access_events', 10, 10, 30 * DAY);
    const deleted = await pruneEventLog(target(), { maxAgeMs: 7 * DAY, maxRows: 100 }, now);
    expect(await logCount('migration_status')).toBe(100);
    expect(await logCount('p.recommendations')).toBe(100);
    expect(await logCount('access_events')).toBe(3000);
    expect(await logCount('p.access_events')).toBe(10);
    expect(deleted).toBe(4900 + 200);
    // The newest rows are the ones kept.
    const kept = await query<{ value: string }>(
      "select value from event_log where topic = 'migration_status' order by seq",
    );
    expect(kept[0]!.value).toBe('{"i":4900}');
    expect(kept.at(-1)!.value).toBe('{"i":4999}');
    // Within both limits: nothing goes.
    expect(await pruneEventLog(target(), { maxAgeMs: 7 * DAY, maxRows: 100 }, now)).toBe(0);
  });

  it('event_log: by age alone, old rows go and recent ones stay', async () => {
    await logRows('migration_jobs', 50, 20, 8 * DAY);
    await pruneEventLog(target(), { maxAgeMs: 7 * DAY, maxRows: 100_000 }, now);
    expect(await logCount('migration_jobs')).toBe(30);
  });

  it('dead_letters: by age and by count, oldest first', async () => {
    await insertRows(
      'dead_letters',
      Array.from({ length: 4200 }, (_, i) => ({
        source: 'kafka',
        topic: 't',
        partition: 0,
        offset: String(i),
        payload: 'x',
        error: 'bad',
        ts: i < 2100 ? now - 31 * DAY : now,
      })),
    );
    await pruneDeadLetters(target(), { maxAgeMs: 30 * DAY, maxRows: 100_000 }, now);
    expect(await count('select count(*) as n from dead_letters')).toBe(2100);
    await pruneDeadLetters(target(), { maxAgeMs: 30 * DAY, maxRows: 1000 }, now);
    expect(await count('select count(*) as n from dead_letters')).toBe(1000);
    expect(await count('select min(cast("offset" as integer)) as n from dead_letters')).toBe(3200);
  });

  it('idempotency_keys: keys older than maxAgeMs go, finished or not', async () => {
    const key = (k: string, status: number | null, body: string | null, created_at: number) => ({
      caller: 'anonymous',
      key: k,
      method: 'POST',
      path: '/x',
      request_hash: 'h',
      status,
      body,
      created_at,
    });
    await store.db
      .insertInto('idempotency_keys')
      .values([
        key('old-done', 201, '{}', now - 25 * 3_600_000),
        key('old-claim', null, null, now - 25 * 3_600_000),
        key('fresh', 201, '{}', now - 3_600_000),
      ])
      .execute();
    expect(await pruneIdempotencyKeys(target(), { maxAgeMs: 24 * 3_600_000 }, now)).toBe(2);
    const left = await query('select key from idempotency_keys');
    expect(left).toEqual([{ key: 'fresh' }]);
  });

  it("appended_requests: sources go twice the keys' age after they were appended", async () => {
    await store.db
      .insertInto('appended_requests')
      .values([
        { source: 'k.old', created_at: now - 49 * 3_600_000 },
        { source: 'k.kept', created_at: now - 47 * 3_600_000 },
      ])
      .execute();
    expect(await pruneAppendedRequests(target(), { maxAgeMs: 24 * 3_600_000 }, now)).toBe(1);
    expect(await query('select source from appended_requests')).toEqual([{ source: 'k.kept' }]);
  });

  const audit = (details: string, ts = now) =>
    store.db
      .insertInto('audit_log')
      .values({ ts, actor: 'a', action: 'POST /x', target: '/x', details })
      .execute();
  const auditRows = () => query<{ details: string }>('select details from audit_log order by id');

  it('audit_log: by age and by count', async () => {
    for (let i = 0; i < 30; i++) await audit(`{"i":${i}}`, i < 10 ? now - 91 * DAY : now);
    const keep = { maxAgeMs: 90 * DAY, maxRows: 1_000_000, detailsMax: 4096 };
    expect(await pruneAuditLog(target(), keep, now)).toBe(10);
    expect(await pruneAuditLog(target(), { ...keep, maxRows: 5 }, now)).toBe(15);
    expect((await auditRows()).map((r) => r.details)).toEqual(
      [25, 26, 27, 28, 29].map((i) => `{"i":${i}}`),
    );
  });

  it('audit_log: details longer than the cap are cut when written, by any writer', async () => {
    const short = JSON.stringify({ body: 'x'.repeat(100) });
    const long = JSON.stringify({ body: 'y'.repeat(20_000) });
    // Quotes double when escaped: the cut value still fits.
    const quoted = JSON.stringify({ body: '"'.repeat(20_000) });
    await audit(short);
    await audit(long); // the migration's default cap: 4096
    await setAuditDetailsMax(target(), 1024);
    await audit(quoted);
    const [a, b, c] = (await auditRows()).map((r) => r.details);
    expect(a).toBe(short);
    expect(b!.length).toBeLessThanOrEqual(4096);
    expect(JSON.parse(b!)).toMatchObject({ truncated: true, length: long.length });
    expect(long.startsWith((JSON.parse(b!) as { head: string }).head)).toBe(true);
    expect(c!.length).toBeLessThanOrEqual(1024);
    expect(JSON.parse(c!)).toMatchObject({ truncated: true, length: quoted.length });
  });

  it("audit_log: the API's own audit of a large request body is capped", async () => {
    const api = await startTestApi();
    try {
      await setAuditDetailsMax(
        api.store.dialect === 'postgres' ? api.store.db : api.store.sqlite,
        512,
      );
      const res = await api.request('POST', '/datasets', {
        name: 'big',
        path_uri: `file://${api.dataDir}/storage/${'d'.repeat(1500)}`,
        owner: 'o'.repeat(200),
      });
      expect(res.status).toBe(201);
      const rows = await api.store.db
        .selectFrom('audit_log')
        .select('details')
        .where('action', 'like', 'POST%')
        .execute();
      expect(rows).toHaveLength(1);
      expect(rows[0]!.details.length).toBeLessThanOrEqual(512);
      expect(JSON.parse(rows[0]!.details)).toMatchObject({ truncated: true });
    } finally {
      await api.close();
    }
  });

  it('pruneAll uses the configured defaults; startRetention prunes on its timer', async () => {
    const r: Retention = loadConfig({}).retention;
    expect(r).toEqual({
      intervalMs: 300_000,
      eventLog: { maxAgeMs: 7 * DAY, maxRows: 100_000 },
      deadLetters: { maxAgeMs: 30 * DAY, maxRows: 100_000 },
      idempotencyKeys: { maxAgeMs: 24 * 3_600_000 },
      audit: { maxAgeMs: 90 * DAY, maxRows: 1_000_000, detailsMax: 4096 },
    });
    await logRows('migration_status', 10, 10, 8 * DAY);
    await audit('{}', now - 91 * DAY);
    expect(await pruneAll(target(), r, now)).toEqual({
      event_log: 10,
      dead_letters: 0,
      idempotency_keys: 0,
      appended_requests: 0,
      audit_log: 1,
    });
    await logRows('migration_status', 10, 10, 8 * DAY);
    const running = startRetention({
      db: target(),
      retention: { ...r, audit: { ...r.audit, detailsMax: 2048 } },
      log: silentLogger,
      firstMs: 0,
    });
    try {
      await waitFor(
        'the first pass',
        async () => (await logCount('migration_status')) === 0,
        10_000,
        20,
      );
      expect(
        await count(
          "select cast(value as integer) as n from install_settings where name = 'audit_details_max'",
        ),
      ).toBe(2048);
    } finally {
      await running.stop();
    }
  });
});
