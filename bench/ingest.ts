/**
 * bench/ingest: access-event ingestion, end to end, beside kcat's raw produce rate into
 * the same broker in the same run.
 *
 *   npm run bench:ingest        # = npm run build && node bench/run.js ingest
 *   BENCH_EVENTS=500000 BENCH_SINGLE_S=10 BENCH_SINGLE_CONNS=64 npm run bench:ingest
 *
 * Needs Kafka on 127.0.0.1:9092 (started with dev/services if it is not running) and
 * kcat (installed with apt-get when missing and we are root). Starts `dim api` and
 * `dim bridge` as separate processes, as in production, on a fresh data dir and topics
 * of their own, then measures:
 *
 *   1. batches: events/s from the first POST (batches of 5,000) to the moment the
 *      aggregates in SQLite show every event (HTTP → Kafka → bridge → aggregates);
 *   2. single: single-event POST requests/s over keep-alive connections;
 *   3. bridge: events/s from kcat producing straight to the topic to aggregates visible;
 *   4. kcat: kcat's raw produce rate (same messages, same broker, no consumer);
 *   5. bridges: step 3 again with BENCH_BRIDGES (default 2) bridge processes sharing the
 *      consumer group (the topic's partitions split between them, DIM_KAFKA_PARTITIONS).
 *
 * Prints a markdown table for BENCHMARKS.md. Figures, not assertions.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { openDatabase, type OpenedDb } from '../store/db';
import { insertDataset } from '../store/datasets';

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

function ensureKafka() {
  const status = spawnSync(path.join(root, 'dev', 'services'), ['status', 'kafka'], {
    encoding: 'utf8',
  });
  if (status.status !== 0) {
    say('starting Kafka (dev/services start kafka)…');
    execFileSync(path.join(root, 'dev', 'services'), ['start', 'kafka'], { stdio: 'inherit' });
  }
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

/** CPU time (user + system, ms) a process has used so far, from /proc (Linux). */
function cpuMs(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ = 100
  } catch {
    return NaN;
  }
}

function kafkaPid(): number | undefined {
  try {
    return Number(readFileSync(path.join(root, 'var', 'services', 'kafka', 'kafka.pid'), 'utf8'));
  } catch {
    return undefined;
  }
}

/** Samples the CPU time of the processes involved; `per(n)` says µs of CPU per event for each. */
function cpuMeter(procs: Record<string, number | undefined>) {
  const start = Object.fromEntries(Object.entries(procs).map(([k, pid]) => [k, cpuMs(pid)]));
  const self0 = process.cpuUsage();
  return (n: number): string => {
    const self = process.cpuUsage(self0);
    const parts = Object.entries(procs).map(
      ([k, pid]) => `${k} ${(((cpuMs(pid) - start[k]!) * 1000) / n).toFixed(1)}`,
    );
    parts.push(`client ${((self.user + self.system) / n).toFixed(1)}`);
    return `CPU µs/event: ${parts.join(', ')}`;
  };
}

function counted(store: OpenedDb): number {
  const r = store.sqlite
    .prepare('select coalesce(sum(read_count + write_count), 0) as n from access_totals')
    .get() as { n: number };
  return r.n;
}

async function waitCount(store: OpenedDb, n: number, timeoutMs = 600_000): Promise<number> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (counted(store) >= n) return Date.now();
    if (Date.now() > until) throw new Error(`only ${counted(store)} of ${n} events counted`);
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

