import { defaultPayloadConverter } from '@temporalio/common';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { sql } from 'kysely';
import { z } from 'zod';
import { Errors } from '../../errors';
import type { TemporalDeps } from '../../migrations';
import { MONTH_DAYS, monthlyCost, TIER_NAMES, type TierName } from '../../placement';
import { DAY_MS } from '../../placement/cost';
import { HOUR_MS, hourOf } from '../../store/access';
import type { Db } from '../../store/db';
import { listTiers, tierTable } from '../../store/tiers';
import { idParam, iso, type Routes } from '../route';
import { loadDataset, tierSchema } from './datasets';

/**
 * What the dashboard's first page shows, in one read-only call: who the caller is, where the
 * Temporal Web UI is, the datasets per tier, this month's projected cost now and under the
 * standing recommendations, the migrations by state and the ingest rate. Every figure is
 * one aggregate query, whatever the number of datasets. Also `GET /datasets/{id}/replicas`,
 * the copies of a dataset that the migrations recorded, and `GET /jobs/{job_id}/history`, a
 * job's statuses as its workflow runs recorded them in Temporal, with who acted on it.
 */
const RUNNING = ['queued', 'copying', 'verifying', 'switching', 'retiring'] as const;

const usd = (what: string) => z.number().describe(`${what}, USD a month`);

export const OverviewOut = z.object({
  caller: z.object({ name: z.string(), role: z.enum(['viewer', 'operator', 'admin']) }),
  open: z.boolean().describe('No API keys are configured: every caller is an anonymous admin'),
  temporal_ui_url: z.string().nullable().describe('The Temporal Web UI jobs link to'),
  tiers: z.array(z.object({ tier: tierSchema, datasets: z.number(), bytes: z.number() })),
  cost: z
    .object({
      monthly_now_usd: usd('Projected cost of every dataset in its current tier'),
      monthly_recommended_usd: usd('The same with every standing recommendation applied'),
      saving_usd_month: usd('The difference (moves themselves not counted)'),
      datasets_to_move: z.number().describe('Datasets whose standing recommendation is a move'),
    })
    .nullable()
    .describe('null while the tier table is incomplete'),
  jobs: z.object({
    running: z.number().describe('queued, copying, verifying, switching or retiring'),
    awaiting_approval: z.number(),
    failed_last_day: z.number().describe('Jobs that failed in the last 24 hours'),
  }),
  ingest: z.object({
    events_per_s: z.number().describe('Access events per second over the window'),
    events: z.number(),
    window_s: z.number().describe('From the start of the previous hour until now'),
  }),
});

const ReplicaOut = z.object({
  id: z.number(),
  uri: z.string(),
  storage_class: z.string(),
  tier: tierSchema.nullable(),
  role: z.string().describe('primary, retired or stale'),
  job_id: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
});

const HistoryOut = z.object({
  job_id: z.string(),
  statuses: z
    .array(
      z.object({
        status: z.string(),
        error: z.string().nullable(),
        at: z.string(),
        run_id: z.string(),
      }),
    )
    .describe("Each status the job's workflow runs set, oldest first (from Temporal's history)"),
  actions: z
    .array(z.object({ action: z.string(), actor: z.string(), at: z.string() }))
    .describe('Approvals, cancels, retries and retirements, from the audit log'),
});

const jobIdParam = z.object({ job_id: z.uuid({ error: 'must be a job id (a UUID)' }) });

/**
 * The statuses a job's workflow set: the input of each `updateStatus` activity it scheduled,
 * in every run of its workflow id (a retry is a new run), from Temporal's durable history.
 */
