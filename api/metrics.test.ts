import { createMetricsRegistry } from '../runtime/metrics';
import { startTestApi, type TestApi } from '../test/support/api';
import { conventionProblems, labelSets, parseExposition, value } from '../test/support/prometheus';
import type { ApiKey } from './auth';
import { routeLabeller } from './metrics';

/** The API's metrics: requests by route pattern and status, events accepted, buffer depth. */
describe('routeLabeller', () => {
  const label = routeLabeller(['/datasets', '/datasets/:id', '/jobs/:job_id/approve', '/a.b']);

  it('labels a path with the pattern it matches, never the raw path', () => {
    expect(label('/datasets')).toBe('/datasets');
    expect(label('/datasets/')).toBe('/datasets');
    expect(label('/datasets/42')).toBe('/datasets/:id');
    expect(label('/jobs/j-1/approve')).toBe('/jobs/:job_id/approve');
    expect(label('/a.b')).toBe('/a.b');
  });

  it('knows nothing of other paths', () => {
    expect(label('/datasets/42/extra')).toBeUndefined();
    expect(label('/axb')).toBeUndefined();
    expect(label('/')).toBeUndefined();
  });
});

describe('GET /metrics (open mode)', () => {
  let api: TestApi;
  let depth = 7;
  beforeAll(async () => {
    api = await startTestApi({
      metrics: createMetricsRegistry({ defaults: false }),
      eventBuffer: { buffer: 'local-log', depth: () => depth },
    });
  });
  afterAll(() => api.close());

  const metrics = async () => {
    const res = await fetch(`${api.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parseExposition(await res.text());
  };

  it('counts requests by method, route pattern and status, and events accepted', async () => {
    const ds = await api.request('POST', '/datasets', {
      name: 'm1',
      path_uri: 'file:///shared_storage/metrics-m1',
    });
    expect(ds.status).toBe(201);
    const id = (ds.body as { id: number }).id;
    expect((await api.request('GET', `/datasets/${id}`)).status).toBe(200);
    expect((await api.request('GET', `/datasets/999999`)).status).toBe(404);
    expect((await api.request('GET', '/no/such/thing')).status).toBe(404);
    expect((await api.request('DELETE', '/jobs')).status).toBe(405);
    // One through the fast lane (plain JSON), one through Express (an Idempotency-Key).
    const event = { dataset_id: id, op: 'read', size_bytes: 10, client_lat_ms: 1 };
    expect((await api.request('POST', '/access-events', event)).status).toBe(202);
    const batch = await api.request('POST', '/access-events', [event, event], {
      'idempotency-key': 'metrics-batch-1',
    });
    expect(batch.status).toBe(202);
    expect((await api.request('POST', '/access-events', { dataset_id: 'x' })).status).toBe(400);
    expect((await api.request('GET', '/')).status).toBe(200);

    const m = await metrics();
    const req = (route: string, method: string, status: string) =>
      value(m, 'dim_http_requests_total', { route, method, status });
    expect(req('/datasets', 'POST', '201')).toBe(1);
    expect(req('/datasets/:id', 'GET', '200')).toBe(1);
    expect(req('/datasets/:id', 'GET', '404')).toBe(1);
    expect(req('unmatched', 'GET', '404')).toBe(1);
    expect(req('/jobs', 'DELETE', '405')).toBe(1);
    expect(req('/access-events', 'POST', '202')).toBe(2);
    expect(req('/access-events', 'POST', '400')).toBe(1);
    expect(req('static', 'GET', '200')).toBe(1);
    expect(value(m, 'dim_events_accepted_total')).toBe(3);
    // No raw path ever becomes a label.
    const routes = labelSets(m, 'dim_http_requests_total').map((l) => l.route);
    expect(routes.filter((r) => /\d/.test(r!))).toEqual([]);
    // The histogram has the same label sets, and counts the same requests.
    expect(value(m, 'dim_http_request_duration_seconds', { route: '/datasets/:id' })).toBe(2);
    expect(m.get('dim_http_request_duration_seconds')!.type).toBe('histogram');
    for (const f of m.values()) expect(conventionProblems(f)).toEqual([]);
  });

  it('reports the event buffer depth at scrape time', async () => {
    depth = 7;
    expect(value(await metrics(), 'dim_event_buffer_depth', { buffer: 'local-log' })).toBe(7);
    depth = 12;
    expect(value(await metrics(), 'dim_event_buffer_depth', { buffer: 'local-log' })).toBe(12);
  });
});

describe('GET /metrics with API keys', () => {
  const keys: ApiKey[] = [{ name: 'prom', role: 'viewer', secret: 'viewer-secret-0123456789' }];
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({ apiKeys: keys, metrics: createMetricsRegistry() });
  });
  afterAll(() => api.close());

  it('needs a key (viewer or above), sent as a bearer token', async () => {
    const anonymous = await api.request('GET', '/metrics');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('content-type')).toMatch(/problem\+json/);
    const wrong = await api.request('GET', '/metrics', undefined, {
      authorization: 'Bearer nope-nope-nope',
    });
    expect(wrong.status).toBe(401);
    const res = await fetch(`${api.url}/metrics`, {
      headers: { authorization: `Bearer ${keys[0]!.secret}` },
    });
    expect(res.status).toBe(200);
    const m = parseExposition(await res.text());
    // The process metrics (collectDefaultMetrics) keep their standard names.
    expect(m.get('process_cpu_seconds_total')?.type).toBe('counter');
    expect(m.get('nodejs_eventloop_lag_seconds')?.type).toBe('gauge');
    expect(value(m, 'dim_http_requests_total', { route: '/metrics', status: '401' })).toBe(2);
  });
});
