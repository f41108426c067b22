import { startTestApi, type TestApi } from '../test/support/api';

describe('/docs', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(() => api.close());

  it('redirects /docs to /docs/', async () => {
    const res = await fetch(`${api.url}/docs`, { redirect: 'manual' });
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe('/docs/');
  });

  it('serves Swagger UI from the package, pointed at /openapi.json', async () => {
    const page = await api.request('GET', '/docs/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.body).toMatch(/swagger-ui-bundle\.js/);
    const init = await api.request('GET', '/docs/dim-init.js');
    expect(init.body).toMatch(/openapi\.json/);
    for (const asset of [
      'swagger-ui-bundle.js',
      'swagger-ui-standalone-preset.js',
      'swagger-ui.css',
    ]) {
      const res = await fetch(`${api.url}/docs/${asset}`);
      expect(res.status).toBe(200);
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    }
  });

  it('answers 404 problem+json for an asset that does not exist', async () => {
    const res = await api.request('GET', '/docs/nope.js');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });
});
