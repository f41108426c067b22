import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { sql } from 'kysely';
import { DimError } from '../errors';
import type { EventSink } from '../events/sink';
import type { Actor, MigrationService } from '../migrations';
import type { Logger } from '../runtime/log';
import type { Db } from '../store/db';
import { TERMINAL_STATUSES } from '../store/jobs';
import { acquireLease, releaseLease } from '../store/leases';
import { DEFAULT_POLICY_NAME } from '../store/policies';
import {
  readStored,
  recommendationView,
  refreshRecommendations,
  type StoredRecommendation,
} from '../store/recommendations';
import { listTiers, tierTable } from '../store/tiers';

/**
 * The placement sweep, one use case: recompute every dataset's recommendation (set-based,
 * store/recommendations.ts), publish the ones that changed to topic `recommendations`, and
 * start the migrations that `auto_apply` policies allow, through the migration service, as
 * the caller `sweep`. The Temporal Schedule `dim-placement-sweep` runs it through an
 * activity (sweep/schedule.ts, workflows/placement-sweep.ts); `POST /sweep` and `dim sweep`
 * run it at once. One sweep at a time across every process: a lease in the database.
 *
 * What the sweep starts, per policy with auto_apply:
 * - every dataset whose standing recommendation moves it (the decision already applied the
 *   policy: SLO, pinned tier whatever the break-even, minimum residency, break-even);
 * - not a dataset that another migration is moving (one migration of a dataset at a time);
 * - at most `max_moves_per_sweep` migrations per sweep;
 * - at most `max_bytes_per_day` bytes in any 24 hours, counting the migrations the sweep
 *   started for the policy's datasets in the 24 hours before (a failed or cancelled one by
 *   the bytes it copied, the others by their size), so a dataset larger than what is left
 *   waits and smaller ones may still go;
 * - the most urgent first: moves the decision makes whatever the break-even (a pinned tier,
 *   a tier that breaks the SLO), then the largest monthly saving.
 * The policy's safety holds as for any planner: a policy that requires approval makes the
 * migration wait for it. Planning is idempotent (the derived job_key), so a sweep that dies
 * halfway and runs again starts nothing twice.
 */
export const SWEEP_ACTOR: Actor = { name: 'sweep', role: 'operator' };
const LEASE = 'placement-sweep';
const LEASE_TTL_MS = 15 * 60_000;
const DAY_MS = 86_400_000;

export type SweepTrigger = 'schedule' | 'request';

export interface SweepMigration {
  dataset_id: number;
  recommendation_id: number;
  job_id: string;
  status: string;
  bytes: number;
}

export interface SweepSkip {
  dataset_id: number;
  recommendation_id: number;
  reason: 'moves_cap' | 'bytes_cap' | 'busy' | 'planned_before' | 'refused';
  detail: string;
}

/** What one sweep did. */
export interface SweepReport {
  trigger: SweepTrigger;
  requested_by: string;
  started_at: string;
  finished_at: string;
  /** Datasets whose recommendation the sweep recomputed. */
  datasets: number;
  /** Recommendations it stored (new datasets, changed advice), each published. */
  stored: number;
  /** Standing recommendations that move their dataset. */
  moves_advised: number;
  /** Migrations it started, or found already planned and running on. */
  migrations: SweepMigration[];
  /** Moves advised under an auto_apply policy that it did not start, and why. */
  skipped: SweepSkip[];
  /** Set when it stopped early (e.g. Temporal unreachable): the rest waits for the next sweep. */
  error: string | null;
}

export interface SweepDeps {
  db: Db;
  events: EventSink;
  migrations: MigrationService;
  log: Logger;
}

/** A move an auto_apply policy allows, before the caps. */
interface Candidate {
  rec: StoredRecommendation;
  policy: string;
  bytes: number;
  busy: string | null;
}

export class SweepService {
  constructor(private readonly deps: SweepDeps) {}

