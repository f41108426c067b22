import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_TOPIC_SETTINGS, type TopicSettings } from '../events/topics';
import type { BucketAllowlist } from '../storage/buckets';

/**
 * dim's whole configuration, parsed once at each entry point (CLI, worker, tests) by
 * `loadConfig(env)`. Nothing else in the code reads `process.env`: entry points pass the
 * slices they need down as options.
 *
 * Values come from the environment, or from a JSON file named by `DIM_CONFIG_FILE` whose
 * keys are the same variable names; the environment wins over the file.
 */

const port = z.coerce
  .number({ error: 'must be a number' })
  .int('must be a whole number')
  .min(1, 'must be between 1 and 65535')
  .max(65535, 'must be between 1 and 65535');

const hostPort = z
  .string()
  .regex(/^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:7233');

const list = (item: z.ZodString) =>
  z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x.length > 0),
    )
    .pipe(z.array(item).min(1, 'must list at least one value'));

/** A retention period or row count: a positive number, at most `max`. */
const amount = (unit: string, max: number, def: number, whole = false) => {
  let n = z.coerce
    .number({ error: `must be a number of ${unit}` })
    .positive(`must be a positive number of ${unit}`)
    .max(max, `must be at most ${max} ${unit}`);
  if (whole) n = n.int(`must be a whole number of ${unit}`);
  return n.default(def);
};

const logLevel = z.enum(['debug', 'info', 'warn', 'error']);

