'use strict';
// `npm start` and `npm test` on a fresh clone, with Node built-ins only: install what is
// missing, build what is stale, then run dim (start) or every test (test).
const {
  existsSync,
  statSync,
  readdirSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
} = require('node:fs');
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const say = (msg) => process.stderr.write(`[dim] ${msg}\n`);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

function newest(dir, skip = new Set(['node_modules', 'dist', 'var', '.git', 'coverage'])) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (skip.has(e.name)) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p, skip));
    else if (/\.(ts|json|html|css)$/.test(e.name)) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

function ensureInstalled() {
  const marker = path.join(root, 'node_modules', '.package-lock.json');
  const lock = path.join(root, 'package-lock.json');
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  say('installing dependencies (npm ci; better-sqlite3 compiles from source, 1-3 minutes)…');
  const env = { ...process.env };
  // better-sqlite3 builds from source: point node-gyp at the installed Node headers.
  if (!env.npm_config_nodedir && existsSync('/usr/include/node/node.h'))
    env.npm_config_nodedir = '/usr';
  if (run('npm', ['ci', '--no-audit', '--no-fund'], { env }) !== 0) {
    say('npm ci failed: read the errors above (a C++ toolchain is needed for better-sqlite3)');
    process.exit(1);
  }
}

function ensureBuilt() {
  const stamp = path.join(root, 'dist', '.build-stamp');
  const web = path.join(root, 'dist', 'web', 'index.html');
  if (existsSync(stamp) && existsSync(web) && statSync(stamp).mtimeMs >= newest(root)) return;
  say('building (tsc + workflow bundle + dashboard)…');
  if (run('npm', ['run', '--silent', 'build']) !== 0) {
    say('the build failed: see the TypeScript errors above');
    process.exit(1);
  }
  writeFileSync(stamp, new Date().toISOString() + '\n');
}

function servicesStatus() {
  const r = spawnSync(path.join(root, 'dev', 'services'), ['status'], {
    cwd: root,
    encoding: 'utf8',
  });
  return new Set(
    (r.stdout || '')
      .split('\n')
      .filter((l) => /: running/.test(l))
      .map((l) => l.split(':')[0].trim()),
  );
}

function summarize(resultsFile) {
  if (!existsSync(resultsFile)) return { line: '0 passed, 1 failed', failed: 1 };
  const r = JSON.parse(readFileSync(resultsFile, 'utf8'));
  const failed = r.numFailedTests + r.numRuntimeErrorTestSuites;
  const skipped = r.numPendingTests + r.numTodoTests;
  return {
    line: `${r.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`,
    failed,
  };
}

function test(args) {
  ensureInstalled();
  ensureBuilt();
  // postgres: the unit-pg project runs the store's tests on PostgreSQL too.
  const all = ['temporal', 'kafka', 's3', 'gcs', 'postgres'];
  const before = servicesStatus();
  say(
    'starting local services (first run builds them: Temporal CLI, MinIO, fake-gcs-server, Kafka jars, PostgreSQL from apt)…',
  );
  if (run(path.join(root, 'dev', 'services'), ['start', ...all]) !== 0) {
    say('dev/services could not start every service: see above');
    process.exit(1);
  }
  mkdirSync(path.join(root, 'var'), { recursive: true });
  const resultsFile = path.join(root, 'var', 'test-results.json');
  const jest = path.join(root, 'node_modules', 'jest', 'bin', 'jest.js');
  const code = run(process.execPath, [
    jest,
    '--runInBand',
    '--forceExit',
    '--json',
    `--outputFile=${resultsFile}`,
    ...args,
  ]);
  const started = all.filter((s) => !before.has(s));
  if (started.length && !process.env.DIM_KEEP_SERVICES) {
    say(
      `stopping the services this run started (${started.join(' ')}; DIM_KEEP_SERVICES=1 keeps them)`,
    );
    run(path.join(root, 'dev', 'services'), ['stop', ...started]);
  }
  const { line, failed } = summarize(resultsFile);
  writeFileSync(path.join(root, 'var', 'test-summary.txt'), `${line}\n`);
  process.stdout.write(`${line}\n`);
  process.exit(code !== 0 || failed > 0 ? 1 : 0);
}

function start(args) {
  ensureInstalled();
  ensureBuilt();
  require(path.join(root, 'dist', 'cli', 'main.js'))
    // `npm start` runs `dim up`; `npm start -- --demo` passes its options to it.
    .main(args.length && !args[0].startsWith('-') ? args : ['up', ...args])
    .catch((err) => {
      process.stderr.write(`dim: ${err.message}\n`);
      process.exit(1);
    });
}

const [cmd, ...rest] = process.argv.slice(2);
if (cmd === 'test') test(rest);
else if (cmd === 'start') start(rest);
else {
  say('usage: node scripts/bootstrap.js start|test [args]');
  process.exit(2);
}
