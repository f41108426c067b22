import { defaultTiers } from '../../placement';
import { ensureDefaultTiers } from '../../store/tiers';
import { startTestApi, type TestApi } from '../../test/support/api';

interface Rec {
  id: number | null;
  dataset_id: number;
  current_tier: string;
  recommended_tier: string;
  action: string;
  target_location: string;
  storage_class: string;
  reason: string;
  inputs: Record<string, unknown>;
  model_version: string;
  created_at: string;
}

describe('recommendations API', () => {
  let api: TestApi;
  const ids: Record<string, number> = {};

  /** What the bridge would have aggregated: a read `ageS` seconds ago. */
  async function accessed(datasetId: number, ageS: number, reads = 1) {
    await api.store.db
      .insertInto('access_totals')
      .values({
        dataset_id: datasetId,
        read_count: reads,
        write_count: 0,
        bytes_read: reads * 4096,
        bytes_written: 0,
        lat_sum_ms: 12.3 * reads,
        lat_count: reads,
        last_access_ts: Date.now() - ageS * 1000,
      })
      .onConflict((oc) =>
        oc.column('dataset_id').doUpdateSet({ last_access_ts: Date.now() - ageS * 1000 }),
      )
      .execute();
  }

  beforeAll(async () => {
    api = await startTestApi();
    await ensureDefaultTiers(api.store.db, defaultTiers(api.dataDir));
    for (const name of ['fresh', 'lukewarm', 'stale', 'never', 'slo', 'pinned']) {
      const res = await api.request('POST', '/datasets', {
        name,
        path_uri: `file:///shared_storage/${name}`,
        size_bytes: 10 * 2 ** 30,
      });
      expect(res.status).toBe(201);
      ids[name] = res.body.id;
    }
    await accessed(ids.fresh!, 5);
    await accessed(ids.lukewarm!, 300);
    await accessed(ids.stale!, 3600);
    await accessed(ids.slo!, 3600);
    await api.request('PATCH', `/datasets/${ids.slo}`, { latency_slo_ms: 50 });
    await api.request('POST', '/policies', { name: 'keep-hot', pinned_tier: 'hot' });
    await api.request('PATCH', `/datasets/${ids.pinned}`, { policy: 'keep-hot' });
  });
  afterAll(() => api.close());

  const byDataset = (items: Rec[]) => new Map(items.map((r) => [r.dataset_id, r]));

  /** Rows of the tables a read must not grow. */
  const rowCounts = async () => ({
    recommendations: (
      await api.store.db
        .selectFrom('recommendations')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
    published: (
      await api.store.db
        .selectFrom('event_log')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('topic', '=', 'recommendations')
        .executeTakeFirstOrThrow()
    ).n,
  });

  it('computes one recommendation per dataset with the documented fields', async () => {
    const res = await api.request('GET', '/recommendations');
    expect(res.status).toBe(200);
    const items = res.body.items as Rec[];
    expect(items.map((r) => r.dataset_id)).toEqual(Object.values(ids));
    expect(res.body.next_cursor).toBeNull();
    const recs = byDataset(items);
    const fresh = recs.get(ids.fresh!)!;
    expect(fresh).toEqual({
      // No sweep has run yet: computed for this answer, not stored.
      id: null,
      dataset_id: ids.fresh,
      current_tier: 'hot',
      recommended_tier: 'hot',
      action: 'stay',
      target_location: 'file:///shared_storage/fresh',
      storage_class: 'standard',
      reason: expect.stringMatching(
        /^Last accessed \d+ s ago, within the 60 s hot window → hot\. Keep in hot/,
      ),
      inputs: expect.objectContaining({ read_count: 1, policy: null, size_bytes: 10 * 2 ** 30 }),
      model_version: 'heuristic-v1',
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(recs.get(ids.lukewarm!)).toMatchObject({
      recommended_tier: 'warm',
      action: 'move',
      target_location: `file://${api.dataDir}/storage/warm/lukewarm`,
    });
    expect(recs.get(ids.stale!)).toMatchObject({
      recommended_tier: 'cold',
      target_location: `file://${api.dataDir}/storage/cold/stale`,
    });
    expect(recs.get(ids.never!)!.reason).toMatch(/^Never accessed → cold\. Move from hot to cold/);
    expect(recs.get(ids.slo!)).toMatchObject({ recommended_tier: 'warm' });
    expect(recs.get(ids.slo!)!.reason).toMatch(/breaks the 50 ms SLO/);
    expect(recs.get(ids.pinned!)).toMatchObject({ recommended_tier: 'hot', action: 'stay' });
    expect(recs.get(ids.pinned!)!.reason).toMatch(/policy "keep-hot" pins it to hot/);
  });

  it('reads are reads: GET stores and publishes nothing, however often it is called', async () => {
    const before = await rowCounts();
    expect(before).toEqual({ recommendations: 0, published: 0 });
    for (let i = 0; i < 3; i++) {
      const res = await api.request('GET', '/recommendations');
      expect((res.body.items as Rec[]).every((r) => r.id === null)).toBe(true);
      await api.request('GET', `/recommendations?dataset_id=${ids.stale}`);
    }
    await accessed(ids.never!, 1);
    expect(
      (await api.request('GET', `/recommendations?dataset_id=${ids.never}`)).body.items[0],
    ).toMatchObject({ id: null, recommended_tier: 'hot' });
    expect(await rowCounts()).toEqual(before);
    await accessed(ids.never!, 86_400 * 400);
  });

  it('POST /sweep stores each changed recommendation (readable by id), publishes it, and GET answers it', async () => {
    const res = await api.request('POST', '/sweep');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      trigger: 'request',
      datasets: 6,
      stored: 6,
      migrations: [],
      skipped: [],
      error: null,
    });
    expect(await rowCounts()).toEqual({ recommendations: 6, published: 6 });

    const rec = (await api.request('GET', `/recommendations?dataset_id=${ids.stale}`)).body
      .items[0] as Rec;
    expect(rec.id).toEqual(expect.any(Number));
    const again = await api.request('GET', `/recommendations/${rec.id}`);
    expect(again.status).toBe(200);
    // By id it carries the dry run of applying it too (plan-dry-run.test.ts checks that).
    const { plan, ...standing } = again.body;
    expect(standing).toEqual(rec);
    expect(plan).toMatchObject({ dry_run: true, dataset_id: rec.dataset_id });

    const stored = await api.store.db
      .selectFrom('recommendations')
      .selectAll()
      .where('id', '=', rec.id)
      .executeTakeFirstOrThrow();
    expect(stored).toMatchObject({ reason: rec.reason, model_version: 'heuristic-v1' });
    expect(JSON.parse(stored.inputs)).toEqual(rec.inputs);

    const published = await api.store.db
      .selectFrom('event_log')
      .selectAll()
      .where('topic', '=', 'recommendations')
      .where('key', '=', String(ids.stale))
      .orderBy('seq', 'desc')
      .executeTakeFirstOrThrow();
    expect(JSON.parse(published.value)).toEqual(rec);

    // A second sweep with nothing changed stores and publishes nothing.
    expect((await api.request('POST', '/sweep')).body).toMatchObject({ stored: 0 });
    expect(await rowCounts()).toEqual({ recommendations: 6, published: 6 });
  });

  it("answers the stored advice until the dataset's inputs change, then the fresh advice unstored", async () => {
    const get = async (q: string) =>
      (await api.request('GET', `/recommendations?${q}`)).body.items as Rec[];
    const [first] = await get(`dataset_id=${ids.lukewarm}`);
    expect(first!.id).toEqual(expect.any(Number));
    const [again] = await get(`dataset_id=${ids.lukewarm}`);
    expect(again).toEqual(first);
    expect(byDataset(await get('limit=100')).get(ids.lukewarm!)).toEqual(first);

    // An event (the prototype's demo: an event, then a GET) shows the fresh advice at once.
    const counts = await rowCounts();
    await accessed(ids.lukewarm!, 1);
    const [changed] = await get(`dataset_id=${ids.lukewarm}`);
    expect(changed).toMatchObject({ id: null, recommended_tier: 'hot', action: 'stay' });
    expect(Date.parse(changed!.created_at)).toBeGreaterThanOrEqual(Date.parse(first!.created_at));
    expect(await rowCounts()).toEqual(counts);

    // The next sweep stores it; GET then answers the stored one.
    expect((await api.request('POST', '/sweep')).body.stored).toBeGreaterThanOrEqual(1);
    const [stored] = await get(`dataset_id=${ids.lukewarm}`);
    expect(stored).toMatchObject({ recommended_tier: 'hot', action: 'stay' });
    expect(stored!.id).toBeGreaterThan(first!.id!);

    // New inputs that keep the advice: the stored one, same id.
    await accessed(ids.lukewarm!, 2);
    expect((await get(`dataset_id=${ids.lukewarm}`))[0]!.id).toBe(stored!.id);
    await accessed(ids.lukewarm!, 300);
  });

  it('paginates by dataset with limit and cursor', async () => {
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor ? `&cursor=${cursor}` : '';
      const res = await api.request('GET', `/recommendations?limit=4${q}`);
      expect(res.status).toBe(200);
      seen.push(...(res.body.items as Rec[]).map((r) => r.dataset_id));
      cursor = res.body.next_cursor as string | null;
      pages++;
    } while (cursor);
    expect(pages).toBe(2);
    expect(seen).toEqual(Object.values(ids));
  });

  it('applies the policy named "default" to datasets without a policy', async () => {
    expect(
      (await api.request('POST', '/policies', { name: 'default', pinned_tier: 'warm' })).status,
    ).toBe(201);
    const res = await api.request('GET', `/recommendations?dataset_id=${ids.fresh}`);
    expect(res.body.items[0]).toMatchObject({ recommended_tier: 'warm' });
    expect(res.body.items[0].reason).toMatch(/policy "default" pins it to warm/);
    // A dataset with its own policy keeps it.
    const pinned = await api.request('GET', `/recommendations?dataset_id=${ids.pinned}`);
    expect(pinned.body.items[0]).toMatchObject({ recommended_tier: 'hot' });
    await api.request('DELETE', '/policies/default');
  });

  it('resolves targets from the tier table as set by PUT /tiers', async () => {
    const tiers = (await api.request('GET', '/tiers')).body.items as Array<Record<string, unknown>>;
    const cold = tiers.find((t) => t.name === 'cold')!;
    cold.location_template = `file://${api.dataDir}/storage/archive/{id}-{name}`;
    expect((await api.request('PUT', '/tiers', { items: tiers })).status).toBe(200);
    const res = await api.request('GET', `/recommendations?dataset_id=${ids.stale}`);
    expect(res.body.items[0].target_location).toBe(
      `file://${api.dataDir}/storage/archive/${ids.stale}-stale`,
    );
  });

  it('answers 404 for an unknown dataset_id or recommendation, 400 for a bad one', async () => {
    const unknown = await api.request('GET', '/recommendations?dataset_id=999999');
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect((await api.request('GET', '/recommendations/999999')).status).toBe(404);
    for (const q of [
      'dataset_id=abc',
      'dataset_id=-1',
      'dataset_id=1.5',
      'limit=0',
      'limit=5000',
      'cursor=x',
    ]) {
      const res = await api.request('GET', `/recommendations?${q}`);
      expect(res.status).toBe(400);
      expect(res.body.field).toBe(`query.${q.split('=')[0]}`);
    }
  });

  it('answers 409 naming PUT /tiers while the tier table is empty', async () => {
    const empty = await startTestApi();
    try {
      const res = await empty.request('GET', '/recommendations');
      expect(res.status).toBe(409);
      expect(res.body.detail).toMatch(/PUT \/tiers/);
    } finally {
      await empty.close();
    }
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await api.request('GET', '/openapi.json')).body;
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/recommendations',
        '/recommendations/{id}',
        '/policies',
        '/policies/{name}',
        '/tiers',
      ]),
    );
    expect(doc.paths['/tiers'].put).toBeDefined();
    expect(doc.paths['/policies'].post).toBeDefined();
  });
});
