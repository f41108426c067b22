import type { LocalLog } from '../../store/backend';
import { IngestAudit, KnownDatasets } from './access-events';
import { silentLogger } from '../../runtime/log';
import { startTestApi, type TestApi } from '../../test/support/api';
import { startBridge, type RunningBridge } from '../../workers/bridge';

/** POST /access-events and GET /datasets/{id}/usage, through the local log and the bridge. */
describe('access events API (local log)', () => {
  let api: TestApi;
  let sink: LocalLog;
  let bridge: RunningBridge | undefined;
  const ev = { dataset_id: 1, op: 'read', size_bytes: 4096, client_lat_ms: 12.3 };

  const logged = async () =>
    Number(
      (
        await api.store.db
          .selectFrom('event_log')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  beforeAll(async () => {
    api = await startTestApi();
    // The same sink the app uses, reached through a second handle for the bound test.
    sink = api.store.backend.localLog({ topicPrefix: '', bufferMax: 1_000_000 });
    for (const name of ['sample', 'other']) {
      const r = await api.request('POST', '/datasets', {
        name,
        path_uri: `file:///shared_storage/${name}`,
        size_bytes: 1048576,
      });
      expect(r.status).toBe(201);
    }
  });
  afterAll(async () => {
    await bridge?.stop();
    await sink?.close();
    await api.close();
  });

  it('appends the events of an idempotent request once, though it runs again after a crash', async () => {
    const ds = await api.request('POST', '/datasets', {
      name: 'idempotent',
      path_uri: 'file:///shared_storage/idempotent',
    });
    const mine = { ...ev, dataset_id: ds.body.id as number };
    const appended = async () =>
      (
        await api.store.db
          .selectFrom('event_log')
          .select('seq')
          .where('key', '=', String(mine.dataset_id))
          .execute()
      ).length;
    const send = (key: string) =>
      api.request('POST', '/access-events', [mine, mine, mine], { 'Idempotency-Key': key });
    expect((await send('ingest-1')).status).toBe(202);
    expect(await appended()).toBe(3);
    // As if the process had died after the append, before the answer: the claim is left
    // unanswered, old enough to be taken over by the client's retry, which runs again.
    await api.store.db
      .updateTable('idempotency_keys')
      .set({ status: null, body: null, created_at: Date.now() - 120_000 })
      .where('key', '=', 'ingest-1')
      .execute();
    const retried = await send('ingest-1');
    expect([retried.status, retried.headers.get('idempotent-replayed')]).toEqual([202, null]);
    expect(await appended()).toBe(3);
    // Another key is another request.
    expect((await send('ingest-2')).status).toBe(202);
    expect(await appended()).toBe(6);
  });

  it("accepts the prototype's body verbatim: 202 with a count, durable in the local log", async () => {
    const res = await api.request('POST', '/access-events', ev);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ accepted: 1 });
    const row = await api.store.db
      .selectFrom('event_log')
      .select(['topic', 'key', 'value'])
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirstOrThrow();
    expect(row.topic).toBe('access_events');
    expect(row.key).toBe('1');
    const value = JSON.parse(row.value) as Record<string, unknown>;
    expect(value).toMatchObject(ev);
    expect(value.ts).toEqual(expect.any(Number));
    expect(Math.abs((value.ts as number) - Date.now())).toBeLessThan(10_000);
  });

  it('accepts an array', async () => {
    const res = await api.request('POST', '/access-events', [
      ev,
      { ...ev, dataset_id: 2, op: 'write', ts: new Date().toISOString() },
    ]);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ accepted: 2 });
  });

  it('audits ingestion rolled up per caller and interval, not per request', async () => {
    const perRequest = await api.store.db
      .selectFrom('audit_log')
      .select('id')
      .where('action', '=', 'POST /access-events')
      .execute();
    expect(perRequest).toEqual([]);
    const audit = new IngestAudit(api.store.db, 60_000);
    await audit.record('ops', 2, [1, 2]);
    await audit.record('ops', 1, [1]);
    await audit.record('ci', 5, [3]);
    await audit.close();
    const rows = await api.store.db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'POST /access-events')
      .orderBy('id')
      .execute();
    expect(rows.map((r) => [r.actor, r.target])).toEqual([
      ['ops', '/access-events'],
      ['ci', '/access-events'],
    ]);
    expect(JSON.parse(rows[0]!.details)).toMatchObject({
      requests: 2,
      events: 3,
      datasets: [1, 2],
    });
    await api.store.db
      .deleteFrom('audit_log')
      .where('action', '=', 'POST /access-events')
      .execute();
  });

  it('remembers existing datasets for a while, and still rejects unknown ones', async () => {
    const known = new KnownDatasets(api.store.db, 60_000);
    expect([...(await known.missing([1, 2, 777]))]).toEqual([777]);
    // 1 and 2 are known now: no query needed; 777 is asked again (and still missing).
    expect([...(await known.missing([1, 777]))]).toEqual([777]);
  });

  const bad: Array<[string, unknown, number, string, RegExp]> = [
    [
      'a wrong type at index 3',
      [ev, ev, ev, { ...ev, dataset_id: 'x' }],
      400,
      'body[3].dataset_id',
      /dataset id/,
    ],
    [
      'an unknown dataset at index 2',
      [ev, ev, { ...ev, dataset_id: 424242 }],
      400,
      'body[2].dataset_id',
      /dataset 424242 does not exist/,
    ],
    [
      'an unknown dataset (single)',
      { ...ev, dataset_id: 424242 },
      400,
      'body.dataset_id',
      /does not exist/,
    ],
    [
      'an unknown field',
      [ev, { ...ev, colour: 'red' }],
      400,
      'body[1].colour',
      /unknown field \(allowed: dataset_id, op, size_bytes, client_lat_ms, ts\)/,
    ],
    ['a negative size', { ...ev, size_bytes: -5 }, 400, 'body.size_bytes', /negative/],
    ['an absurd size', { ...ev, size_bytes: 2 ** 52 }, 400, 'body.size_bytes', /at most/],
    [
      'a timestamp far in the future',
      { ...ev, ts: Date.now() + 3_600_000 },
      400,
      'body.ts',
      /future/,
    ],
    [
      'an absurdly old timestamp',
      [ev, { ...ev, ts: '1999-01-01T00:00:00Z' }],
      400,
      'body[1].ts',
      /past/,
    ],
    ['a bad op', { ...ev, op: 'list' }, 400, 'body.op', /"read" or "write"/],
    [
      'a missing field',
      { dataset_id: 1, op: 'read', size_bytes: 1 },
      400,
      'body.client_lat_ms',
      /required/,
    ],
    ['an empty array', [], 400, 'body', /at least one event/],
    ['10,001 events', new Array(10_001).fill(ev), 400, 'body', /at most 10000 events/],
    ['a scalar body', 42, 400, 'body', /./],
  ];
  it.each(bad)(
    'rejects %s with a problem naming the field, and keeps nothing',
    async (_what, body, status, field, reason) => {
      const before = await logged();
      const res = await api.request('POST', '/access-events', body);
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(res.body.field).toBe(field);
      expect(res.body.detail).toMatch(reason);
      expect(await logged()).toBe(before);
    },
  );

  it('rejects malformed JSON with a 400 naming the body', async () => {
    const res = await api.request('POST', '/access-events', '[{"dataset_id": 1,');
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ field: 'body' });
  });

  it('answers 503 with Retry-After when the local log is full (the bridge is not keeping up)', async () => {
    const small = api.store.backend.localLog({ topicPrefix: '', bufferMax: 1 });
    await expect(small.publish('access_events', [{ key: '1', value: ev }])).rejects.toMatchObject({
      status: 503,
      extra: { retryAfterS: 10 },
    });
  });

  it('a repeated Idempotency-Key does not record the events twice', async () => {
    const before = await logged();
    const h = { 'idempotency-key': 'events-once' };
    const a = await api.request('POST', '/access-events', [ev, ev], h);
    const b = await api.request('POST', '/access-events', [ev, ev], h);
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(b.headers.get('idempotent-replayed')).toBe('true');
    expect(await logged()).toBe(before + 2);
  });

  it('aggregates through the bridge: GET /datasets/{id} usage and hourly buckets', async () => {
    const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    const earlier = hour - 2 * 3_600_000 + 60_000;
    await api.request('POST', '/access-events', [
      { dataset_id: 2, op: 'read', size_bytes: 10, client_lat_ms: 1, ts: earlier },
      { dataset_id: 2, op: 'write', size_bytes: 30, client_lat_ms: 3, ts: earlier + 1 },
    ]);
    bridge = await startBridge({
      store: api.store,
      group: 'dim-bridge',
      topicPrefix: '',
      log: silentLogger,
      pollMs: 20,
    });
    // Dataset 1 got 4 reads above (1 + 1 + 2 with the idempotent repeat counted once).
    const expected = { read_count: 4, write_count: 0, bytes_read: 4 * 4096 };
    for (let i = 0; i < 100; i++) {
      const got = await api.request('GET', '/datasets/2');
      if (got.body.usage.write_count >= 2) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    const d1 = await api.request('GET', '/datasets/1');
    expect(d1.body.usage).toMatchObject({ ...expected, mean_client_lat_ms: 12.3 });
    expect(d1.body.last_access_ts).toEqual(expect.any(String));

    const d2 = await api.request('GET', '/datasets/2');
    expect(d2.body.usage).toMatchObject({
      read_count: 1,
      write_count: 2,
      bytes_written: 4096 + 30,
    });

    const u = await api.request('GET', '/datasets/2/usage');
    expect(u.status).toBe(200);
    expect(u.body).toMatchObject({ dataset_id: 2, granularity: 'hour' });
    expect(u.body.buckets).toEqual([
      {
        hour: new Date(hour - 2 * 3_600_000).toISOString(),
        read_count: 1,
        write_count: 1,
        bytes_read: 10,
        bytes_written: 30,
        mean_client_lat_ms: 2,
      },
      expect.objectContaining({ hour: new Date(hour).toISOString(), write_count: 1 }),
    ]);
    const narrow = await api.request(
      'GET',
      `/datasets/2/usage?from=${hour}&to=${new Date(hour + 3_600_000).toISOString()}`,
    );
    expect(narrow.body.buckets).toHaveLength(1);
    // The bridge deletes what it aggregated: the log is a buffer.
    for (let i = 0; i < 100 && (await logged()) > 0; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(await logged()).toBe(0);
    // 7 events of datasets 1 and 2, and the 6 of the 'idempotent' dataset above.
    expect(bridge.stats()).toMatchObject({ applied: 13, deadLettered: 0 });
  }, 15_000);

  it.each([
    ['/datasets/2/usage?from=yesterday', 'query.from', /ISO 8601/],
    [
      '/datasets/2/usage?from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z',
      'query.from',
      /before to/,
    ],
    [
      '/datasets/2/usage?from=2020-01-01T00:00:00Z&to=2030-01-01T00:00:00Z',
      'query.from',
      /400 days/,
    ],
    ['/datasets/2/usage?bucket=day', 'query.bucket', /unknown field/],
  ])('GET %s is a 400 naming the field', async (url, field, reason) => {
    const res = await api.request('GET', url);
    expect(res.status).toBe(400);
    expect(res.body.field).toBe(field);
    expect(res.body.detail).toMatch(reason);
  });

  it('GET usage of an unknown dataset is a 404', async () => {
    expect((await api.request('GET', '/datasets/999/usage')).status).toBe(404);
  });
});
