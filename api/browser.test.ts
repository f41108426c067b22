import http from 'node:http';
import { startTestApi, type TestApi } from '../test/support/api';
import { keyMatcher, type ApiKey } from './auth';

/**
 * Issue 9, item 8: a web page cannot drive a local dim. With no API keys configured, a
 * browser's cross-site write is refused (403), any write's body must be JSON (415), on the
 * Express routes and on the fast lane of POST /access-events alike. With keys, the key is
 * checked before a byte of the body is read, in constant time, and never repeated back.
 */
const ev = { dataset_id: 1, op: 'read', size_bytes: 4096, client_lat_ms: 12.3 };

function eventCount(api: TestApi): number {
  const row = api.store.sqlite.prepare('select count(*) as n from event_log').get() as {
    n: number;
  };
  return row.n;
}

/** A POST with a Host header of our choosing (fetch always sends the URL's). */
function postWithHost(url: string, host: string, origin: string, body: unknown) {
  const u = new URL(url);
  return new Promise<{ status: number; body: { detail?: string } }>((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: '/datasets',
        method: 'POST',
        setHost: false,
        headers: { host, origin, 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { detail?: string } }),
        );
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('open mode (no API keys): browsers from other sites', () => {
  let api: TestApi;
  let host: string;
  let n = 0;
  const dataset = () => ({ name: `b${++n}`, path_uri: `file:///shared_storage/browser-${n}` });
  beforeAll(async () => {
    api = await startTestApi();
    host = new URL(api.url).host;
    expect((await api.request('POST', '/datasets', dataset())).status).toBe(201);
  });
  afterAll(() => api.close());

  const datasets = async () =>
    (await api.store.db.selectFrom('datasets').select('id').execute()).length;

  it.each([
    ['another site', { origin: 'https://evil.example' }, 'header.Origin'],
    ['another port of the same host', { origin: 'http://127.0.0.1:1' }, 'header.Origin'],
    ['an opaque origin (sandbox, file://)', { origin: 'null' }, 'header.Origin'],
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }, 'header.Sec-Fetch-Site'],
    ['Sec-Fetch-Site: same-site', { 'sec-fetch-site': 'same-site' }, 'header.Sec-Fetch-Site'],
  ])('refuses a write from %s with 403, writing nothing', async (_what, headers, field) => {
    const before = await datasets();
    for (const [method, path, body] of [
      ['POST', '/datasets', dataset()],
      ['DELETE', '/datasets/1', undefined],
      ['POST', '/recommendations/1/apply', undefined],
    ] as const) {
      const res = await api.request(method, path, body, headers);
      expect(res.status).toBe(403);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ type: 'https://dim.dev/problems/cross_site', field });
      expect(res.body.detail).toMatch(/DIM_API_KEYS/);
    }
    expect(await datasets()).toBe(before);
  });

  it('refuses a page on a name re-pointed at the API (DNS rebinding): Origin equals Host', async () => {
    const port = new URL(api.url).port;
    const before = await datasets();
    const res = await postWithHost(
      api.url,
      `rebind.example:${port}`,
      `http://rebind.example:${port}`,
      dataset(),
    );
    expect(res.status).toBe(403);
    expect(res.body.detail).toMatch(/rebind\.example, which is not an IP address/);
    expect(await datasets()).toBe(before);
  });

  it('accepts its own origin, the user typing (none), and clients that are not browsers', async () => {
    for (const headers of <Array<Record<string, string>>>[
      { origin: api.url, 'sec-fetch-site': 'same-origin' },
      { 'sec-fetch-site': 'none' },
      {},
    ]) {
      expect((await api.request('POST', '/datasets', dataset(), headers)).status).toBe(201);
    }
    const port = new URL(api.url).port;
    const local = `localhost:${port}`;
    expect((await postWithHost(api.url, local, `http://${local}`, dataset())).status).toBe(201);
    expect(host).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('lets reads through from anywhere (a page cannot read the answer anyway)', async () => {
    const res = await api.request('GET', '/datasets', undefined, {
      origin: 'https://evil.example',
      'sec-fetch-site': 'cross-site',
    });
    expect(res.status).toBe(200);
  });

  it('the fast lane of POST /access-events refuses them the same way', async () => {
    const before = eventCount(api);
    for (const headers of <Array<Record<string, string>>>[
      { origin: 'https://evil.example' },
      { 'sec-fetch-site': 'cross-site' },
    ]) {
      const res = await api.request('POST', '/access-events', ev, headers);
      expect(res.status).toBe(403);
      expect(res.body.type).toBe('https://dim.dev/problems/cross_site');
    }
    // A form post: the type a page may send without a preflight.
    for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
      const res = await api.request('POST', '/access-events', JSON.stringify(ev), {
        'content-type': type,
      });
      expect(res.status).toBe(415);
      expect(res.body).toMatchObject({ status: 415, field: 'header.Content-Type' });
    }
    expect(eventCount(api)).toBe(before);
    // Its own origin still goes through.
    const ok = await api.request('POST', '/access-events', ev, { origin: api.url });
    expect(ok.status).toBe(202);
    expect(eventCount(api)).toBe(before + 1);
  });

  it('answers a too deeply nested body on the fast lane with 400 like Express', async () => {
    const deep = '['.repeat(10_000) + ']'.repeat(10_000);
    const res = await api.request('POST', '/access-events', deep);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ field: 'body', instance: '/access-events' });
    expect(res.body.detail).toMatch(/more than 64 levels deep/);
  });
});