export async function main(): Promise<void> {
  ensureKafka();
  const kcat = ensureKcat();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'dim-bench-'));
  const prefix = `bench-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}.`;
  const store = await openDatabase(path.join(dataDir, 'dim.db'));
  for (let i = 0; i < DATASETS; i++) {
    await insertDataset(store.db, {
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
    DIM_DATA_DIR: dataDir,
    DIM_API_PORT: String(port),
    KAFKA_BROKERS: BROKER,
    DIM_TOPIC_PREFIX: prefix,
    DIM_BRIDGE_GROUP: `${prefix}bridge`,
    TEMPORAL_ADDRESS: '127.0.0.1:7233',
  };
  say(`data dir ${dataDir}, topics ${prefix}*`);
  const api = await startDim('api', env);
  const bridge = await startDim('bridge', { ...env, DIM_BRIDGE_PORT: String(await freePort()) });
  const more: ChildProcess[] = [];
  const rows: Array<[string, string, string]> = [];
  const procs: Record<string, number | undefined> = {
    api: api.pid,
    bridge: bridge.pid,
    kafka: kafkaPid(),
  };
  try {
    const ts = Date.now() - 60_000;
    // Warm-up: connections, JIT, topic metadata.
    const agent = agentFor(Math.max(BATCH_CLIENTS, SINGLE_CONNS));
    const warm = Buffer.from(JSON.stringify(Array.from({ length: 1000 }, (_, i) => event(i, ts))));
    for (let i = 0; i < 5; i++) await postRaw(agent, port, warm);
    await waitCount(store, 5000);
    let base = counted(store);

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
      const meter = cpuMeter(procs);
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
      const visible = await waitCount(store, base + batches * BATCH);
      const e2e = (batches * BATCH) / ((visible - t0) / 1000);
      const acceptRate = (batches * BATCH) / ((accepted - t0) / 1000);
      rows.push([
        `HTTP batches of ${BATCH} (${BATCH_CLIENTS} clients) → Kafka → aggregates visible`,
        `${Math.round(e2e).toLocaleString('en-US')} events/s`,
        `${batches * BATCH} events; all accepted (202) at ${Math.round(acceptRate).toLocaleString('en-US')} events/s, visible ${visible - accepted} ms later; ${meter(batches * BATCH)}`,
      ]);
      say(rows.at(-1)!.join(' | '));
    }

    // 2. Single-event requests.
    if (!SKIP.has('single')) {
      base = counted(store);
      say(`single: ${SINGLE_CONNS} keep-alive connections for ${SINGLE_S} s`);
      const one = Buffer.from(JSON.stringify(event(1, ts)));
      const meter = cpuMeter(procs);
      const s0 = Date.now();
      const { done, failed, lat } = await hammer(
        port,
        '/access-events',
        one,
        SINGLE_CONNS,
        SINGLE_S * 1000,
      );
      const s1 = Date.now();
      const singleVisible = await waitCount(store, base + done);
      lat.sort((a, b) => a - b);
      const pct = (p: number) =>
        lat[Math.min(lat.length - 1, Math.floor(lat.length * p))]!.toFixed(1);
      rows.push([
        `single-event POST /access-events (${SINGLE_CONNS} keep-alive connections)`,
        `${Math.round(done / ((s1 - s0) / 1000)).toLocaleString('en-US')} requests/s`,
        `${done} accepted${failed ? `, ${failed} failed` : ''}; latency p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms; all visible ${singleVisible - s1} ms after the last; ${meter(done)}`,
      ]);
      say(rows.at(-1)!.join(' | '));
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
      rows.push([
        'kcat -P, raw produce (reference: no dim involved)',
        `${Math.round(KCAT_EVENTS / (rawMs / 1000)).toLocaleString('en-US')} messages/s`,
        `${KCAT_EVENTS} messages in ${rawMs} ms`,
      ]);
      say(rows.at(-1)!.join(' | '));

      const bridgedRun = (bridges: number) => async () => {
        base = counted(store);
        say(`kcat: ${KCAT_EVENTS} messages into access_events, ${bridges} bridge(s) aggregating`);
        const meter = cpuMeter(procs);
        const b0 = Date.now();
        const intoMs = kcatRun(`${prefix}access_events`);
        const bridged = await waitCount(store, base + KCAT_EVENTS);
        rows.push([
          `kcat -P into access_events → ${bridges === 1 ? 'bridge' : `${bridges} bridges (one group)`} → aggregates visible`,
          `${Math.round(KCAT_EVENTS / ((bridged - b0) / 1000)).toLocaleString('en-US')} events/s`,
          `kcat done in ${intoMs} ms; aggregates complete ${bridged - b0} ms after the start; ${meter(KCAT_EVENTS)} (client: kcat not counted)`,
        ]);
        say(rows.at(-1)!.join(' | '));
      };
      await bridgedRun(1)();
      if (BRIDGES > 1) {
        for (let i = 1; i < BRIDGES; i++) {
          const port = await freePort();
          const b = await startDim('bridge', { ...env, DIM_BRIDGE_PORT: String(port) });
          more.push(b);
          procs[`bridge${i + 1}`] = b.pid;
        }
        await waitGroupMembers(`${prefix}bridge`, BRIDGES);
        await bridgedRun(BRIDGES)();
      }
    }
  } finally {
    await Promise.all(
      [api, bridge, ...more].map(
        (c) =>
          new Promise((resolve) => {
            c.once('exit', resolve);
            c.kill('SIGTERM');
          }),
      ),
    );
    await store.close();
    await deleteTopics(prefix);
    rmSync(dataDir, { recursive: true, force: true });
  }

  const cpu = os.cpus();
  const out = [
    `Machine: ${cpu.length} × ${cpu[0]?.model ?? 'cpu'}, load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} at the end; Node ${process.version}; Kafka at ${BROKER} (dev/services).`,
    '',
    '| measurement | rate | detail |',
    '| --- | --- | --- |',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
  process.stdout.write(out + '\n');
}
