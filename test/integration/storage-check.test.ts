import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { loadConfig } from '../../config';
import { createStorage, type Storage, type StorageOverrides } from '../../storage';
import { checkStorage, type StorageCheckReport } from '../../storage/check';
import type { GcsDriver } from '../../storage/drivers/gcs';
import type { S3Driver } from '../../storage/drivers/s3';
import { createBuckets, GCS_ENDPOINT, MINIO, removeBuckets, S3_ENDPOINT } from '../support/cloud';
import { dimBin, freePort, repoRoot } from '../support/dim-process';

/**
 * `dim storage check` against the real backends dev/services starts (MinIO,
 * fake-gcs-server, the local file system): in process through storage/check.ts, and as the
 * built CLI (bin/dim.js) in a child process, which takes endpoints and credentials from
 * the environment like an operator's shell. Throttling is injected by a small proxy in
 * front of the real servers that answers the first requests with 503 SlowDown (S3) or
 * 429 (GCS).
 */
jest.setTimeout(120_000);

const run = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
const bucket = `dim-check-${run}`;
const missing = `dim-missing-${run}`;

const base = realpathSync(mkdtempSync(path.join(tmpdir(), 'dim-storage-check-')));
const fileRoot = path.join(base, 'root');
mkdirSync(fileRoot, { recursive: true });

const env = {
  DIM_DATA_DIR: base,
  DIM_FILE_ROOTS: fileRoot,
  S3_ENDPOINT,
  AWS_REGION: 'us-east-1',
  STORAGE_EMULATOR_HOST: GCS_ENDPOINT,
  GCS_PROJECT_ID: 'dim-test',
};
const config = loadConfig(env);
const storage: Storage = createStorage(config.storage, { s3: { credentials: MINIO } });

/** A check through its own Storage (other endpoints, credentials, retry settings). */
async function checkWith(
  uri: string,
  over: { s3?: string; gcs?: string; overrides?: StorageOverrides; classes?: string[] | 'all' },
): Promise<StorageCheckReport> {
  const cfg = loadConfig({
    ...env,
    ...(over.s3 ? { S3_ENDPOINT: over.s3 } : {}),
    ...(over.gcs ? { STORAGE_EMULATOR_HOST: over.gcs } : {}),
  });
  const st = createStorage(cfg.storage, {
    ...over.overrides,
    s3: { credentials: MINIO, ...over.overrides?.s3 },
  });
  try {
    return await checkStorage(uri, {
      storage: st,
      config: cfg.storage,
      ...(over.classes ? { classes: over.classes } : {}),
    });
  } finally {
    await st.close();
  }
}

async function s3Keys(prefix = ''): Promise<string[]> {
  const s3 = storage.driverFor(`s3://${bucket}`) as S3Driver;
  const page = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (page.Contents ?? []).flatMap((o) => (o.Key ? [o.Key] : []));
}

async function gcsKeys(prefix = ''): Promise<string[]> {
  const gcs = storage.driverFor(`gs://${bucket}`) as GcsDriver;
  const [files] = await gcs.storage.bucket(bucket).getFiles({ prefix });
  return files.map((f) => f.name);
}

beforeAll(async () => {
  await createBuckets(storage.driverFor(`s3://${bucket}`) as S3Driver, bucket);
}, 30_000);

afterAll(async () => {
  await removeBuckets(
    storage.driverFor(`s3://${bucket}`) as S3Driver,
    storage.driverFor(`gs://${bucket}`) as GcsDriver,
    bucket,
  );
  await storage.close();
  rmSync(base, { recursive: true, force: true });
}, 60_000);

