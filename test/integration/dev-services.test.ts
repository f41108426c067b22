import { spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';

/**
 * dev/services against the real servers: start → status → probe → start (idempotent) → stop →
 * status/ports closed → start again. Every service is left RUNNING, because the other
 * integration tests rely on them.
 */

const root = path.resolve(__dirname, '..', '..');
const script = path.join(root, 'dev', 'services');

// The first start may build the servers (go install, Maven Central): be generous.
const FIRST_START_MS = 10 * 60_000;
const LIFECYCLE_MS = 5 * 60_000;

interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], timeoutMs = LIFECYCLE_MS): RunResult {
  const r = spawnSync(script, args, {
    cwd: root,
    encoding: 'utf8',
    timeout: timeoutMs,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectOk(r: RunResult): void {
  if (r.status !== 0) {
    throw new Error(`dev/services exited ${r.status}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
}

function httpStatus(url: string, timeoutMs = 5_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: GET ${url}`)));
    req.on('error', reject);
  });
}

function tcpOpen(port: number, timeoutMs = 3_000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const done = (open: boolean): void => {
      sock.destroy();
      resolve(open);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

interface Service {
  name: string;
  ports: number[];
  statusLine: RegExp;
  probe: () => Promise<void>;
}

const services: Service[] = [
  {
    name: 'temporal',
    ports: [7233, 8233],
    statusLine: /^temporal: running \(pid \d+\) 127\.0\.0\.1:7233/m,
    probe: async () => {
      expect(await tcpOpen(7233)).toBe(true);
      expect(await httpStatus('http://127.0.0.1:8233/')).toBe(200);
    },
  },
  {
    name: 'kafka',
    ports: [9092, 9093],
    statusLine: /^kafka: running \(pid \d+\) 127\.0\.0\.1:9092/m,
    probe: async () => {
      expect(await tcpOpen(9092)).toBe(true);
    },
  },
  {
    name: 's3',
    ports: [9000, 9001],
    statusLine: /^s3: running \(pid \d+\) http:\/\/127\.0\.0\.1:9000/m,
    probe: async () => {
      expect(await httpStatus('http://127.0.0.1:9000/minio/health/live')).toBe(200);
    },
  },
  {
    name: 'gcs',
    ports: [4443],
    statusLine: /^gcs: running \(pid \d+\) http:\/\/127\.0\.0\.1:4443/m,
    probe: async () => {
      expect(await httpStatus('http://127.0.0.1:4443/storage/v1/b')).toBe(200);
    },
  },
];

describe('dev/services', () => {
  beforeAll(() => {
    expectOk(run(['start'], FIRST_START_MS));
  }, FIRST_START_MS);

  // Whatever happened in between, leave every service running for the other tests.
  afterAll(() => {
    expectOk(run(['start'], FIRST_START_MS));
  }, FIRST_START_MS);

  test('rejects an unknown service', () => {
    const r = run(['start', 'nosuch']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('nosuch');
  });

  test('rejects an unknown command', () => {
    const r = run(['frobnicate']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/usage/);
  });

  test('path temporal prints only the absolute path of the Temporal CLI', () => {
    const r = run(['path', 'temporal']);
    expectOk(r);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(path.isAbsolute(lines[0] ?? '')).toBe(true);
    expect(path.basename(lines[0] ?? '')).toMatch(/^temporal/);
  });

  test('status of all services reports running and exits 0', () => {
    const r = run(['status']);
    expectOk(r);
    for (const svc of services) expect(r.stdout).toMatch(svc.statusLine);
  });

  describe.each(services)('$name', (svc) => {
    test(
      'start, status, probe, idempotent start, stop, start again',
      async () => {
        expectOk(run(['start', svc.name]));

        let r = run(['status', svc.name]);
        expect(r.status).toBe(0);
        expect(r.stdout).toMatch(svc.statusLine);
        await svc.probe();

        r = run(['start', svc.name]);
        expectOk(r);
        expect(r.stdout).toMatch(new RegExp(`^${svc.name}: already running`, 'm'));

        expectOk(run(['stop', svc.name]));
        r = run(['status', svc.name]);
        expect(r.status).toBe(3);
        expect(r.stdout).toMatch(new RegExp(`^${svc.name}: stopped$`, 'm'));
        for (const port of svc.ports) expect(await tcpOpen(port)).toBe(false);

        // stop is idempotent
        r = run(['stop', svc.name]);
        expectOk(r);
        expect(r.stdout).toMatch(new RegExp(`^${svc.name}: not running`, 'm'));

        expectOk(run(['start', svc.name]));
        r = run(['status', svc.name]);
        expect(r.status).toBe(0);
        await svc.probe();
      },
      LIFECYCLE_MS,
    );
  });
});
