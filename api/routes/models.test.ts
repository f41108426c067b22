import { defaultTiers } from '../../placement';
import { ensureDefaultTiers } from '../../store/tiers';
import { startTestApi, type TestApi } from '../../test/support/api';

const HOUR = 3_600_000;

describe('models API: POST /train, GET /models, and recommendations that name the model', () => {
  let api: TestApi;
  let busy: number;
  let idle: number;

  beforeAll(async () => {
    api = await startTestApi({
      apiKeys: [
        { name: 'root', role: 'admin', secret: 'admin-secret' },
        { name: 'ops', role: 'operator', secret: 'operator-secret' },
      ],
    });
    await ensureDefaultTiers(api.store.db, defaultTiers(api.dataDir));
    const auth = { authorization: 'Bearer admin-secret' };
    for (const name of ['busy', 'idle']) {
      const res = await api.request(
        'POST',
        '/datasets',
        { name, path_uri: `file:///shared_storage/${name}`, size_bytes: 10 * 2 ** 30 },
        auth,
      );
      expect(res.status).toBe(201);
      if (name === 'busy') busy = res.body.id;
      else idle = res.body.id;
    }
    // What the bridge would have aggregated (imported history): the busy dataset read 20
    // times in each of the last 96 hours. The idle one has none, and was registered just now.
    const thisHour = Math.floor(Date.now() / HOUR) * HOUR;
    await api.store.db
      .insertInto('access_aggregates')
      .values(
        Array.from({ length: 96 }, (_, i) => ({
          dataset_id: busy,
          hour: thisHour - (i + 1) * HOUR,
          read_count: 20,
          write_count: 0,
          bytes_read: 20 * 2 ** 30,
          bytes_written: 0,
          lat_sum_ms: 0,
          lat_count: 0,
        })),
      )
      .execute();
  });
  afterAll(() => api.close());

  const as = (secret: string) => ({ authorization: `Bearer ${secret}` });
  const admin = as('admin-secret');

  it('before any training: no models, and the recommendation says the heuristic decided', async () => {
    const list = await api.request('GET', '/models', undefined, admin);
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ items: [], next_cursor: null });
    const rec = await api.request('GET', `/recommendations?dataset_id=${busy}`, undefined, admin);
    expect(rec.status).toBe(200);
    expect(rec.body.items[0].model_version).toBe('heuristic-v1');
    expect(rec.body.items[0].reason).toMatch(/No trained model covers this dataset \(POST \/train/);
  });

  it('rejects bad bodies naming the field, and callers below admin', async () => {
    for (const [body, field] of [
      [{ window_days: 0 }, 'body.window_days'],
      [{ window_days: 2.5 }, 'body.window_days'],
      [{ window_days: 'x' }, 'body.window_days'],
      [{ window_days: 3, holdout_days: 3 }, 'body.holdout_days'],
      [{ holdout_days: -1 }, 'body.holdout_days'],
    ] as const) {
      const res = await api.request('POST', '/train', body, admin);
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(res.body.field).toBe(field);
    }
    const extra = await api.request('POST', '/train', { windows: 3 }, admin);
    expect(extra.status).toBe(400);
    expect(extra.body.detail).toMatch(/windows/);
    const ops = await api.request('POST', '/train', {}, as('operator-secret'));
    expect(ops.status).toBe(403);
  });

  it('trains (no body: 30 days, 3 held out), lists and shows the model, and recommendations name it', async () => {
    const res = await api.request('POST', '/train', undefined, admin);
    expect(res.status).toBe(201);
    const m = res.body;
    expect(m.version).toBe('forecast-1');
    expect(m.window.days).toBe(30);
    expect(m.window.holdout_days).toBe(3);
    expect(Date.parse(m.window.to) - Date.parse(m.window.from)).toBe(30 * 24 * HOUR);
    expect(m.datasets).toBe(1); // idle: observed for less than a day, no forecast
    expect(m.buckets).toBe(96);
    expect(m.accuracy.metric).toBe('wape_hourly_reads');
    expect(m.accuracy.hours).toBe(72);
    expect(m.accuracy.actual_reads).toBe(72 * 20);
    expect(typeof m.accuracy.model_wape).toBe('number');
    expect(typeof m.accuracy.naive_wape).toBe('number');

    const list = await api.request('GET', '/models', undefined, admin);
    expect(list.body.items.map((x: { version: string }) => x.version)).toEqual(['forecast-1']);
    const one = await api.request('GET', '/models/forecast-1', undefined, admin);
    expect(one.status).toBe(200);
    expect(one.body).toEqual(m);
    const missing = await api.request('GET', '/models/forecast-404', undefined, admin);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/application\/problem\+json/);

    const rec = await api.request('GET', `/recommendations?dataset_id=${busy}`, undefined, admin);
    expect(rec.body.items[0].model_version).toBe('forecast-1');
    expect(rec.body.items[0].reason).toMatch(/^Model forecast-1 forecasts [\d.]+ reads\/hour/);
    expect(rec.body.items[0].recommended_tier).toBe('hot');
    const quiet = await api.request('GET', `/recommendations?dataset_id=${idle}`, undefined, admin);
    expect(quiet.body.items[0].model_version).toBe('heuristic-v1');
    expect(quiet.body.items[0].reason).toMatch(/No trained model covers this dataset/);

    const again = await api.request('POST', '/train', { window_days: 7, holdout_days: 1 }, admin);
    expect(again.status).toBe(201);
    expect(again.body.version).toBe('forecast-2');
    expect(again.body.window.days).toBe(7);
    const page1 = await api.request('GET', '/models?limit=1', undefined, admin);
    expect(page1.body.items.map((x: { version: string }) => x.version)).toEqual(['forecast-2']);
    const page2 = await api.request(
      'GET',
      `/models?limit=1&cursor=${page1.body.next_cursor}`,
      undefined,
      admin,
    );
    expect(page2.body).toMatchObject({ items: [{ version: 'forecast-1' }], next_cursor: null });
  });
});
