import { Command, CommanderError } from 'commander';
import { ConfigError, loadConfig, type Config } from '../config';
import { createLogger } from '../runtime/log';
import type { Parts } from '../app/system';
import { version } from '../package.json';
import { STORAGE_NOTES } from './commands/storage-help';
import type { SimulateOptions } from './commands/simulate';

/** After commander's own list of commands and options: configuration and examples. */
const HELP_AFTER = `
Run dim:     up, api, worker, bridge start processes; storage check tests a location.
Drive dim:   datasets, events, recs, plan, jobs, policies and tiers call a running dim's API
             at --url (DIM_URL, default http://127.0.0.1:8080) with --key (DIM_API_KEY).
             Each prints a table, or with --json the API's JSON. dim <command> --help for more.
             train fits the usage model recommendations use (POST /train).

Exit status: 0 ok; 1 failed (one line on stderr says why); 2 bad usage or bad input.

Configuration comes from the environment (or a JSON file named by DIM_CONFIG_FILE):
  DIM_DATA_DIR=./var   DIM_API_PORT=8080   DIM_WORKER_PORT=8090   TEMPORAL_ADDRESS=host:7233
  KAFKA_BROKERS=host:9092,...   DIM_LOG_LEVEL=info   — see README.md for the full table.

Examples:
  dim up                                     # embedded default, nothing to configure
  TEMPORAL_ADDRESS=temporal:7233 dim worker  # a worker against an existing cluster
  dim datasets add logs file:///srv/data/logs && dim recs logs
  dim plan logs --to file:///srv/cold/logs --wait
`;

const STORAGE_USAGE = 'check URI [--class NAME]... [--json]';

const RUN_HELP: Record<string, { description: string; example: string }> = {
  up: {
    description:
      'everything on one machine: Temporal dev server (unless TEMPORAL_ADDRESS is set), API and dashboard on :8080, migration worker, Kafka bridge',
    example:
      'dim up\n  dim up --demo   # a living system to look at: datasets, traffic, a job to approve',
  },
  api: {
    description:
      'only the REST API and dashboard (needs a Temporal: TEMPORAL_ADDRESS or a running dim up)',
    example: 'TEMPORAL_ADDRESS=127.0.0.1:7233 dim api',
  },
  worker: {
    description: 'only the migration worker (health and metrics on :8090)',
    example: 'TEMPORAL_ADDRESS=temporal:7233 dim worker',
  },
  bridge: {
    description:
      'only the Kafka bridge: access events (Kafka, or the local log without KAFKA_BROKERS) → usage aggregates; relays events buffered while Kafka was down; health and metrics on :8091',
    example: 'KAFKA_BROKERS=127.0.0.1:9092 dim bridge',
  },
};

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

