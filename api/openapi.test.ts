import http from 'node:http';
import { startTestApi, type TestApi } from '../test/support/api';

/**
 * The document says what the code enforces (test/integration/schemathesis.test.ts fuzzes the
 * whole API against it; these are its rules, checked fast and one by one).
 */
interface Doc {
  paths: Record<string, Record<string, Op>>;
}
interface Op {
  operationId: string;
  parameters: { name: string; in: string; schema: Record<string, unknown> }[];
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
  responses: Record<
    string,
    {
      content?: Record<string, { schema: JsonSchema }>;
      links?: Record<string, { operationId: string; parameters?: Record<string, string> }>;
    }
  >;
}
interface JsonSchema {
  properties?: Record<string, JsonSchema & { pattern?: string }>;
  items?: JsonSchema;
  allOf?: unknown[];
}

describe('the OpenAPI document', () => {
  let api: TestApi;
  let doc: Doc;
  beforeAll(async () => {
    api = await startTestApi();
    doc = (await api.request('GET', '/openapi.json')).body as Doc;
  });
  afterAll(() => api.close());

  const op = (method: string, path: string): Op => {
    const o = doc.paths[path]?.[method];
    if (!o) throw new Error(`${method.toUpperCase()} ${path} is not in the document`);
    return o;
  };
  const statuses = (method: string, path: string) => Object.keys(op(method, path).responses);
  const ops = () =>
    Object.entries(doc.paths).flatMap(([path, m]) =>
      Object.entries(m).map(([method, o]) => ({ path, method, o })),
    );

  it('documents the success status each route answers', async () => {
    expect(statuses('post', '/datasets')).toContain('201');
    expect(statuses('post', '/datasets')).not.toContain('200');
    // POST /policies creates (201) or replaces (200).
    expect(statuses('post', '/policies')).toEqual(expect.arrayContaining(['200', '201']));
    expect(statuses('delete', '/policies/{name}')).toContain('204');
    expect(op('delete', '/policies/{name}').responses['204']!.content).toBeUndefined();
    expect(statuses('delete', '/datasets/{id}')).toContain('204');
    expect(statuses('post', '/access-events')).toContain('202');
    expect(statuses('put', '/tiers')).toContain('200');

    // And the code does answer them.
    const created = await api.request('POST', '/policies', { name: 'doc-test' });
    expect(created.status).toBe(201);
    const replaced = await api.request('POST', '/policies', { name: 'doc-test' });
    expect(replaced.status).toBe(200);
    const deleted = await api.request('DELETE', '/policies/doc-test');
    expect(deleted.status).toBe(204);
  });

  it('documents the problem statuses of every operation, and those of calls with a body', () => {
    for (const { path, method, o } of ops()) {
      const codes = Object.keys(o.responses);
      expect({ path, method, codes }).toEqual({
        path,
        method,
        codes: expect.arrayContaining(['400', '401', '403', '404', '409', '503']),
      });
      if (method !== 'get') {
        expect({ path, method, codes }).toEqual({
          path,
          method,
          codes: expect.arrayContaining(['413', '415', '422']),
        });
        expect(o.parameters.map((p) => `${p.in}:${p.name}`)).toContain('header:Idempotency-Key');
      }
    }
  });

  it('names every operation once', () => {
    const ids = ops().map(({ o }) => o.operationId);
    expect(ids.every((id) => /^[a-z]+[A-Za-z0-9]+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(op('post', '/jobs/{job_id}/approve').operationId).toBe('postJobsByJobIdApprove');
  });

  it('holds the storage URI pattern the location check enforces', () => {
    const body = op('post', '/datasets').requestBody!.content['application/json']!.schema;
    const pattern = new RegExp(body.properties!.path_uri!.pattern!);
    for (const ok of ['file:///data/x', 'file://localhost/data/x', 's3://bkt/p', 'gs://bkt'])
      expect(pattern.test(ok)).toBe(true);
    for (const bad of ['0', '/data/x', 'ftp://h/x', 'file://host/x', 's3://B/x', 'file:///a?b'])
      expect(pattern.test(bad)).toBe(false);

    const tiers = op('put', '/tiers').requestBody!.content['application/json']!.schema;
    const items = tiers.properties!.items!;
    const template = new RegExp(items.items!.properties!.location_template!.pattern!);
    expect(template.test('s3://dim-warm/{name}')).toBe(true);
    expect(template.test('s3://dim-warm/all')).toBe(false); // no placeholder
    expect(template.test('s3://dim-warm/{nope}')).toBe(false);
    expect(items.allOf).toHaveLength(3); // hot, warm and cold, each once
  });

  it('documents the answer of each list and links the ids it holds to the operations that take them', () => {
    const list = op('get', '/datasets').responses['200']!;
    expect(list.content!['application/json']!.schema.properties!.items).toBeDefined();
    expect(list.links!.getDatasetsById).toEqual({
      operationId: 'getDatasetsById',
      parameters: { 'path.id': '$response.body#/items/0/id' },
    });
    const created = op('post', '/datasets').responses['201']!.links!;
    expect(created.patchDatasetsById!.parameters).toEqual({ 'path.id': '$response.body#/id' });
    expect(created.postPlanMigration).toMatchObject({
      requestBody: { dataset_id: '$response.body#/id' },
    });
    const job = op('post', '/plan-migration').responses['201']!.links!;
    expect(job.postJobsByJobIdCancel!.parameters).toEqual({
      'path.job_id': '$response.body#/job_id',
    });
    // A reference is followed to read, never to change or delete.
    expect(job.getDatasetsById!.parameters).toEqual({ 'path.id': '$response.body#/dataset_id' });
    expect(job.deleteDatasetsById).toBeUndefined();
    expect(op('get', '/policies').responses['200']!.links!.getPoliciesByName).toBeDefined();
  });
});

/** fetch refuses TRACE: a plain node:http request. */
function trace(
  url: string,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'TRACE' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('a method a path does not offer', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(() => api.close());

  it('is answered 405 problem+json with Allow, on paths with and without parameters', async () => {
    const t = await trace(`${api.url}/datasets`);
    expect(t.status).toBe(405);
    expect(t.headers.allow).toBe('GET, HEAD, POST');
    expect(t.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(t.body)).toMatchObject({
      status: 405,
      detail: expect.stringMatching(/TRACE/),
    });

    const put = await api.request('PUT', '/datasets/7', {});
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('DELETE, GET, HEAD, PATCH');

    // HEAD is GET's: offered where GET is, refused where it is not.
    expect((await api.request('HEAD', '/plan-migration')).status).toBe(405);
    expect((await api.request('HEAD', '/datasets')).status).toBe(200);
    expect(
      (
        await api.request('DELETE', '/jobs/00000000-0000-4000-8000-000000000000/approve')
      ).headers.get('allow'),
    ).toBe('POST');
  });

  it('leaves OPTIONS, offered methods and unknown paths alone', async () => {
    const options = await api.request('OPTIONS', '/datasets/1');
    expect(options.status).toBe(200);
    expect(options.headers.get('allow')).toBe('DELETE, GET, HEAD, PATCH');
    expect((await api.request('GET', '/datasets')).status).toBe(200);
    expect((await trace(`${api.url}/nowhere`)).status).toBe(404);
    expect((await api.request('GET', '/datasets/1/nowhere')).status).toBe(404);
  });
});