export const EnvSchema = z
  .object({
    DIM_CONFIG_FILE: z.string().optional(),
    DIM_DATA_DIR: z.string().min(1).default('./var'),
    /** The metadata store on PostgreSQL (unset: SQLite under the data dir). */
    DIM_DATABASE_URL: z
      .url({
        protocol: /^postgres(ql)?$/,
        error:
          'must be a postgres:// or postgresql:// URL, e.g. postgres://dim:dim@127.0.0.1:5432/dim',
      })
      .optional(),
    DIM_TOOLS_DIR: z.string().min(1).optional(),
    DIM_API_HOST: z.string().min(1).default('127.0.0.1'),
    DIM_API_PORT: port.default(8080),
    DIM_WORKER_PORT: port.default(8090),
    /** `dim bridge` alone: its /health and /metrics. */
    DIM_BRIDGE_PORT: port.default(8091),
    /** A bandwidth cap for each copy the worker runs, bytes per second (unset: none). */
    DIM_COPY_MAX_BYTES_PER_S: z.coerce
      .number({ error: 'must be a number of bytes per second' })
      .int('must be a whole number of bytes per second')
      .positive('must be a positive number of bytes per second')
      .optional(),
    DIM_FILE_HASH: z.enum(['blake3', 'sha256']).default('blake3'),
    DIM_LOG_LEVEL: logLevel.default('info'),
    /** How long start-up waits for Temporal, Kafka and the database (0: for ever). */
    DIM_STARTUP_TIMEOUT_S: z.coerce
      .number({ error: 'must be a number of seconds (0: wait for ever)' })
      .int('must be a whole number of seconds')
      .min(0, 'must not be negative (0: wait for ever)')
      .max(86_400, 'must be at most 86400 (one day)')
      .default(0),
    TEMPORAL_ADDRESS: hostPort.optional(),
    TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
    TEMPORAL_UI_URL: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL, e.g. http://temporal-ui:8080' })
      .optional(),
    DIM_TASK_QUEUE: z.string().min(1).default('dim-migrations'),
    DIM_TEMPORAL_BIN: z.string().min(1).optional(),
    DIM_TEMPORAL_PORT: port.default(7233),
    DIM_TEMPORAL_UI_PORT: port.default(8233),
    /** Where `dim up` looks for the `temporal` binary before the tools dir. */
    PATH: z.string().optional(),
    KAFKA_BROKERS: list(hostPort.clone()).optional(),
    KAFKA_CLIENT_ID: z.string().min(1).max(100).default('dim'),
    DIM_KAFKA_PARTITIONS: z.coerce
      .number({ error: 'must be a number of partitions' })
      .int('must be a whole number')
      .min(1, 'must be at least 1')
      .max(1000, 'must be at most 1000')
      .default(DEFAULT_TOPIC_SETTINGS.partitions),
    DIM_KAFKA_REPLICATION_FACTOR: z.coerce
      .number({ error: 'must be a number of replicas' })
      .int('must be a whole number')
      .min(1, 'must be at least 1')
      .max(16, 'must be at most 16')
      .default(DEFAULT_TOPIC_SETTINGS.replicationFactor),
    DIM_TOPIC_PREFIX: z
      .string()
      .max(100)
      .regex(/^[A-Za-z0-9._-]*$/, 'may hold letters, digits, ".", "_" and "-"')
      .default(''),
    DIM_BRIDGE_GROUP: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[A-Za-z0-9._-]+$/, 'may hold letters, digits, ".", "_" and "-"')
      .default('dim-bridge'),
    DIM_EVENT_BUFFER_MAX: z.coerce
      .number({ error: 'must be a number of events' })
      .int('must be a whole number of events')
      .min(1000, 'must be at least 1000')
      .max(1_000_000_000, 'must be at most 1000000000')
      .default(1_000_000),
    DIM_EVENT_ID_KEY: z
      .string()
      .min(32, 'must be at least 32 characters (e.g. openssl rand -base64 32)')
      .max(1024, 'must be at most 1024 characters')
      .optional(),
    DIM_RETENTION_INTERVAL_S: amount('seconds', 86_400, 300),
    DIM_SWEEP_INTERVAL_S: z.coerce
      .number({ error: 'must be a number of seconds (0: no scheduled sweep)' })
      .int('must be a whole number of seconds')
      .min(0, 'must not be negative (0: no scheduled sweep)')
      .max(86_400, 'must be at most 86400 (one day)')
      .default(300),
    DIM_SWEEP_SCHEDULE_ID: z
      .string()
      .regex(
        /^[A-Za-z0-9._-]{1,200}$/,
        'must be 1-200 letters, digits, dots, dashes or underscores',
      )
      .default('dim-placement-sweep'),
    DIM_EVENT_LOG_KEEP_DAYS: amount('days', 3650, 7),
    DIM_EVENT_LOG_KEEP_ROWS: amount('rows', 1_000_000_000, 100_000, true),
    DIM_DEAD_LETTERS_KEEP_DAYS: amount('days', 3650, 30),
    DIM_DEAD_LETTERS_KEEP_ROWS: amount('rows', 1_000_000_000, 100_000, true),
    DIM_IDEMPOTENCY_KEEP_HOURS: amount('hours', 87_600, 24),
    DIM_AUDIT_KEEP_DAYS: amount('days', 36_500, 90),
    DIM_AUDIT_KEEP_ROWS: amount('rows', 1_000_000_000, 1_000_000, true),
    DIM_AUDIT_DETAILS_MAX: z.coerce
      .number({ error: 'must be a number of characters' })
      .int('must be a whole number of characters')
      .min(512, 'must be at least 512')
      .max(1_000_000, 'must be at most 1000000')
      .default(4096),
    DIM_FILE_ROOTS: list(z.string().startsWith('/', 'must list absolute paths')).optional(),
    DIM_ALLOW_WHOLE_ROOT_DATASETS: z
      .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
      .transform((v) => v === 'true' || v === '1')
      .default(false),
    DIM_BUCKETS: list(
      z
        .string()
        .regex(
          /^(s3|gs):\/\/[a-z0-9][a-z0-9._-]*[a-z0-9]\/?$/,
          'must list s3://bucket or gs://bucket entries (a bucket name only, no prefix)',
        ),
    ).optional(),
    S3_ENDPOINT: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL, e.g. http://127.0.0.1:9000' })
      .optional(),
    AWS_REGION: z.string().min(1).default('us-east-1'),
    STORAGE_EMULATOR_HOST: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL, e.g. http://127.0.0.1:4443' })
      .optional(),
    GCS_PROJECT_ID: z.string().min(1).optional(),
    DIM_API_KEYS: list(
      z
        .string()
        .regex(
          /^[A-Za-z0-9._-]+:(viewer|operator|admin):\S{16,}$/,
          'must list name:role:secret entries (role viewer, operator or admin; secret of 16+ characters)',
        ),
    ).optional(),
    // The API the CLI's client commands (dim datasets, jobs, ...) talk to, and the key they send.
    DIM_URL: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL, e.g. http://127.0.0.1:8080' })
      .default('http://127.0.0.1:8080'),
    DIM_API_KEY: z.string().min(1).optional(),
  })
  .strip();

export type Env = z.infer<typeof EnvSchema>;

export interface ApiKeyConfig {
  name: string;
  role: 'viewer' | 'operator' | 'admin';
  secret: string;
}

