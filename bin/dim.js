#!/usr/bin/env node
'use strict';
// The `dim` command. Runs the compiled CLI; in a checkout that was never built, builds it first.
const { existsSync } = require('node:fs');
const { spawnSync } = require('node:child_process');
const path = require('node:path');

// The AWS SDK warns on every run that its releases after January 2027 will need Node 22;
// that is news for dim's dependency updates, not for operators (dim supports Node 20).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const root = path.resolve(__dirname, '..');
const entry = path.join(root, 'dist', 'cli', 'main.js');
if (!existsSync(entry)) {
  process.stderr.write('dim: first run in this checkout, building (npm run build)…\n');
  const r = spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(
      'dim: the build failed; run `npm install && npm run build` and read its errors\n',
    );
    process.exit(1);
  }
}
require(entry)
  .main(process.argv.slice(2))
  .catch((err) => {
    process.stderr.write(`dim: ${err && err.message ? err.message : String(err)}\n`);
    process.exit(1);
  });
