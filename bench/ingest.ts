/**
 * bench/ingest: access-event ingestion, end to end, beside kcat's raw produce rate into
 * the same broker in the same run.
 *
 *   npm run bench:ingest        # = npm run build && node bench/run.js ingest
 *   BENCH_EVENTS=500000 BENCH_SINGLE_S=10 BENCH_SINGLE_CONNS=64 npm run bench:ingest
 *   BENCH_DB=sqlite,postgres npm run bench:ingest   # both stores, printed side by side
 *
 * BENCH_DB picks the metadata store of the spawned processes (and of the bench's reads of
 * the aggregates, through Kysely): `sqlite` (default, a fresh file), `postgres` (a fresh
 * schema in BENCH_DATABASE_URL, default dev/services' postgres://dim:dim@127.0.0.1:5432/dim,
 * dropped at the end; bench/backends.ts), or both, one after the other, each with its own
 * data dir, topics and processes. On PostgreSQL the CPU of the server backends serving the
 * spawned processes is reported too (`postgres`, found by application_name).
 *
 * Needs Kafka on 127.0.0.1:9092 (started with dev/services if it is not running) and
 * kcat (installed with apt-get when missing and we are root). Starts `dim api` and
 * `dim bridge` as separate processes, as in production, on a fresh data dir and topics
 * of their own, then measures:
 *
 *   1. batches: events/s from the first POST (batches of 5,000) to the moment the
 *      aggregates in the store show every event (HTTP → Kafka → bridge → aggregates);
 *   2. single: single-event POST requests/s over keep-alive connections;
 *   3. bridge: events/s from kcat producing straight to the topic to aggregates visible;
 *   4. kcat: kcat's raw produce rate (same messages, same broker, no consumer);
 *   5. bridges: step 3 again with BENCH_BRIDGES (default 2) bridge processes sharing the
 *      consumer group (the topic's partitions split between them, DIM_KAFKA_PARTITIONS).
 *
 * Prints markdown tables for BENCHMARKS.md: the rates (a column per store), then each
 * row's details. Figures, not assertions.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { sql } from 'kysely';
import type { Db } from '../store/db';
import { insertDataset } from '../store/datasets';
import {
  BACKEND_LABEL,
  benchBackends,
  cpuMs,
  listening,
  openBenchStore,
  type BenchBackend,
} from './backends';

const root = path.resolve(__dirname, '..');
const BROKER = '127.0.0.1:9092';
const EVENTS = Number(process.env.BENCH_EVENTS ?? 500_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 5000);
const BATCH_CLIENTS = Number(process.env.BENCH_BATCH_CLIENTS ?? 4);
const SKIP = new Set((process.env.BENCH_SKIP ?? '').split(',')); // batches,single,kcat
const SINGLE_S = Number(process.env.BENCH_SINGLE_S ?? 10);
const SINGLE_CONNS = Number(process.env.BENCH_SINGLE_CONNS ?? 64);
const KCAT_EVENTS = Number(process.env.BENCH_KCAT_EVENTS ?? 1_000_000);
const BRIDGES = Number(process.env.BENCH_BRIDGES ?? 2);
const DATASETS = 100;

const say = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts Kafka with dev/services unless something already answers on the broker's port. */
async function ensureKafka() {
  if (await listening(BROKER)) return;
  say('starting Kafka (dev/services start kafka)…');
  execFileSync(path.join(root, 'dev', 'services'), ['start', 'kafka'], { stdio: 'inherit' });
}

function ensureKcat(): string {
  const which = spawnSync('sh', ['-c', 'command -v kcat || command -v kafkacat'], {
    encoding: 'utf8',
  });
  if (which.status === 0 && which.stdout.trim()) return which.stdout.trim().split('\n')[0]!;
  if (process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v apt-get']).status === 0) {
    say('installing kcat (apt-get install -y kcat)…');
    let r = spawnSync('apt-get', ['install', '-y', 'kcat'], { stdio: 'inherit' });
    if (r.status !== 0) {
      spawnSync('apt-get', ['update'], { stdio: 'inherit' });
      r = spawnSync('apt-get', ['install', '-y', 'kcat'], { stdio: 'inherit' });
    }
    if (r.status === 0) return 'kcat';
  }
  throw new Error('kcat is not installed and could not be installed: apt-get install -y kcat');
}

