import { spawnSync } from 'node:child_process';
import path from 'node:path';

/**
 * The repository's static checks, so that `npm test` (and CI) fails when they do:
 * the TypeScript type check, ESLint (including the rule that keeps workflows/ free of
 * I/O) and Prettier. The same commands as `npm run typecheck` and `npm run lint`.
 */
jest.setTimeout(300_000);

const root = path.resolve(__dirname, '..', '..');
const bin = (pkg: string, file: string) => path.join(root, 'node_modules', pkg, file);

function check(args: string[]) {
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
  return { code: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

it('type-checks (tsc --noEmit)', () => {
  const r = check([bin('typescript', 'bin/tsc'), '--noEmit', '-p', 'tsconfig.json']);
  expect(r.output).toBe('');
  expect(r.code).toBe(0);
});

it('type-checks the dashboard (tsc -p web/tsconfig.json: DOM, no Node)', () => {
  const r = check([bin('typescript', 'bin/tsc'), '-p', path.join('web', 'tsconfig.json')]);
  expect(r.output).toBe('');
  expect(r.code).toBe(0);
});

it('lints clean (eslint)', () => {
  const r = check([bin('eslint', 'bin/eslint.js'), '.', '--max-warnings', '0']);
  expect(r.output).toBe('');
  expect(r.code).toBe(0);
});

it('is formatted (prettier --check)', () => {
  const r = check([bin('prettier', 'bin/prettier.cjs'), '--check', '--log-level', 'warn', '.']);
  expect(r.output).toBe('');
  expect(r.code).toBe(0);
});
