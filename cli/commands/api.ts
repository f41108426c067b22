import { createReadStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { CliError, createClient, type ApiClient } from '../client';
import { bytes, parseByteRate, progressLine, table, type ProgressSample } from '../format';
import type { Config } from '../../config';
import type { SweepReport } from '../../sweep/service';

/**
 * The commands that drive a running dim through its REST API: datasets, events, recs, sweep, plan,
 * jobs, policies, tiers. Each prints a table for humans, or with --json the API's own JSON.
 */

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-return -- the API's JSON (validated by the API, documented in its OpenAPI), printed or tabled as it comes */
type Json = any;

export interface ClientIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Whether stdout is a terminal: the progress line is redrawn in place then. */
  tty: boolean;
}

/** Everything an action needs: the client (from --url/--key over DIM_URL/DIM_API_KEY), --json, output. */
interface Ctx {
  api: ApiClient;
  json: boolean;
  io: ClientIo;
}

/** Events per POST /access-events: well under the API's 10,000 and its 2 MiB fast lane. */
export const EVENTS_BATCH = 1000;
/** How often `jobs watch` and `plan --wait` ask GET /jobs/{id}. */
const POLL_MS = 1000;
const TERMINAL = new Set(['completed', 'failed', 'cancelled', 'enqueue_failed']);

const positiveInt = (what: string) => (v: string) => {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`must be a whole number of ${what}`);
  return Number(v);
};

/** A bandwidth argument (10MiB, 512K, off) for commander: bytes per second, or null for none. */
const byteRate = (v: string): number | null => {
  try {
    return parseByteRate(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
};

/** A limit for people: `10.0 MiB/s (10485760 B/s)`, or `none`. */
const limitText = (n: number | null | undefined) =>
  n === null || n === undefined ? 'none' : `${bytes(n)}/s (${n} B/s)`;

const q = (params: Record<string, string | number | undefined>) => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) s.set(k, String(v));
  const t = s.toString();
  return t ? `?${t}` : '';
};

/** A page, or with `all` every page (following next_cursor), as one `{items, next_cursor}`. */
async function list(
  ctx: Ctx,
  path: string,
  params: Record<string, string | undefined>,
  all: boolean,
) {
  const items: Json[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await ctx.api.call<{ items: Json[]; next_cursor: string | null }>(
      'GET',
      path + q({ ...params, cursor }),
    );
    items.push(...page.items);
    if (!all || !page.next_cursor) return { items, next_cursor: page.next_cursor };
    cursor = page.next_cursor;
  }
}

function moreHint(ctx: Ctx, next: string | null) {
  if (next && !ctx.json) ctx.io.err('dim: more on the next page; --all lists every one\n');
}

/** A dataset by id, or by its unique name (GET /datasets?name=). */
async function datasetId(ctx: Ctx, ref: string): Promise<number> {
  if (/^\d+$/.test(ref)) return Number(ref);
  const page = await ctx.api.call<{ items: Json[] }>('GET', `/datasets${q({ name: ref })}`);
  if (!page.items[0]) throw new CliError(`dataset "${ref}" not found (dim datasets ls lists them)`);
  return page.items[0].id as number;
}

