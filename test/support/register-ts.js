'use strict';
// A require hook that compiles TypeScript on the fly with @swc/core (already a dev
// dependency for jest), so tests and benchmarks can run .ts entry points in child
// processes without a build: node -r ./test/support/register-ts.js some/file.ts
const { readFileSync } = require('node:fs');
const Module = require('node:module');
const swc = require('@swc/core');

const compile = (source, filename) =>
  swc.transformSync(source, {
    filename,
    sourceMaps: 'inline',
    module: { type: 'commonjs' },
    jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
  }).code;

Module._extensions['.ts'] = function (module, filename) {
  module._compile(compile(readFileSync(filename, 'utf8'), filename), filename);
};
