import { createHash } from 'node:crypto';
import { startTestApi, type TestApi } from '../test/support/api';
import type { ApiKey } from './auth';
import { IDEMPOTENCY_CLAIM_TTL_MS, IDEMPOTENCY_RETENTION_MS } from './idempotency';

/**
 * Issue 9, item 7: an Idempotency-Key belongs to its caller; a claim whose request died
 * is taken over after a minute; a recorded answer expires after a day.
 */
const keys: ApiKey[] = [
  { name: 'otto', role: 'operator', secret: 'operator-secret-0123456789' },
  { name: 'olga', role: 'admin', secret: 'another-secret-0123456789' },
];
const as = (name: string, key: string) => ({
  authorization: `Bearer ${keys.find((k) => k.name === name)!.secret}`,
  'Idempotency-Key': key,
});
/** The request hash api/idempotency.ts records: SHA-256 of the JSON body. */
const hashOf = (body: unknown) => createHash('sha256').update(JSON.stringify(body)).digest('hex');
const dataset = (name: string) => ({ name, path_uri: `file:///shared_storage/idem-${name}` });

describe('Idempotency-Keys scoped to the caller', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({ apiKeys: keys });
  });
  afterAll(() => api.close());

  it('the same key from two callers runs twice, and each gets its own answer', async () => {
    const a = await api.request('POST', '/datasets', dataset('otto-1'), as('otto', 'shared-1'));
    const b = await api.request('POST', '/datasets', dataset('olga-1'), as('olga', 'shared-1'));
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(b.headers.get('idempotent-replayed')).toBeNull();
    expect(b.body.name).toBe('olga-1');
    expect(b.body.id).not.toBe(a.body.id);
    // Each caller's repeat replays its own answer.
    const a2 = await api.request('POST', '/datasets', dataset('otto-1'), as('otto', 'shared-1'));
    const b2 = await api.request('POST', '/datasets', dataset('olga-1'), as('olga', 'shared-1'));
    expect([a2.headers.get('idempotent-replayed'), a2.body]).toEqual(['true', a.body]);
    expect([b2.headers.get('idempotent-replayed'), b2.body]).toEqual(['true', b.body]);
  });

  it("another caller sending the very same request runs it, and is not handed the first caller's answer", async () => {
    const body = dataset('same');
    const a = await api.request('POST', '/datasets', body, as('otto', 'same-request'));
    expect(a.status).toBe(201);
    const b = await api.request('POST', '/datasets', body, as('olga', 'same-request'));
    // It really ran: the name is otto's now. Unscoped, this was a replay of otto's 201.
    expect(b.status).toBe(409);
    expect(b.headers.get('idempotent-replayed')).toBeNull();
    expect(b.body.type).toBe('https://dim.dev/problems/conflict');
  });

  it('a key used on another endpoint by the same caller is a 422', async () => {
    await api.request('POST', '/datasets', dataset('otto-3'), as('otto', 'one-endpoint'));
    const reuse = await api.request(
      'PATCH',
      '/datasets/1',
      { owner: 'someone' },
      as('otto', 'one-endpoint'),
    );
    expect(reuse.status).toBe(422);
    expect(reuse.body.field).toBe('header.Idempotency-Key');
  });
});

