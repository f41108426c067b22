import { CompiledQuery, sql } from 'kysely';
import {
  DEFAULT_RULES,
  decide,
  type DatasetSignals,
  type DecisionInputs,
  type PlacementRules,
  type TierTable,
} from '../placement';
import type { Db } from './db';
import { DEFAULT_POLICY_NAME } from './policies';
import type { Recommendation, Tier } from './schema';

/**
 * Placement recommendations, computed set-based: one query joins each dataset with its
 * usage totals and its policy (or the policy named `default`), the pure `decide` runs per
 * row, and the results go in with batched inserts inside one transaction.
 */
export interface RecommendationScope {
  /** Only this dataset. */
  datasetId?: number;
  /** Datasets with a larger id (pagination). */
  afterId?: number;
  /** At most this many datasets; all when unset. */
  limit?: number;
}

export interface StoredRecommendation {
  id: number;
  dataset_id: number;
  current_tier: Tier;
  recommended_tier: Tier;
  target_location: string;
  storage_class: string;
  reason: string;
  inputs: DecisionInputs;
  model_version: string;
  created_at: number;
}

/** The columns read per dataset, in the order of the JSON arrays the read query returns. */
const COLUMNS = [
  ['d.id', 'id'],
  ['d.name', 'name'],
  ['d.path_uri', 'path_uri'],
  ['d.current_tier', 'current_tier'],
  ['d.size_bytes', 'size_bytes'],
  ['d.latency_slo_ms', 'latency_slo_ms'],
  ['d.tier_since', 'tier_since'],
  ['d.created_at', 'created_at'],
  ['d.last_access_ts', 'd_last'],
  ['a.last_access_ts', 'a_last'],
  ['a.read_count', 'read_count'],
  ['a.write_count', 'write_count'],
  ['a.bytes_read', 'bytes_read'],
  ['a.bytes_written', 'bytes_written'],
  ['p.name', 'p_name'],
  ['p.latency_slo_ms', 'p_slo'],
  ['p.pinned_tier', 'pinned_tier'],
  ['p.cost_target_usd_month', 'cost_target'],
  ['p.min_residency_s', 'min_residency_s'],
  ['p.hot_max_age_s', 'hot_max_age_s'],
  ['p.warm_max_age_s', 'warm_max_age_s'],
] as const;

type Row = [
  id: number,
  name: string,
  path_uri: string,
  current_tier: Tier,
  size_bytes: number,
  latency_slo_ms: number | null,
  tier_since: number,
  created_at: number,
  d_last: number | null,
  a_last: number | null,
  read_count: number | null,
  write_count: number | null,
  bytes_read: number | null,
  bytes_written: number | null,
  p_name: string | null,
  p_slo: number | null,
  pinned_tier: Tier | null,
  cost_target: number | null,
  min_residency_s: number | null,
  hot_max_age_s: number | null,
  warm_max_age_s: number | null,
];

/**
 * The signals and rules of the datasets in scope, in dataset id order: one query joining
 * datasets, usage totals and policies (a dataset without a policy gets the one named
 * `default`, if any, else the built-in defaults).
 *
 * The rows come back as a single JSON array of arrays built by the database
 * (json_group_array; json_agg on PostgreSQL): a driver building one JS object per row is
 * three to four times slower at 100,000 rows.
 */
export async function placementInputs(
  db: Db,
  scope: RecommendationScope,
): Promise<Array<{ signals: DatasetSignals; rules: PlacementRules }>> {
  let inner = db
    .selectFrom('datasets as d')
    .leftJoin('access_totals as a', 'a.dataset_id', 'd.id')
    .leftJoin('policies as p', (join) =>
      join.on((eb) => eb('p.name', '=', eb.fn.coalesce('d.policy', sql.lit(DEFAULT_POLICY_NAME)))),
    )
    .select(COLUMNS.map(([col, alias]) => sql.ref(col).as(alias)))
    .orderBy('d.id');
  if (scope.datasetId !== undefined) inner = inner.where('d.id', '=', scope.datasetId);
  if (scope.afterId !== undefined) inner = inner.where('d.id', '>', scope.afterId);
  if (scope.limit !== undefined) inner = inner.limit(scope.limit);
  const cols = sql.join(COLUMNS.map(([, alias]) => sql.ref(`x.${alias}`)));
  const { rows: json } = await db
    .selectFrom(inner.as('x'))
    .select(sql<string>`json_group_array(json_array(${cols}) order by x.id)`.as('rows'))
    .executeTakeFirstOrThrow();
  const rows = JSON.parse(json) as Row[];

  const policies = new Map<string, PlacementRules>();
  return rows.map((r) => {
    const [dLast, aLast] = [r[8], r[9]];
    const last = aLast === null ? dLast : dLast === null ? aLast : Math.max(aLast, dLast);
    let rules = DEFAULT_RULES;
    const policy = r[14];
    if (policy !== null) {
      let known = policies.get(policy);
      if (!known) {
        known = {
          name: policy,
          latency_slo_ms: r[15],
          pinned_tier: r[16],
          cost_target_usd_month: r[17],
          min_residency_s: r[18] ?? DEFAULT_RULES.min_residency_s,
          hot_max_age_s: r[19] ?? DEFAULT_RULES.hot_max_age_s,
          warm_max_age_s: r[20] ?? DEFAULT_RULES.warm_max_age_s,
        };
        policies.set(policy, known);
      }
      rules = known;
    }
    return {
      signals: {
        id: r[0],
        name: r[1],
        path_uri: r[2],
        current_tier: r[3],
        size_bytes: r[4],
        latency_slo_ms: r[5],
        tier_since: r[6],
        created_at: r[7],
        last_access_ts: last,
        read_count: r[10] ?? 0,
        write_count: r[11] ?? 0,
        bytes_read: r[12] ?? 0,
        bytes_written: r[13] ?? 0,
      },
      rules,
    };
  });
}