/** Runs `dim <command> --json` and waits for its ready line. */
function startDim(command: string, env: Record<string, string>): Promise<ChildProcess> {
  // BENCH_PROFILE_DIR=/tmp/prof: CPU profiles of the dim processes (written when they stop).
  const prof = process.env.BENCH_PROFILE_DIR
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`]
    : [];
  const child = spawn(
    process.execPath,
    [...prof, path.join(root, 'bin', 'dim.js'), command, '--json'],
    {
      cwd: root,
      env: { ...process.env, DIM_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('"event":"ready"')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`dim ${command} exited (${code})`)));
  });
}

/** Waits until the consumer group has `n` members with partitions assigned (a rebalance done). */
async function waitGroupMembers(group: string, n: number, timeoutMs = 60_000) {
  const admin = new Kafka({ brokers: [BROKER], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const { groups } = await admin.describeGroups([group]);
      const g = groups[0];
      if (g?.state === 'Stable' && g.members.length === n) return;
      if (Date.now() > until)
        throw new Error(`group ${group}: ${g?.members.length} members, ${g?.state}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function deleteTopics(prefix: string) {
  const admin = new Kafka({ brokers: [BROKER], logLevel: logLevel.NOTHING }).admin();
  try {
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length) await admin.deleteTopics({ topics });
  } catch (err) {
    say(`could not delete the bench topics ${prefix}*: ${(err as Error).message}`);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * The broker's pid, for its CPU time: dev/services' pid file in this checkout, else the
 * process listening on the broker's port (services started from another checkout).
 */
function kafkaPid(): number | undefined {
  try {
    return Number(readFileSync(path.join(root, 'var', 'services', 'kafka', 'kafka.pid'), 'utf8'));
  } catch {
    const port = BROKER.split(':')[1]!;
    const ss = spawnSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' });
    const m = /pid=(\d+)/.exec(ss.stdout ?? '');
    return m ? Number(m[1]) : undefined;
  }
}

/** The whole machine's CPU time so far (all cores, ms): busy (steal apart) and total, from /proc/stat. */
function machineMs(): { busy: number; steal: number; total: number } {
  try {
    const v = readFileSync('/proc/stat', 'utf8')
      .split('\n')[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] =
      v;
    const ms = (t: number) => (t * 1000) / 100; // USER_HZ = 100
    return {
      busy: ms(user + nice + system + irq + softirq),
      steal: ms(steal),
      total: ms(user + nice + system + idle + iowait + irq + softirq + steal),
    };
  } catch {
    return { busy: NaN, steal: NaN, total: NaN };
  }
}

/**
 * Samples the CPU time of the processes involved; the meter says µs of CPU per event for
 * each, the cores they kept busy, and how busy the whole machine was (other sessions' work
 * included). `serverPids`: the database server's processes serving them (PostgreSQL),
 * sampled every 250 ms, since the pools open and close connections during a phase.
 */
async function cpuMeter(
  procs: Record<string, number | undefined>,
  serverPids: () => Promise<number[]>,
  bridgePorts: number[],
) {
  const batches0 = await bridgeBatches(bridgePorts);
  const start = Object.fromEntries(Object.entries(procs).map(([k, pid]) => [k, cpuMs(pid)]));
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  const sample = async (initial: boolean) => {
    for (const pid of await serverPids()) {
      const used = cpuMs(pid);
      if (!Number.isFinite(used)) continue;
      if (!first.has(pid)) first.set(pid, initial ? used : 0); // new since the start: all its CPU
      last.set(pid, used);
    }
  };
  await sample(true);
  let sampling = Promise.resolve();
  const timer = setInterval(() => {
    sampling = sampling.then(() => sample(false)).catch(() => undefined);
  }, 250);
  const machine0 = machineMs();
  const self0 = process.cpuUsage();
  const t0 = Date.now();
  return async (n: number): Promise<string> => {
    clearInterval(timer);
    await sampling;
    await sample(false);
    const wall = Date.now() - t0;
    const self = process.cpuUsage(self0);
    const used: Record<string, number> = {};
    for (const [k, pid] of Object.entries(procs)) used[k] = cpuMs(pid) - start[k]!;
    if (first.size > 0) {
      let ms = 0;
      for (const [pid, f] of first) ms += last.get(pid)! - f;
      used[`postgres (${first.size} backends)`] = ms;
    }
    used.client = (self.user + self.system) / 1000;
    const perEvent = Object.entries(used).map(([k, ms]) => `${k} ${((ms * 1000) / n).toFixed(1)}`);
    // Every process of the path (kcat aside): what the path costs, whatever else ran.
    const ours = Object.values(used).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
    const totalUs = (ours * 1000) / n;
    const ncpu = os.cpus().length;
    perEvent.push(
      `total ${totalUs.toFixed(1)} (${Math.round((1e6 / totalUs) * ncpu).toLocaleString('en-US')} events/s if all ${ncpu} cores did nothing else)`,
    );
    const cores = (ms: number) => (ms / wall).toFixed(2);
    const batches = (await bridgeBatches(bridgePorts)) - batches0;
    const m = machineMs();
    const busy = m.busy - machine0.busy;
    const share = os.cpus().length / (m.total - machine0.total);
    return (
      `CPU µs/event: ${perEvent.join(', ')}; cores busy: ${Object.entries(used)
        .map(([k, ms]) => `${k.replace(/ \(.*/, '')} ${cores(ms)}`)
        .join(', ')}; ` +
      `${batches} bridge transactions (${Math.round(n / batches)} events each); ` +
      `machine ${(busy * share).toFixed(2)} of ${os.cpus().length} cores busy (these processes ${cores(ours)}, others ${(busy * share - ours / wall).toFixed(2)}), steal ${((m.steal - machine0.steal) * share).toFixed(2)}`
    );
  };
}

/**
 * Batches the bridges applied so far (one transaction each), from their /metrics; NaN if
 * one did not answer. A fresh connection each time (Node's global agent keeps sockets
 * alive, and a server closing an idle one as it is reused makes a "socket hang up").
 */
async function bridgeBatches(ports: number[]): Promise<number> {
  let sum = 0;
  for (const port of ports) {
    const text = await new Promise<string>((resolve) => {
      const req = http.get(
        { host: '127.0.0.1', port, path: '/metrics', agent: false, timeout: 5000 },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve(body));
          res.on('error', () => resolve(''));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => resolve(''));
    });
    const m = /^dim_bridge_batches_total(?:\{[^}]*\})? (\d+)/m.exec(text);
    sum += m ? Number(m[1]) : NaN;
  }
  return sum;
}

/** Every event the aggregates count so far, through Kysely (either backend). */
async function counted(db: Db): Promise<number> {
  const r = await db
    .selectFrom('access_totals')
    .select(sql<number>`coalesce(sum(read_count + write_count), 0)`.as('n'))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

async function waitCount(db: Db, n: number, timeoutMs = 600_000): Promise<number> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const c = await counted(db);
    if (c >= n) return Date.now();
    if (Date.now() > until) throw new Error(`only ${c} of ${n} events counted`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function event(i: number, ts: number) {
  return {
    dataset_id: 1 + (i % DATASETS),
    op: i % 4 === 0 ? 'write' : 'read',
    size_bytes: 4096 + (i % 1000),
    client_lat_ms: (i % 500) / 10,
    ts: ts + (i % 1000),
  };
}

/**
 * A minimal load generator in the manner of wrk/autocannon: `conns` keep-alive TCP
 * connections, each sending the same pre-serialized POST as soon as the previous answer
 * arrived (no pipelining), for `ms`. Cheap enough that the client does not starve the
 * server of CPU on a small machine, as Node's http client would.
 */
export function hammer(
  port: number,
  urlPath: string,
  body: Buffer,
  conns: number,
  ms: number,
): Promise<{ done: number; failed: number; lat: number[] }> {
  const request = Buffer.concat([
    Buffer.from(
      `POST ${urlPath} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n`,
    ),
    body,
  ]);
  const until = Date.now() + ms;
  let done = 0;
  let failed = 0;
  const lat: number[] = [];
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1');
      sock.setNoDelay(true);
      let buf: Buffer = Buffer.alloc(0);
      let sent = 0n;
      const send = () => {
        if (Date.now() >= until) {
          sock.end();
          return resolve();
        }
        sent = process.hrtime.bigint();
        sock.write(request);
      };
      sock.on('connect', send);
      sock.on('error', reject);
      sock.on('data', (chunk: Buffer) => {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        for (;;) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buf.subarray(0, end).toString('latin1');
          const m = /content-length: *(\d+)/i.exec(head);
          const total = end + 4 + (m ? Number(m[1]) : 0);
          if (buf.length < total) return;
          if (head.startsWith('HTTP/1.1 202')) done++;
          else failed++;
          lat.push(Number(process.hrtime.bigint() - sent) / 1e6);
          buf = buf.subarray(total);
          send();
        }
      });
    });
  return Promise.all(Array.from({ length: conns }, one)).then(() => ({ done, failed, lat }));
}