async function workflowStatuses(t: TemporalDeps, workflowId: string, currentRun: string | null) {
  const runs: { runId: string; start: number }[] = [];
  // The id is `migration-<job_key>`; job keys hold no quote (api/routes/jobs.ts).
  for await (const w of t.client.workflow.list({ query: `WorkflowId = '${workflowId}'` }))
    runs.push({ runId: w.runId, start: w.startTime.getTime() });
  if (currentRun && !runs.some((r) => r.runId === currentRun))
    runs.push({ runId: currentRun, start: Date.now() });
  runs.sort((a, b) => a.start - b.start);
  const out: { status: string; error: string | null; at: string; run_id: string }[] = [];
  for (const run of runs) {
    const history = await t.client.workflow.getHandle(workflowId, run.runId).fetchHistory();
    for (const e of history.events ?? []) {
      const a = e.activityTaskScheduledEventAttributes;
      const payload = a?.input?.payloads?.[0];
      if (a?.activityType?.name !== 'updateStatus' || !payload) continue;
      const input = defaultPayloadConverter.fromPayload<{ status: string; error?: string | null }>(
        payload,
      );
      out.push({
        status: input.status,
        error: input.error ?? null,
        at: iso(optionalTsToMs(e.eventTime) ?? 0)!,
        run_id: run.runId,
      });
    }
  }
  return out;
}

/** Per (current tier, recommended tier): datasets, bytes and monthly usage rates. */
async function costGroups(db: Db, now: number) {
  // monthlyUsage (placement/cost.ts) in SQL: totals × MONTH_DAYS / max(1 day, age in days).
  const perMonth = sql<number>`(${MONTH_DAYS} / (CASE WHEN (${now} - d.created_at) < ${DAY_MS} THEN 1.0 ELSE (${now} - d.created_at) * 1.0 / ${DAY_MS} END))`;
  return db
    .selectFrom('datasets as d')
    .leftJoin('access_totals as a', 'a.dataset_id', 'd.id')
    .leftJoin('recommendation_heads as h', 'h.dataset_id', 'd.id')
    .select([
      'd.current_tier as tier',
      // A head given for another current tier (the dataset moved since) advises nothing now.
      sql<TierName>`CASE WHEN h.current_tier = d.current_tier THEN h.recommended_tier ELSE d.current_tier END`.as(
        'rec',
      ),
      sql<number>`COUNT(*)`.as('datasets'),
      sql<number>`COALESCE(SUM(d.size_bytes), 0)`.as('bytes'),
      sql<number>`COALESCE(SUM(COALESCE(a.read_count, 0) * ${perMonth}), 0)`.as('reads'),
      sql<number>`COALESCE(SUM(COALESCE(a.write_count, 0) * ${perMonth}), 0)`.as('writes'),
      sql<number>`COALESCE(SUM(COALESCE(a.bytes_read, 0) * ${perMonth}), 0)`.as('bytes_read'),
    ])
    .groupBy(['tier', 'rec'])
    .execute();
}

