import { z } from 'zod';
import { Errors } from '../../errors';
import { resolveLocation, templateProblem, TIER_NAMES, type TierSpec } from '../../placement';
import { normalizeGcsStorageClass, normalizeS3StorageClass } from '../../storage/classes';
import type { Db } from '../../store/db';
import type { TierRow } from '../../store/schema';
import { listTiers, replaceTiers } from '../../store/tiers';
import { storageUriTemplateMeta } from '../openapi';
import { iso, type Routes } from '../route';
import { tierSchema, type LocationCheck } from './datasets';

/**
 * The tier table: hot, warm and cold, each a location template, a storage class, an
 * expected read latency and prices. GET answers `{items}`; PUT replaces all three at once.
 */
const price = (unit: string) =>
  z
    .number({ error: `must be a number (${unit})` })
    .min(0, 'must not be negative')
    .max(1_000_000, 'must be at most 1000000');

export const TierIn = z.strictObject({
  name: tierSchema,
  location_template: z
    .string({ error: 'must be a storage URI template such as s3://bucket/{name}' })
    .min(1, 'must not be empty')
    .max(2000, 'must be at most 2000 characters')
    .meta(storageUriTemplateMeta)
    .describe('Storage URI with {name} (dataset name) and/or {id} (dataset id)'),
  storage_class: z
    .string({ error: 'must be a string' })
    .min(1, 'must not be empty')
    .max(64, 'must be at most 64 characters')
    .regex(/^[A-Za-z0-9_-]+$/, 'may hold letters, digits, "_" and "-"')
    .describe(
      'e.g. STANDARD, STANDARD_IA, GLACIER_IR (s3); STANDARD, NEARLINE, COLDLINE (gs); ignored by file://',
    ),
  read_latency_ms: z
    .number({ error: 'must be a number of milliseconds' })
    .min(0, 'must not be negative')
    .max(86_400_000, 'must be at most one day (86400000 ms)')
    .describe('Expected latency of a read from this tier'),
  price_gb_month: price('USD per GB-month'),
  price_retrieval_gb: price('USD per GB read').default(0),
  price_per_1k_requests: price('USD per 1000 requests').default(0),
  min_storage_days: z
    .number({ error: 'must be a number of days' })
    .int('must be a whole number of days')
    .min(0, 'must not be negative')
    .max(3650, 'must be at most 3650 (ten years)')
    .default(0),
  egress_gb: price('USD per GB leaving the tier').default(0),
  updated_at: z
    .string()
    .optional()
    .describe('Ignored: lets a GET /tiers answer be sent back as is'),
});

export const TiersPut = z.strictObject({
  items: z
    .array(TierIn, { error: 'must be an array of the three tiers' })
    .length(3, 'must hold exactly three tiers: hot, warm and cold')
    // For the document: each name once (checked in the handler).
    .meta({ allOf: TIER_NAMES.map((n) => ({ contains: { properties: { name: { const: n } } } })) }),
});

export const TierOut = z.object({
  name: tierSchema,
  location_template: z.string(),
  storage_class: z.string(),
  read_latency_ms: z.number(),
  price_gb_month: z.number(),
  price_retrieval_gb: z.number(),
  price_per_1k_requests: z.number(),
  min_storage_days: z.number(),
  egress_gb: z.number(),
  updated_at: z.string(),
});

export function tierJson(t: TierRow): z.infer<typeof TierOut> {
  return {
    name: t.name,
    location_template: t.location_template,
    storage_class: t.storage_class,
    read_latency_ms: t.read_latency_ms,
    price_gb_month: t.price_gb_month,
    price_retrieval_gb: t.price_retrieval_gb,
    price_per_1k_requests: t.price_per_1k_requests,
    min_storage_days: t.min_storage_days,
    egress_gb: t.egress_gb,
    updated_at: iso(t.updated_at)!,
  };
}

/** Validates one tier beyond its shape: the template, the URI it resolves to, the class. */
async function checkTier(t: TierSpec, field: string, checkLocation: LocationCheck) {
  const problem = templateProblem(t.location_template);
  if (problem) throw Errors.invalid(`${field}.location_template`, problem);
  // The location check (scheme, file roots, endpoints) on what a dataset would resolve to.
  await checkLocation(
    resolveLocation(t.location_template, { id: 1, name: 'dataset' }),
    `${field}.location_template`,
  );
  const scheme = /^([a-z0-9+.-]+):/i.exec(t.location_template)?.[1]?.toLowerCase();
  try {
    if (scheme === 's3') t.storage_class = normalizeS3StorageClass(t.storage_class);
    if (scheme === 'gs') t.storage_class = normalizeGcsStorageClass(t.storage_class);
  } catch (err) {
    throw Errors.invalid(
      `${field}.storage_class`,
      (err as Error).message.replace(/^storage_class: /, ''),
    );
  }
}

export function registerTiers(
  routes: Routes,
  deps: { db: Db; checkLocation: LocationCheck },
): void {
  const { db } = deps;

  routes.add(
    {
      method: 'get',
      path: '/tiers',
      summary: 'The tier table: location, storage class, latency and prices of hot, warm and cold',
      tag: 'tiers',
      role: 'viewer',
      response: z.object({ items: z.array(TierOut) }),
    },
    async () => ({ body: { items: (await listTiers(db)).map(tierJson) } }),
  );

  routes.add(
    {
      method: 'put',
      path: '/tiers',
      summary: 'Replace the tier table (all three tiers at once)',
      tag: 'tiers',
      role: 'admin',
      body: TiersPut,
      response: z.object({ items: z.array(TierOut) }),
    },
    async ({ body }) => {
      const seen = new Set<string>();
      for (const [i, t] of body.items.entries()) {
        if (seen.has(t.name))
          throw Errors.invalid(`body.items[${i}].name`, `"${t.name}" appears twice`);
        seen.add(t.name);
      }
      const tiers: TierSpec[] = TIER_NAMES.map((n) => {
        const t = body.items.find((x) => x.name === n)!;
        return {
          name: t.name,
          location_template: t.location_template,
          storage_class: t.storage_class,
          read_latency_ms: t.read_latency_ms,
          price_gb_month: t.price_gb_month,
          price_retrieval_gb: t.price_retrieval_gb,
          price_per_1k_requests: t.price_per_1k_requests,
          min_storage_days: t.min_storage_days,
          egress_gb: t.egress_gb,
        };
      });
      for (const t of tiers) {
        await checkTier(
          t,
          `body.items[${body.items.findIndex((x) => x.name === t.name)}]`,
          deps.checkLocation,
        );
      }
      await replaceTiers(db, tiers);
      return { body: { items: (await listTiers(db)).map(tierJson) } };
    },
  );
}
