import { execFileSync } from 'node:child_process';
import path from 'node:path';

/** The unit-pg project's global setup: dev/services' PostgreSQL is up (idempotent). */
export default function globalSetup(): void {
  const root = path.resolve(__dirname, '..', '..');
  execFileSync(path.join(root, 'dev', 'services'), ['start', 'postgres'], {
    cwd: root,
    stdio: 'inherit',
  });
}
