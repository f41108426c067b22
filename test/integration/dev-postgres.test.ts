import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/**
 * dev/services postgres against the real server: start (installing Debian's postgresql-15 first
 * when it is missing) → status → a table created, written and read back through psql as dim
 * with the documented URL → idempotent start → stop → stopped and the port closed.
 * postgres is not in the default set: the test leaves it as it found it (normally stopped).
 */

const root = path.resolve(__dirname, '..', '..');
const script = path.join(root, 'dev', 'services');
const PG_BIN = '/usr/lib/postgresql/15/bin';
const URL = 'postgres://dim:dim@127.0.0.1:5432/dim';

// The first start may install the package with apt-get.
const FIRST_START_MS = 10 * 60_000;
const STEP_MS = 2 * 60_000;

interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], timeoutMs = STEP_MS): RunResult {
  const r = spawnSync(cmd, args, {
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
    throw new Error(`exited ${r.status}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
}

function onPath(cmd: string): boolean {
  return (process.env['PATH'] ?? '')
    .split(path.delimiter)
    .some((dir) => dir !== '' && fs.existsSync(path.join(dir, cmd)));
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

// Skipped only when PostgreSQL 15 is missing and cannot be installed: no apt-get on this machine.
const canRun = fs.existsSync(path.join(PG_BIN, 'postgres')) || onPath('apt-get');
const describeIfInstallable = canRun ? describe : describe.skip;

describeIfInstallable(
  'dev/services postgres (skipped only when there is no apt-get to install PostgreSQL 15)',
  () => {
    // Leave postgres as it was found: running again if it ran before, otherwise stopped.
    let wasRunning = false;
    beforeAll(() => {
      wasRunning = run(script, ['status', 'postgres']).status === 0;
    }, STEP_MS);
    afterAll(() => {
      expectOk(run(script, [wasRunning ? 'start' : 'stop', 'postgres']));
    }, STEP_MS);

    test(
      'start, status, psql as dim through the URL, idempotent start, stop',
      async () => {
        expectOk(run(script, ['start', 'postgres'], FIRST_START_MS));

        let r = run(script, ['status', 'postgres']);
        expect(r.status).toBe(0);
        expect(r.stdout).toMatch(
          /^postgres: running \(pid \d+\) postgres:\/\/dim:dim@127\.0\.0\.1:5432\/dim$/m,
        );

        // `path postgres` names the server's bin dir, where psql is too.
        r = run(script, ['path', 'postgres']);
        expectOk(r);
        const psql = path.join(r.stdout.trim(), 'psql');

        const table = `dev_pg_${randomBytes(6).toString('hex')}`;
        r = run(psql, [
          URL,
          '-X',
          '-q',
          '-At',
          '-v',
          'ON_ERROR_STOP=1',
          '-c',
          `create table ${table} (id int primary key, name text not null)`,
          '-c',
          `insert into ${table} values (1, 'hot'), (2, 'cold')`,
          '-c',
          `select id || '=' || name from ${table} order by id`,
          '-c',
          `select current_user || ' ' || current_database()`,
          '-c',
          `drop table ${table}`,
        ]);
        expectOk(r);
        expect(r.stdout).toBe('1=hot\n2=cold\ndim dim\n');

        // A wrong password is refused: the URL works because of the password, not trust.
        r = run(psql, ['postgres://dim:wrong@127.0.0.1:5432/dim', '-X', '-Atc', 'select 1']);
        expect(r.status).not.toBe(0);
        expect(r.stderr).toMatch(/password authentication failed/);

        r = run(script, ['start', 'postgres']);
        expectOk(r);
        expect(r.stdout).toMatch(/^postgres: already running/m);

        // Not in the default set: a bare `status` (like a bare `start`) leaves it out.
        r = run(script, ['status']);
        expect(r.stdout).not.toMatch(/^postgres:/m);

        expectOk(run(script, ['stop', 'postgres']));
        r = run(script, ['status', 'postgres']);
        expect(r.status).toBe(3);
        expect(r.stdout).toMatch(/^postgres: stopped$/m);
        expect(await tcpOpen(5432)).toBe(false);

        r = run(script, ['stop', 'postgres']);
        expectOk(r);
        expect(r.stdout).toMatch(/^postgres: not running/m);
      },
      FIRST_START_MS,
    );
  },
);