describe('with API keys', () => {
  const keys: ApiKey[] = [
    { name: 'otto', role: 'operator', secret: 'operator-secret-0123456789' },
    { name: 'ada', role: 'admin', secret: 'admin-secret-0123456789abcdef' },
  ];
  let api: TestApi;
  let small: TestApi;
  beforeAll(async () => {
    api = await startTestApi({ apiKeys: keys });
    small = await startTestApi({ apiKeys: keys, bodyLimit: '1kb' });
  });
  afterAll(async () => {
    await api.close();
    await small.close();
  });

  const big = JSON.stringify({
    name: 'big',
    path_uri: 'file:///shared_storage/big',
    owner: 'o'.repeat(10 * 1024 * 1024),
  });

  it.each([
    ['no key', {}],
    ['a wrong key', { authorization: 'Bearer wrong-wrong-wrong-wrong' }],
  ])('answers 401 before reading the body: a 10 MB body with %s', async (_what, headers) => {
    for (const target of [api, small]) {
      const res = await target.request('POST', '/datasets', big, headers);
      expect(res.status).toBe(401);
    }
    // Malformed or absurdly nested: still 401, the body is never parsed.
    const deep = '['.repeat(100_000);
    expect((await api.request('POST', '/datasets', deep, headers)).status).toBe(401);
    expect((await api.request('POST', '/access-events', deep, headers)).status).toBe(401);
    expect((await api.request('POST', '/datasets', '{"name":', headers)).status).toBe(401);
  });

  it('still answers 413 and 400 to a caller with a valid key', async () => {
    const ada = { authorization: `Bearer ${keys[1]!.secret}` };
    expect((await small.request('POST', '/datasets', big, ada)).status).toBe(413);
    expect((await api.request('POST', '/datasets', '{"name":', ada)).status).toBe(400);
  });

  it('never repeats the key, or any part of the Authorization header, in an answer', async () => {
    const secret = 'almost-operator-secret-0123456789';
    for (const headers of <Array<Record<string, string>>>[
      { authorization: `Bearer ${secret}` },
      { authorization: `Basic ${secret}` },
      { 'x-api-key': secret },
    ]) {
      const res = await api.request('POST', '/datasets', { name: 'x' }, headers);
      expect(res.status).toBe(401);
      expect(JSON.stringify(res.body)).not.toContain('almost');
      expect([...res.headers.values()].join(' ')).not.toContain('almost');
    }
  });

  it('does not apply the origin checks (a browser cannot attach the key cross-site)', async () => {
    const res = await api.request(
      'POST',
      '/datasets',
      { name: 'proxied', path_uri: 'file:///shared_storage/proxied' },
      { authorization: `Bearer ${keys[0]!.secret}`, origin: 'https://dim-ui.example' },
    );
    expect(res.status).toBe(201);
  });

  it('still requires JSON for a body', async () => {
    const res = await api.request('POST', '/datasets', 'name=x', {
      authorization: `Bearer ${keys[0]!.secret}`,
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(res.status).toBe(415);
  });
});

describe('keyMatcher', () => {
  const keys: ApiKey[] = [
    { name: 'a', role: 'viewer', secret: 'secret-aaaaaaaaaaaaaaaa' },
    { name: 'b', role: 'admin', secret: 'secret-bbbbbbbbbbbbbbbb' },
  ];
  const match = keyMatcher(keys);
  it('finds the key a secret belongs to, whatever the lengths', () => {
    expect(match('secret-bbbbbbbbbbbbbbbb')?.name).toBe('b');
    expect(match('secret-aaaaaaaaaaaaaaaa')?.name).toBe('a');
    for (const wrong of [
      '',
      's',
      'secret-bbbbbbbbbbbbbbb',
      'secret-bbbbbbbbbbbbbbbbb',
      'x'.repeat(5000),
    ])
      expect(match(wrong)).toBeUndefined();
  });
});
