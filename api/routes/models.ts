import { z } from 'zod';
import { Errors } from '../../errors';
import type { Db } from '../../store/db';
import { getModel, listModels, trainModel, type StoredModel } from '../../store/models';
import { iso, pageOf, pageQuery, page, type Routes } from '../route';

/**
 * Usage models (placement/forecast.ts, store/models.ts). `POST /train` fits one from the
 * hourly access aggregates of every dataset and answers it; the recommendation pass uses
 * the newest. Training reads and folds the datasets in chunks and yields the event loop
 * between them, so other requests are served while it runs.
 */
const days = (max: number) =>
  z
    .number({ error: 'must be a whole number of days' })
    .int('must be a whole number of days')
    .min(1, 'must be at least 1')
    .max(max, `must be at most ${max}`);

export const TrainIn = z
  .strictObject({
    window_days: days(365)
      .default(30)
      .describe('Days of hourly buckets the model is fitted from, ending at the current hour'),
    holdout_days: days(364)
      .default(3)
      .describe(
        'The last days of the window, held out to score the model against the naive forecast',
      ),
  })
  .superRefine((v, ctx) => {
    if (v.holdout_days >= v.window_days)
      ctx.addIssue({
        code: 'custom',
        path: ['holdout_days'],
        message: `must be less than window_days (${v.window_days})`,
      });
  });

const nullableNumber = z.number().nullable();

export const ModelOut = z.object({
  version: z.string().describe('Named in the model_version of the recommendations it made'),
  kind: z.string().describe('The model family'),
  created_at: z.string(),
  window: z.object({
    from: z.string().describe('Start of the training window (first hour)'),
    to: z.string().describe('End of the training window (exclusive); forecasts are as of here'),
    holdout_from: z
      .string()
      .describe('Start of the held-out later window the accuracy is measured on'),
    days: z.number(),
    holdout_days: z.number(),
  }),
  params: z.object({
    level_half_life_h: z.number(),
    profile_half_life_h: z.number(),
    season_prior: z.number(),
    horizon_hours: z.number(),
  }),
  accuracy: z
    .object({
      metric: z.literal('wape_hourly_reads'),
      model_wape: nullableNumber.describe(
        'Σ|forecast − actual| / Σ actual of hourly reads in the holdout',
      ),
      naive_wape: nullableNumber.describe('The same for the naive last-value forecast'),
      model_mae: nullableNumber.describe('Mean absolute error per dataset-hour'),
      naive_mae: nullableNumber,
      hours: z.number().describe('Dataset-hours scored'),
      actual_reads: z.number(),
    })
    .describe('On the held-out later window, against the naive last-value forecast'),
  datasets: z.number(),
  buckets: z.number(),
  train_ms: z.number(),
});

export function modelJson(m: StoredModel): z.infer<typeof ModelOut> {
  return {
    version: m.version,
    kind: m.kind,
    created_at: iso(m.created_at)!,
    window: {
      from: iso(m.window_from)!,
      to: iso(m.window_to)!,
      holdout_from: iso(m.holdout_from)!,
      days: (m.window_to - m.window_from) / 86_400_000,
      holdout_days: (m.window_to - m.holdout_from) / 86_400_000,
    },
    params: m.params,
    accuracy: m.accuracy,
    datasets: m.datasets,
    buckets: m.buckets,
    train_ms: m.train_ms,
  };
}

export function registerModels(routes: Routes, deps: { db: Db }): void {
  const { db } = deps;

  routes.add(
    {
      method: 'post',
      path: '/train',
      summary:
        'Fit a usage model from the hourly access aggregates of all datasets, score it on a held-out later window against the naive last-value forecast, and make it the one recommendations use',
      tag: 'models',
      role: 'admin',
      body: TrainIn,
      bodyOptional: true,
      response: ModelOut,
      success: [201],
    },
    async ({ body }) => {
      const m = await trainModel(db, {
        windowDays: body.window_days,
        holdoutDays: body.holdout_days,
      });
      return { status: 201, body: modelJson(m) };
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/models',
      summary: 'Trained usage models, newest first',
      tag: 'models',
      role: 'viewer',
      query: pageQuery,
      response: pageOf(ModelOut),
    },
    async ({ query }) => {
      const rows = await listModels(
        db,
        query.limit + 1,
        query.cursor ? Number(query.cursor) : undefined,
      );
      const p = page(rows, query.limit, (r) => r.id);
      return { body: { items: p.items.map(modelJson), next_cursor: p.next_cursor } };
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/models/:version',
      summary: 'One trained usage model',
      tag: 'models',
      role: 'viewer',
      params: z.object({
        version: z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
      }),
      response: ModelOut,
    },
    async ({ params }) => {
      const m = await getModel(db, params.version);
      if (!m) throw Errors.notFound('model', params.version);
      return { body: modelJson(m) };
    },
  );
}
