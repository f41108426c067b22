import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { silentLogger } from '../../runtime/log';
import { ping } from '../../workflows/ping';
import { startMigrationWorker, type RunningWorker } from '../../workers/migration-worker';

/** A workflow through the real Temporal dev server (dev/services) and our worker. */
jest.setTimeout(120_000);

describe('workflow round trip', () => {
  const taskQueue = `roundtrip-${randomUUID()}`;
  let worker: RunningWorker;
  let connection: Connection;

  beforeAll(async () => {
    worker = await startMigrationWorker({
      address: '127.0.0.1:7233',
      namespace: 'default',
      taskQueue,
      deps: { log: silentLogger },
      log: silentLogger,
      compileWorkflows: true,
    });
    connection = await Connection.connect({ address: '127.0.0.1:7233' });
  });

  afterAll(async () => {
    await worker?.stop();
    await connection?.close();
  });

  it('runs the ping workflow and its activity', async () => {
    const client = new Client({ connection });
    const handle = await client.workflow.start(ping, {
      taskQueue,
      workflowId: `ping-${randomUUID()}`,
      args: ['round trip'],
    });
    expect(await handle.result()).toBe('pong: round trip');
    const history = await handle.fetchHistory();
    const types = history.events?.map((e) => e.eventType) ?? [];
    expect(types.length).toBeGreaterThan(5); // scheduled, started, activity, completed...
  });
});
