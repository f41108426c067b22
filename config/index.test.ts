import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '.';

describe('loadConfig', () => {
  it('works with nothing set: the embedded default', () => {
    const c = loadConfig({});
    expect(c.dataDir).toBe(path.resolve('./var'));
    expect(c.api).toEqual({ host: '127.0.0.1', port: 8080, keys: [] });
    expect(c.dbFile).toBe(path.resolve('./var/dim.db'));
    expect(c.worker).toEqual({ port: 8090, taskQueue: 'dim-migrations' });
    expect(c.temporal.address).toBeUndefined();
    expect(c.temporal.namespace).toBe('default');
    expect(c.temporal.devServer).toMatchObject({ port: 7233, uiPort: 8233 });
    expect(c.temporal.devServer.dbFile).toBe(path.resolve('./var/temporal/temporal.db'));
    expect(c.kafka).toBeUndefined();
    expect(c.logLevel).toBe('info');
  });

  it('reads every variable it knows', () => {
    const c = loadConfig({
      DIM_DATA_DIR: '/srv/dim',
      DIM_TOOLS_DIR: '/opt/dim-tools',
      DIM_API_HOST: '0.0.0.0',
      DIM_API_PORT: '9080',
      DIM_WORKER_PORT: '9090',
      DIM_LOG_LEVEL: 'debug',
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      TEMPORAL_NAMESPACE: 'dim',
      TEMPORAL_UI_URL: 'https://temporal-ui.internal/',
      DIM_TASK_QUEUE: 'q',
      DIM_TEMPORAL_PORT: '17233',
      DIM_TEMPORAL_UI_PORT: '18233',
      KAFKA_BROKERS: 'k1:9092, k2:9092',
    });
    expect(c.dataDir).toBe('/srv/dim');
    expect(c.toolsDir).toBe('/opt/dim-tools');
    expect(c.api).toEqual({ host: '0.0.0.0', port: 9080, keys: [] });
    expect(c.worker).toEqual({ port: 9090, taskQueue: 'q' });
    expect(c.logLevel).toBe('debug');
    expect(c.temporal.address).toBe('temporal.internal:7233');
    expect(c.temporal.namespace).toBe('dim');
    expect(c.temporal.uiUrl).toBe('https://temporal-ui.internal');
    expect(c.temporal.devServer).toMatchObject({ port: 17233, uiPort: 18233 });
    expect(c.kafka).toEqual({
      brokers: ['k1:9092', 'k2:9092'],
      clientId: 'dim',
      topics: { partitions: 6, replicationFactor: 1 },
    });
  });

  it("links jobs to the dev server's Web UI, and to none for an external Temporal", () => {
    expect(loadConfig({ DIM_TEMPORAL_UI_PORT: '18233' }).temporal.uiUrl).toBe(
      'http://127.0.0.1:18233',
    );
    expect(loadConfig({ TEMPORAL_ADDRESS: 't:7233' }).temporal.uiUrl).toBeUndefined();
  });

  it('treats empty values as unset', () => {
    expect(loadConfig({ DIM_API_PORT: '', KAFKA_BROKERS: '' })).toMatchObject({
      api: { port: 8080 },
      kafka: undefined,
    });
  });

  const invalid: Array<[string, string, RegExp]> = [
    ['DIM_API_PORT', 'eighty', /DIM_API_PORT must be a number \(got "eighty"\)/],
    ['DIM_API_PORT', '0', /DIM_API_PORT must be between 1 and 65535/],
    ['DIM_API_PORT', '70000', /DIM_API_PORT must be between 1 and 65535/],
    ['DIM_WORKER_PORT', '80.5', /DIM_WORKER_PORT must be a whole number/],
    ['DIM_TEMPORAL_PORT', '-1', /DIM_TEMPORAL_PORT must be between/],
    ['DIM_TEMPORAL_UI_PORT', 'x', /DIM_TEMPORAL_UI_PORT must be a number/],
    ['DIM_LOG_LEVEL', 'loud', /DIM_LOG_LEVEL .*debug.*info.*warn.*error/],
    ['TEMPORAL_ADDRESS', 'http://temporal', /TEMPORAL_ADDRESS must be host:port/],
    ['TEMPORAL_UI_URL', 'temporal-ui:8080', /TEMPORAL_UI_URL must be an http\(s\) URL/],
    ['KAFKA_BROKERS', 'k1:9092,broker', /KAFKA_BROKERS must be host:port/],
    ['KAFKA_BROKERS', ' , ', /KAFKA_BROKERS must list at least one value/],
    ['DIM_API_KEYS', 'ops:root:0123456789abcdef', /DIM_API_KEYS must list name:role:secret/],
    ['DIM_API_KEYS', 'ops:admin:short', /DIM_API_KEYS must list name:role:secret/],
    ['DIM_DATABASE_URL', 'mysql://dim@db/dim', /DIM_DATABASE_URL must be a postgres:\/\//],
    ['DIM_DATABASE_URL', '/var/dim.db', /DIM_DATABASE_URL must be a postgres:\/\//],
  ];
  it('never echoes a secret in its error: API keys and the id key left out, a password masked', () => {
    const message = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (err) {
        return (err as Error).message;
      }
      throw new Error('expected a ConfigError');
    };
    const url = message({ DIM_DATABASE_URL: 'mysql://dim:hunter2@db:5432/dim' });
    expect(url).toContain('(got "mysql://dim:***@db:5432/dim")');
    expect(url).not.toContain('hunter2');
    expect(message({ DIM_API_KEYS: 'ops:root:0123456789abcdef' })).not.toContain('0123456789');
    expect(message({ DIM_EVENT_ID_KEY: 'short-secret' })).not.toContain('short-secret');
  });
  it('selects PostgreSQL with DIM_DATABASE_URL, SQLite without', () => {
    expect(loadConfig({}).databaseUrl).toBeUndefined();
    for (const url of ['postgres://dim:dim@127.0.0.1:5432/dim', 'postgresql://db/dim'])
      expect(loadConfig({ DIM_DATABASE_URL: url }).databaseUrl).toBe(url);
  });
  it.each(invalid)('rejects %s=%j with one line naming it', (name, value, message) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(name);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });

  describe('DIM_CONFIG_FILE', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dim-config-'));

    it('reads a JSON file; the environment wins over it', () => {
      const file = path.join(dir, 'dim.json');
      writeFileSync(file, JSON.stringify({ DIM_API_PORT: 9000, DIM_WORKER_PORT: 9001 }));
      const c = loadConfig({ DIM_CONFIG_FILE: file, DIM_WORKER_PORT: '9002' });
      expect(c.api.port).toBe(9000);
      expect(c.worker.port).toBe(9002);
    });

    it('names the file when it is missing or not JSON', () => {
      expect(() => loadConfig({ DIM_CONFIG_FILE: path.join(dir, 'nope.json') })).toThrow(
        /DIM_CONFIG_FILE cannot be read/,
      );
      const bad = path.join(dir, 'bad.json');
      writeFileSync(bad, '{ nope');
      expect(() => loadConfig({ DIM_CONFIG_FILE: bad })).toThrow(
        /DIM_CONFIG_FILE is not valid JSON/,
      );
      const arr = path.join(dir, 'arr.json');
      writeFileSync(arr, '[1]');
      expect(() => loadConfig({ DIM_CONFIG_FILE: arr })).toThrow(/must hold a JSON object/);
    });

    it('validates values from the file like the environment', () => {
      const file = path.join(dir, 'badport.json');
      writeFileSync(file, JSON.stringify({ DIM_API_PORT: 'http' }));
      expect(() => loadConfig({ DIM_CONFIG_FILE: file })).toThrow(/DIM_API_PORT must be a number/);
    });
  });
});