/** Datasets per round trip of the sweep: bounds memory and the size of one JSON text. */
const CHUNK = 20_000;

/**
 * Computes fresh recommendations for the datasets in scope, stores them, and returns them
 * in dataset id order. Per chunk of datasets: one read query, the pure `decide` per row,
 * one INSERT ... SELECT from a JSON array (json_each; jsonb_array_elements on PostgreSQL).
 */
export async function computeRecommendations(
  db: Db,
  tiers: TierTable,
  scope: RecommendationScope = {},
  now = Date.now(),
): Promise<StoredRecommendation[]> {
  const out: StoredRecommendation[] = [];
  let afterId = scope.afterId;
  let remaining = scope.limit ?? Number.POSITIVE_INFINITY;
  while (remaining > 0) {
    const want = Math.min(CHUNK, remaining);
    const inputs = await placementInputs(db, { datasetId: scope.datasetId, afterId, limit: want });
    if (inputs.length === 0) break;
    const recs = inputs.map(({ signals, rules }): StoredRecommendation => {
      const d = decide(signals, rules, tiers, now);
      return {
        id: 0,
        dataset_id: signals.id,
        current_tier: signals.current_tier,
        recommended_tier: d.recommended_tier,
        target_location: d.target_location,
        storage_class: d.storage_class,
        reason: d.reason,
        inputs: d.inputs,
        model_version: d.model_version,
        created_at: now,
      };
    });
    await insertRecommendations(db, recs);
    out.push(...recs);
    if (inputs.length < want) break;
    remaining -= inputs.length;
    afterId = inputs[inputs.length - 1]!.signals.id;
  }
  return out;
}

/** Rows per INSERT statement. */
const INSERT_ROWS = 200;
const INSERT_COLUMNS =
  'dataset_id, current_tier, recommended_tier, target_location, storage_class, reason, inputs, model_version, created_at';
const ROW_PLACEHOLDERS = '(?, ?, ?, ?, ?, ?, ?, ?, ?)';
const insertText = (rows: number) =>
  `insert into recommendations (${INSERT_COLUMNS}) values ${Array<string>(rows).fill(ROW_PLACEHOLDERS).join(', ')} returning id, dataset_id`;
const FULL_INSERT = insertText(INSERT_ROWS);

/**
 * Stores the recommendations (multi-row INSERTs in one transaction) and sets their `id`s.
 * The statement text is built once and reused: building a Kysely query tree per value
 * costs more than the insert itself at this volume. (`?` placeholders: the pg dialect
 * will want `$n`.)
 */
async function insertRecommendations(db: Db, recs: StoredRecommendation[]): Promise<void> {
  const ids = new Map<number, number>();
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < recs.length; i += INSERT_ROWS) {
      const chunk = recs.slice(i, i + INSERT_ROWS);
      const params: unknown[] = [];
      for (const r of chunk) {
        params.push(
          r.dataset_id,
          r.current_tier,
          r.recommended_tier,
          r.target_location,
          r.storage_class,
          r.reason,
          JSON.stringify(r.inputs),
          r.model_version,
          r.created_at,
        );
      }
      const text = chunk.length === INSERT_ROWS ? FULL_INSERT : insertText(chunk.length);
      const { rows } = await trx.executeQuery<{ id: number; dataset_id: number }>(
        CompiledQuery.raw(text, params),
      );
      for (const r of rows) ids.set(r.dataset_id, r.id);
    }
  });
  for (const r of recs) r.id = ids.get(r.dataset_id)!;
}

export async function getRecommendation(
  db: Db,
  id: number,
): Promise<StoredRecommendation | undefined> {
  const r = await db
    .selectFrom('recommendations')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirst();
  return r ? parseStored(r) : undefined;
}

export function parseStored(r: Recommendation): StoredRecommendation {
  return { ...r, created_at: Number(r.created_at), inputs: JSON.parse(r.inputs) as DecisionInputs };
}
