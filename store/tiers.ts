import type { TierSpec, TierTable } from '../placement';
import { TIER_NAMES } from '../placement';
import type { Db } from './db';
import type { TierRow } from './schema';

/** The tier table: where hot, warm and cold live and what they cost. */
export async function listTiers(db: Db): Promise<TierRow[]> {
  const rows = await db.selectFrom('tiers').selectAll().execute();
  return TIER_NAMES.flatMap((n) => rows.filter((r) => r.name === n));
}

/** The table as the placement logic wants it, or undefined when a tier is missing. */
export function tierTable(rows: TierRow[]): TierTable | undefined {
  const byName = new Map(rows.map((r) => [r.name, r]));
  const hot = byName.get('hot');
  const warm = byName.get('warm');
  const cold = byName.get('cold');
  if (!hot || !warm || !cold) return undefined;
  return { hot: spec(hot), warm: spec(warm), cold: spec(cold) };
}

function spec(r: TierRow): TierSpec {
  return {
    name: r.name,
    location_template: r.location_template,
    storage_class: r.storage_class,
    read_latency_ms: r.read_latency_ms,
    price_gb_month: r.price_gb_month,
    price_retrieval_gb: r.price_retrieval_gb,
    price_per_1k_requests: r.price_per_1k_requests,
    min_storage_days: r.min_storage_days,
    egress_gb: r.egress_gb,
  };
}

/** Replaces the whole table in one transaction. */
export async function replaceTiers(db: Db, tiers: TierSpec[], now = Date.now()): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('tiers').execute();
    await trx
      .insertInto('tiers')
      .values(tiers.map((t) => ({ ...t, updated_at: now })))
      .execute();
  });
}

/**
 * Seeds the table with `defaults` when it is empty (the embedded mode's first start);
 * a table an operator has set is left alone. Returns whether it seeded.
 */
export async function ensureDefaultTiers(
  db: Db,
  defaults: TierTable,
  now = Date.now(),
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const any = await trx.selectFrom('tiers').select('name').limit(1).executeTakeFirst();
    if (any) return false;
    await trx
      .insertInto('tiers')
      .values(TIER_NAMES.map((n) => ({ ...defaults[n], updated_at: now })))
      .execute();
    return true;
  });
}
