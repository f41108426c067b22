// Two projects, as in STYLE.md: `unit` (pure logic and in-process code, tests beside the
// code) and `integration` (test/integration/**, against the real servers that
// dev/services starts; its global setup starts them).
const transform = { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] };
const common = {
  transform,
  testEnvironment: 'node',
  moduleFileExtensions: ['ts', 'js', 'json'],
  modulePathIgnorePatterns: ['<rootDir>/dist/', '<rootDir>/var/'],
};

// `unit-pg`: the tests that touch the store, again on PostgreSQL (test/support/store.ts
// gives each test file a schema of its own in this database). DIM_TEST_DATABASE_URL
// points it elsewhere; the default is dev/services' postgres, which its global setup starts.
const testDatabaseUrl =
  process.env.DIM_TEST_DATABASE_URL || 'postgres://dim:dim@127.0.0.1:5432/dim';
const onPostgres = [
  'store/access.test.ts',
  'store/jobs.test.ts',
  'store/leases.test.ts',
  'store/models.test.ts',
  'store/overlap.test.ts',
  'store/recommendations.test.ts',
  'store/db.test.ts',
  'store/retention.test.ts',
  'events/local-log.test.ts',
  'events/kafka.test.ts',
  'api/auth.test.ts',
  'api/bad-input.test.ts',
  'api/fast-ingest.test.ts',
  'api/idempotency.test.ts',
  'api/routes/access-events.test.ts',
  'api/routes/datasets.test.ts',
  'api/routes/models.test.ts',
  'api/routes/overview.test.ts',
  'api/routes/plan-dry-run.test.ts',
  'api/routes/policies.test.ts',
  'api/routes/recommendations.test.ts',
  'api/routes/tiers.test.ts',
];
// The integration tests whose harness (test/support/migration.ts) holds the store: the
// migration workflow's switch, retire and overlap rules against Temporal, on PostgreSQL.
const onPostgresIntegration = [
  'test/integration/migration.test.ts',
  'test/integration/migration-safety.test.ts',
  'test/integration/overlap.test.ts',
  'test/integration/migration-policy.test.ts',
  'test/integration/sweep.test.ts',
  'test/integration/kafka-outbox.test.ts',
  'test/integration/quickstart.test.ts',
];

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/integration/', '<rootDir>/dist/'],
    },
    {
      ...common,
      displayName: 'unit-pg',
      testMatch: onPostgres.map((f) => `<rootDir>/${f}`),
      globals: { DIM_TEST_DATABASE_URL: testDatabaseUrl },
      globalSetup: '<rootDir>/test/support/postgres-global-setup.ts',
    },
    {
      ...common,
      displayName: 'integration-pg',
      testMatch: onPostgresIntegration.map((f) => `<rootDir>/${f}`),
      globals: { DIM_TEST_DATABASE_URL: testDatabaseUrl },
      globalSetup: '<rootDir>/test/integration/global-setup.ts',
      slowTestThreshold: 60,
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/integration/global-setup.ts',
      slowTestThreshold: 60,
    },
  ],
};