describe('checkStorage (in process)', () => {
  it('s3: endpoint, credentials, bucket, list/write/read/delete, classes; leaves nothing behind', async () => {
    await (storage.driverFor(`s3://${bucket}`) as S3Driver).write(
      `s3://${bucket}/ds`,
      'existing.bin',
      Readable.from([Buffer.from('x')]),
    );
    const r = await checkStorage(`s3://${bucket}/ds`, {
      storage,
      config: config.storage,
      // MinIO without configured tiers takes STANDARD and REDUCED_REDUNDANCY only.
      classes: ['standard', 'reduced-redundancy'],
    });
    expect(r.ok).toBe(true);
    expect(r.error).toBeUndefined();
    expect(r.endpoint).toBe(S3_ENDPOINT);
    for (const step of Object.values(r.checks)) expect(step.status).toBe('ok');
    expect(r.checks.list.detail).toMatch(/holds objects/);
    expect(r.probe).toMatch(new RegExp(`^s3://${bucket}/ds/\\.dim-check-[0-9a-f]{12}$`));
    expect(r.probe_removed).toBe(true);
    expect(r.storage_classes.default).toBe('STANDARD');
    expect(r.storage_classes.verified).toEqual(['STANDARD', 'REDUCED_REDUNDANCY']);
    const byClass = Object.fromEntries(r.storage_classes.results.map((c) => [c.class, c.status]));
    expect(byClass).toMatchObject({
      STANDARD: 'verified',
      REDUCED_REDUNDANCY: 'verified',
      GLACIER: 'not_tried',
    });
    expect(r.storage_classes.supported).toContain('GLACIER_IR');
    expect(await s3Keys('ds/')).toEqual(['ds/existing.bin']);
  });

  it('s3: a class the server refuses fails the check when asked for by name, not with --class all', async () => {
    const named = await checkStorage(`s3://${bucket}/classes`, {
      storage,
      config: config.storage,
      classes: ['glacier'],
    });
    expect(named.ok).toBe(false);
    expect(named.error).toMatchObject({ step: 'storage_class', code: 'invalid_storage_class' });
    expect(named.error?.message).toMatch(/storage class GLACIER cannot be written/);
    expect(named.error?.hint).toMatch(/verified: STANDARD/);

    const all = await checkStorage(`s3://${bucket}/classes`, {
      storage,
      config: config.storage,
      classes: 'all',
    });
    expect(all.ok).toBe(true);
    expect(all.storage_classes.verified).toEqual(['STANDARD', 'REDUCED_REDUNDANCY']);
    const glacier = all.storage_classes.results.find((c) => c.class === 'GLACIER');
    expect(glacier).toMatchObject({ status: 'refused' });
    expect(glacier?.detail).toMatch(/refused the storage class/);
    expect(await s3Keys('classes')).toEqual([]);
  });

  it('s3: bad credentials, a missing bucket, an unreachable endpoint', async () => {
    const bad = await checkWith(`s3://${bucket}/x`, {
      overrides: {
        s3: { credentials: { accessKeyId: MINIO.accessKeyId, secretAccessKey: 'wrong' } },
      },
    });
    expect(bad.ok).toBe(false);
    expect(bad.checks.connectivity.status).toBe('ok');
    expect(bad.checks.credentials.status).toBe('failed');
    expect(bad.checks.write.status).toBe('skipped');
    expect(bad.error).toMatchObject({ step: 'credentials', code: 'bad_credentials' });
    expect(bad.error?.hint).toMatch(/AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);

    const gone = await checkStorage(`s3://${missing}/x`, { storage, config: config.storage });
    expect(gone.error).toMatchObject({ step: 'location', code: 'bucket_not_found' });
    expect(gone.error?.message).toBe(`bucket s3://${missing} does not exist`);
    expect(gone.error?.hint).toMatch(/create the bucket at http:\/\/127\.0\.0\.1:9000/);

    const port = await freePort();
    const down = await checkWith(`s3://${bucket}/x`, {
      s3: `http://127.0.0.1:${port}`,
      overrides: { s3: { maxAttempts: 2 } },
    });
    expect(down.error).toMatchObject({ step: 'connectivity', code: 'storage_unavailable' });
    expect(down.error?.message).toMatch(
      new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port} \\(.*ECONNREFUSED`),
    );
    expect(down.error?.hint).toMatch(/check S3_ENDPOINT/);
  });

  it('gs: every class, and nothing left behind', async () => {
    const r = await checkStorage(`gs://${bucket}/ds`, {
      storage,
      config: config.storage,
      classes: ['nearline', 'COLDLINE'],
    });
    expect(r.ok).toBe(true);
    for (const step of Object.values(r.checks)) expect(step.status).toBe('ok');
    expect(r.endpoint).toBe(GCS_ENDPOINT);
    expect(r.storage_classes.default).toBe('STANDARD');
    expect(r.storage_classes.verified).toEqual(['STANDARD', 'NEARLINE', 'COLDLINE']);
    expect(r.storage_classes.results.find((c) => c.class === 'ARCHIVE')?.status).toBe('not_tried');
    expect(await gcsKeys('ds')).toEqual([]);
  });

  it('gs: a missing bucket and an unreachable endpoint', async () => {
    const gone = await checkStorage(`gs://${missing}/x`, { storage, config: config.storage });
    expect(gone.error).toMatchObject({ step: 'location', code: 'bucket_not_found' });
    const port = await freePort();
    const down = await checkWith(`gs://${bucket}/x`, { gcs: `http://127.0.0.1:${port}` });
    expect(down.error).toMatchObject({ step: 'connectivity', code: 'storage_unavailable' });
    expect(down.error?.hint).toMatch(/check STORAGE_EMULATOR_HOST/);
  });

  it('file: probes a directory that does not exist yet and removes what it created', async () => {
    const r = await checkStorage(`file://${fileRoot}/a/b/ds`, {
      storage,
      config: config.storage,
      classes: ['standard'],
    });
    expect(r.ok).toBe(true);
    expect(r.checks.location.detail).toMatch(/does not exist yet/);
    expect(r.storage_classes).toEqual({ supported: [], verified: [], results: [] });
    expect(readdirSync(fileRoot)).toEqual([]);

    // An existing empty directory stays (the driver prunes empty dataset directories).
    mkdirSync(path.join(fileRoot, 'empty'));
    expect(
      (await checkStorage(`file://${fileRoot}/empty`, { storage, config: config.storage })).ok,
    ).toBe(true);
    expect(readdirSync(fileRoot)).toEqual(['empty']);
    expect(readdirSync(path.join(fileRoot, 'empty'))).toEqual([]);
  });

  it('file: a path outside DIM_FILE_ROOTS', async () => {
    const r = await checkStorage(`file://${base}/elsewhere`, { storage, config: config.storage });
    expect(r.ok).toBe(false);
    expect(r.error).toMatchObject({ step: 'connectivity', code: 'outside_roots' });
    expect(r.error?.hint).toMatch(/DIM_FILE_ROOTS/);
    expect(existsSync(path.join(base, 'elsewhere'))).toBe(false);
  });

  it('refuses a malformed URI or an unknown class before any I/O', async () => {
    await expect(
      checkStorage('s3://Bad_Bucket/x', { storage, config: config.storage }),
    ).rejects.toMatchObject({ code: 'invalid_uri' });
    await expect(
      checkStorage(`s3://${bucket}/x`, { storage, config: config.storage, classes: ['tepid'] }),
    ).rejects.toMatchObject({ code: 'invalid_storage_class' });
  });
});