describe('datasets configuration', () => {
  it('refuses whole roots and buckets as datasets unless the administrator allows them', () => {
    expect(loadConfig({}).datasets).toEqual({ allowWholeRoot: false });
    expect(loadConfig({ DIM_ALLOW_WHOLE_ROOT_DATASETS: 'true' }).datasets.allowWholeRoot).toBe(
      true,
    );
    expect(loadConfig({ DIM_ALLOW_WHOLE_ROOT_DATASETS: '0' }).datasets.allowWholeRoot).toBe(false);
    expect(() => loadConfig({ DIM_ALLOW_WHOLE_ROOT_DATASETS: 'maybe' })).toThrow(
      /DIM_ALLOW_WHOLE_ROOT_DATASETS must be true or false/,
    );
  });
});

describe('storage configuration', () => {
  it('defaults the file roots to the data dir storage and /shared_storage', () => {
    const c = loadConfig({ DIM_DATA_DIR: '/srv/dim' });
    expect(c.storage.fileRoots).toEqual(['/srv/dim/storage', '/shared_storage']);
    expect(c.storage.s3).toEqual({ endpoint: undefined, region: 'us-east-1' });
  });
  it('reads roots and endpoints', () => {
    const c = loadConfig({
      DIM_FILE_ROOTS: '/a,/b/c',
      S3_ENDPOINT: 'http://127.0.0.1:9000',
      STORAGE_EMULATOR_HOST: 'http://127.0.0.1:4443',
    });
    expect(c.storage.fileRoots).toEqual(['/a', '/b/c']);
    expect(c.storage.s3.endpoint).toBe('http://127.0.0.1:9000');
    expect(c.storage.gcs.endpoint).toBe('http://127.0.0.1:4443');
  });
  it('leaves the buckets open when DIM_BUCKETS is unset, and reads the allowlist per scheme', () => {
    expect(loadConfig({}).storage.buckets).toBeUndefined();
    const c = loadConfig({ DIM_BUCKETS: 's3://dim-warm, gs://dim-cold/,s3://dim.archive' });
    expect(c.storage.buckets).toEqual({ s3: ['dim-warm', 'dim.archive'], gs: ['dim-cold'] });
    // A scheme without an entry allows no bucket of it.
    expect(loadConfig({ DIM_BUCKETS: 's3://only' }).storage.buckets).toEqual({
      s3: ['only'],
      gs: [],
    });
  });
  it.each(['dim-warm', 's3://dim-warm/prefix', 'azblob://x', 's3://Bad_Bucket', 's3://'])(
    'rejects DIM_BUCKETS=%j naming the variable',
    (value) => {
      expect(() => loadConfig({ DIM_BUCKETS: value })).toThrow(
        /DIM_BUCKETS must list s3:\/\/bucket or gs:\/\/bucket entries/,
      );
    },
  );
  it.each([
    ['DIM_FILE_ROOTS', 'relative/dir', /DIM_FILE_ROOTS must list absolute paths/],
    ['S3_ENDPOINT', 'minio:9000', /S3_ENDPOINT must be an http\(s\) URL/],
    ['STORAGE_EMULATOR_HOST', 'nope', /STORAGE_EMULATOR_HOST must be an http\(s\) URL/],
  ])('rejects %s=%j', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });
});

