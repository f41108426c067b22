import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import {
  dimBin,
  freePort,
  pidsMatching,
  repoRoot,
  spawnDim,
  startDim,
  tempDir,
} from '../support/dim-process';
import { openTcpProxy, type TcpProxy } from '../support/tcp-proxy';
import { waitFor } from '../support/telemetry';

/** `dim up` on the embedded default: its own Temporal dev server, API, worker; clean stop. */
jest.setTimeout(180_000);

async function ports() {
  return {
    DIM_API_PORT: String(await freePort()),
    DIM_WORKER_PORT: String(await freePort()),
    DIM_TEMPORAL_PORT: String(await freePort()),
    DIM_TEMPORAL_UI_PORT: String(await freePort()),
  };
}

describe('dim up', () => {
  const dataDir = tempDir('up');

  it('starts everything, answers /health, serves the Temporal Web UI, and stops cleanly on SIGINT', async () => {
    const env = { DIM_DATA_DIR: dataDir, ...(await ports()) };
    const dim = await startDim('up', env);
    try {
      expect(dim.ready.api).toBe(`http://127.0.0.1:${env.DIM_API_PORT}`);
      expect(dim.ready.temporal_ui).toBe(`http://127.0.0.1:${env.DIM_TEMPORAL_UI_PORT}`);

      const health = await fetch(`${dim.ready.api}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({
        status: 'ok',
        temporal: 'ok',
        worker: 'ok',
        database: 'ok',
      });

      const ui = await fetch(dim.ready.temporal_ui!);
      expect(ui.status).toBe(200);

      const workerHealth = await fetch(`${dim.ready.worker}/health`);
      expect(await workerHealth.json()).toEqual({ status: 'ok', worker: 'running' });

      const page = await fetch(`${dim.ready.api}/`);
      expect(await page.text()).toContain('dim');
      expect(existsSync(path.join(dataDir, 'temporal', 'temporal.db'))).toBe(true);
      expect(await pidsMatching(`--port ${env.DIM_TEMPORAL_PORT}`)).not.toHaveLength(0);
    } finally {
      dim.child.kill('SIGINT');
    }
    expect(await dim.exited).toBe(0);
    // No orphan: the dev server went with it.
    expect(await pidsMatching(`--port ${env.DIM_TEMPORAL_PORT}`)).toHaveLength(0);

    // A second `dim up` on the same data dir works (no stale locks) and keeps the history.
    const again = await startDim('up', env);
    const h = await fetch(`${again.ready.api}/health`);
    expect(h.status).toBe(200);
    again.child.kill('SIGTERM');
    expect(await again.exited).toBe(0);
    expect(await pidsMatching(`--port ${env.DIM_TEMPORAL_PORT}`)).toHaveLength(0);
  });

  it('leaves no Temporal dev server behind when it is killed with SIGKILL', async () => {
    const env = { DIM_DATA_DIR: tempDir('up-kill'), ...(await ports()) };
    const dim = await startDim('up', env);
    expect(await pidsMatching(`--port ${env.DIM_TEMPORAL_PORT}`)).not.toHaveLength(0);
    dim.child.kill('SIGKILL');
    await dim.exited;
    const deadline = Date.now() + 15_000;
    while (
      Date.now() < deadline &&
      (await pidsMatching(`--port ${env.DIM_TEMPORAL_PORT}`)).length > 0
    ) {
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(await pidsMatching(`--port ${env.DIM_TEMPORAL_PORT}`)).toHaveLength(0);
  });

  it('uses an existing Temporal when TEMPORAL_ADDRESS is set (no dev server of its own)', async () => {
    const env = {
      DIM_DATA_DIR: tempDir('up-external'),
      TEMPORAL_ADDRESS: '127.0.0.1:7233', // dev/services' server
      ...(await ports()),
    };
    const dim = await startDim('up', env);
    try {
      expect(dim.ready.temporal).toBe('127.0.0.1:7233');
      expect(dim.ready.temporal_ui).toBeUndefined();
      expect(await pidsMatching(`--port ${env.DIM_TEMPORAL_PORT}`)).toHaveLength(0);
      expect((await fetch(`${dim.ready.api}/health`)).status).toBe(200);
    } finally {
      dim.child.kill('SIGTERM');
    }
    expect(await dim.exited).toBe(0);
  });

  it('registers the placement sweep schedule; a second dim up updates it, never adds another', async () => {
    const connection = await Connection.connect({ address: '127.0.0.1:7233' });
    const client = new Client({ connection });
    const queue = `up-sweep-${randomUUID()}`;
    const scheduleId = `dim-placement-sweep-${queue}`;
    try {
      for (const interval of ['600', '0']) {
        const dim = await startDim('up', {
          DIM_DATA_DIR: tempDir('up-sweep'),
          TEMPORAL_ADDRESS: '127.0.0.1:7233',
          DIM_TASK_QUEUE: queue,
          DIM_SWEEP_INTERVAL_S: interval,
          DIM_SWEEP_SCHEDULE_ID: scheduleId,
          ...(await ports()),
        });
        try {
          const desc = await client.schedule.getHandle(scheduleId).describe();
          expect(desc.action).toMatchObject({ workflowType: 'placementSweep', taskQueue: queue });
          // 0: paused, the interval left as it was.
          expect(desc.spec.intervals).toMatchObject([{ every: 600_000 }]);
          expect(desc.state.paused).toBe(interval === '0');
        } finally {
          dim.child.kill('SIGTERM');
        }
        expect(await dim.exited).toBe(0);
      }
      let n = 0;
      for await (const s of client.schedule.list()) if (s.scheduleId === scheduleId) n++;
      expect(n).toBe(1);
    } finally {
      await connection.close();
    }
  });

  it('waits for a Temporal not up yet, then reports it down with 503 when it goes away', async () => {
    const temporalPort = await freePort(); // nothing listens there yet
    const url = `http://127.0.0.1:${await freePort()}`;
    const dim = spawnDim('api', {
      DIM_DATA_DIR: tempDir('api-down'),
      TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
      DIM_API_PORT: new URL(url).port,
    });
    let proxy: TcpProxy | undefined;
    try {
      // Starting: /health names what it waits for; the routes answer already.
      let body: Record<string, unknown> = {};
      await waitFor('the API to say it waits for temporal', async () => {
        const res = await fetch(`${url}/health`).catch(() => undefined);
        body = res ? ((await res.json()) as Record<string, unknown>) : {};
        return res?.status === 503;
      });
      expect(body).toMatchObject({ status: 'starting', waiting_for: ['temporal'] });
      expect((await fetch(`${url}/datasets`)).status).toBe(200);
      // Temporal appears (a proxy to the real one): started; then it goes away: degraded.
      proxy = await openTcpProxy(temporalPort, { host: '127.0.0.1', port: 7233 });
      expect(await dim.ready).toMatchObject({ api: url });
      expect((await fetch(`${url}/health`)).status).toBe(200);
      await proxy.close();
      proxy = undefined;
      await waitFor('the API to report temporal down', async () => {
        const res = await fetch(`${url}/health`);
        body = (await res.json()) as Record<string, unknown>;
        return res.status === 503;
      });
      expect(body).toMatchObject({ status: 'degraded', temporal: 'down', database: 'ok' });
      expect(body.errors).toHaveProperty('temporal');
    } finally {
      await proxy?.close();
      dim.child.kill('SIGTERM');
    }
    expect(await dim.exited).toBe(0);
  });
});

describe('dim CLI', () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [dimBin, ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });

  it('--help teaches the commands and configuration', () => {
    const r = run(['--help']);
    expect(r.status).toBe(0);
    for (const word of ['dim up', 'api', 'worker', 'TEMPORAL_ADDRESS', 'Examples'])
      expect(r.stdout).toContain(word);
  });

  it('--version prints the package version', () => {
    const r = run(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('an unknown command is one line and exit 2', () => {
    const r = run(['frobnicate']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe('dim: unknown command "frobnicate" (see dim --help)');
  });

  it('a bad configuration value stops start-up with one line naming the variable', () => {
    const r = run(['up'], { DIM_API_PORT: 'eighty' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^dim: invalid configuration: DIM_API_PORT must be a number/);
  });
});