const agentFor = (conns: number) => new http.Agent({ keepAlive: true, maxSockets: conns });

function postRaw(
  agent: http.Agent,
  port: number,
  body: Buffer,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: '127.0.0.1',
        port,
        path: '/access-events',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** One measurement of one run: what, the rate, and how it came about. */
interface Row {
  name: string;
  rate: string;
  detail: string;
}

/** Every stage on one store: fresh data dir, topics, store and processes. */
async function runOn(backend: BenchBackend, kcat: string): Promise<Row[]> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'dim-bench-'));
  const prefix = `bench-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}.`;
  const bench = await openBenchStore(backend, dataDir);
  const { db } = bench.store;
  const serverPids = () => bench.serverPids();
  const rows: Row[] = [];
  const children: ChildProcess[] = [];
  const add = (row: Row) => {
    rows.push(row);
    say(`${BACKEND_LABEL[backend]}: ${row.name} | ${row.rate} | ${row.detail}`);
  };
  try {
    for (let i = 0; i < DATASETS; i++) {
      await insertDataset(db, {
        name: `bench-${i}`,
        path_uri: `file:///shared_storage/bench-${i}`,
        current_tier: 'hot',
        latency_slo_ms: null,
        size_bytes: 0,
        object_count: 0,
        owner: null,
        policy: null,
        version: 1,
        last_access_ts: null,
        tier_since: 0,
        created_at: 0,
        updated_at: 0,
      });
    }
    const port = await freePort();
    const env = {
      ...bench.env,
      DIM_DATA_DIR: dataDir,
      DIM_API_PORT: String(port),
      KAFKA_BROKERS: BROKER,
      DIM_TOPIC_PREFIX: prefix,
      DIM_BRIDGE_GROUP: `${prefix}bridge`,
      TEMPORAL_ADDRESS: '127.0.0.1:7233',
    };
    say(`${BACKEND_LABEL[backend]}: ${bench.where}, data dir ${dataDir}, topics ${prefix}*`);
    const api = await startDim('api', env);
    children.push(api);
    const bridgePorts = [await freePort()];
    const bridge = await startDim('bridge', { ...env, DIM_BRIDGE_PORT: String(bridgePorts[0]) });
    children.push(bridge);
    const procs: Record<string, number | undefined> = {
      api: api.pid,
      bridge: bridge.pid,
      kafka: kafkaPid(),
    };
    const ts = Date.now() - 60_000;
    // Warm-up: connections, JIT, topic metadata.
    const agent = agentFor(Math.max(BATCH_CLIENTS, SINGLE_CONNS));
    const warm = Buffer.from(JSON.stringify(Array.from({ length: 1000 }, (_, i) => event(i, ts))));
    for (let i = 0; i < 5; i++) await postRaw(agent, port, warm);
    await waitCount(db, 5000);
    let base = await counted(db);

    // 1. Batches, end to end. Bodies are built before the clock starts.
    if (!SKIP.has('batches')) {
      say(`batches: ${EVENTS} events in batches of ${BATCH}, ${BATCH_CLIENTS} clients`);
      const bodies = Array.from({ length: 8 }, (_, k) =>
        Buffer.from(
          JSON.stringify(Array.from({ length: BATCH }, (_, i) => event(k * BATCH + i, ts))),
        ),
      );
      const batches = Math.ceil(EVENTS / BATCH);
      let nextBatch = 0;
      const meter = await cpuMeter(procs, serverPids, bridgePorts);
      const t0 = Date.now();
      await Promise.all(
        Array.from({ length: BATCH_CLIENTS }, async () => {
          while (nextBatch < batches) {
            const b = nextBatch++;
            const res = await postRaw(agent, port, bodies[b % bodies.length]!);
            if (res.status !== 202) throw new Error(`batch answered ${res.status}: ${res.body}`);
          }
        }),
      );
      const accepted = Date.now();
      const visible = await waitCount(db, base + batches * BATCH);
      const e2e = (batches * BATCH) / ((visible - t0) / 1000);
      const acceptRate = (batches * BATCH) / ((accepted - t0) / 1000);
      add({
        name: `HTTP batches of ${BATCH} (${BATCH_CLIENTS} clients) → Kafka → aggregates visible`,
        rate: `${Math.round(e2e).toLocaleString('en-US')} events/s`,
        detail: `${batches * BATCH} events; all accepted (202) at ${Math.round(acceptRate).toLocaleString('en-US')} events/s, visible ${visible - accepted} ms later; ${await meter(batches * BATCH)}`,
      });
    }

    // 2. Single-event requests.
    if (!SKIP.has('single')) {
      base = await counted(db);
      say(`single: ${SINGLE_CONNS} keep-alive connections for ${SINGLE_S} s`);
      const one = Buffer.from(JSON.stringify(event(1, ts)));
      const meter = await cpuMeter(procs, serverPids, bridgePorts);
      const s0 = Date.now();
      const { done, failed, lat } = await hammer(
        port,
        '/access-events',
        one,
        SINGLE_CONNS,
        SINGLE_S * 1000,
      );
      const s1 = Date.now();
      const singleVisible = await waitCount(db, base + done);
      lat.sort((a, b) => a - b);
      const pct = (p: number) =>
        lat[Math.min(lat.length - 1, Math.floor(lat.length * p))]!.toFixed(1);
      add({
        name: `single-event POST /access-events (${SINGLE_CONNS} keep-alive connections)`,
        rate: `${Math.round(done / ((s1 - s0) / 1000)).toLocaleString('en-US')} requests/s`,
        detail: `${done} accepted${failed ? `, ${failed} failed` : ''}; latency p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms; all visible ${singleVisible - s1} ms after the last; ${await meter(done)}`,
      });
    }
    agent.destroy();

    // 3 and 4. kcat: raw produce rate into a topic nobody reads, then into access_events
    // (the bridge alone: kcat → Kafka → bridge → aggregates).
    if (!SKIP.has('kcat')) {
      const file = path.join(dataDir, 'events.kcat');
      const lines: string[] = [];
      for (let i = 0; i < KCAT_EVENTS; i++) {
        const e = event(i, ts);
        lines.push(`${e.dataset_id}|${JSON.stringify(e)}`);
      }
      writeFileSync(file, lines.join('\n') + '\n');
      const kcatRun = (topic: string) => {
        const k0 = Date.now();
        const r = spawnSync(kcat, ['-P', '-b', BROKER, '-t', topic, '-K', '|', '-l', file], {
          stdio: ['ignore', 'ignore', 'inherit'],
        });
        if (r.status !== 0) throw new Error(`kcat exited ${r.status}`);
        return Date.now() - k0;
      };
      say(`kcat: ${KCAT_EVENTS} messages, raw`);
      const rawMs = kcatRun(`${prefix}kcat_raw`);
      add({
        name: 'kcat -P, raw produce (reference: no dim involved)',
        rate: `${Math.round(KCAT_EVENTS / (rawMs / 1000)).toLocaleString('en-US')} messages/s`,
        detail: `${KCAT_EVENTS} messages in ${rawMs} ms`,
      });

      const bridgedRun = async (bridges: number) => {
        base = await counted(db);
        say(`kcat: ${KCAT_EVENTS} messages into access_events, ${bridges} bridge(s) aggregating`);
        const meter = await cpuMeter(procs, serverPids, bridgePorts);
        const b0 = Date.now();
        const intoMs = kcatRun(`${prefix}access_events`);
        const bridged = await waitCount(db, base + KCAT_EVENTS);
        add({
          name: `kcat -P into access_events → ${bridges === 1 ? 'bridge' : `${bridges} bridges (one group)`} → aggregates visible`,
          rate: `${Math.round(KCAT_EVENTS / ((bridged - b0) / 1000)).toLocaleString('en-US')} events/s`,
          detail: `kcat done in ${intoMs} ms; aggregates complete ${bridged - b0} ms after the start; ${await meter(KCAT_EVENTS)} (client: kcat not counted)`,
        });
      };
      await bridgedRun(1);
      if (BRIDGES > 1) {
        for (let i = 1; i < BRIDGES; i++) {
          const bridgePort = await freePort();
          const b = await startDim('bridge', { ...env, DIM_BRIDGE_PORT: String(bridgePort) });
          bridgePorts.push(bridgePort);
          children.push(b);
          procs[`bridge${i + 1}`] = b.pid;
        }
        await waitGroupMembers(`${prefix}bridge`, BRIDGES);
        await bridgedRun(BRIDGES);
      }
    }
  } finally {
    await Promise.all(
      children.map(
        (c) =>
          new Promise((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve(undefined);
            c.once('exit', resolve);
            c.kill('SIGTERM');
          }),
      ),
    );
    await bench.close();
    await deleteTopics(prefix);
    rmSync(dataDir, { recursive: true, force: true });
  }
  return rows;
}

