import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';

const { echo } = proxyActivities<Activities>({ startToCloseTimeout: '10 seconds' });

/** A round trip through Temporal and a worker: `dim up` runs it once to prove the wiring. */
export async function ping(message: string): Promise<string> {
  return `pong: ${await echo(message)}`;
}
