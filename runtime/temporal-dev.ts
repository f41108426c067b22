import { execFile } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { grpc } from '@temporalio/proto';
import temporalConfig from '../temporal-config/search-attributes.json';
import { startSupervised, type Supervised } from './child';
import type { Logger } from './log';
import { isPortOpen, sleep } from './ports';
import { packageRoot } from './repo';

/**
 * The Temporal CLI's dev server as a child of `dim up`: its own SQLite file under the data
 * dir (so workflows survive restarts), the Web UI, dim's namespace and search attributes.
 * The binary is found or built by the same logic as `dev/services` (it asks that script).
 */

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Finds the `temporal` binary: the configured path, PATH, the tools dir, else builds it. */
export async function resolveTemporalBinary(opts: {
  configured: string | undefined;
  toolsDir: string;
  pathEnv: string | undefined;
}): Promise<string> {
  if (opts.configured) {
    if (!executable(opts.configured)) {
      throw new Error(`DIM_TEMPORAL_BIN ${opts.configured} is not an executable file`);
    }
    return opts.configured;
  }
  const candidates = [
    ...(opts.pathEnv ?? '')
      .split(path.delimiter)
      .filter(Boolean)
      .map((d) => path.join(d, 'temporal')),
    path.join(opts.toolsDir, 'bin', 'temporal'),
  ];
  const found = candidates.find(executable);
  if (found) return found;
  const script = path.join(packageRoot(), 'dev', 'services');
  const { stdout } = await promisify(execFile)(script, ['path', 'temporal'], {
    env: { ...process.env, DIM_TOOLS_DIR: opts.toolsDir },
    maxBuffer: 1 << 20,
  });
  return stdout.trim();
}

export function devServerArgs(opts: {
  port: number;
  uiPort: number;
  dbFile: string;
  namespace: string;
}): string[] {
  const attrs = Object.entries(temporalConfig.searchAttributes).flatMap(([name, type]) => [
    '--search-attribute',
    `${name}=${type}`,
  ]);
  return [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(opts.port),
    '--ui-port',
    String(opts.uiPort),
    '--db-filename',
    opts.dbFile,
    '--namespace',
    opts.namespace,
    '--sqlite-pragma',
    'journal_mode=wal',
    '--sqlite-pragma',
    'synchronous=normal',
    '--log-level',
    'warn',
    ...attrs,
  ];
}

const { ServingStatus } = grpc.health.v1.HealthCheckResponse;

/** Resolves once the frontend answers a health check, or rejects after `timeoutMs`. */
export async function waitForTemporal(
  address: string,
  timeoutMs: number,
  gone?: Promise<unknown>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void gone?.then(() => (exited = true));
  let last = 'not reachable';
  while (Date.now() < deadline && !exited) {
    try {
      const connection = await Connection.connect({ address, connectTimeout: 2000 });
      try {
        const res = await connection.healthService.check({});
        if (res.status === ServingStatus.SERVING) return;
        last = `health status ${String(res.status)}`;
      } finally {
        await connection.close();
      }
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(250);
  }
  throw new Error(
    exited
      ? 'the Temporal dev server exited during start-up'
      : `Temporal at ${address} is not healthy after ${timeoutMs} ms: ${last}`,
  );
}

export interface DevServer {
  address: string;
  uiUrl: string;
  process: Supervised;
}

export async function startTemporalDevServer(opts: {
  bin: string;
  port: number;
  uiPort: number;
  dbFile: string;
  namespace: string;
  logFile: string;
  log: Logger;
}): Promise<DevServer> {
  for (const port of [opts.port, opts.uiPort]) {
    if (await isPortOpen(port)) {
      throw new Error(
        `port ${port} on 127.0.0.1 is already in use: stop what holds it (dev/services stop temporal?), ` +
          `or use that server with TEMPORAL_ADDRESS=127.0.0.1:${opts.port}, or pick DIM_TEMPORAL_PORT / DIM_TEMPORAL_UI_PORT`,
      );
    }
  }
  mkdirSync(path.dirname(opts.dbFile), { recursive: true });
  const address = `127.0.0.1:${opts.port}`;
  opts.log.info('starting the Temporal dev server', { bin: opts.bin, address, db: opts.dbFile });
  const child = startSupervised(opts.bin, devServerArgs(opts), opts.logFile);
  try {
    await waitForTemporal(address, 60_000, child.exited);
  } catch (err) {
    await child.stop();
    throw new Error(`${(err as Error).message} (see ${opts.logFile})`);
  }
  return { address, uiUrl: `http://127.0.0.1:${opts.uiPort}`, process: child };
}
