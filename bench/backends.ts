import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { sql } from 'kysely';
import { openDatabase, type OpenedDb } from '../store/db';

/**
 * The metadata stores a benchmark runs on: `BENCH_DB=sqlite` (the default), `postgres`, or
 * both (`sqlite,postgres`, run one after the other and printed side by side).
 *
 * On PostgreSQL (`BENCH_DATABASE_URL`, default dev/services' database) each run gets a
 * fresh schema of its own, `dim_bench_<time>_<random>`, created and migrated by the bench's
 * own `openDatabase({url, schema})` and dropped at the end, so runs (and other sessions'
 * tests in the same database) never mix. Processes the bench spawns reach the same schema
 * through `DIM_DATABASE_URL` with `options=-c search_path=<schema>` in its query (node-postgres
 * passes it to the server as the connection's startup options); `application_name=<schema>`
 * in the same URL lets the bench find their server backends in `pg_stat_activity`.
 */
export type BenchBackend = 'sqlite' | 'postgres';

export const BACKEND_LABEL: Record<BenchBackend, string> = {
  sqlite: 'SQLite',
  postgres: 'PostgreSQL',
};

const DEV_URL = 'postgres://dim:dim@127.0.0.1:5432/dim';

/** The backends BENCH_DB names, in its order; an unknown name is an error naming it. */
export function benchBackends(value = process.env.BENCH_DB): BenchBackend[] {
  const names = (value ?? 'sqlite')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  const out: BenchBackend[] = [];
  for (const n of names) {
    const b = n === 'pg' || n === 'postgresql' ? 'postgres' : n;
    if (b !== 'sqlite' && b !== 'postgres')
      throw new Error(`BENCH_DB: unknown backend ${JSON.stringify(n)} (sqlite, postgres or both)`);
    if (!out.includes(b)) out.push(b);
  }
  return out.length ? out : ['sqlite'];
}

export const benchDatabaseUrl = (): string => process.env.BENCH_DATABASE_URL || DEV_URL;

export interface BenchStore {
  backend: BenchBackend;
  /** The bench's own handle (Kysely on either backend). */
  store: OpenedDb;
  /** What a spawned `dim` process needs in its environment to open this very store. */
  env: Record<string, string>;
  /** PostgreSQL: the schema; SQLite: the file. */
  where: string;
  /** PostgreSQL: the server processes serving the spawned processes (not the bench's own). */
  serverPids(): Promise<number[]>;
  /** PostgreSQL: the server processes serving the bench's own handle. */
  ownServerPids(): Promise<number[]>;
  /** Closes the handle and drops the schema (PostgreSQL); the caller removes the data dir. */
  close(): Promise<void>;
}

const root = path.resolve(__dirname, '..');

/** True when something accepts TCP connections at `host:port`. */
export function listening(address: string): Promise<boolean> {
  const [host, port] = address.split(':');
  return new Promise((resolve) => {
    const sock = net.connect(Number(port), host);
    sock.setTimeout(2000);
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
    sock.once('timeout', () => done(false));
  });
}

/** Starts dev/services' PostgreSQL if the bench uses its URL and nothing answers there. */
async function ensurePostgres(url: string) {
  if (url !== DEV_URL || (await listening('127.0.0.1:5432'))) return;
  process.stderr.write('[bench] starting PostgreSQL (dev/services start postgres)…\n');
  execFileSync(path.join(root, 'dev', 'services'), ['start', 'postgres'], { stdio: 'inherit' });
}

/** A fresh store for one benchmark run: a SQLite file under `dataDir`, or a new schema. */
export async function openBenchStore(backend: BenchBackend, dataDir: string): Promise<BenchStore> {
  if (backend === 'sqlite') {
    const file = path.join(dataDir, 'dim.db');
    const store = await openDatabase(file);
    return {
      backend,
      store,
      env: {},
      where: file,
      serverPids: () => Promise.resolve([]),
      ownServerPids: () => Promise.resolve([]),
      close: () => store.close(),
    };
  }
  const url = benchDatabaseUrl();
  await ensurePostgres(url);
  const schema = `dim_bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  // The bench's own connections are told apart from the spawned processes' by name.
  const own = new URL(url);
  own.searchParams.set('application_name', `${schema}:bench`);
  const store = await openDatabase({ url: own.toString(), schema });
  const processUrl = new URL(url);
  processUrl.searchParams.set('options', `-c search_path=${schema}`);
  processUrl.searchParams.set('application_name', schema);
  return {
    backend,
    store,
    env: { DIM_DATABASE_URL: processUrl.toString() },
    where: `schema ${schema}`,
    serverPids: () => backendsNamed(store, schema),
    ownServerPids: () => backendsNamed(store, `${schema}:bench`),
    async close() {
      try {
        await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(store.db);
      } finally {
        await store.close();
      }
    },
  };
}

/** The server processes of the connections called `name` (application_name). */
async function backendsNamed(store: OpenedDb, name: string): Promise<number[]> {
  const { rows } = await sql<{ pid: number }>`
    select pid from pg_stat_activity where application_name = ${name}`.execute(store.db);
  return rows.map((r) => r.pid);
}

/** CPU time (user + system, ms) a process has used so far, from /proc (Linux). */
export function cpuMs(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ = 100
  } catch {
    return NaN;
  }
}
