import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const repoRoot = path.resolve(__dirname, '..', '..');
export const dimBin = path.join(repoRoot, 'bin', 'dim.js');

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export const tempDir = (prefix: string) => mkdtempSync(path.join(tmpdir(), `dim-${prefix}-`));

export interface DimProcess {
  child: ChildProcess;
  /** The `--json` ready line. */
  ready: Record<string, string>;
  stderr: () => string;
  exited: Promise<number | null>;
}

/**
 * Runs `dim <command> --json` without waiting for it (e.g. a process expected to wait for
 * its dependencies first, runtime/startup.ts); `ready` resolves with its ready line.
 * `command` may carry options after a space (`up --demo`).
 *
 * The placement sweep's Temporal Schedule is one per deployment and the test files share
 * one dev server: each process gets a schedule id of its own, paused, unless the test
 * names them (a worker that took over a shared schedule would run another test's sweeps).
 */
export function spawnDim(
  command: string,
  env: Record<string, string>,
): {
  child: ChildProcess;
  ready: Promise<Record<string, string>>;
  stderr: () => string;
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, [dimBin, ...command.split(' '), '--json'], {
    cwd: repoRoot,
    env: {
      ...process.env,
      DIM_LOG_LEVEL: 'warn',
      DIM_SWEEP_SCHEDULE_ID: `dim-test-sweep-${randomUUID()}`,
      DIM_SWEEP_INTERVAL_S: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const ready = new Promise<Record<string, string>>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.includes('"event":"ready"'));
      if (line) resolve(JSON.parse(line) as Record<string, string>);
    });
    void exited.then((code) =>
      reject(new Error(`dim ${command} exited (${code}) before it was ready; stderr:\n${err}`)),
    );
  });
  ready.catch(() => undefined); // a test that does not await it must not fail on it
  return { child, ready, stderr: () => err, exited };
}

/** Runs `dim <command> --json` (see spawnDim) and waits for its ready line. */
export async function startDim(
  command: string,
  env: Record<string, string>,
  timeoutMs = 90_000,
): Promise<DimProcess> {
  const dim = spawnDim(command, env);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      dim.child.kill('SIGKILL');
      reject(new Error(`dim ${command} not ready after ${timeoutMs} ms; stderr:\n${dim.stderr()}`));
    }, timeoutMs);
  });
  try {
    const ready = await Promise.race([dim.ready, late]);
    return { child: dim.child, ready, stderr: dim.stderr, exited: dim.exited };
  } finally {
    clearTimeout(timer);
  }
}

/** Process ids whose command line contains `needle`. */
export async function pidsMatching(needle: string): Promise<number[]> {
  const { readdirSync, readFileSync } = await import('node:fs');
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(needle)) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}