/** A proxy to `target` that answers the first `throttled` requests with a throttling error. */
async function throttlingProxy(
  target: string,
  kind: 's3' | 'gcs',
  throttled: number,
): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  const t = new URL(target);
  let count = 0;
  const server = http.createServer((req, res) => {
    count++;
    if (count <= throttled) {
      req.resume();
      if (kind === 's3') {
        res.writeHead(503, { 'content-type': 'application/xml' });
        res.end(
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>',
        );
      } else {
        res.writeHead(429, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            error: {
              code: 429,
              message: 'The rate of requests is too high',
              errors: [{ reason: 'rateLimitExceeded', message: 'too many requests' }],
            },
          }),
        );
      }
      return;
    }
    const up = http.request(
      { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('throttling (503 SlowDown / 429) is retried with backoff by the drivers', () => {
  it('s3: two SlowDown answers, then the check passes', async () => {
    const proxy = await throttlingProxy(S3_ENDPOINT, 's3', 2);
    try {
      const r = await checkWith(`s3://${bucket}/throttled`, { s3: proxy.url });
      expect(r.error).toBeUndefined();
      expect(r.ok).toBe(true);
      // list (2 throttled + 1), write, read, stat, delete
      expect(proxy.requests()).toBeGreaterThanOrEqual(6);
    } finally {
      await proxy.close();
    }
  });

  it('s3: throttled on every attempt gives a clear error after the SDK gave up', async () => {
    const proxy = await throttlingProxy(S3_ENDPOINT, 's3', 1_000);
    try {
      const r = await checkWith(`s3://${bucket}/throttled`, {
        s3: proxy.url,
        overrides: { s3: { maxAttempts: 3 } },
      });
      expect(r.error).toMatchObject({ step: 'list', code: 'throttled' });
      expect(r.error?.message).toMatch(/throttling requests.*SlowDown/);
      expect(r.error?.hint).toMatch(/retries with backoff; try again later/);
      expect(proxy.requests()).toBe(3);
    } finally {
      await proxy.close();
    }
  });

  it('gs: two 429 answers, then the check passes', async () => {
    const proxy = await throttlingProxy(GCS_ENDPOINT, 'gcs', 2);
    try {
      const r = await checkWith(`gs://${bucket}/throttled`, { gcs: proxy.url });
      expect(r.error).toBeUndefined();
      expect(r.ok).toBe(true);
      expect(proxy.requests()).toBeGreaterThanOrEqual(6);
    } finally {
      await proxy.close();
    }
  });

  it('gs: throttled on every attempt gives a clear error', async () => {
    const proxy = await throttlingProxy(GCS_ENDPOINT, 'gcs', 1_000);
    try {
      const r = await checkWith(`gs://${bucket}/throttled`, {
        gcs: proxy.url,
        overrides: { gcs: { maxRetries: 1 } },
      });
      expect(r.error).toMatchObject({ step: 'list', code: 'throttled' });
      expect(proxy.requests()).toBe(2);
    } finally {
      await proxy.close();
    }
  });
});

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (bin/dim.js → dist/) with `extra` on top of the test environment. */
function dim(args: string[], extra: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [dimBin, ...args],
      {
        cwd: repoRoot,
        env: {
          ...process.env,
          ...env,
          AWS_ACCESS_KEY_ID: MINIO.accessKeyId,
          AWS_SECRET_ACCESS_KEY: MINIO.secretAccessKey,
          DIM_LOG_LEVEL: 'warn',
          ...extra,
        },
        timeout: 60_000,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const oneLine = (s: string) => s.trimEnd().split('\n');

describe('dim storage check (the built CLI)', () => {
  beforeAll(() => {
    if (!existsSync(path.join(repoRoot, 'dist', 'cli', 'commands', 'storage.js'))) {
      throw new Error('dist/ lacks the storage command: run `npm run build` first');
    }
  });

  it('s3 happy path: a human summary, exit 0', async () => {
    const r = await dim(['storage', 'check', `s3://${bucket}/cli`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`dim storage check s3://${bucket}/cli: ok (${S3_ENDPOINT})`);
    expect(r.stdout).toMatch(/^ {2}write {8}ok/m);
    expect(r.stdout).toMatch(/classes +default STANDARD; verified STANDARD/);
    expect(r.stdout).toMatch(/not tried: .*GLACIER.*--class all/);
    expect(await s3Keys('cli')).toEqual([]);
  });

  it('gs happy path with --json and --class: one JSON report', async () => {
    const r = await dim(['storage', 'check', `gs://${bucket}/cli`, '--json', '--class', 'archive']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as StorageCheckReport;
    expect(report).toMatchObject({ ok: true, scheme: 'gs', endpoint: GCS_ENDPOINT });
    expect(report.storage_classes.verified).toEqual(['STANDARD', 'ARCHIVE']);
    expect(await gcsKeys('cli')).toEqual([]);
  });

  it('bad credentials: one line on stderr, exit 1', async () => {
    const r = await dim(['storage', 'check', `s3://${bucket}/cli`], {
      AWS_SECRET_ACCESS_KEY: 'not-the-secret',
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(oneLine(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^dim: storage check s3:\/\/\S+: the s3 credentials were rejected or are missing: SignatureDoesNotMatch.*; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/,
    );
  });

  it('a missing bucket: one line (and the JSON report with --json), exit 1', async () => {
    const r = await dim(['storage', 'check', `s3://${missing}/x`]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(oneLine(r.stderr)).toEqual([
      `dim: storage check s3://${missing}/x: bucket s3://${missing} does not exist; create the bucket at ${S3_ENDPOINT}, or fix the bucket name in the URI`,
    ]);
    const j = await dim(['storage', 'check', `gs://${missing}/x`, '--json']);
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout)).toMatchObject({
      ok: false,
      error: { step: 'location', code: 'bucket_not_found' },
    });
    expect(oneLine(j.stderr)).toHaveLength(1);
  });

  it('an unreachable endpoint and a path outside DIM_FILE_ROOTS: one line each, exit 1', async () => {
    const port = await freePort();
    const down = await dim(['storage', 'check', 'gs://some-bucket/x'], {
      STORAGE_EMULATOR_HOST: `http://127.0.0.1:${port}`,
    });
    expect(down.code).toBe(1);
    expect(oneLine(down.stderr)).toHaveLength(1);
    expect(down.stderr).toMatch(/cannot reach .*ECONNREFUSED.*check STORAGE_EMULATOR_HOST/);

    const outside = await dim(['storage', 'check', 'file:///etc/dim-check']);
    expect(outside.code).toBe(1);
    expect(oneLine(outside.stderr)).toEqual([
      `dim: storage check file:///etc/dim-check: uri: file:///etc/dim-check resolves to /etc/dim-check, which is outside the allowed file roots (${fileRoot}); choose a path inside one of the roots, or add a root that contains it to DIM_FILE_ROOTS`,
    ]);
  });

  it('bad input exits 2 with one line', async () => {
    const r = await dim(['storage', 'check', 'ftp://host/x']);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/scheme "ftp:" is not supported/);
    const none = await dim(['storage', 'check']);
    expect(none.code).toBe(2);
    const help = await dim(['storage', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: dim storage check URI/);
  });
});
