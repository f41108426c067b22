import { z } from 'zod';
import type { EventSink } from '../../events/sink';
import { MigrationService, type MigrationServiceDeps } from '../../migrations';
import type { Logger } from '../../runtime/log';
import { SweepService } from '../../sweep/service';
import type { Routes } from '../route';

/** `POST /sweep`: one placement sweep now (sweep/service.ts), answering what it did. */
export const SweepReportOut = z.object({
  trigger: z.enum(['schedule', 'request']),
  requested_by: z.string(),
  started_at: z.string(),
  finished_at: z.string(),
  datasets: z.number().describe('Datasets whose recommendation was recomputed'),
  stored: z.number().describe('Recommendations stored (changed advice) and published'),
  moves_advised: z.number().describe('Standing recommendations that move their dataset'),
  migrations: z
    .array(
      z.object({
        dataset_id: z.number(),
        recommendation_id: z.number(),
        job_id: z.string(),
        status: z.string(),
        bytes: z.number(),
      }),
    )
    .describe('Migrations started for datasets whose policy has auto_apply'),
  skipped: z
    .array(
      z.object({
        dataset_id: z.number(),
        recommendation_id: z.number(),
        reason: z.enum(['moves_cap', 'bytes_cap', 'busy', 'planned_before', 'refused']),
        detail: z.string(),
      }),
    )
    .describe('Moves an auto_apply policy allows that this sweep did not start, and why'),
  error: z
    .string()
    .nullable()
    .describe('Why it stopped early (e.g. Temporal unreachable); the rest waits for the next'),
});

export function registerSweep(
  routes: Routes,
  deps: MigrationServiceDeps & { events: EventSink; log: Logger; migrations?: MigrationService },
): void {
  const sweep = new SweepService({
    db: deps.db,
    events: deps.events,
    log: deps.log.child({ part: 'sweep' }),
    migrations: deps.migrations ?? new MigrationService(deps),
  });
  routes.add(
    {
      method: 'post',
      path: '/sweep',
      summary:
        'Run one placement sweep now: recompute every recommendation, store and publish the changed ones, and start the migrations auto_apply policies allow within their caps (409 while another sweep runs)',
      tag: 'recommendations',
      role: 'operator',
      response: SweepReportOut,
      success: [200],
    },
    async ({ caller }) => ({ body: await sweep.run('request', caller.name) }),
  );
}