  /** Runs one sweep now. A 409 `sweep_running` DimError while another one runs. */
  async run(trigger: SweepTrigger, requestedBy: string, now = Date.now()): Promise<SweepReport> {
    const { db, log } = this.deps;
    const holder = `${hostname()}:${process.pid}:${randomUUID()}`;
    const held = await acquireLease(db, LEASE, holder, LEASE_TTL_MS, now);
    if (held) {
      throw new DimError(
        'sweep_running',
        409,
        `a placement sweep is already running (${held.holder}, its lease ends ${new Date(Number(held.expires_at)).toISOString()}); wait for it to finish`,
      );
    }
    try {
      const report = await this.sweep(trigger, requestedBy, now);
      log.info('placement sweep', {
        trigger,
        datasets: report.datasets,
        stored: report.stored,
        started: report.migrations.length,
        skipped: report.skipped.length,
        error: report.error,
      });
      return report;
    } finally {
      await releaseLease(db, LEASE, holder);
    }
  }

  private async sweep(
    trigger: SweepTrigger,
    requestedBy: string,
    now: number,
  ): Promise<SweepReport> {
    const { db } = this.deps;
    const tiers = tierTable(await listTiers(db));
    if (!tiers) {
      throw new DimError(
        'conflict',
        409,
        'the tier table is incomplete (hot, warm and cold are needed): set it with PUT /tiers',
      );
    }
    const pass = await refreshRecommendations(db, tiers, {}, now);
    await this.publish(pass.stored);
    const report: SweepReport = {
      trigger,
      requested_by: requestedBy,
      started_at: new Date(now).toISOString(),
      finished_at: '',
      datasets: pass.standing.length,
      stored: pass.stored.length,
      moves_advised: pass.moves,
      migrations: [],
      skipped: [],
      error: null,
    };
    await this.apply(report, now);
    report.finished_at = new Date().toISOString();
    return report;
  }

  /** Publishes the recommendations a pass stored; the table is the record, the topic a feed. */
  private async publish(stored: StoredRecommendation[]): Promise<void> {
    if (stored.length === 0) return;
    try {
      for (let i = 0; i < stored.length; i += 1000) {
        await this.deps.events.publish(
          'recommendations',
          stored.slice(i, i + 1000).map((r) => ({
            key: String(r.dataset_id),
            value: recommendationView(r),
          })),
        );
      }
    } catch (err) {
      this.deps.log.warn('could not publish recommendations', { err: (err as Error).message });
    }
  }

  /** Starts the moves auto_apply policies allow, within their caps (see the top of the file). */
  private async apply(report: SweepReport, now: number): Promise<void> {
    const { db, migrations } = this.deps;
    const policies = await db
      .selectFrom('policies')
      .select(['name', 'max_moves_per_sweep', 'max_bytes_per_day'])
      .where('auto_apply', '=', 1)
      .execute();
    if (policies.length === 0) return;
    const candidates = await this.candidates(policies.map((p) => p.name));
    const used = await this.bytesUsed(now);
    const moves = new Map<string, number>();

    for (const c of candidates) {
      const p = policies.find((x) => x.name === c.policy)!;
      const skip = (reason: SweepSkip['reason'], detail: string) =>
        report.skipped.push({
          dataset_id: c.rec.dataset_id,
          recommendation_id: c.rec.id,
          reason,
          detail,
        });
      if (c.busy) {
        skip('busy', c.busy);
        continue;
      }
      const done = moves.get(c.policy) ?? 0;
      if (done >= p.max_moves_per_sweep) {
        skip(
          'moves_cap',
          `policy "${c.policy}" allows ${p.max_moves_per_sweep} migration(s) per sweep`,
        );
        continue;
      }
      const cap = p.max_bytes_per_day === null ? null : Number(p.max_bytes_per_day);
      const spent = used.get(c.policy) ?? 0;
      if (cap !== null && spent + c.bytes > cap) {
        skip(
          'bytes_cap',
          `policy "${c.policy}" allows ${cap} bytes per 24 hours; ${spent} started already, this dataset has ${c.bytes}`,
        );
        continue;
      }
      try {
        const { job, created } = await migrations.applyRecommendation(c.rec.id, {}, SWEEP_ACTOR);
        if (!created && TERMINAL_STATUSES.includes(job.status)) {
          skip(
            'planned_before',
            `the same move was planned before as job ${job.job_id}, which ended ${job.status}; retry it (POST /jobs/${job.job_id}/retry) or change the dataset`,
          );
          continue;
        }
        report.migrations.push({
          dataset_id: c.rec.dataset_id,
          recommendation_id: c.rec.id,
          job_id: job.job_id,
          status: job.status,
          bytes: c.bytes,
        });
        moves.set(c.policy, done + 1);
        used.set(c.policy, spent + c.bytes);
      } catch (err) {
        if (!(err instanceof DimError)) throw err;
        if (err.status >= 500) {
          // Temporal unreachable: what is left waits for the next sweep.
          report.error = err.message;
          return;
        }
        skip('refused', err.message);
      }
    }
  }

