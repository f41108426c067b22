import { spawn, type ChildProcess } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './dim-process';

/**
 * A migration worker in a child process (test/support/migration-worker-child.ts), for tests
 * that stop or kill it. `opts` is the child's JSON configuration; `env` adds variables
 * (e.g. AWS_ACCESS_KEY_ID for the S3 SDK's standard credential chain).
 */
export interface ChildWorker {
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr: () => string;
}

export function startChildWorker(
  opts: Record<string, unknown>,
  env: Record<string, string> = {},
): Promise<ChildWorker> {
  const child = spawn(
    process.execPath,
    [
      '-r',
      path.join(repoRoot, 'test', 'support', 'register-ts.js'),
      path.join(repoRoot, 'test', 'support', 'migration-worker-child.ts'),
    ],
    {
      cwd: repoRoot,
      env: { ...process.env, ...env, DIM_TEST_WORKER: JSON.stringify(opts) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('"event":"ready"')) resolve({ child, exited, stderr: () => err });
    });
    void exited.then((code) =>
      reject(new Error(`worker child exited (${code}) before it was ready:\n${err}`)),
    );
  });
}

/** Writes `size` random bytes to `file` (8 MiB at a time, so large files cost no memory). */
export function writeRandomFile(file: string, size: number): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const fd = openSync(file, 'w');
  try {
    const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
    for (let done = 0; done < size; done += buf.length) {
      writeSync(fd, randomFillSync(buf), 0, Math.min(buf.length, size - done));
    }
  } finally {
    closeSync(fd);
  }
}