export interface Config {
  dataDir: string;
  /** The metadata database (SQLite, WAL) under the data dir. */
  dbFile: string;
  /** DIM_DATABASE_URL: the metadata store on PostgreSQL instead of `dbFile`. */
  databaseUrl: string | undefined;
  toolsDir: string;
  logLevel: z.infer<typeof logLevel>;
  /** Start-up waits for its dependencies at most this long (0: for ever; runtime/startup.ts). */
  startup: { timeoutMs: number };
  api: { host: string; port: number; keys: ApiKeyConfig[] };
  /** What the CLI's client commands call: DIM_URL and DIM_API_KEY (overridden by --url, --key). */
  client: { url: string; key: string | undefined };
  worker: { port: number; taskQueue: string; maxBytesPerSecond?: number };
  /** `dim bridge` without the API in the process serves /health and /metrics here. */
  bridge: { port: number };
  /** The mover's hash where neither end reports server checksums (file:// to file://). */
  mover: { fileHash: 'blake3' | 'sha256' };
  temporal: {
    /** Set when dim talks to an existing Temporal (TEMPORAL_ADDRESS); else dim starts a dev server. */
    address: string | undefined;
    namespace: string;
    /** The Temporal Web UI that jobs link to: TEMPORAL_UI_URL, else the dev server's own. */
    uiUrl: string | undefined;
    devServer: {
      bin: string | undefined;
      /** The directories searched for `temporal` (PATH), before the tools dir. */
      searchPath: string | undefined;
      port: number;
      uiPort: number;
      dbFile: string;
    };
  };
  /** Kafka's brokers, and how dim creates the topics that are missing. */
  kafka: { brokers: string[]; clientId: string; topics: TopicSettings } | undefined;
  events: {
    /** Prepended to every topic name (several dim installs, or tests, on one broker). */
    topicPrefix: string;
    /** The bridge's Kafka consumer group, and its name in `consumer_offsets`. */
    bridgeGroup: string;
    /** Most events kept locally while Kafka is down (outbox) or not yet aggregated (local log). */
    bufferMax: number;
    /** Signs message ids (DIM_EVENT_ID_KEY); unset: a key generated once and kept in the database. */
    idKey: string | undefined;
  };
  datasets: {
    /** Whether a whole file root or a whole bucket may be a dataset (invariant 9; default no). */
    allowWholeRoot: boolean;
  };
  /** How long the tables that grow with use keep their rows (store/retention.ts). */
  retention: Retention;
  /**
   * The placement sweep's Temporal Schedule: its id (`dim-placement-sweep`; one per
   * deployment, so two deployments sharing a namespace each name their own) and interval
   * (null: paused).
   */
  sweep: { scheduleId: string; intervalMs: number | null };
  storage: {
    /** file:// URIs must resolve (symlinks included) inside one of these. */
    fileRoots: string[];
    /**
     * DIM_BUCKETS: the only s3:// and gs:// buckets dim may touch, per scheme. Unset: any
     * bucket (the entry points warn), so optional here for callers that build a config.
     */
    buckets?: BucketAllowlist;
    /** S3 endpoint (MinIO, ...): path-style addressing then; AWS itself when unset. */
    s3: { endpoint: string | undefined; region: string };
    /** GCS API endpoint (fake-gcs-server, ...); Google's own when unset. */
    gcs: { endpoint: string | undefined; projectId: string | undefined };
  };
}

export interface Retention {
  /** How often the pruner runs. */
  intervalMs: number;
  /** Topics other than access_events (those go once the bridge aggregated them): per topic. */
  eventLog: { maxAgeMs: number; maxRows: number };
  deadLetters: { maxAgeMs: number; maxRows: number };
  idempotencyKeys: { maxAgeMs: number };
  /** `detailsMax`: longest `details` (characters) kept whole; longer ones are cut. */
  audit: { maxAgeMs: number; maxRows: number; detailsMax: number };
}

const DAY_MS = 86_400_000;

/** A configuration value that failed validation. The message is one line for the operator. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly variable: string,
    readonly reason: string,
  ) {
    super(`invalid configuration: ${variable} ${reason}`);
  }
}

function readConfigFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('DIM_CONFIG_FILE', `cannot be read: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError('DIM_CONFIG_FILE', `is not valid JSON: ${file}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError('DIM_CONFIG_FILE', 'must hold a JSON object of VARIABLE: value');
  }
  return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, String(v)]));
}

/** `s3://a,gs://b/` → { s3: ['a'], gs: ['b'] }: a scheme with no entry allows no bucket. */
function bucketAllowlist(entries: string[]): BucketAllowlist {
  const names = (scheme: string) =>
    entries
      .filter((x) => x.startsWith(`${scheme}://`))
      .map((x) => x.slice(scheme.length + 3).replace(/\/$/, ''));
  return { s3: names('s3'), gs: names('gs') };
}

/** Variables whose value is a secret: a bad one is named, never echoed. */
const SECRET_VARIABLES = new Set(['DIM_API_KEYS', 'DIM_EVENT_ID_KEY']);

/** A bad value as an error may show it: secrets left out, a URL's password masked. */
function shownValue(variable: string, value: unknown): unknown {
  if (SECRET_VARIABLES.has(variable)) return undefined;
  if (typeof value === 'string') return value.replace(/(\/\/[^/@:]*:)[^/@]*@/, '$1***@');
  return value;
}