function readJsonFile(file: string): Json {
  let text: string;
  try {
    text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(
      `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      2,
    );
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CliError(`${file}: not valid JSON (${(err as Error).message})`, 2);
  }
}

const datasetRows = (items: Json[]) =>
  table(
    ['ID', 'NAME', 'TIER', 'SIZE', 'OBJECTS', 'OWNER', 'POLICY', 'LAST ACCESS', 'LOCATION'],
    items.map((d) => [
      d.id,
      d.name,
      d.current_tier,
      bytes(d.size_bytes),
      d.object_count,
      d.owner,
      d.policy,
      d.last_access_ts,
      d.path_uri,
    ]),
  );

function datasetDetail(d: Json): string {
  const u = d.usage ?? {};
  return table(
    ['FIELD', 'VALUE'],
    [
      ['id', d.id],
      ['name', d.name],
      ['location', d.path_uri],
      ['tier', d.current_tier],
      ['size', `${bytes(d.size_bytes)} (${d.size_bytes} bytes)`],
      ['objects', d.object_count],
      ['owner', d.owner],
      ['policy', d.policy],
      ['latency SLO ms', d.latency_slo_ms],
      ['reads / writes', `${u.read_count ?? 0} / ${u.write_count ?? 0}`],
      ['bytes read', bytes(u.bytes_read ?? 0)],
      ['last access', d.last_access_ts],
      ['created', d.created_at],
    ],
  );
}

const progressOf = (j: Json): ProgressSample => {
  const p = j.live ?? j.progress ?? {};
  return {
    status: j.status,
    bytes_done: p.bytes_done ?? 0,
    bytes_total: p.bytes_total ?? 0,
    objects_done: p.objects_done ?? 0,
    objects_total: p.objects_total ?? 0,
  };
};

/** A dry run for people: what moves, what it costs, which checks pass. */
function dryRunText(d: Json): string {
  const lines = [
    `dry run: dataset ${d.dataset_id} ${d.source_uri} -> ${d.target_location} (${d.storage_class}); nothing was started`,
    `  moves      ${d.objects} object(s), ${bytes(Number(d.bytes))} (the registered size)`,
  ];
  const cost: Json = d.cost;
  if (cost) {
    const usd = (n: unknown) => `$${Number(n).toFixed(2)}`;
    lines.push(
      `  cost       ${usd(cost.monthly_before_usd)}/month in ${cost.from} -> ${usd(cost.monthly_after_usd)}/month in ${cost.to}; the move costs ${usd(cost.move_usd)}`,
      `  break-even ${cost.payback_days === null ? 'never' : `${Number(cost.payback_days).toFixed(1)} days`} (horizon ${cost.horizon_days} days: ${cost.pays_back ? 'pays back' : 'does not pay back'})`,
    );
  } else lines.push('  cost       (the destination is no tier of the tier table)');
  for (const ch of d.checks as Json[]) {
    lines.push(`  ${ch.ok ? 'ok  ' : 'FAIL'}       ${ch.name}: ${ch.detail}`);
  }
  lines.push(
    d.ok
      ? 'all checks pass: plan it without --dry-run to start it'
      : 'a check failed: planning it would be refused',
  );
  return lines.join('\n') + '\n';
}

const jobRows = (items: Json[]) =>
  table(
    ['JOB', 'DATASET', 'STATUS', 'PROGRESS', 'DESTINATION', 'SUBMITTED'],
    items.map((j) => {
      const p = progressOf(j);
      return [
        j.job_id,
        j.dataset_id,
        j.status,
        `${bytes(p.bytes_done)} / ${bytes(p.bytes_total)}`,
        j.dest_uri,
        j.submitted_at,
      ];
    }),
  );

function jobDetail(j: Json): string {
  const p = progressOf(j);
  return table(
    ['FIELD', 'VALUE'],
    [
      ['job', j.job_id],
      ['dataset', j.dataset_id],
      ['status', j.status],
      ['error', j.error],
      ['from', j.source_uri],
      ['to', `${j.dest_uri} (${j.dest_storage_class})`],
      [
        'progress',
        `${bytes(p.bytes_done)} / ${bytes(p.bytes_total)}, ${p.objects_done}/${p.objects_total} objects`,
      ],
      ['bandwidth limit', limitText(j.live?.max_bytes_per_s ?? j.max_bytes_per_s)],
      ['rate', j.progress?.bytes_per_s == null ? '-' : `${bytes(j.progress.bytes_per_s)}/s`],
      ['require approval', j.require_approval],
      ['approved by', j.approved_by],
      ['retire source', j.retire_source],
      ['requested by', j.requested_by],
      ['submitted', j.submitted_at],
      ['updated', j.updated_at],
      ['Temporal UI', j.temporal_ui_url],
    ],
  );
}

/**
 * Polls GET /jobs/{id} every second until a terminal status, drawing the progress line:
 * redrawn in place on a terminal, else a plain line each time it changes. Resolves the exit
 * status: 0 for completed, 1 otherwise.
 */
export async function watchJob(ctx: Ctx, jobId: string): Promise<number> {
  const { io } = ctx;
  let last: { at: number; bytes: number } | undefined;
  let rate: number | undefined;
  let printed = '';
  for (;;) {
    const job = await ctx.api.call<Json>('GET', `/jobs/${encodeURIComponent(jobId)}`);
    const p = progressOf(job);
    const now = Date.now();
    if (typeof job.progress?.bytes_per_s === 'number') {
      rate = job.progress.bytes_per_s; // the copy's own measure, over its last few seconds
    } else if (last && now > last.at && p.bytes_done >= last.bytes) {
      rate = ((p.bytes_done - last.bytes) * 1000) / (now - last.at);
    }
    last = { at: now, bytes: p.bytes_done };
    const done = TERMINAL.has(job.status);
    if (ctx.json) {
      io.out(JSON.stringify(job) + '\n');
    } else {
      const line = progressLine(
        p,
        done ? undefined : rate,
        done ? null : (job.live?.max_bytes_per_s ?? job.max_bytes_per_s),
      );
      if (io.tty) io.out(`\r\x1b[2K${line}`);
      else if (line !== printed) io.out(line + '\n');
      printed = line;
      if (done) {
        if (io.tty) io.out('\n');
        const why = job.error ? `: ${job.error}` : '';
        io.out(`job ${job.job_id} ${job.status}${why}\n`);
      }
    }
    if (done) return job.status === 'completed' ? 0 : 1;
    await sleep(POLL_MS);
  }
}

/** `dim events send`: JSON lines, batched; a bad line names its number. Resolves the count. */
async function sendEvents(ctx: Ctx, file: string): Promise<number> {
  const input = file === '-' ? process.stdin : createReadStream(file);
  const opened = new Promise<void>((resolve, reject) => {
    if (file === '-') return resolve();
    input.once('open', () => resolve());
    input.once('error', reject);
  });
  try {
    await opened;
  } catch (err) {
    throw new CliError(
      `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      2,
    );
  }
  let accepted = 0;
  let batch: Json[] = [];
  let lines: number[] = [];
  const flush = async () => {
    if (!batch.length) return;
    try {
      const r = await ctx.api.call<{ accepted: number }>('POST', '/access-events', batch);
      accepted += r.accepted;
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      // The API names the event as body[i]...: say which line of the input that was.
      const m = /^body\[(\d+)\]/.exec(err.message);
      const where = m
        ? `line ${lines[Number(m[1])]}`
        : `lines ${lines[0]}-${lines[lines.length - 1]}`;
      throw new CliError(
        `${file === '-' ? 'stdin' : file} ${where}: ${err.message}; ${accepted} events accepted before it`,
        err.code,
      );
    }
    batch = [];
    lines = [];
  };
  let n = 0;
  for await (const raw of createInterface({ input, crlfDelay: Infinity })) {
    n++;
    const text = raw.trim();
    if (!text) continue;
    let event: unknown;
    try {
      event = JSON.parse(text);
    } catch (err) {
      throw new CliError(
        `${file === '-' ? 'stdin' : file} line ${n}: not valid JSON (${(err as Error).message}); ${accepted} events accepted before it`,
        2,
      );
    }
    if (typeof event !== 'object' || event === null || Array.isArray(event)) {
      throw new CliError(
        `${file === '-' ? 'stdin' : file} line ${n}: must be one JSON object per line; ${accepted} events accepted before it`,
        2,
      );
    }
    batch.push(event);
    lines.push(n);
    if (batch.length >= EVENTS_BATCH) await flush();
  }
  await flush();
  return accepted;
}

/**
 * Adds the client commands to `program`. `config` is read only when an action runs, so that
 * --help never parses the environment.
 */
export function addClientCommands(program: Command, config: () => Config, io: ClientIo): void {
  const ctx = (cmd: Command): Ctx => {
    const o = cmd.optsWithGlobals<{ url?: string; key?: string; json?: boolean }>();
    const c = config().client;
    return { api: createClient(o.url ?? c.url, o.key ?? c.key), json: !!o.json, io };
  };
  const print = (c: Ctx, body: Json, human: () => string) =>
    io.out(c.json ? JSON.stringify(body) + '\n' : human());
  // Commander passes (args..., options, command): the command is always last.
  const act =
    (fn: (c: Ctx, args: Json[], opts: Json) => Promise<number | void>) =>
    async (...a: Json[]) => {
      const cmd = a[a.length - 1] as Command;
      const code = await fn(ctx(cmd), a.slice(0, -2), cmd.opts());
      if (code) process.exitCode = code;
    };
  const tier = new Option('--tier <tier>', 'only this tier').choices(['hot', 'warm', 'cold']);

  const datasets = program.command('datasets').description('list, show, add and remove datasets');
  datasets
    .command('ls')
    .description('list datasets (the first page of 100; --all for every one)')
    .addOption(tier)
    .option('--owner <owner>', 'only this owner')
    .option('--all', 'follow next_cursor through every page')
    .addHelpText('after', '\nExample:\n  dim datasets ls --tier hot --all')
    .action(
      act(async (c, _a, o) => {
        const r = await list(c, '/datasets', { tier: o.tier, owner: o.owner }, !!o.all);
        print(c, r, () => datasetRows(r.items));
        moreHint(c, r.next_cursor);
      }),
    );
  datasets
    .command('show')
    .description('one dataset with its usage')
    .argument('<dataset>', 'id or name')
    .addHelpText('after', '\nExample:\n  dim datasets show logs-2024')
    .action(
      act(async (c, [ref]) => {
        const d = await c.api.call<Json>('GET', `/datasets/${await datasetId(c, ref)}`);
        print(c, d, () => datasetDetail(d));
      }),
    );
  datasets
    .command('add')
    .description('register a dataset dim should watch and place')
    .argument('<name>', 'a unique name')
    .argument('<uri>', 'where it lives: file:///abs/path, s3://bucket/prefix or gs://bucket/prefix')
    .option('--size <bytes>', 'its size in bytes', positiveInt('bytes'))
    .option('--owner <owner>', 'who owns it')
    .option('--policy <policy>', 'the placement policy it follows (dim policies ls)')
    .addHelpText(
      'after',
      '\nExample:\n  dim datasets add logs-2024 file:///srv/data/logs-2024 --size 1073741824 --owner ops',
    )
    .action(
      act(async (c, [name, uri], o) => {
        const body = { name, path_uri: uri, size_bytes: o.size, owner: o.owner, policy: o.policy };
        const d = await c.api.call<Json>('POST', '/datasets', body);
        print(
          c,
          d,
          () => `created dataset ${d.id} ${d.name} (${d.current_tier}) at ${d.path_uri}\n`,
        );
      }),
    );
  datasets
    .command('rm')
    .description('forget a dataset (its data stays where it is)')
    .argument('<dataset>', 'id or name')
    .addHelpText('after', '\nExample:\n  dim datasets rm 7')
    .action(
      act(async (c, [ref]) => {
        const id = await datasetId(c, ref);
        await c.api.call('DELETE', `/datasets/${id}`);
        print(c, { id, deleted: true }, () => `removed dataset ${id}\n`);
      }),
    );

  program
    .command('events')
    .description('send access events')
    .command('send')
    .description(`send access events: JSON lines, ${EVENTS_BATCH} per POST /access-events`)
    .argument('[file]', 'a file of JSON lines, or - (the default) for stdin', '-')
    .addHelpText(
      'after',
      '\nEach line: {"dataset_id": 1, "op": "read", "size_bytes": 4096, "ts": "2026-01-01T00:00:00Z"}\n\nExample:\n  dim events send events.jsonl\n  cat events.jsonl | dim events send',
    )
    .action(
      act(async (c, [file]) => {
        const accepted = await sendEvents(c, file);
        print(c, { accepted }, () => `accepted ${accepted} events\n`);
      }),
    );

  program
    .command('recs')
    .description('placement recommendations: every dataset, or one')
    .argument('[dataset]', 'id or name')
    .addHelpText('after', '\nExample:\n  dim recs\n  dim recs logs-2024')
    .action(
      act(async (c, [ref]) => {
        const id = ref === undefined ? undefined : String(await datasetId(c, ref));
        const r = await list(c, '/recommendations', { dataset_id: id }, id === undefined);
        print(c, r, () =>
          table(
            ['ID', 'DATASET', 'CURRENT', 'RECOMMENDED', 'ACTION', 'TARGET', 'REASON'],
            r.items.map((x) => [
              x.id,
              x.dataset_id,
              x.current_tier,
              x.recommended_tier,
              x.action,
              x.target_location,
              x.reason,
            ]),
          ),
        );
      }),
    );

  program
    .command('sweep')
    .description(
      'run one placement sweep now: recompute every recommendation, store and publish the changed ones, start the migrations auto_apply policies allow (within their caps)',
    )
    .addHelpText(
      'after',
      '\nThe Temporal Schedule dim-placement-sweep runs the same sweep every DIM_SWEEP_INTERVAL_S\n(default 300 s); this runs one at once. Exit 1 when it stopped early (e.g. Temporal down).\n\nExample:\n  dim sweep\n  dim sweep --json | jq .migrations',
    )
    .action(
      act(async (c) => {
        const r = await c.api.call<SweepReport>('POST', '/sweep');
        print(c, r, () => {
          let out =
            `swept ${r.datasets} datasets: ${r.stored} recommendations stored, ${r.moves_advised} advise a move; ` +
            `${r.migrations.length} migrations started, ${r.skipped.length} skipped\n`;
          if (r.migrations.length)
            out += table(
              ['DATASET', 'RECOMMENDATION', 'JOB', 'STATUS', 'BYTES'],
              r.migrations.map((m) => [
                m.dataset_id,
                m.recommendation_id,
                m.job_id,
                m.status,
                m.bytes,
              ]),
            );
          if (r.skipped.length)
            out += table(
              ['DATASET', 'SKIPPED', 'WHY'],
              r.skipped.map((x) => [x.dataset_id, x.reason, x.detail]),
            );
          if (r.error) out += `stopped early: ${r.error}\n`;
          return out;
        });
        return r.error ? 1 : 0;
      }),
    );

  program
    .command('plan')
    .description('plan a migration of a dataset to a new location (copy, verify, switch, retire)')
    .argument('<dataset>', 'id or name')
    .requiredOption('--to <uri>', 'the destination storage URI')
    .option('--class <class>', 'the destination storage class', 'standard')
    .option('--require-approval', 'wait for `dim jobs approve` before the copy')
    .option('--retire-source', 'delete the source after the switch (and its grace period)')
    .option('--wait', 'watch the job until it ends (exit 0 on completed)')
    .option(
      '--limit <rate>',
      "bandwidth limit of the copy, bytes per second with an optional unit (512K, 10MiB, 10MB), or off; default: the policy's",
      byteRate,
    )
    .option(
      '--dry-run',
      'show what the plan would move, cost and check, and start nothing (exit 1 when a check fails)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  dim plan logs-2024 --to file:///srv/cold/logs-2024 --dry-run\n  dim plan logs-2024 --to file:///srv/cold/logs-2024 --class archive --wait\n  dim plan logs-2024 --to s3://dim-warm/logs-2024 --limit 50MiB',
    )
    .action(
      act(async (c, [ref], o) => {
        const body = {
          dataset_id: await datasetId(c, ref),
          target_location: o.to,
          storage_class: o.class,
          ...(o.requireApproval ? { require_approval: true } : {}),
          ...(o.retireSource ? { retire_source: true } : {}),
          ...(o.limit !== undefined ? { max_bytes_per_s: o.limit } : {}),
        };
        if (o.dryRun) {
          const d = await c.api.call<Json>('POST', '/plan-migration', { ...body, dry_run: true });
          print(c, d, () => dryRunText(d));
          return d.ok ? 0 : 1;
        }
        const j = await c.api.call<Json>('POST', '/plan-migration', body);
        if (!o.wait)
          return print(
            c,
            j,
            () => `planned job ${j.job_id} (${j.status}): ${j.source_uri} -> ${j.dest_uri}\n`,
          );
        if (!c.json) io.out(`planned job ${j.job_id}: ${j.source_uri} -> ${j.dest_uri}\n`);
        return watchJob(c, j.job_id);
      }),
    );

  const jobs = program
    .command('jobs')
    .description('list, show, watch, approve, cancel, retry and limit migrations');
  jobs
    .command('ls')
    .description('migration jobs, newest first')
    .option('--status <status>', 'only jobs in this status')
    .option('--dataset <dataset>', 'only jobs of this dataset (id or name)')
    .option('--all', 'follow next_cursor through every page')
    .addHelpText('after', '\nExample:\n  dim jobs ls --status awaiting_approval')
    .action(
      act(async (c, _a, o) => {
        const dataset = o.dataset === undefined ? undefined : String(await datasetId(c, o.dataset));
        const r = await list(c, '/jobs', { status: o.status, dataset_id: dataset }, !!o.all);
        print(c, r, () => jobRows(r.items));
        moreHint(c, r.next_cursor);
      }),
    );
  jobs
    .command('show')
    .description('one job: status, progress, error, link to the Temporal UI')
    .argument('<job>', 'job id')
    .addHelpText('after', '\nExample:\n  dim jobs show 0b9e…')
    .action(
      act(async (c, [id]) => {
        const j = await c.api.call<Json>('GET', `/jobs/${encodeURIComponent(id)}`);
        print(c, j, () => jobDetail(j));
      }),
    );
  jobs
    .command('watch')
    .description('a live progress line until the job ends (exit 0 on completed, 1 otherwise)')
    .argument('<job>', 'job id')
    .addHelpText('after', '\nExample:\n  dim jobs watch 0b9e…')
    .action(act(async (c, [id]) => watchJob(c, id)));
  for (const [verb, what] of [
    ['approve', 'approve a job that waits for approval'],
    ['cancel', 'cancel a job (the destination is cleaned up; the source stays)'],
    ['retry', 'run a failed or cancelled job again'],
  ] as const) {
    const cmd = jobs
      .command(verb)
      .description(what)
      .argument('<job>', 'job id')
      .addHelpText(
        'after',
        `\nExample:\n  dim jobs ${verb} 0b9e…${verb === 'cancel' ? ' --reason "wrong bucket"' : ''}`,
      );
    if (verb !== 'retry') cmd.option('--reason <reason>', 'recorded in the audit log');
    cmd.action(
      act(async (c, [id], o) => {
        const body = o.reason ? { reason: o.reason } : undefined;
        const j = await c.api.call<Json>('POST', `/jobs/${encodeURIComponent(id)}/${verb}`, body);
        print(c, j, () => `job ${j.job_id ?? id}: ${j.status ?? verb}\n`);
      }),
    );
  }

  jobs
    .command('limit')
    .description(
      "change a running job's bandwidth limit (POST /jobs/{id}/bandwidth): the copy speeds up or slows down where it is",
    )
    .argument('<job>', 'job id')
    .argument(
      '<rate>',
      'bytes per second with an optional unit: 512K, 10MiB or 10M (binary), 10MB (decimal); off: no limit',
      byteRate,
    )
    .addHelpText(
      'after',
      "\nThe worker's DIM_COPY_MAX_BYTES_PER_S still caps the copy.\n\nExamples:\n  dim jobs limit 0b9e… 10MiB\n  dim jobs limit 0b9e… off",
    )
    .action(
      act(async (c, [id, rate]) => {
        const j = await c.api.call<Json>('POST', `/jobs/${encodeURIComponent(id)}/bandwidth`, {
          max_bytes_per_s: rate,
        });
        print(
          c,
          j,
          () => `job ${j.job_id} (${j.status}): bandwidth limit ${limitText(j.max_bytes_per_s)}\n`,
        );
      }),
    );

  const policies = program.command('policies').description('placement policies');
  policies
    .command('ls')
    .description('every policy')
    .addHelpText('after', '\nExample:\n  dim policies ls')
    .action(
      act(async (c) => {
        const r = await list(c, '/policies', {}, true);
        print(c, r, () =>
          table(
            ['NAME', 'PINNED', 'LATENCY SLO MS', 'APPROVAL', 'RETIRE SOURCE', 'AUTO APPLY'],
            r.items.map((p) => [
              p.name,
              p.pinned_tier,
              p.latency_slo_ms,
              p.require_approval,
              p.retire_source,
              p.auto_apply,
            ]),
          ),
        );
      }),
    );
  policies
    .command('show')
    .description('one policy, every value')
    .argument('<name>')
    .addHelpText('after', '\nExample:\n  dim policies show archive')
    .action(
      act(async (c, [name]) => {
        const p = await c.api.call<Json>('GET', `/policies/${encodeURIComponent(name)}`);
        print(c, p, () =>
          table(
            ['FIELD', 'VALUE'],
            Object.entries(p).map(([k, v]) => [
              k,
              typeof v === 'object' && v !== null ? JSON.stringify(v) : (v as string),
            ]),
          ),
        );
      }),
    );
  policies
    .command('put')
    .description('create or replace a policy from a JSON file (- for stdin)')
    .argument('<file>')
    .addHelpText(
      'after',
      '\nExample:\n  echo \'{"name":"archive","pinned_tier":"cold"}\' | dim policies put -',
    )
    .action(
      act(async (c, [file]) => {
        const p = await c.api.call<Json>('POST', '/policies', readJsonFile(file));
        print(c, p, () => `policy ${p.name} saved\n`);
      }),
    );

  const tiers = program.command('tiers').description('the tier table');
  const tierTable = (r: { items: Json[] }) =>
    table(
      [
        'TIER',
        'LOCATION',
        'CLASS',
        'LATENCY MS',
        '$/GB-MONTH',
        '$/GB READ',
        '$/1K REQ',
        'MIN DAYS',
      ],
      r.items.map((t) => [
        t.name,
        t.location_template,
        t.storage_class,
        t.read_latency_ms,
        t.price_gb_month,
        t.price_retrieval_gb,
        t.price_per_1k_requests,
        t.min_storage_days,
      ]),
    );
  tiers
    .command('show')
    .description('location, storage class, latency and prices of hot, warm and cold')
    .addHelpText('after', '\nExample:\n  dim tiers show --json')
    .action(
      act(async (c) => {
        const r = await c.api.call<{ items: Json[] }>('GET', '/tiers');
        print(c, r, () => tierTable(r));
      }),
    );
  tiers
    .command('put')
    .description(
      'replace the tier table from a JSON file ({"items": [...]}, all three tiers; - for stdin)',
    )
    .argument('<file>')
    .addHelpText(
      'after',
      '\nExample:\n  dim tiers show --json > tiers.json && $EDITOR tiers.json && dim tiers put tiers.json',
    )
    .action(
      act(async (c, [file]) => {
        const r = await c.api.call<{ items: Json[] }>('PUT', '/tiers', readJsonFile(file));
        print(c, r, () => tierTable(r));
      }),
    );

  program
    .command('train')
    .description(
      'fit a usage model from the hourly access aggregates (POST /train): recommendations use it from then on',
    )
    .option('--window-days <n>', 'days of history to fit from (default 30)', positiveInt('days'))
    .option('--holdout-days <n>', 'last days held out to score it (default 3)', positiveInt('days'))
    .addHelpText('after', '\nExample:\n  dim train --window-days 30 --holdout-days 3')
    .action(
      act(async (c, _args, o: { windowDays?: number; holdoutDays?: number }) => {
        const m = await c.api.call<Json>('POST', '/train', {
          ...(o.windowDays === undefined ? {} : { window_days: o.windowDays }),
          ...(o.holdoutDays === undefined ? {} : { holdout_days: o.holdoutDays }),
        });
        print(c, m, () => modelSummary(m));
      }),
    );
}

/** A WAPE for people: `0.412`, or `-` when nothing was read in the holdout. */
const wape = (v: number | null) => (v === null ? '-' : v.toFixed(3));

/** What `dim train` prints: the new model's version, its window and its accuracy against the naive forecast. */
export function modelSummary(m: {
  version: string;
  window: { from: string; to: string; holdout_from: string; days: number; holdout_days: number };
  accuracy: { model_wape: number | null; naive_wape: number | null; hours: number };
  datasets: number;
  buckets: number;
  train_ms: number;
}): string {
  const a = m.accuracy;
  const verdict =
    a.model_wape === null || a.naive_wape === null
      ? 'no reads in the holdout to score against'
      : a.model_wape < a.naive_wape
        ? `${(100 * (1 - a.model_wape / a.naive_wape)).toFixed(0)}% less error than naive`
        : 'no better than naive';
  return (
    `model ${m.version} trained on ${m.datasets} datasets (${m.buckets} hourly buckets) in ${(m.train_ms / 1000).toFixed(1)}s\n` +
    `window    ${m.window.from} .. ${m.window.to} (${m.window.days} days; the last ${m.window.holdout_days} held out from ${m.window.holdout_from})\n` +
    `accuracy  WAPE of hourly reads ${wape(a.model_wape)}, naive last value ${wape(a.naive_wape)} (${verdict}; ${a.hours} dataset-hours)\n`
  );
}