async function run(command: string, json: boolean, config: Config, demo = false): Promise<void> {
  const log = createLogger(config.logLevel, { proc: `dim ${command}` });
  const parts = commands[command]!;
  // Loaded here, not at the top: --help, --version and bad input answer without loading
  // Temporal, Express and the cloud SDKs (about two seconds).
  const { startSystem } = await import('../app/system');
  const { StartupAborted } = await import('../runtime/startup');
  // SIGTERM/SIGINT while the process still waits for its dependencies: stop cleanly, exit 0.
  const starting = new AbortController();
  const abortStart = (why: string) => {
    log.info('stopping', { why });
    starting.abort();
  };
  const onStartTerm = () => abortStart('SIGTERM');
  const onStartInt = () => abortStart('SIGINT');
  process.once('SIGTERM', onStartTerm);
  process.once('SIGINT', onStartInt);
  let system: Awaited<ReturnType<typeof startSystem>>;
  try {
    system = await startSystem(config, parts, log, starting.signal);
  } catch (err) {
    if (err instanceof StartupAborted) {
      log.info('stopped before start-up finished', { waiting_for: err.waitingFor });
      process.exit(0);
    }
    throw err;
  } finally {
    process.off('SIGTERM', onStartTerm);
    process.off('SIGINT', onStartInt);
  }
  let demoJob: string | undefined;
  if (demo && system.apiUrl) {
    const { startDemo } = await import('../demo/seed');
    const key = config.api.keys.find((k) => k.role !== 'viewer')?.secret;
    try {
      const d = await startDemo({
        apiUrl: system.apiUrl,
        apiKey: key,
        dataDir: config.dataDir,
        log,
      });
      demoJob = d.pendingJobId;
    } catch (err) {
      process.stderr.write(`dim: the demo could not be seeded: ${(err as Error).message}\n`);
    }
  }
  const summary = {
    event: 'ready',
    api: system.apiUrl,
    dashboard: system.apiUrl ? `${system.apiUrl}/` : undefined,
    temporal: system.temporalAddress,
    temporal_ui: system.temporalUiUrl,
    worker: system.workerUrl,
    bridge: system.bridgeUrl,
    data_dir: config.dataDir,
    ...(demoJob ? { demo_job_awaiting_approval: demoJob } : {}),
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
      system.bridgeUrl && `  Bridge       ${system.bridgeUrl}/health · ${system.bridgeUrl}/metrics`,
      demoJob &&
        `  Demo         6 datasets with a trickle of reads; job ${demoJob} waits for approval (dim jobs approve ${demoJob})`,
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
  const program = new Command('dim')
    .description(
      'Data in Motion: decides where each dataset should live and moves it there safely.',
    )
    .version(version, '-v, --version', "dim's version")
    .helpOption('-h, --help', 'this help')
    .option('--json', "machine-readable output on stdout (the API's own JSON for client commands)")
    .option('--url <url>', 'the dim API the client commands call (default DIM_URL)')
    .option('--key <key>', 'API key sent as Authorization: Bearer (default DIM_API_KEY)')
    .configureHelp({ showGlobalOptions: true })
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({
      // commander's own errors (unknown command or option, missing argument): one line, exit 2
      outputError: (text) => {
        const line = text
          .replace(/^error: /, '')
          .trim()
          .replace(/'([^']*)'/g, '"$1"')
          .replace(/\s*\n\s*/g, ' ');
        process.stderr.write(`dim: ${line} (see dim --help)\n`);
      },
    })
    .addHelpText('after', HELP_AFTER);

  for (const [name, what] of Object.entries(RUN_HELP)) {
    const sub = program
      .command(name)
      .description(what.description)
      .addHelpText('after', `\nExample:\n  ${what.example}`);
    if (name === 'up') {
      sub.option(
        '--demo',
        'seed a handful of datasets (real files under the data dir, across the tiers), a trickle of access events and a migration waiting for approval',
      );
    }
    sub.action(async (_opts, cmd: Command) => {
      const config = configOrExit();
      const o = cmd.optsWithGlobals<{ json?: boolean; demo?: boolean }>();
      try {
        await run(name, o.json ?? false, config, o.demo ?? false);
      } catch (err) {
        fail((err as Error).message);
      }
    });
  }

  program
    .command('storage')
    .description('check storage locations')
    .usage(STORAGE_USAGE)
    .command('check')
    .usage(STORAGE_USAGE.slice('check '.length))
    .description(
      'can dim use this file://, s3:// or gs:// location? (endpoint, credentials, bucket, list/write/read/delete of a probe, storage classes)',
    )
    .argument('<uri>', 'file:///abs/path, s3://bucket/prefix or gs://bucket/prefix')
    .option('--class <name...>', 'verify this storage class too ("all" for every class)')
    .addHelpText(
      'after',
      `\n${STORAGE_NOTES}\nExample:\n  dim storage check s3://my-bucket/dim --class GLACIER_IR`,
    )
    .action(async (uri: string, opts: { class?: string[] }, cmd: Command) => {
      const config = configOrExit();
      const { storageCommand } = await import('./commands/storage');
      const args = ['check', uri, ...(opts.class ?? []).flatMap((c) => ['--class', c])];
      if (cmd.optsWithGlobals<{ json?: boolean }>().json) args.push('--json');
      process.exitCode = await storageCommand(args, config, {
        out: (t) => process.stdout.write(t),
        err: (t) => process.stderr.write(t),
      });
    });

  program
    .command('simulate')
    .description(
      "replay a trace (datasets and access events as JSON lines) through dim's placement policy, baselines and the offline optimum, and print each one's costs",
    )
    .option(
      '--datasets <file>',
      'JSON lines: id, name, size_bytes, object_count, latency_slo_ms, current_tier, policy',
    )
    .option('--events <file>', 'JSON lines in the access_events shape, ts in ms, in time order')
    .option(
      '--tiers <file>',
      'the tier table as GET /tiers returns it (default: the embedded tiers)',
    )
    .option('--policies <file>', 'policies as GET /policies returns them')
    .option('--step <duration>', 'the decision step: 1h, 30m, 1d...', '1h')
    .option('--heuristic', 'the dim strategy without a trained model (as before any dim train)')
    .option('--retrain <duration>', 'how often the simulated model is retrained', '1d')
    .option(
      '--generate <dir>',
      'write a synthetic trace to DIR instead (datasets.jsonl, events.jsonl, policies.json)',
    )
    .option('--seed <n>', 'with --generate: the random seed', '1')
    .option('--count <n>', 'with --generate: how many datasets', '1000')
    .option('--days <n>', 'with --generate: how many days', '30')
    .option(
      '--mix <weights>',
      'with --generate: pattern weights, e.g. hot=2,diurnal=10,weekly=15,cooling=20,archive=38,bursts=15',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  dim simulate --generate /tmp/trace --count 1000 --seed 7\n  dim simulate --datasets /tmp/trace/datasets.jsonl --events /tmp/trace/events.jsonl --policies /tmp/trace/policies.json',
    )
    .action(async (opts: SimulateOptions, cmd: Command) => {
      const config = configOrExit();
      const { simulateCommand } = await import('./commands/simulate');
      const json = cmd.optsWithGlobals<{ json?: boolean }>().json ?? false;
      process.exitCode = await simulateCommand({ ...opts, json }, config.dataDir, {
        out: (t) => process.stdout.write(t),
        err: (t) => process.stderr.write(t),
      });
    });

  const { addClientCommands } = await import('./commands/api');
  addClientCommands(program, configOrExit, {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    tty: process.stdout.isTTY === true,
  });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0
      process.exit(err.exitCode === 0 ? 0 : 2);
    }
    const { CliError } = await import('./client');
    if (err instanceof CliError) fail(err.message, err.code);
    fail((err as Error).message);
  }
}

if (require.main === module) {
  void main(process.argv.slice(2));
}
