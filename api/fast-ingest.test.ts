import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestApi, type TestApi } from '../test/support/api';
import { fastIngestLane } from './fast-ingest';

const ev = { dataset_id: 1, op: 'read', size_bytes: 4096, client_lat_ms: 12.3 };

describe('fast lane of POST /access-events', () => {
  // The lane alone, with a stand-in for Express that records what it was handed.
  let url: string;
  let server: http.Server;
  const handed: Array<{ url: string | undefined; body: unknown }> = [];
  const ingested: unknown[] = [];
  beforeAll(async () => {
    const lane = fastIngestLane({
      apiKeys: [
        { name: 'otto', role: 'operator', secret: 'operator-secret-0123' },
        { name: 'vera', role: 'viewer', secret: 'viewer-secret-012345' },
      ],
      ingest: (body, caller) => {
        if (Array.isArray(body) && body.length === 3) throw new Error('full');
        ingested.push({ body, caller: caller.name });
        return Promise.resolve({ accepted: Array.isArray(body) ? body.length : 1 });
      },
    });
    server = http.createServer((req, res) =>
      lane(req, res, () => {
        handed.push({ url: req.url, body: (req as { body?: unknown }).body });
        res.writeHead(299).end();
      }),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((r) => server.close(r)));
  beforeEach(() => {
    handed.length = 0;
    ingested.length = 0;
  });

  const post = (body: unknown, headers: Record<string, string> = {}, path = '/access-events') =>
    fetch(url + path, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: 'Bearer operator-secret-0123',
        ...headers,
      },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  it('serves the plain case itself: 202 with the count', async () => {
    const res = await post([ev, ev]);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: 2 });
    expect(ingested).toEqual([{ body: [ev, ev], caller: 'otto' }]);
    expect(handed).toEqual([]);
  });

  it.each([
    ['a viewer key', { authorization: 'Bearer viewer-secret-012345' }],
    ['a wrong key', { authorization: 'Bearer nope' }],
    ['no key', { authorization: '' }],
    ['an Idempotency-Key', { 'idempotency-key': 'k1' }],
    ['another content type', { 'content-type': 'text/plain' }],
    ['another charset', { 'content-type': 'application/json; charset=latin1' }],
  ])('leaves a request with %s to Express, unread', async (_what, headers) => {
    expect((await post(ev, headers)).status).toBe(299);
    expect(handed).toEqual([{ url: '/access-events', body: undefined }]);
    expect(ingested).toEqual([]);
  });

  it('leaves other paths and methods to Express', async () => {
    expect((await post(ev, {}, '/access-events?x=1')).status).toBe(299);
    expect((await post(ev, {}, '/datasets')).status).toBe(299);
    expect((await fetch(url + '/access-events')).status).toBe(299);
    expect(handed).toHaveLength(3);
  });

  it('hands a body that fails to Express, parsed, for the canonical answer', async () => {
    expect((await post([{ ...ev, op: 'x' }])).status).toBe(299);
    expect((await post([ev, ev, ev])).status).toBe(299);
    expect(handed).toEqual([
      { url: '/access-events', body: [{ ...ev, op: 'x' }] },
      { url: '/access-events', body: [ev, ev, ev] },
    ]);
  });

  it('answers malformed JSON itself, as the error middleware would', async () => {
    const res = await post('[{"dataset_id": 1,');
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(await res.json()).toMatchObject({
      type: 'https://dim.dev/problems/malformed_json',
      status: 400,
      field: 'body',
      instance: '/access-events',
    });
  });
});

describe('fast lane and Express agree (the real app, with keys)', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({
      apiKeys: [
        { name: 'otto', role: 'operator', secret: 'operator-secret-0123' },
        { name: 'vera', role: 'viewer', secret: 'viewer-secret-012345' },
      ],
    });
    const r = await api.request(
      'POST',
      '/datasets',
      { name: 'sample', path_uri: 'file:///shared_storage/sample' },
      { authorization: 'Bearer operator-secret-0123' },
    );
    expect(r.status).toBe(201);
  });
  afterAll(() => api.close());

  it.each([
    ['an operator key', 'Bearer operator-secret-0123', 202],
    ['a viewer key', 'Bearer viewer-secret-012345', 403],
    ['a wrong key', 'Bearer wrong-wrong-wrong', 401],
  ])('with %s: %d', async (_what, authorization, status) => {
    const res = await api.request('POST', '/access-events', ev, { authorization });
    expect(res.status).toBe(status);
  });

  it('bad input gets the same problem through either path', async () => {
    const bad = [ev, { ...ev, dataset_id: 99 }];
    const fast = await api.request('POST', '/access-events', bad, {
      authorization: 'Bearer operator-secret-0123',
    });
    const slow = await api.request('POST', '/access-events', bad, {
      authorization: 'Bearer operator-secret-0123',
      'idempotency-key': 'agree-1',
    });
    expect(fast.status).toBe(400);
    expect(fast.body).toEqual(slow.body);
    expect(fast.body.field).toBe('body[1].dataset_id');
  });
});
