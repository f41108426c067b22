import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';

/**
 * Replays saved histories of real migrations (test/fixtures/histories, recorded on the dev
 * server by the integration tests with DIM_SAVE_HISTORIES=1) against today's workflow
 * code. A change that would break running migrations fails here: change running logic
 * only behind `patched('id')`.
 */
jest.setTimeout(120_000);

const dir = path.resolve(__dirname, '..', 'test', 'fixtures', 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

/**
 * `temporal workflow show -o json` → History. @temporalio/common's historyFromJSON fails in
 * this install ("type must be a Type"): npm nests one protobufjs copy under
 * @temporalio/common and another under @temporalio/proto, and its parser comes from the
 * first while the types come from the second. The parser from @temporalio/proto's own
 * copy reads the same JSON.
 */
function loadHistory(file: string): temporal.api.history.v1.History {
  const protoDir = path.dirname(require.resolve('@temporalio/proto/package.json'));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { fromJson } = require(
    require.resolve('protobufjs/ext/protojson', { paths: [protoDir] }),
  ) as {
    fromJson: (type: unknown, json: unknown, opts: { ignoreUnknownFields: boolean }) => unknown;
  };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { patchProtobufRoot } = require('@temporalio/proto/lib/patch-protobuf-root') as {
    patchProtobufRoot: (root: unknown) => { lookupType(name: string): unknown };
  };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const root = require('@temporalio/proto') as unknown;
  const type = patchProtobufRoot(root).lookupType('temporal.api.history.v1.History');
  return fromJson(type, JSON.parse(readFileSync(file, 'utf8')), {
    ignoreUnknownFields: true,
  }) as temporal.api.history.v1.History;
}

test('there are saved histories to replay', () => {
  expect(files.length).toBeGreaterThanOrEqual(5);
});

test('every saved migration history replays without non-determinism', async () => {
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('./index'),
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} },
  });
  const histories = files.map((f) => ({
    workflowId: f.replace(/\.json$/, ''),
    history: loadHistory(path.join(dir, f)),
  }));
  const results = [];
  for await (const r of Worker.runReplayHistories({ workflowBundle: { code } }, histories)) {
    results.push({ workflowId: r.workflowId, error: r.error ? String(r.error) : undefined });
  }
  expect(results).toEqual(histories.map((h) => ({ workflowId: h.workflowId, error: undefined })));
});