describe('DIM_API_KEYS', () => {
  it('parses named keys with roles', () => {
    const c = loadConfig({
      DIM_API_KEYS: 'ops:admin:0123456789abcdef, ci:viewer:fedcba9876543210:x',
    });
    expect(c.api.keys).toEqual([
      { name: 'ops', role: 'admin', secret: '0123456789abcdef' },
      { name: 'ci', role: 'viewer', secret: 'fedcba9876543210:x' },
    ]);
  });
});

describe('event configuration', () => {
  it('defaults: no prefix, group dim-bridge, a million buffered events', () => {
    const c = loadConfig({});
    expect(c.events).toEqual({
      topicPrefix: '',
      bridgeGroup: 'dim-bridge',
      bufferMax: 1_000_000,
      idKey: undefined,
    });
  });
  it('creates topics with DIM_KAFKA_PARTITIONS partitions and DIM_KAFKA_REPLICATION_FACTOR replicas', () => {
    const c = loadConfig({
      KAFKA_BROKERS: '127.0.0.1:9092',
      DIM_KAFKA_PARTITIONS: '12',
      DIM_KAFKA_REPLICATION_FACTOR: '3',
    });
    expect(c.kafka?.topics).toEqual({ partitions: 12, replicationFactor: 3 });
    expect(() => loadConfig({ DIM_KAFKA_PARTITIONS: '0' })).toThrow(
      /DIM_KAFKA_PARTITIONS must be at least 1/,
    );
    expect(() => loadConfig({ DIM_KAFKA_REPLICATION_FACTOR: 'two' })).toThrow(
      /DIM_KAFKA_REPLICATION_FACTOR must be a number of replicas/,
    );
  });
  it('reads the topic prefix, bridge group, buffer bound and Kafka client id', () => {
    const c = loadConfig({
      KAFKA_BROKERS: '127.0.0.1:9092',
      KAFKA_CLIENT_ID: 'dim-eu',
      DIM_TOPIC_PREFIX: 'eu.',
      DIM_BRIDGE_GROUP: 'bridge-eu',
      DIM_EVENT_BUFFER_MAX: '5000',
      DIM_EVENT_ID_KEY: 'k'.repeat(32),
    });
    expect(c.kafka).toMatchObject({ brokers: ['127.0.0.1:9092'], clientId: 'dim-eu' });
    expect(c.events).toEqual({
      topicPrefix: 'eu.',
      bridgeGroup: 'bridge-eu',
      bufferMax: 5000,
      idKey: 'k'.repeat(32),
    });
  });
  it.each([
    ['DIM_TOPIC_PREFIX', 'a b', /DIM_TOPIC_PREFIX may hold letters/],
    ['DIM_BRIDGE_GROUP', 'x/y', /DIM_BRIDGE_GROUP may hold letters/],
    ['DIM_EVENT_BUFFER_MAX', 'lots', /DIM_EVENT_BUFFER_MAX must be a number of events/],
    ['DIM_EVENT_BUFFER_MAX', '10', /DIM_EVENT_BUFFER_MAX must be at least 1000/],
    ['DIM_EVENT_ID_KEY', 'short', /DIM_EVENT_ID_KEY must be at least 32 characters/],
  ])('rejects %s=%j', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });
});