  /**
   * The moves standing recommendations advise for datasets of these policies, most urgent
   * first, each with the migration that is moving the dataset, if one is.
   */
  private async candidates(policyNames: string[]): Promise<Candidate[]> {
    const { db } = this.deps;
    const rows = await db
      .selectFrom('recommendation_heads as h')
      .innerJoin('datasets as d', 'd.id', 'h.dataset_id')
      .select([
        'h.recommendation_id as id',
        'd.size_bytes as bytes',
        sql<string>`coalesce(d.policy, ${DEFAULT_POLICY_NAME})`.as('policy'),
        (eb) =>
          eb
            .selectFrom('migration_jobs as j')
            .select('j.job_id')
            .whereRef('j.dataset_id', '=', 'd.id')
            .where('j.status', 'not in', [...TERMINAL_STATUSES])
            .limit(1)
            .as('busy_job'),
      ])
      .whereRef('h.current_tier', '=', 'd.current_tier')
      .whereRef('h.recommended_tier', '!=', 'h.current_tier')
      .where(sql<string>`coalesce(d.policy, ${DEFAULT_POLICY_NAME})`, 'in', policyNames)
      .orderBy('d.id')
      .execute();
    const recs = await readStored(
      db,
      rows.map((r) => r.id),
    );
    const out: Candidate[] = [];
    for (const r of rows) {
      const rec = recs.get(r.id);
      if (!rec) continue;
      out.push({
        rec,
        policy: r.policy,
        bytes: Number(r.bytes),
        busy: r.busy_job ? `job ${r.busy_job} is migrating it` : null,
      });
    }
    const forced = (c: Candidate) => (c.rec.inputs.break_even?.pays_back === false ? 0 : 1);
    const saving = (c: Candidate) => c.rec.inputs.break_even?.saving_usd_month ?? 0;
    return out.sort(
      (a, b) =>
        forced(a) - forced(b) || saving(b) - saving(a) || a.rec.dataset_id - b.rec.dataset_id,
    );
  }

  /**
   * Bytes the sweep started moving per policy in the 24 hours before `now`: a migration
   * that failed or was cancelled by the bytes it copied, any other by its size.
   */
  private async bytesUsed(now: number): Promise<Map<string, number>> {
    const rows = await this.deps.db
      .selectFrom('migration_jobs as j')
      .innerJoin('datasets as d', 'd.id', 'j.dataset_id')
      .select([
        // A literal, not a parameter: PostgreSQL groups by the expression only when the
        // select list and GROUP BY spell it the same (two parameters are two expressions).
        sql<string>`coalesce(d.policy, ${sql.lit(DEFAULT_POLICY_NAME)})`.as('policy'),
        sql<number>`sum(case when j.status in ('failed', 'cancelled', 'enqueue_failed') then j.bytes_done else j.bytes_total end)`.as(
          'bytes',
        ),
      ])
      .where('j.requested_by', '=', SWEEP_ACTOR.name)
      .where('j.submitted_at', '>', now - DAY_MS)
      .groupBy(sql`coalesce(d.policy, ${sql.lit(DEFAULT_POLICY_NAME)})`)
      .execute();
    return new Map(rows.map((r) => [r.policy, Number(r.bytes)]));
  }
}
