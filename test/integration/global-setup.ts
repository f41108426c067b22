import { execFileSync } from 'node:child_process';
import path from 'node:path';

/**
 * Integration tests run against real servers: make sure dev/services has them up
 * (idempotent; `npm test` has usually started them already).
 */
export default function globalSetup(): void {
  const root = path.resolve(__dirname, '..', '..');
  execFileSync(
    path.join(root, 'dev', 'services'),
    ['start', 'temporal', 'kafka', 's3', 'gcs', 'postgres'],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
}
