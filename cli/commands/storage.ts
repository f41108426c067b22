import { parseArgs } from 'node:util';
import type { Config } from '../../config';
import { DimError } from '../../errors';
import { createStorage } from '../../storage';
import { CHECK_STEPS, checkStorage, type StorageCheckReport } from '../../storage/check';
import { STORAGE_HELP } from './storage-help';

export { STORAGE_HELP };

export interface CommandIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** One line per check, then the storage classes: the human summary of a passed check. */
export function formatReport(r: StorageCheckReport): string {
  const lines = [`dim storage check ${r.uri}: ${r.ok ? 'ok' : 'FAILED'} (${r.endpoint})`];
  for (const step of CHECK_STEPS) {
    const c = r.checks[step];
    const ms = c.ms !== undefined ? `  ${c.ms} ms` : '';
    lines.push(`  ${step.padEnd(13)}${c.status.padEnd(8)}${c.detail}${ms}`);
  }
  const sc = r.storage_classes;
  if (r.scheme === 'file') {
    lines.push('  classes      file:// has no storage classes (a tier’s storage_class is ignored)');
  } else {
    lines.push(
      `  classes      default ${sc.default ?? 'unknown'}; verified ${sc.verified.join(', ') || 'none'}`,
    );
    for (const c of sc.results) {
      if (c.status === 'refused' || c.status === 'mismatch') {
        lines.push(`               ${c.class} ${c.status}: ${c.detail ?? ''}`);
      }
    }
    const notTried = sc.results.filter((c) => c.status === 'not_tried').map((c) => c.class);
    if (notTried.length) {
      lines.push(
        `               not tried: ${notTried.join(', ')} (verify with --class NAME or --class all)`,
      );
    }
  }
  return lines.join('\n') + '\n';
}

/** `dim storage <subcommand> ...`. Resolves the exit code. */
export async function storageCommand(
  argv: string[],
  config: Config,
  io: CommandIo,
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: 'boolean' },
        class: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    io.err(`dim: ${(err as Error).message} (see dim storage --help)\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [sub, uri, ...rest] = positionals;
  if (values.help || sub === undefined || sub === 'help') {
    io.out(STORAGE_HELP);
    return 0;
  }
  if (sub !== 'check') {
    io.err(`dim: unknown command "storage ${sub}" (see dim storage --help)\n`);
    return 2;
  }
  if (uri === undefined || rest.length > 0) {
    io.err('dim: storage check takes one storage URI, e.g. dim storage check s3://bucket/prefix\n');
    return 2;
  }
  const classes = values.class?.some((c) => c.toLowerCase() === 'all') ? 'all' : values.class;
  const storage = createStorage(config.storage);
  let report: StorageCheckReport;
  try {
    report = await checkStorage(uri, {
      storage,
      config: config.storage,
      ...(classes ? { classes } : {}),
    });
  } catch (err) {
    // Only bad input throws: a malformed URI or an unknown storage class.
    io.err(`dim: ${(err as Error).message}\n`);
    return err instanceof DimError && err.status < 500 ? 2 : 1;
  } finally {
    await storage.close().catch(() => undefined);
  }
  if (values.json) io.out(JSON.stringify(report) + '\n');
  if (report.error) {
    io.err(`dim: storage check ${uri}: ${report.error.message}; ${report.error.hint}\n`);
    return 1;
  }
  if (!values.json) io.out(formatReport(report));
  return 0;
}