export async function main(): Promise<void> {
  const backends = benchBackends();
  await ensureKafka();
  const kcat = ensureKcat();
  const load0 = os.loadavg();
  const runs: Array<{ backend: BenchBackend; rows: Row[] }> = [];
  for (const backend of backends) runs.push({ backend, rows: await runOn(backend, kcat) });

  // The rates side by side (a column per store), then each row's details.
  const names = [...new Set(runs.flatMap((r) => r.rows.map((row) => row.name)))];
  const cpu = os.cpus();
  const loads = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const out = [
    `Machine: ${cpu.length} × ${cpu[0]?.model ?? 'cpu'}, load average ${loads(load0)} at the start, ${loads(
      os.loadavg(),
    )} at the end; Node ${process.version}; Kafka at ${BROKER} (dev/services); stores run one after the other: ${backends
      .map((b) => BACKEND_LABEL[b])
      .join(', ')}.`,
    '',
    `| measurement | ${runs.map((r) => BACKEND_LABEL[r.backend]).join(' | ')} |`,
    `| --- | ${runs.map(() => '---').join(' | ')} |`,
    ...names.map(
      (n) =>
        `| ${n} | ${runs.map((r) => r.rows.find((row) => row.name === n)?.rate ?? '–').join(' | ')} |`,
    ),
    '',
    '| store | measurement | detail |',
    '| --- | --- | --- |',
    ...runs.flatMap((r) =>
      r.rows.map((row) => `| ${BACKEND_LABEL[r.backend]} | ${row.name} | ${row.detail} |`),
    ),
  ].join('\n');
  process.stdout.write(out + '\n');
}
