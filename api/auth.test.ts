import { defaultTiers } from '../placement';
import { ensureDefaultTiers } from '../store/tiers';
import { startTestApi, type TestApi } from '../test/support/api';
import type { ApiKey } from './auth';

/** Item 4: named keys with roles; 401 without a valid key, 403 for a role that may not. */
const keys: ApiKey[] = [
  { name: 'ann', role: 'viewer', secret: 'viewer-secret-0123456789' },
  { name: 'otto', role: 'operator', secret: 'operator-secret-0123456789' },
  { name: 'ada', role: 'admin', secret: 'admin-secret-0123456789' },
];
const bearer = (name: string) => ({
  authorization: `Bearer ${keys.find((k) => k.name === name)!.secret}`,
});

const dataset = (name: string) => ({ name, path_uri: `file:///shared_storage/${name}` });

describe('auth with API keys', () => {
  let api: TestApi;
  let tiers: unknown;
  beforeAll(async () => {
    api = await startTestApi({ apiKeys: keys });
    await ensureDefaultTiers(api.store.db, defaultTiers(api.dataDir));
    tiers = (await api.request('GET', '/tiers', undefined, bearer('ann'))).body;
  });
  afterAll(() => api.close());

  const audit = () => api.store.db.selectFrom('audit_log').selectAll().orderBy('id').execute();

  it('leaves /health, /openapi.json and /docs open', async () => {
    expect((await api.request('GET', '/health')).status).toBe(200);
    expect((await api.request('GET', '/openapi.json')).status).toBe(200);
    expect((await api.request('GET', '/docs/')).status).toBe(200);
  });

  it.each([
    ['GET', '/datasets'],
    ['POST', '/datasets'],
    ['GET', '/recommendations'],
    ['GET', '/policies'],
    ['POST', '/policies'],
    ['GET', '/tiers'],
    ['PUT', '/tiers'],
  ])('%s %s without a key is a 401 problem', async (method, path) => {
    const res = await api.request(method, path, method === 'GET' ? undefined : {});
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body.detail).toMatch(/API key is required/);
  });

  it('answers 401 for a wrong key, in either header', async () => {
    const wrong = 'not-a-key-0123456789abcdef';
    const tries: Array<Record<string, string>> = [
      { authorization: `Bearer ${wrong}` },
      { 'x-api-key': wrong },
    ];
    for (const headers of tries) {
      const res = await api.request('GET', '/datasets', undefined, headers);
      expect(res.status).toBe(401);
      expect(res.body.detail).toMatch(/not valid/);
    }
  });

  it('accepts X-API-Key as well as Authorization: Bearer', async () => {
    const res = await api.request('GET', '/datasets', undefined, {
      'x-api-key': keys[0]!.secret,
    });
    expect(res.status).toBe(200);
  });

  it('viewer: reads, but no writes (403 naming the role)', async () => {
    const before = (await audit()).length;
    for (const path of ['/datasets', '/recommendations', '/policies', '/tiers']) {
      expect((await api.request('GET', path, undefined, bearer('ann'))).status).toBe(200);
    }
    const write = await api.request('POST', '/datasets', dataset('by-ann'), bearer('ann'));
    expect(write.status).toBe(403);
    expect(write.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(write.body.detail).toMatch(/needs the operator role; key "ann" has viewer/);
    expect((await audit()).length).toBe(before);
  });

  it('operator: writes datasets, but not policies or tiers', async () => {
    const created = await api.request('POST', '/datasets', dataset('by-otto'), bearer('otto'));
    expect(created.status).toBe(201);
    const patched = await api.request(
      'PATCH',
      `/datasets/${created.body.id}`,
      { owner: 'team' },
      bearer('otto'),
    );
    expect(patched.status).toBe(200);
    const policy = await api.request('POST', '/policies', { name: 'by-otto' }, bearer('otto'));
    expect(policy.status).toBe(403);
    expect(policy.body.detail).toMatch(/needs the admin role; key "otto" has operator/);
    expect((await api.request('PUT', '/tiers', tiers, bearer('otto'))).status).toBe(403);
  });

  it('admin: policies and tiers too', async () => {
    expect((await api.request('POST', '/policies', { name: 'by-ada' }, bearer('ada'))).status).toBe(
      201,
    );
    expect((await api.request('PUT', '/tiers', tiers, bearer('ada'))).status).toBe(200);
    expect((await api.request('POST', '/datasets', dataset('by-ada'), bearer('ada'))).status).toBe(
      201,
    );
    expect((await api.request('DELETE', '/policies/by-ada', undefined, bearer('ada'))).status).toBe(
      204,
    );
  });

  it("writes every successful mutating call to audit_log with the key's name, and nothing else", async () => {
    const rows = await audit();
    expect(rows.map((r) => [r.actor, r.action])).toEqual([
      ['otto', 'POST /datasets'],
      ['otto', 'PATCH /datasets/:id'],
      ['ada', 'POST /policies'],
      ['ada', 'PUT /tiers'],
      ['ada', 'POST /datasets'],
      ['ada', 'DELETE /policies/:name'],
    ]);
    const patch = rows[1]!;
    expect(patch.target).toMatch(/^\/datasets\/\d+$/);
    expect(JSON.parse(patch.details)).toMatchObject({ body: { owner: 'team' } });
    expect(rows.every((r) => r.ts > 0)).toBe(true);
    // The secret itself is never written down.
    expect(JSON.stringify(rows)).not.toMatch(/secret-0123456789/);
  });
});

describe('auth in open mode (no keys configured)', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({ apiKeys: [] });
  });
  afterAll(() => api.close());

  it('lets every call through as an anonymous admin and audits it as such', async () => {
    expect((await api.request('POST', '/datasets', dataset('open'))).status).toBe(201);
    expect((await api.request('POST', '/policies', { name: 'open' })).status).toBe(201);
    // A key sent anyway is not needed and not checked.
    expect(
      (await api.request('GET', '/datasets', undefined, { authorization: 'Bearer whatever' }))
        .status,
    ).toBe(200);
    const rows = await api.store.db.selectFrom('audit_log').selectAll().orderBy('id').execute();
    expect(rows.map((r) => [r.actor, r.action])).toEqual([
      ['anonymous', 'POST /datasets'],
      ['anonymous', 'POST /policies'],
    ]);
  });
});
