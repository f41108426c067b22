// @ts-check
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

// Workflow code runs in Temporal's deterministic sandbox: no Node built-ins, no I/O
// libraries, none of our own I/O folders. Activities are imported as types only.
const ioModules = [
  'kafkajs',
  'better-sqlite3',
  'express',
  '@aws-sdk/*',
  '@google-cloud/*',
  '@temporalio/client',
  '@temporalio/worker',
  '@temporalio/activity',
];
const ownIoFolders = [
  'api',
  'app',
  'store',
  'storage',
  'events',
  'workers',
  'cli',
  'runtime',
  'config',
  'migrations',
  'sweep',
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'var/**', 'coverage/**', '**/*.js', '**/*.mjs'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/only-throw-error': 'error',
    },
  },
  {
    // Tests read arbitrary JSON answers; the unsafe-any rules only add noise there.
    files: ['**/*.test.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['workflows/**/*.ts'],
    ignores: ['workflows/**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: builtinModules
            .flatMap((m) => [m, `node:${m}`])
            .map((name) => ({
              name,
              message: 'workflow code is deterministic: no Node built-ins',
            })),
          patterns: [
            {
              group: ioModules,
              message: 'workflow code is deterministic: no I/O libraries',
            },
            {
              group: ownIoFolders.flatMap((f) => [`../${f}`, `../${f}/*`, `../../${f}/*`]),
              allowTypeImports: true,
              message: 'workflow code may import our I/O folders as types only',
            },
            {
              group: ['../activities', '../activities/*'],
              allowTypeImports: true,
              message:
                "import activities as types only: import type * as activities from '../activities'",
            },
          ],
        },
      ],
    },
  },
);
