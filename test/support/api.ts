import path from 'node:path';
import { createApp, listen, type ApiDeps, type ApiServer } from '../../api/app';
import { silentLogger } from '../../runtime/log';
import type { OpenedDb } from '../../store/db';
import { checkDatasetLocation, checkLocation } from '../../storage/location';
import { tempDir } from './dim-process';
import { openTestStore } from './store';

/**
 * The API in-process on a temporary store (SQLite, or PostgreSQL in unit-pg) and a free port: for tests of routes that
 * need no outside server. Override any dependency through `overrides`.
 */
export interface TestApi {
  url: string;
  store: OpenedDb;
  dataDir: string;
  request(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<TestResponse>;
  close(): Promise<void>;
}

export interface TestResponse {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON answers
  body: any;
}

export async function startTestApi(overrides: Partial<ApiDeps> = {}): Promise<TestApi> {
  const dataDir = tempDir('api');
  const store = await openTestStore(path.join(dataDir, 'dim.db'));
  const storage = {
    fileRoots: [path.join(dataDir, 'storage'), '/shared_storage'],
    s3: { endpoint: undefined, region: 'us-east-1' },
    gcs: { endpoint: undefined, projectId: undefined },
  };
  const app = createApp({
    log: silentLogger,
    health: {},
    db: store.db,
    apiKeys: [],
    checkLocation: (uri, field) => checkLocation(uri, field, storage),
    datasetLocation: (uri, field) =>
      checkDatasetLocation(uri, field, { fileRoots: storage.fileRoots, allowWholeRoot: false }),
    events: store.backend.localLog({ topicPrefix: '', bufferMax: 1_000_000 }),
    ...overrides,
  });
  const server: ApiServer = await listen(app, '127.0.0.1', 0);
  return {
    url: server.url,
    store,
    dataDir,
    async request(method, p, body, headers = {}) {
      const res = await fetch(server.url + p, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        body:
          body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: keep the text
      }
      return { status: res.status, headers: res.headers, body: parsed };
    },
    async close() {
      await server.close();
      await store.close();
    },
  };
}