/** Parses the configuration. Throws ConfigError naming the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const fromEnv = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v !== ''),
  );
  const file = fromEnv.DIM_CONFIG_FILE;
  const merged = file ? { ...readConfigFile(file), ...fromEnv } : fromEnv;
  const result = EnvSchema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'configuration');
    const value = shownValue(variable, merged[variable]);
    throw new ConfigError(
      variable,
      `${issue.message}${value === undefined ? '' : ` (got ${JSON.stringify(value)})`}`,
    );
  }
  const e = result.data;
  const dataDir = path.resolve(e.DIM_DATA_DIR);
  return {
    dataDir,
    dbFile: path.join(dataDir, 'dim.db'),
    databaseUrl: e.DIM_DATABASE_URL,
    toolsDir: path.resolve(e.DIM_TOOLS_DIR ?? path.join(homedir(), '.cache', 'dim')),
    logLevel: e.DIM_LOG_LEVEL,
    startup: { timeoutMs: e.DIM_STARTUP_TIMEOUT_S * 1000 },
    api: {
      host: e.DIM_API_HOST,
      port: e.DIM_API_PORT,
      keys: (e.DIM_API_KEYS ?? []).map((entry) => {
        const [name, role, ...secret] = entry.split(':');
        return { name: name!, role: role as ApiKeyConfig['role'], secret: secret.join(':') };
      }),
    },
    client: { url: e.DIM_URL.replace(/\/+$/, ''), key: e.DIM_API_KEY },
    bridge: { port: e.DIM_BRIDGE_PORT },
    worker: {
      port: e.DIM_WORKER_PORT,
      taskQueue: e.DIM_TASK_QUEUE,
      maxBytesPerSecond: e.DIM_COPY_MAX_BYTES_PER_S,
    },
    mover: { fileHash: e.DIM_FILE_HASH },
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      uiUrl:
        e.TEMPORAL_UI_URL?.replace(/\/+$/, '') ??
        (e.TEMPORAL_ADDRESS ? undefined : `http://127.0.0.1:${e.DIM_TEMPORAL_UI_PORT}`),
      devServer: {
        bin: e.DIM_TEMPORAL_BIN,
        searchPath: e.PATH,
        port: e.DIM_TEMPORAL_PORT,
        uiPort: e.DIM_TEMPORAL_UI_PORT,
        dbFile: path.join(dataDir, 'temporal', 'temporal.db'),
      },
    },
    kafka: e.KAFKA_BROKERS
      ? {
          brokers: e.KAFKA_BROKERS,
          clientId: e.KAFKA_CLIENT_ID,
          topics: {
            partitions: e.DIM_KAFKA_PARTITIONS,
            replicationFactor: e.DIM_KAFKA_REPLICATION_FACTOR,
          },
        }
      : undefined,
    events: {
      topicPrefix: e.DIM_TOPIC_PREFIX,
      bridgeGroup: e.DIM_BRIDGE_GROUP,
      bufferMax: e.DIM_EVENT_BUFFER_MAX,
      idKey: e.DIM_EVENT_ID_KEY,
    },
    sweep: {
      scheduleId: e.DIM_SWEEP_SCHEDULE_ID,
      intervalMs: e.DIM_SWEEP_INTERVAL_S === 0 ? null : e.DIM_SWEEP_INTERVAL_S * 1000,
    },
    retention: {
      intervalMs: e.DIM_RETENTION_INTERVAL_S * 1000,
      eventLog: {
        maxAgeMs: e.DIM_EVENT_LOG_KEEP_DAYS * DAY_MS,
        maxRows: e.DIM_EVENT_LOG_KEEP_ROWS,
      },
      deadLetters: {
        maxAgeMs: e.DIM_DEAD_LETTERS_KEEP_DAYS * DAY_MS,
        maxRows: e.DIM_DEAD_LETTERS_KEEP_ROWS,
      },
      idempotencyKeys: { maxAgeMs: e.DIM_IDEMPOTENCY_KEEP_HOURS * 3_600_000 },
      audit: {
        maxAgeMs: e.DIM_AUDIT_KEEP_DAYS * DAY_MS,
        maxRows: e.DIM_AUDIT_KEEP_ROWS,
        detailsMax: e.DIM_AUDIT_DETAILS_MAX,
      },
    },
    datasets: { allowWholeRoot: e.DIM_ALLOW_WHOLE_ROOT_DATASETS },
    storage: {
      // The prototype's examples use file:///shared_storage/..., so that root is allowed by default.
      fileRoots: (e.DIM_FILE_ROOTS ?? [path.join(dataDir, 'storage'), '/shared_storage']).map((r) =>
        path.resolve(r),
      ),
      ...(e.DIM_BUCKETS ? { buckets: bucketAllowlist(e.DIM_BUCKETS) } : {}),
      s3: { endpoint: e.S3_ENDPOINT, region: e.AWS_REGION },
      gcs: { endpoint: e.STORAGE_EMULATOR_HOST, projectId: e.GCS_PROJECT_ID },
    },
  };
}
