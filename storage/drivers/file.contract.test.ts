import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runDriverContract } from '../../test/support/storage-contract';
import { FileDriver } from './file';

/**
 * The storage driver contract for file://, every capability included, on a temporary
 * directory: no server needed, so it runs in the unit project (s3 and gs run it in
 * test/integration/storage-contract.test.ts).
 */
const MiB = 1024 * 1024;
const PART = 5 * MiB;

const base = realpathSync(mkdtempSync(path.join(tmpdir(), 'dim-file-contract-')));
const fileRoot = path.join(base, 'root');
const outside = path.join(base, 'outside');
mkdirSync(fileRoot, { recursive: true });
mkdirSync(outside, { recursive: true });

afterAll(() => rmSync(base, { recursive: true, force: true }));

runDriverContract(
  'file',
  // fsync on, as a worker runs it; checkpoints of resumable writes every part.
  () => new FileDriver({ roots: [fileRoot], checkpointBytes: PART }),
  (label) => `file://${fileRoot}/${label}`,
  {
    capabilities: [
      'writeResumable',
      'discardUnfinishedWrites',
      'openRandomAccess',
      'bulk',
      'resolveRoot',
      'createRoot',
      'removeRootIfEmpty',
    ],
    partSize: PART,
    escapeUris: () => {
      symlinkSync(outside, path.join(fileRoot, 'escape-link'));
      return [
        `file://${outside}/ds`,
        `file://${fileRoot}/../outside/ds`,
        `file://${fileRoot}/escape-link/ds`,
        'file:///etc',
      ];
    },
  },
);
