import { z } from 'zod';
import { Errors } from '../../errors';
import type { EventSink } from '../../events/sink';
import type { Logger } from '../../runtime/log';
import {
  computeRecommendations,
  getRecommendation,
  type StoredRecommendation,
} from '../../store/recommendations';
import { listTiers, tierTable } from '../../store/tiers';
import { idParam, iso, pageQuery, type Routes } from '../route';
import { MigrationService, type MigrationServiceDeps } from '../../migrations';
import { loadDataset, tierSchema } from './datasets';
import { DryRunOut } from './jobs';

/**
 * `GET /recommendations` recomputes the advice for the datasets on the page (or the one
 * named by `dataset_id`), stores a new recommendation where the advice changed (see
 * store/recommendations.ts), publishes each dataset's standing recommendation to topic
 * `recommendations`, and answers them. `POST /recommendations/{id}/apply` lives with the
 * migration routes.
 */
export const RecommendationOut = z.object({
  id: z.number(),
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

export function recommendationJson(r: StoredRecommendation): z.infer<typeof RecommendationOut> {
  return {
    id: r.id,
    dataset_id: r.dataset_id,
    current_tier: r.current_tier,
    recommended_tier: r.recommended_tier,
    action: r.recommended_tier === r.current_tier ? 'stay' : 'move',
    target_location: r.target_location,
    storage_class: r.storage_class,
    reason: r.reason,
    inputs: r.inputs as unknown as Record<string, unknown>,
    model_version: r.model_version,
    created_at: iso(r.created_at)!,
  };
}

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
        'Recompute placement advice (datasets on the page, or dataset_id), store a recommendation where it changed, answer and publish each standing one',
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
      const recs = await computeRecommendations(
        db,
        tiers,
        query.dataset_id !== undefined
          ? { datasetId: query.dataset_id }
          : { afterId: query.cursor ? Number(query.cursor) : undefined, limit: query.limit },
      );
      const items = recs.map(recommendationJson);
      try {
        await deps.events.publish(
          'recommendations',
          items.map((r) => ({ key: String(r.dataset_id), value: r })),
        );
      } catch (err) {
        // Stored and answered all the same: the topic is a feed, the table the record.
        deps.log.warn('could not publish recommendations', { err: (err as Error).message });
      }
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
