import { z } from 'zod';
import { Errors } from '../../errors';
import { HOUR_MS, hourOf, usageBuckets } from '../../store/access';
import { getDataset } from '../../store/datasets';
import type { Db } from '../../store/db';
import { idParam, iso, type Routes } from '../route';

/**
 * `GET /datasets/{id}/usage?from=&to=`: the dataset's hourly buckets (only hours with
 * events), `from <= hour < to`. Defaults: the last 7 days. At most 400 days per request.
 */
const DEFAULT_SPAN_MS = 7 * 24 * HOUR_MS;
const MAX_SPAN_MS = 400 * 24 * HOUR_MS;

const instant = z
  .string()
  .min(1)
  .transform((s, ctx) => {
    const ms = /^\d+$/.test(s) ? Number(s) : Date.parse(s);
    if (!Number.isFinite(ms)) {
      ctx.addIssue({
        code: 'custom',
        message: 'must be an ISO 8601 date-time (2025-01-31T12:00:00Z) or epoch milliseconds',
      });
      return z.NEVER;
    }
    return ms;
  });

const UsageQuery = z.strictObject({ from: instant.optional(), to: instant.optional() });

const Bucket = z.object({
  hour: z.string(),
  read_count: z.number(),
  write_count: z.number(),
  bytes_read: z.number(),
  bytes_written: z.number(),
  mean_client_lat_ms: z.number().nullable(),
});

const UsageOut = z.object({
  dataset_id: z.number(),
  from: z.string(),
  to: z.string(),
  granularity: z.literal('hour'),
  buckets: z.array(Bucket),
});

export function registerUsage(routes: Routes, deps: { db: Db }): void {
  const { db } = deps;
  routes.add(
    {
      method: 'get',
      path: '/datasets/:id/usage',
      summary: 'Hourly usage buckets of a dataset (from <= hour < to; default the last 7 days)',
      tag: 'telemetry',
      role: 'viewer',
      params: idParam,
      query: UsageQuery,
      response: UsageOut,
    },
    async ({ params, query }) => {
      const to = query.to ?? hourOf(Date.now()) + HOUR_MS;
      const from = query.from ?? to - DEFAULT_SPAN_MS;
      if (from >= to) throw Errors.invalid('query.from', 'must be before to');
      if (to - from > MAX_SPAN_MS)
        throw Errors.invalid('query.from', 'from and to must be at most 400 days apart');
      const d = await getDataset(db, params.id);
      if (!d) throw Errors.notFound('dataset', params.id);
      const buckets = await usageBuckets(db, d.id, from, to);
      return {
        body: {
          dataset_id: d.id,
          from: iso(hourOf(from))!,
          to: iso(to)!,
          granularity: 'hour',
          buckets: buckets.map((b) => ({ ...b, hour: iso(b.hour)! })),
        },
      };
    },
  );
}