describe('Idempotency-Key expiry (open mode: the caller is anonymous)', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(() => api.close());

  const row = (key: string, over: Record<string, unknown>) =>
    api.store.db
      .insertInto('idempotency_keys')
      .values({
        caller: 'anonymous',
        key,
        method: 'POST',
        path: '/datasets',
        request_hash: 'from-a-request-that-died',
        status: null,
        body: null,
        created_at: Date.now(),
        ...over,
      })
      .execute();
  const stored = (key: string) =>
    api.store.db
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('key', '=', key)
      .executeTakeFirstOrThrow();

  it('a fresh unfinished claim answers 409: the first request may still be running', async () => {
    await row('fresh-claim', { request_hash: hashOf(dataset('fresh')) });
    const res = await api.request('POST', '/datasets', dataset('fresh'), {
      'Idempotency-Key': 'fresh-claim',
    });
    expect(res.status).toBe(409);
    expect(res.body.detail).toMatch(/still running/);
  });

  it('a claim older than the claim TTL (its request died) is taken over and runs', async () => {
    await row('stale-claim', { created_at: Date.now() - IDEMPOTENCY_CLAIM_TTL_MS - 1000 });
    const res = await api.request('POST', '/datasets', dataset('stale'), {
      'Idempotency-Key': 'stale-claim',
    });
    expect(res.status).toBe(201);
    expect(res.body.name).toBe('stale');
    const r = await stored('stale-claim');
    expect(r.status).toBe(201);
    expect(Date.now() - r.created_at).toBeLessThan(IDEMPOTENCY_CLAIM_TTL_MS);
    // And from now on it replays like any key.
    const again = await api.request('POST', '/datasets', dataset('stale'), {
      'Idempotency-Key': 'stale-claim',
    });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(res.body);
  });

  it('keeps the origin of a request that runs again after a crash, and gives a new request a new one', async () => {
    const died = Date.now() - IDEMPOTENCY_CLAIM_TTL_MS - 5000;
    // The same request (same body and endpoint), taken over: its origin stays.
    await row('origin-same', {
      request_hash: hashOf(dataset('origin-same')),
      created_at: died,
      origin_ts: died - 7,
    });
    expect(
      (
        await api.request('POST', '/datasets', dataset('origin-same'), {
          'Idempotency-Key': 'origin-same',
        })
      ).status,
    ).toBe(201);
    expect((await stored('origin-same')).origin_ts).toBe(died - 7);
    // Another body on a crashed claim: another request, so a new origin.
    await row('origin-other', { created_at: died, origin_ts: died });
    await api.request('POST', '/datasets', dataset('origin-other'), {
      'Idempotency-Key': 'origin-other',
    });
    expect((await stored('origin-other')).origin_ts).toBeGreaterThan(
      died + IDEMPOTENCY_CLAIM_TTL_MS,
    );
    // An expired key: a new request, a new origin, even with the same body.
    const expired = Date.now() - IDEMPOTENCY_RETENTION_MS - 1000;
    await row('origin-expired', {
      request_hash: hashOf(dataset('origin-expired')),
      created_at: expired,
      origin_ts: expired,
    });
    await api.request('POST', '/datasets', dataset('origin-expired'), {
      'Idempotency-Key': 'origin-expired',
    });
    expect((await stored('origin-expired')).origin_ts).toBeGreaterThan(expired + 1000);
  });

  it('a completed key past the retention is new again: it runs, not replays', async () => {
    const old = { id: 424242, name: 'long-gone' };
    await row('old-key', {
      status: 201,
      body: JSON.stringify(old),
      created_at: Date.now() - IDEMPOTENCY_RETENTION_MS - 1000,
    });
    const res = await api.request('POST', '/datasets', dataset('renewed'), {
      'Idempotency-Key': 'old-key',
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('idempotent-replayed')).toBeNull();
    expect(res.body.name).toBe('renewed');
    expect(JSON.parse((await stored('old-key')).body!)).toEqual(res.body);
  });

  it('a completed key within the retention replays, however old its claim time', async () => {
    const body = dataset('kept');
    const kept = { id: 4343, name: 'kept' };
    await row('kept-key', {
      request_hash: hashOf(body),
      status: 201,
      body: JSON.stringify(kept),
      created_at: Date.now() - IDEMPOTENCY_CLAIM_TTL_MS * 10,
    });
    const res = await api.request('POST', '/datasets', body, { 'Idempotency-Key': 'kept-key' });
    expect(res.status).toBe(201);
    expect(res.headers.get('idempotent-replayed')).toBe('true');
    expect(res.body).toEqual(kept);
  });

  it('a request that fails frees its key for a retry', async () => {
    await api.request('POST', '/datasets', dataset('taken'));
    const fail = await api.request('POST', '/datasets', dataset('taken'), {
      'Idempotency-Key': 'retry-me',
    });
    expect(fail.status).toBe(409);
    const none = await api.store.db
      .selectFrom('idempotency_keys')
      .select('key')
      .where('key', '=', 'retry-me')
      .execute();
    expect(none).toEqual([]);
  });
});
