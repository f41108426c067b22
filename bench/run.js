'use strict';
// Runs a TypeScript benchmark without a build: `node bench/run.js placement [args]`.
// Compiles each required .ts file with @swc/core (already a dev dependency, used by jest).
const path = require('node:path');
const { readFileSync } = require('node:fs');
const { transformSync } = require('@swc/core');

require.extensions['.ts'] = (module, filename) => {
  const { code } = transformSync(readFileSync(filename, 'utf8'), {
    filename,
    module: { type: 'commonjs' },
    jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
    sourceMaps: 'inline',
  });
  module._compile(code, filename);
};

const name = process.argv[2];
if (!name) {
  process.stderr.write('usage: node bench/run.js <benchmark> [args]   e.g. placement\n');
  process.exit(2);
}
const mod = require(path.join(__dirname, `${name}.ts`));
Promise.resolve(mod.main(process.argv.slice(3))).catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
