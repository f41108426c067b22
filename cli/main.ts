import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../config';
import { createLogger } from '../runtime/log';
import type { Parts } from '../runtime/system';
import { version } from '../package.json';

const HELP = `dim ${version} — Data in Motion: decides where each dataset should live and moves it there safely.

Usage: dim <command> [options]

Run dim:
  up          everything on one machine: Temporal dev server (unless TEMPORAL_ADDRESS is set),
              API and dashboard on :8080, migration worker on task queue dim-migrations,
              Kafka bridge
  api         only the REST API and dashboard (needs a Temporal: TEMPORAL_ADDRESS or a running dim up)
  worker      only the migration worker (health and metrics on :8090)
  bridge      only the Kafka bridge: access events (Kafka, or the local log without
              KAFKA_BROKERS) → usage aggregates; relays events buffered while Kafka was down

Storage:
  storage check URI [--class NAME]... [--json]
              can dim use this file://, s3:// or gs:// location? endpoint, credentials,
              bucket, list/write/read/delete of a probe object, storage classes
              (dim storage --help)

Options:
  --json      print machine-readable lines on stdout instead of the human summary
  -h, --help  this help          -v, --version  dim's version

Configuration comes from the environment (or a JSON file named by DIM_CONFIG_FILE):
  DIM_DATA_DIR=./var   DIM_API_PORT=8080   DIM_WORKER_PORT=8090   TEMPORAL_ADDRESS=host:7233
  KAFKA_BROKERS=host:9092,...   DIM_LOG_LEVEL=info   — see README.md for the full table.

Examples:
  dim up                                   # embedded default, nothing to configure
  TEMPORAL_ADDRESS=temporal:7233 dim worker  # a worker against an existing cluster
`;

const commands: Record<string, Parts> = {
  up: { devServer: true, api: true, worker: true, bridge: true },
  api: { devServer: false, api: true, worker: false, bridge: false },
  worker: { devServer: false, api: false, worker: true, bridge: false },
  bridge: { devServer: false, api: false, worker: false, bridge: true },
};

/** One line on stderr and a non-zero exit: how the CLI reports every error. */
function fail(message: string, code = 1): never {
  process.stderr.write(`dim: ${message}\n`);
  process.exit(code);
}

/** The configuration, parsed once from the environment; a bad value exits 2 with one line. */
function configOrExit(): Config {
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 2);
    throw err;
  }
}

async function run(command: string, json: boolean, config: Config): Promise<void> {
  const log = createLogger(config.logLevel, { proc: `dim ${command}` });
  const parts = commands[command]!;
  // Loaded here, not at the top: --help, --version and bad input answer without loading
  // Temporal, Express and the cloud SDKs (about two seconds).
  const { startSystem } = await import('../runtime/system');
  const system = await startSystem(config, parts, log);
  const summary = {
    event: 'ready',
    api: system.apiUrl,
    dashboard: system.apiUrl ? `${system.apiUrl}/` : undefined,
    temporal: system.temporalAddress,
    temporal_ui: system.temporalUiUrl,
    worker: system.workerUrl,
    data_dir: config.dataDir,
  };
  if (json) {
    process.stdout.write(JSON.stringify(summary) + '\n');
  } else {
    const lines = [
      `dim ${command} is running (data in ${config.dataDir})`,
      system.apiUrl && `  API          ${system.apiUrl}   (try: curl ${system.apiUrl}/health)`,
      system.apiUrl && `  Dashboard    ${system.apiUrl}/`,
      system.temporalUiUrl && `  Temporal UI  ${system.temporalUiUrl}`,
      `  Temporal     ${system.temporalAddress}`,
      system.workerUrl && `  Worker       ${system.workerUrl}/health · ${system.workerUrl}/metrics`,
      'Press Ctrl-C to stop.',
    ];
    process.stdout.write(lines.filter(Boolean).join('\n') + '\n');
  }

  let stopping = false;
  const shutdown = (why: string, code: number) => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { why });
    system.stop().then(
      () => process.exit(code),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT', 0));
  process.on('SIGTERM', () => shutdown('SIGTERM', 0));
  void system.failed.then((err) => {
    if (stopping) return;
    process.stderr.write(`dim: ${err.message}; stopping\n`);
    shutdown(err.message, 1);
  });
}

export async function main(argv: string[]): Promise<void> {
  // `dim storage ...` parses its own options (cli/commands/storage.ts).
  const first = argv.findIndex((a) => !a.startsWith('-'));
  if (argv[first] === 'storage') {
    const config = configOrExit();
    const { storageCommand } = await import('./commands/storage');
    const code = await storageCommand([...argv.slice(0, first), ...argv.slice(first + 1)], config, {
      out: (t) => process.stdout.write(t),
      err: (t) => process.stderr.write(t),
    });
    process.exit(code);
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
        json: { type: 'boolean' },
      },
    });
  } catch (err) {
    fail(`${(err as Error).message} (see dim --help)`, 2);
  }
  const { values, positionals } = parsed;
  if (values.version) {
    process.stdout.write(`${version}\n`);
    return;
  }
  const command = positionals[0];
  if (values.help || !command || command === 'help') {
    process.stdout.write(HELP);
    return;
  }
  if (!(command in commands)) fail(`unknown command "${command}" (see dim --help)`, 2);

  const config = configOrExit();
  try {
    await run(command, values.json ?? false, config);
  } catch (err) {
    fail((err as Error).message);
  }
}

if (require.main === module) {
  void main(process.argv.slice(2));
}