export function registerOverview(
  routes: Routes,
  deps: { db: Db; apiKeys: unknown[]; temporal?: TemporalDeps },
): void {
  const { db } = deps;

  routes.add(
    {
      method: 'get',
      path: '/overview',
      summary:
        'The dashboard overview: the caller, datasets and bytes per tier, projected monthly cost now and under the standing recommendations, migrations by state, ingest rate',
      tag: 'overview',
      role: 'viewer',
      response: OverviewOut,
    },
    async ({ caller }) => {
      const now = Date.now();
      const groups = await costGroups(db, now);
      const tiers = tierTable(await listTiers(db));
      const perTier = new Map<TierName, { datasets: number; bytes: number }>(
        TIER_NAMES.map((t) => [t, { datasets: 0, bytes: 0 }]),
      );
      let costNow = 0;
      let costRec = 0;
      let toMove = 0;
      for (const g of groups) {
        const t = perTier.get(g.tier)!;
        t.datasets += Number(g.datasets);
        t.bytes += Number(g.bytes);
        if (g.rec !== g.tier) toMove += Number(g.datasets);
        if (!tiers) continue;
        const usage = {
          size_bytes: Number(g.bytes),
          reads_per_month: Number(g.reads),
          writes_per_month: Number(g.writes),
          bytes_read_per_month: Number(g.bytes_read),
        };
        costNow += monthlyCost(tiers[g.tier], usage).total;
        costRec += monthlyCost(tiers[g.rec], usage).total;
      }

      const jobs = await db
        .selectFrom('migration_jobs')
        .select([
          sql<number>`SUM(CASE WHEN status IN (${sql.join(RUNNING.map((s) => sql.lit(s)))}) THEN 1 ELSE 0 END)`.as(
            'running',
          ),
          sql<number>`SUM(CASE WHEN status = 'awaiting_approval' THEN 1 ELSE 0 END)`.as('waiting'),
          sql<number>`SUM(CASE WHEN status = 'failed' AND updated_at >= ${now - DAY_MS} THEN 1 ELSE 0 END)`.as(
            'failed',
          ),
        ])
        .executeTakeFirst();

      const since = hourOf(now) - HOUR_MS;
      const ingest = await db
        .selectFrom('access_aggregates')
        .select(sql<number>`COALESCE(SUM(read_count + write_count), 0)`.as('events'))
        .where('hour', '>=', since)
        .executeTakeFirst();
      const events = Number(ingest?.events ?? 0);
      const windowS = (now - since) / 1000;

      return {
        body: {
          caller: { name: caller.name, role: caller.role },
          open: deps.apiKeys.length === 0,
          temporal_ui_url: deps.temporal?.uiUrl?.replace(/\/+$/, '') ?? null,
          tiers: TIER_NAMES.map((tier) => ({ tier, ...perTier.get(tier)! })),
          cost: tiers
            ? {
                monthly_now_usd: costNow,
                monthly_recommended_usd: costRec,
                saving_usd_month: costNow - costRec,
                datasets_to_move: toMove,
              }
            : null,
          jobs: {
            running: Number(jobs?.running ?? 0),
            awaiting_approval: Number(jobs?.waiting ?? 0),
            failed_last_day: Number(jobs?.failed ?? 0),
          },
          ingest: { events_per_s: events / windowS, events, window_s: Math.round(windowS) },
        },
      };
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/datasets/:id/replicas',
      summary: 'The copies of a dataset the migrations recorded: primary, retired or stale',
      tag: 'datasets',
      role: 'viewer',
      params: idParam,
      response: z.object({ items: z.array(ReplicaOut) }),
    },
    async ({ params }) => {
      await loadDataset(db, params.id);
      const rows = await db
        .selectFrom('replicas')
        .selectAll()
        .where('dataset_id', '=', params.id)
        .orderBy('id', 'desc')
        .limit(100)
        .execute();
      return {
        body: {
          items: rows.map((r) => ({
            id: r.id,
            uri: r.uri,
            storage_class: r.storage_class,
            tier: r.tier,
            role: r.role,
            job_id: r.job_id,
            created_at: iso(r.created_at)!,
            updated_at: iso(r.updated_at)!,
          })),
        },
      };
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/jobs/:job_id/history',
      summary:
        "A job's status history: each status its workflow runs set (from Temporal), and who approved, cancelled, retried or retired it",
      tag: 'jobs',
      role: 'viewer',
      params: jobIdParam,
      response: HistoryOut,
    },
    async ({ params }) => {
      const job = await db
        .selectFrom('migration_jobs')
        .select(['job_id', 'workflow_id', 'run_id'])
        .where('job_id', '=', params.job_id)
        .executeTakeFirst();
      if (!job) throw Errors.notFound('job', params.job_id);
      if (!deps.temporal)
        throw Errors.unavailable('this process runs without a Temporal client: no job history');
      let statuses: Awaited<ReturnType<typeof workflowStatuses>>;
      try {
        statuses = await workflowStatuses(deps.temporal, job.workflow_id, job.run_id);
      } catch (err) {
        if ((err as { name?: string }).name === 'WorkflowNotFoundError') statuses = [];
        else throw Errors.unavailable(`Temporal did not answer: ${(err as Error).message}`, 5);
      }
      const actions = await db
        .selectFrom('audit_log')
        .select(['action', 'actor', 'ts'])
        .where('target', '=', `job:${job.job_id}`)
        .orderBy('id')
        .limit(200)
        .execute();
      return {
        body: {
          job_id: job.job_id,
          statuses,
          actions: actions.map((a) => ({ action: a.action, actor: a.actor, at: iso(a.ts)! })),
        },
      };
    },
  );
}
