import { Client, Connection } from '@temporalio/client';
import { GB, defaultTiers, planCost } from '../../placement';
import { placementInputs } from '../../store/recommendations';
import { ensureDefaultTiers, listTiers, tierTable } from '../../store/tiers';
import { startTestApi, type TestApi } from '../../test/support/api';

/**
 * `POST /plan-migration` with `dry_run: true` and `GET /recommendations/{id}`'s plan: the
 * plan without doing it. The Temporal client points at a port nobody listens on, so a
 * workflow start could only fail; the dry run must never try.
 */
describe('dry run of a migration plan', () => {
  let api: TestApi;
  const keys = [
    { name: 'ops', role: 'operator' as const, secret: 'ops-secret-0123456789' },
    { name: 'root', role: 'admin' as const, secret: 'root-secret-0123456789' },
  ];
  const as = (name: string) => ({
    authorization: `Bearer ${keys.find((k) => k.name === name)!.secret}`,
  });
  const cold = (name: string) => `file://${api.dataDir}/storage/cold/${name}`;
  const counts = async () => {
    const n = async (t: 'migration_jobs' | 'audit_log' | 'idempotency_keys') =>
      Number(
        (
          await api.store.db
            .selectFrom(t)
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    return {
      jobs: await n('migration_jobs'),
      audit: await n('audit_log'),
      idempotency: await n('idempotency_keys'),
    };
  };
  const register = async (name: string, extra: Record<string, unknown> = {}) => {
    const res = await api.request(
      'POST',
      '/datasets',
      { name, path_uri: `file:///shared_storage/${name}`, size_bytes: 100 * GB, ...extra },
      as('root'),
    );
    expect(res.status).toBe(201);
    return res.body.id as number;
  };

  beforeAll(async () => {
    const client = new Client({
      connection: Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 500 }),
    });
    api = await startTestApi({
      apiKeys: keys,
      temporal: { client, namespace: 'default', taskQueue: 'dim-dry-run' },
    });
    await ensureDefaultTiers(api.store.db, defaultTiers(api.dataDir));
  });
  afterAll(() => api.close());

  it('answers the plan, its cost and break-even, and writes and starts nothing', async () => {
    const id = await register('dry-a', { object_count: 1000 });
    const before = await counts();
    const res = await api.request(
      'POST',
      '/plan-migration',
      { dataset_id: id, target_location: cold('dry-a'), dry_run: true },
      { ...as('ops'), 'idempotency-key': 'dry-a-key' },
    );
    expect(res.status).toBe(200);
    // The key names the job the real plan would make; no idempotency record replays this answer.
    expect(res.body.job_key).toBe('dry-a-key');
    expect(res.body).toMatchObject({
      dry_run: true,
      ok: true,
      dataset_id: id,
      current_tier: 'hot',
      target_tier: 'cold',
      objects: 1000,
      bytes: 100 * GB,
      existing_job_id: null,
      safety: { require_approval: false, retire_source: false, retire_grace_s: 0 },
    });
    expect(res.body.checks.map((c: { name: string; ok: boolean }) => [c.name, c.ok])).toEqual([
      ['policy_safety', true],
      ['one_migration_at_a_time', true],
      ['destination_free_of_datasets', true],
      ['destination_free_of_migrations', true],
    ]);
    // By hand: 100 GB never read: hot $10.00/month, cold $0.40; the move is 1,000 write
    // requests into cold at $0.01/1000 = $0.01; paid back in 0.01 / (9.6 / (730/24)) days.
    const c = res.body.cost;
    expect(c.monthly_before_usd).toBeCloseTo(10, 9);
    expect(c.monthly_after_usd).toBeCloseTo(0.4, 9);
    expect(c.move_usd).toBeCloseTo(0.01, 9);
    expect(c.move).toMatchObject({ retrieval: 0, egress: 0, early_deletion: 0 });
    expect(c.payback_days).toBeCloseTo(0.01 / (9.6 / (730 / 24)), 9);
    expect(c.pays_back).toBe(true);
    // The same numbers as the pure function the decision uses.
    const [inputs] = await placementInputs(api.store.db, { datasetId: id });
    const tiers = tierTable(await listTiers(api.store.db))!;
    expect(c).toEqual(
      JSON.parse(JSON.stringify(planCost(inputs!.signals, tiers, 'cold', Date.now()))),
    );
    expect(await counts()).toEqual(before);
  });

  it('lists the failed checks of a plan the rules forbid, still answering 200', async () => {
    await api.request('POST', '/policies', { name: 'careful', require_approval: true }, as('root'));
    const id = await register('dry-b', { policy: 'careful' });
    const other = await register('dry-c');
    // Another migration of the dataset has not ended.
    await api.store.db
      .insertInto('migration_jobs')
      .values({
        job_id: '00000000-0000-4000-8000-000000000001',
        job_key: 'dry-run-busy',
        dataset_id: id,
        source_uri: `file:///shared_storage/dry-b`,
        dest_uri: cold('dry-b-elsewhere'),
        dest_storage_class: 'standard',
        target_tier: 'cold',
        status: 'copying',
        error: null,
        bytes_done: 0,
        bytes_total: 0,
        objects_done: 0,
        objects_total: 0,
        workflow_id: 'migration-dry-run-busy',
        run_id: null,
        recommendation_id: null,
        requested_by: 'ops',
        require_approval: 0,
        retire_source: 0,
        retire_grace_s: 0,
        four_eyes: 0,
        approvers: '[]',
        retire_linked_files: 0,
        submitted_at: 1,
        updated_at: 1,
      })
      .execute();
    const before = await counts();
    const res = await api.request(
      'POST',
      '/plan-migration',
      {
        dataset_id: id,
        // Inside dataset dry-c, and skipping the approval its policy requires.
        target_location: 'file:///shared_storage/dry-c/inside',
        require_approval: false,
        dry_run: true,
      },
      as('ops'),
    );
    expect(res.status).toBe(200);
    expect(res.body.ok).toBe(false);
    expect(res.body.safety).toBeNull();
    expect(res.body.cost).toBeNull();
    const failed = Object.fromEntries(
      res.body.checks
        .filter((c: { ok: boolean }) => !c.ok)
        .map((c: { name: string; detail: string }) => [c.name, c.detail]),
    );
    expect(Object.keys(failed).sort()).toEqual([
      'destination_free_of_datasets',
      'one_migration_at_a_time',
      'policy_safety',
    ]);
    expect(failed.policy_safety).toMatch(
      /skipping the approval is less safe than policy "careful"/,
    );
    expect(failed.one_migration_at_a_time).toMatch(/is being migrated to .*dry-b-elsewhere/);
    expect(failed.destination_free_of_datasets).toMatch(new RegExp(`dataset ${other} "dry-c"`));
    expect(await counts()).toEqual(before);

    // The job_key of the running job: the plan would answer that job (same plan, same
    // caller), or refuse another caller the key.
    const again = {
      dataset_id: id,
      target_location: cold('dry-b-elsewhere'),
      job_key: 'dry-run-busy',
      dry_run: true,
    };
    const same = await api.request('POST', '/plan-migration', again, as('ops'));
    expect(same.body).toMatchObject({
      ok: true,
      existing_job_id: '00000000-0000-4000-8000-000000000001',
      checks: [{ name: 'same_plan_for_key', ok: true }],
    });
    const taken = await api.request('POST', '/plan-migration', again, as('root'));
    expect(taken.body.ok).toBe(false);
    expect(taken.body.checks[0].detail).toMatch(/taken by a migration another caller planned/);
    expect(await counts()).toEqual(before);

    // The admin may skip the approval: that check passes, and the effective safety shows it.
    const admin = await api.request(
      'POST',
      '/plan-migration',
      { dataset_id: id, target_location: cold('dry-b'), require_approval: false, dry_run: true },
      as('root'),
    );
    expect(admin.status).toBe(200);
    expect(admin.body.safety.require_approval).toBe(false);
    expect(admin.body.checks.find((c: { name: string }) => c.name === 'policy_safety').ok).toBe(
      true,
    );
    // Without the flag, the approval the policy requires is what the plan would do.
    const plain = await api.request(
      'POST',
      '/plan-migration',
      { dataset_id: other, target_location: cold('dry-c'), dry_run: true },
      as('ops'),
    );
    expect(plain.body.ok).toBe(true);
  });

  it('bad input is still a 400 naming the field', async () => {
    const id = await register('dry-d');
    const res = await api.request(
      'POST',
      '/plan-migration',
      { dataset_id: id, target_location: 'not a storage uri', dry_run: true },
      as('ops'),
    );
    expect(res.status).toBe(400);
    expect(res.body.field).toBe('body.target_location');
    const flag = await api.request(
      'POST',
      '/plan-migration',
      { dataset_id: id, target_location: cold('dry-d'), dry_run: 'yes' },
      as('ops'),
    );
    expect(flag.status).toBe(400);
    expect(flag.body.field).toBe('body.dry_run');
  });

  it('GET /recommendations/{id} shows the same plan as the dry run of applying it', async () => {
    const id = await register('dry-e');
    // The placement sweep stores the recommendation; GET /recommendations then answers it.
    expect((await api.request('POST', '/sweep', undefined, as('ops'))).status).toBe(200);
    const list = await api.request(
      'GET',
      `/recommendations?dataset_id=${id}`,
      undefined,
      as('ops'),
    );
    const rec = list.body.items[0];
    expect(rec.recommended_tier).toBe('cold');
    const before = await counts();
    const one = await api.request('GET', `/recommendations/${rec.id}`, undefined, as('ops'));
    expect(one.status).toBe(200);
    const dry = await api.request(
      'POST',
      '/plan-migration',
      {
        dataset_id: id,
        target_location: rec.target_location,
        storage_class: rec.storage_class,
        target_tier: 'cold',
        dry_run: true,
      },
      as('ops'),
    );
    expect(one.body.plan).toMatchObject({ ok: true, target_tier: 'cold' });
    const { cost: a, ...restA } = one.body.plan;
    const { cost: b, ...restB } = dry.body;
    expect(restA).toEqual(restB);
    expect(a.move_usd).toBeCloseTo(b.move_usd, 9);
    expect(a.saving_usd_month).toBeCloseTo(b.saving_usd_month, 9);
    expect(await counts()).toEqual(before);
  });
});
