import { z } from 'zod';
import { Errors } from '../../errors';
import type { EventSink } from '../../events/sink';
import type { Logger } from '../../runtime/log';
import {
  getRecommendation,
  readRecommendations,
  recommendationView,
  type CurrentRecommendation,
} from '../../store/recommendations';
import { listTiers, tierTable } from '../../store/tiers';
import { idParam, pageQuery, type Routes } from '../route';
import { MigrationService, type MigrationServiceDeps } from '../../migrations';
import { loadDataset, tierSchema } from './datasets';
import { DryRunOut } from './jobs';

/**
 * `GET /recommendations` answers each dataset's current advice without writing anything:
 * the recommendation the placement sweep stored, or, for a dataset whose inputs changed
 * since (a new event, a new policy value), the advice computed now and not stored (`id`
 * null; store/recommendations.ts `readRecommendations`). The sweep stores and publishes
 * (sweep/service.ts). `POST /recommendations/{id}/apply` lives with the migration routes.
 */
export const RecommendationOut = z.object({
  id: z
    .number()
    .nullable()
    .describe(
      "The stored recommendation; null: the dataset's inputs changed since the last placement sweep, so this advice was computed for this answer and is not stored yet (the next sweep, or POST /sweep, stores it; POST /plan-migration applies it as it is)",
    ),
  dataset_id: z.number(),
  current_tier: tierSchema,
  recommended_tier: tierSchema,
  action: z.enum(['move', 'stay']).describe('move when recommended_tier differs from current_tier'),
  target_location: z.string().describe('Where the dataset should live (its current URI on stay)'),
  storage_class: z.string(),
  reason: z.string(),
  inputs: z
    .record(z.string(), z.unknown())
    .describe('The signals and policy values the decision used'),
  model_version: z.string(),
  created_at: z
    .string()
    .describe(
      'When this advice was first given: a recommendation stands (same id, reason and inputs as of then) until the current tier, recommended tier, target location, storage class or model version changes',
    ),
});

export const recommendationJson = (r: CurrentRecommendation): z.infer<typeof RecommendationOut> =>
  recommendationView(r);

export function registerRecommendations(
  routes: Routes,
  deps: MigrationServiceDeps & { events: EventSink; log: Logger; migrations?: MigrationService },
): void {
  const { db } = deps;
  const service = deps.migrations ?? new MigrationService(deps);

  routes.add(
    {
      method: 'get',
      path: '/recommendations',
      summary:
        "Each dataset's current placement advice (datasets on the page, or dataset_id): the recommendation the placement sweep stored, or, where the dataset's inputs changed since, the advice computed now (id null, not stored). Writes nothing",
      tag: 'recommendations',
      role: 'viewer',
      query: pageQuery.extend({
        dataset_id: z.coerce
          .number({ error: 'must be a number' })
          .int('must be a whole number')
          .positive('must be positive')
          .optional(),
      }),
      response: z.object({ items: z.array(RecommendationOut), next_cursor: z.string().nullable() }),
    },
    async ({ query }) => {
      const tiers = tierTable(await listTiers(db));
      if (!tiers) {
        throw Errors.conflict(
          'the tier table is incomplete (hot, warm and cold are needed): set it with PUT /tiers',
        );
      }
      if (query.dataset_id !== undefined) await loadDataset(db, query.dataset_id);
      const recs = await readRecommendations(
        db,
        tiers,
        query.dataset_id !== undefined
          ? { datasetId: query.dataset_id }
          : { afterId: query.cursor ? Number(query.cursor) : undefined, limit: query.limit },
      );
      const items = recs.map(recommendationJson);
      let next: string | null = null;
      const last = recs[recs.length - 1];
      if (query.dataset_id === undefined && recs.length === query.limit && last) {
        const more = await db
          .selectFrom('datasets')
          .select('id')
          .where('id', '>', last.dataset_id)
          .limit(1)
          .executeTakeFirst();
        if (more) next = String(last.dataset_id);
      }
      return { body: { items, next_cursor: next } };
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/recommendations/:id',
      summary:
        'One stored recommendation, with plan: the dry run of applying it (as POST /plan-migration with dry_run answers it), null when it keeps the dataset where it is',
      tag: 'recommendations',
      role: 'viewer',
      params: idParam,
      response: RecommendationOut.extend({ plan: DryRunOut.nullable() }),
    },
    async ({ params, caller }) => {
      const r = await getRecommendation(db, params.id);
      if (!r) throw Errors.notFound('recommendation', params.id);
      const plan = await service.dryRunRecommendation(r.id, {}, caller);
      return { body: { ...recommendationJson(r), plan } };
    },
  );
}