describe('retention configuration', () => {
  it('reads every retention variable (fractions of days and hours allowed)', () => {
    const c = loadConfig({
      DIM_RETENTION_INTERVAL_S: '60',
      DIM_EVENT_LOG_KEEP_DAYS: '0.5',
      DIM_EVENT_LOG_KEEP_ROWS: '1000',
      DIM_DEAD_LETTERS_KEEP_DAYS: '2',
      DIM_DEAD_LETTERS_KEEP_ROWS: '2000',
      DIM_IDEMPOTENCY_KEEP_HOURS: '1',
      DIM_AUDIT_KEEP_DAYS: '365',
      DIM_AUDIT_KEEP_ROWS: '3000',
      DIM_AUDIT_DETAILS_MAX: '1024',
    });
    expect(c.retention).toEqual({
      intervalMs: 60_000,
      eventLog: { maxAgeMs: 43_200_000, maxRows: 1000 },
      deadLetters: { maxAgeMs: 2 * 86_400_000, maxRows: 2000 },
      idempotencyKeys: { maxAgeMs: 3_600_000 },
      audit: { maxAgeMs: 365 * 86_400_000, maxRows: 3000, detailsMax: 1024 },
    });
  });
  it.each([
    ['DIM_AUDIT_KEEP_DAYS', '0', /DIM_AUDIT_KEEP_DAYS must be a positive number of days/],
    ['DIM_EVENT_LOG_KEEP_ROWS', '1.5', /DIM_EVENT_LOG_KEEP_ROWS must be a whole number of rows/],
    ['DIM_IDEMPOTENCY_KEEP_HOURS', 'soon', /must be a number of hours/],
    ['DIM_AUDIT_DETAILS_MAX', '10', /DIM_AUDIT_DETAILS_MAX must be at least 512/],
  ])('rejects %s=%j', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });
});

describe('start-up configuration', () => {
  it('waits for ever by default, or DIM_STARTUP_TIMEOUT_S seconds', () => {
    expect(loadConfig({}).startup).toEqual({ timeoutMs: 0 });
    expect(loadConfig({ DIM_STARTUP_TIMEOUT_S: '90' }).startup).toEqual({ timeoutMs: 90_000 });
  });
  it.each([
    ['-1', /DIM_STARTUP_TIMEOUT_S must not be negative \(0: wait for ever\)/],
    ['1.5', /DIM_STARTUP_TIMEOUT_S must be a whole number of seconds/],
    ['soon', /DIM_STARTUP_TIMEOUT_S must be a number of seconds/],
    ['100000', /DIM_STARTUP_TIMEOUT_S must be at most 86400/],
  ])('rejects DIM_STARTUP_TIMEOUT_S=%j', (value, message) => {
    expect(() => loadConfig({ DIM_STARTUP_TIMEOUT_S: value })).toThrow(message);
  });
});
