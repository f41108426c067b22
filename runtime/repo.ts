import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * The folder dim is installed in (the checkout, or the npm package), found from this file
 * whether it runs from source (`runtime/`) or compiled (`dist/runtime/`).
 */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'dev'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find dim's package root above ${__dirname}`);
    dir = up;
  }
}
