import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import {
  DEFAULT_RULES,
  choose,
  explain,
  type DatasetSignals,
  type DecisionInputs,
  type PlacementRules,
  type TierTable,
  type UsageForecast,
} from '../placement';
import type { Db } from './db';
import { jsonArray, jsonArrayAgg, rawQuery } from './dialect';
import { latestModel } from './models';
import { DEFAULT_POLICY_NAME } from './policies';
import type { Recommendation, Tier } from './schema';

/**
 * Placement recommendations. A dataset's recommendation is its standing advice: which tier,
 * which target location and storage class, why (reason), from what (inputs) and by which
 * model (model_version). It changes only when the advice does: a pass recomputes every
 * dataset in scope and stores a new recommendation (new id, created_at = the pass) where
 * the dataset has none yet or where the current tier, recommended tier, target location,
 * storage class or model version differ from its standing one; otherwise the standing one
 * stays, with the reason and inputs of the pass that first gave that advice. Older
 * recommendations are kept (history; migration jobs name the one they applied).
 *
 * Set-based: per chunk of datasets, one query reads each dataset with its usage totals and
 * the advice of its standing recommendation (`recommendation_heads`, one row per dataset);
 * the pure `choose` runs per row, `explain` (the reason and the inputs, most of the cost of
 * a decision) only where the advice changed, and the changes go in with multi-row INSERTs,
 * and their heads with multi-row upserts, in one transaction.
 *
 * Passes that store are the placement sweep's (sweep/service.ts). Reads (`readRecommendations`,
 * GET /recommendations) write nothing: a head keeps a digest of the inputs its advice was last
 * computed from (`inputs_key`), and a read decides again only for datasets whose digest moved.
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
  ['d.policy', 'policy'],
  ['h.recommendation_id', 'h_id'],
  ['h.current_tier', 'h_current_tier'],
  ['h.recommended_tier', 'h_recommended_tier'],
  ['h.target_location', 'h_target_location'],
  ['h.storage_class', 'h_storage_class'],
  ['h.model_version', 'h_model_version'],
  ['d.object_count', 'object_count'],
  ['f.reads_per_hour', 'f_reads'],
  ['f.read_bytes_per_hour', 'f_bytes'],
  ['f.writes_per_hour', 'f_writes'],
  ['f.p_access', 'f_p'],
  ['h.inputs_key', 'h_inputs_key'],
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
  policy: string | null,
  // The dataset's standing recommendation (recommendation_heads), all null when it has none.
  h_id: number | null,
  h_current_tier: Tier | null,
  h_recommended_tier: Tier | null,
  h_target_location: string | null,
  h_storage_class: string | null,
  h_model_version: string | null,
  object_count: number,
  // The dataset's forecast in the latest model (model_forecasts), all null when none.
  f_reads: number | null,
  f_bytes: number | null,
  f_writes: number | null,
  f_p: number | null,
  h_inputs_key: string | null,
];

/**
 * The policies by name, as the rules a decision uses. Read apart from the datasets (a
 * handful of rows) rather than joined to each of them.
 */
async function placementRules(db: Db): Promise<Map<string, PlacementRules>> {
  const rows = await db
    .selectFrom('policies')
    .select([
      'name',
      'latency_slo_ms',
      'pinned_tier',
      'cost_target_usd_month',
      'min_residency_s',
      'hot_max_age_s',
      'warm_max_age_s',
    ])
    .execute();
  return new Map(rows.map((p) => [p.name, { ...p }]));
}

/**
 * The datasets in scope in id order, with their usage totals and standing recommendation
 * (the advice columns of `recommendation_heads`), in one query joined by primary keys.
 *
 * The rows come back as a single JSON array of arrays built by the database
 * (json_group_array; json_agg on PostgreSQL): a driver building one JS object per row is
 * three to four times slower at 100,000 rows.
 */
async function readPlacementRows(db: Db, scope: RecommendationScope, modelId = 0): Promise<Row[]> {
  let inner = db
    .selectFrom('datasets as d')
    .leftJoin('access_totals as a', 'a.dataset_id', 'd.id')
    .leftJoin('recommendation_heads as h', 'h.dataset_id', 'd.id')
    .leftJoin('model_forecasts as f', (j) =>
      j.onRef('f.dataset_id', '=', 'd.id').on('f.model_id', '=', modelId),
    )
    .select(COLUMNS.map(([col, alias]) => sql.ref(col).as(alias)))
    .orderBy('d.id');
  if (scope.datasetId !== undefined) inner = inner.where('d.id', '=', scope.datasetId);
  if (scope.afterId !== undefined) inner = inner.where('d.id', '>', scope.afterId);
  if (scope.limit !== undefined) inner = inner.limit(scope.limit);
  const cols = sql.join(COLUMNS.map(([, alias]) => sql.ref(`x.${alias}`)));
  const { rows: json } = await db
    .selectFrom(inner.as('x'))
    .select(jsonArrayAgg(db, jsonArray(db, cols)).as('rows'))
    .executeTakeFirstOrThrow();
  const rows = JSON.parse(json) as Row[];
  // The aggregate keeps the subquery's order in practice (SQLite, and PostgreSQL's
  // json_agg), but SQL does not promise it; sorting inside the aggregate costs a temp
  // B-tree, checking here costs nothing.
  if (rows.some((r, i) => i > 0 && r[0] < rows[i - 1]![0])) rows.sort((a, b) => a[0] - b[0]);
  return rows;
}

/** What a decision knows about the dataset of a row. */
function signalsOf(r: Row): DatasetSignals {
  const dLast = r[8];
  const aLast = r[9];
  return {
    id: r[0],
    name: r[1],
    path_uri: r[2],
    current_tier: r[3],
    size_bytes: r[4],
    object_count: r[21],
    latency_slo_ms: r[5],
    tier_since: r[6],
    created_at: r[7],
    last_access_ts: aLast === null ? dLast : dLast === null ? aLast : Math.max(aLast, dLast),
    read_count: r[10] ?? 0,
    write_count: r[11] ?? 0,
    bytes_read: r[12] ?? 0,
    bytes_written: r[13] ?? 0,
  };
}

/** The model a pass uses: the latest trained one (store/models.ts), if any. */
type PassModel = { id: number; version: string; horizon_hours: number } | undefined;

/** The row's forecast in the pass's model; null when the model has none for it (or there is no model). */
const forecastOf = (r: Row, model: PassModel): UsageForecast | null =>
  model && r[22] !== null
    ? {
        model_version: model.version,
        reads_per_hour: r[22],
        read_bytes_per_hour: r[23]!,
        writes_per_hour: r[24]!,
        p_access: r[25]!,
        horizon_hours: model.horizon_hours,
      }
    : null;

/** The dataset's policy, else the one named `default`, else the built-in defaults. */
const rulesOf = (r: Row, policies: Map<string, PlacementRules>): PlacementRules =>
  policies.get(r[14] ?? DEFAULT_POLICY_NAME) ?? DEFAULT_RULES;

/**
 * What a row's advice is computed from, apart from the clock, as one short digest: the
 * dataset's columns, usage totals and forecast (row fields 0-14 and 21-25), its policy's
 * rules, and the pass's context (the tier table and the model). Equal digests: the same
 * inputs, so a read may answer the standing recommendation without deciding again.
 */
function inputsKey(r: Row, rules: PlacementRules, context: string): string {
  const h = createHash('sha1');
  for (let i = 0; i <= 14; i++) h.update(String(r[i]) + '\0');
  for (let i = 21; i <= 25; i++) h.update(String(r[i]) + '\0');
  h.update((rules.name ?? '') + '\0' + context);
  return h.digest('base64url').slice(0, 22);
}

/**
 * The context part of every row's digest: the tier table, the model's version and, per
 * policy, its rules (stringified once per pass, not per row).
 */
function contextOf(
  tiers: TierTable,
  policies: Map<string, PlacementRules>,
  modelVersion: string | undefined,
): Context {
  const text = JSON.stringify(tiers) + '\0' + (modelVersion ?? '');
  const ruleText = new Map<string, string>();
  for (const [name, rules] of policies) ruleText.set(name, JSON.stringify(rules));
  return {
    key: (r, rules) =>
      inputsKey(r, rules, text + '\0' + (ruleText.get(rules.name ?? '') ?? 'defaults')),
  };
}

interface Context {
  key: (r: Row, rules: PlacementRules) => string;
}

/** A choice explained, as a recommendation given at `now` (not stored: id null). */
function recommendationOf(
  c: ReturnType<typeof choose>,
  signals: DatasetSignals,
  now: number,
): CurrentRecommendation {
  const d = explain(c);
  return {
    id: null,
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
}

/** The standing advice (head) of a row, when the choice gives the same. */
const sameAdvice = (r: Row, c: ReturnType<typeof choose>, currentTier: Tier) =>
  r[15] !== null &&
  r[16] === currentTier &&
  r[17] === c.recommended_tier &&
  r[18] === c.target_location &&
  r[19] === c.storage_class &&
  r[20] === c.model_version;

/** The signals, rules and forecast (latest model) of the datasets in scope, in dataset id order (see readPlacementRows). */
export async function placementInputs(
  db: Db,
  scope: RecommendationScope,
  options: PassOptions = {},
): Promise<
  Array<{ signals: DatasetSignals; rules: PlacementRules; forecast: UsageForecast | null }>
> {
  const policies = await placementRules(db);
  const model = options.useModel === false ? undefined : await latestModel(db);
  const rows = await readPlacementRows(db, scope, model?.id);
  return rows.map((r) => ({
    signals: signalsOf(r),
    rules: rulesOf(r, policies),
    forecast: forecastOf(r, model),
  }));
}

/** What one pass did. */
export interface RecommendationPass {
  /** The id of each dataset's standing recommendation after the pass, in dataset id order. */
  standing: number[];
  /** The recommendations this pass stored (new datasets, changed advice), in dataset id order. */
  stored: StoredRecommendation[];
  /** How many of the standing recommendations say move. */
  moves: number;
}

/** Options of a pass (all optional; added after the first callers, so trailing). */
export interface PassOptions {
  /**
   * Use the latest trained model's forecasts (default true). False: the heuristic for
   * every dataset, as if no model had been trained.
   */
  useModel?: boolean;
}

/** Datasets per round trip of a pass: bounds memory and the size of one JSON text. */
const CHUNK = 20_000;

/**
 * Recomputes the advice for the datasets in scope and stores a recommendation for each
 * dataset whose advice changed or that has none (see the top of this file). Per chunk of
 * datasets: one read query, the pure `choose` per row, `explain` and one multi-row INSERT
 * per 200 changes.
 *
 * Two passes running at once may each store the same change; the later row then stands.
 * (A dataset's standing recommendation is its row in `recommendation_heads`.)
 */
export async function refreshRecommendations(
  db: Db,
  tiers: TierTable,
  scope: RecommendationScope = {},
  now = Date.now(),
  options: PassOptions = {},
): Promise<RecommendationPass> {
  const pass: RecommendationPass = { standing: [], stored: [], moves: 0 };
  const policies = await placementRules(db);
  const model = options.useModel === false ? undefined : await latestModel(db);
  const context = contextOf(tiers, policies, model?.version);
  let afterId = scope.afterId;
  let remaining = scope.limit ?? Number.POSITIVE_INFINITY;
  while (remaining > 0) {
    const want = Math.min(CHUNK, remaining);
    const rows = await readPlacementRows(
      db,
      { datasetId: scope.datasetId, afterId, limit: want },
      model?.id,
    );
    if (rows.length === 0) break;
    const changed: StoredRecommendation[] = [];
    const keys: string[] = [];
    const slots: number[] = [];
    /** Standing advice computed from new inputs: its digest moves on (dataset id, key). */
    const rekeyed: Array<[number, string]> = [];
    for (const row of rows) {
      const signals = signalsOf(row);
      const rules = rulesOf(row, policies);
      const key = context.key(row, rules);
      const c = choose(signals, rules, tiers, now, undefined, forecastOf(row, model));
      if (c.action === 'move') pass.moves++;
      if (sameAdvice(row, c, signals.current_tier)) {
        pass.standing.push(row[15]!);
        if (row[26] !== key) rekeyed.push([signals.id, key]);
        continue;
      }
      slots.push(pass.standing.length);
      pass.standing.push(0);
      keys.push(key);
      changed.push({ ...recommendationOf(c, signals, now), id: 0 });
    }
    await insertRecommendations(db, changed, keys);
    await rekeyHeads(db, rekeyed);
    changed.forEach((r, i) => (pass.standing[slots[i]!] = r.id));
    pass.stored.push(...changed);
    if (rows.length < want) break;
    remaining -= rows.length;
    afterId = rows[rows.length - 1]![0];
  }
  return pass;
}

/**
 * Brings the recommendations of the datasets in scope up to date (refreshRecommendations)
 * and returns each dataset's standing recommendation, in dataset id order: the one just
 * stored where the advice changed, else the standing one read back.
 */
export async function computeRecommendations(
  db: Db,
  tiers: TierTable,
  scope: RecommendationScope = {},
  now = Date.now(),
  options: PassOptions = {},
): Promise<StoredRecommendation[]> {
  const pass = await refreshRecommendations(db, tiers, scope, now, options);
  const byId = new Map(pass.stored.map((r) => [r.id, r]));
  const older = await readStored(
    db,
    pass.standing.filter((id) => !byId.has(id)),
  );
  for (const [id, r] of older) byId.set(id, r);
  // A dataset deleted meanwhile takes its recommendations with it.
  return pass.standing.flatMap((id) => byId.get(id) ?? []);
}

/** Ids per `where id in (...)` when reading standing recommendations back. */
const READ_IDS = 1000;

/** Rows per INSERT statement. */
const INSERT_ROWS = 200;
const INSERT_COLUMNS =
  'dataset_id, current_tier, recommended_tier, target_location, storage_class, reason, inputs, model_version, created_at';
const ROW_PLACEHOLDERS = '(?, ?, ?, ?, ?, ?, ?, ?, ?)';
const insertText = (rows: number) =>
  `insert into recommendations (${INSERT_COLUMNS}) values ${Array<string>(rows).fill(ROW_PLACEHOLDERS).join(', ')} returning id, dataset_id`;
const FULL_INSERT = insertText(INSERT_ROWS);

const HEAD_PLACEHOLDERS = '(?, ?, ?, ?, ?, ?, ?, ?)';
/**
 * Makes each new recommendation its dataset's standing one, unless a newer one already is
 * (two passes at once: the later row stands). `insert ... on conflict do update ... where`
 * as in PostgreSQL.
 */
const headsText = (rows: number) =>
  `insert into recommendation_heads (dataset_id, recommendation_id, current_tier, recommended_tier, target_location, storage_class, model_version, inputs_key) values ${Array<string>(rows).fill(HEAD_PLACEHOLDERS).join(', ')} on conflict (dataset_id) do update set recommendation_id = excluded.recommendation_id, current_tier = excluded.current_tier, recommended_tier = excluded.recommended_tier, target_location = excluded.target_location, storage_class = excluded.storage_class, model_version = excluded.model_version, inputs_key = excluded.inputs_key where excluded.recommendation_id > recommendation_heads.recommendation_id`;
const FULL_HEADS = headsText(INSERT_ROWS);

/**
 * Stores the recommendations and their heads (multi-row statements in one transaction) and
 * sets their `id`s. The statement texts are built once and reused: building a Kysely query
 * tree per value costs more than the insert itself at this volume. (`?` placeholders,
 * numbered `$n` on PostgreSQL by rawQuery.)
 */
async function insertRecommendations(
  db: Db,
  recs: StoredRecommendation[],
  keys: string[],
): Promise<void> {
  if (recs.length === 0) return;
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < recs.length; i += INSERT_ROWS) {
      const chunk = recs.slice(i, i + INSERT_ROWS);
      const full = chunk.length === INSERT_ROWS;
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
      const { rows } = await trx.executeQuery<{ id: number; dataset_id: number }>(
        rawQuery(trx, full ? FULL_INSERT : insertText(chunk.length), params),
      );
      const ids = new Map(rows.map((r) => [r.dataset_id, r.id]));
      const heads: unknown[] = [];
      for (const [j, r] of chunk.entries()) {
        r.id = ids.get(r.dataset_id)!;
        heads.push(
          r.dataset_id,
          r.id,
          r.current_tier,
          r.recommended_tier,
          r.target_location,
          r.storage_class,
          r.model_version,
          keys[i + j],
        );
      }
      await trx.executeQuery(rawQuery(trx, full ? FULL_HEADS : headsText(chunk.length), heads));
    }
  });
}

/** Rows per statement when moving heads' digests on. */
const REKEY_ROWS = 400;
const rekeyText = (rows: number) =>
  `with v(id, k) as (values ${Array<string>(rows).fill('(cast(? as integer), ?)').join(', ')}) update recommendation_heads set inputs_key = (select k from v where v.id = recommendation_heads.dataset_id) where dataset_id in (select id from v)`;

/**
 * Records that the standing advice of these datasets was recomputed from new inputs and
 * stayed the same: their heads' digests move on (an update in place, no row added).
 */
async function rekeyHeads(db: Db, rekeyed: Array<[number, string]>): Promise<void> {
  if (rekeyed.length === 0) return;
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < rekeyed.length; i += REKEY_ROWS) {
      const chunk = rekeyed.slice(i, i + REKEY_ROWS);
      await trx.executeQuery(rawQuery(trx, rekeyText(chunk.length), chunk.flat()));
    }
  });
}

/**
 * A dataset's current advice as a read answers it: its standing recommendation (`id`), or,
 * when the dataset's inputs changed since that was computed and the advice with them,
 * the advice computed just now and not stored (`id` null): the next placement sweep
 * stores it.
 */
export type CurrentRecommendation = Omit<StoredRecommendation, 'id'> & { id: number | null };

/**
 * The current advice for the datasets in scope, in dataset id order, without writing
 * anything (reads are reads): the standing recommendation of each dataset whose inputs
 * (dataset, usage totals, policy, tiers, model: the digest the last pass recorded) are the
 * same as when it was computed; for the others the decision runs now, and its advice is
 * answered as the standing recommendation when it is the same, else unstored (id null).
 */
export async function readRecommendations(
  db: Db,
  tiers: TierTable,
  scope: RecommendationScope = {},
  now = Date.now(),
  options: PassOptions = {},
): Promise<CurrentRecommendation[]> {
  const policies = await placementRules(db);
  const model = options.useModel === false ? undefined : await latestModel(db);
  const context = contextOf(tiers, policies, model?.version);
  const rows = await readPlacementRows(db, scope, model?.id);
  const out: Array<CurrentRecommendation | number> = [];
  const standing: number[] = [];
  for (const row of rows) {
    const rules = rulesOf(row, policies);
    if (row[15] !== null && row[26] === context.key(row, rules)) {
      out.push(row[15]);
      standing.push(row[15]);
      continue;
    }
    const signals = signalsOf(row);
    const c = choose(signals, rules, tiers, now, undefined, forecastOf(row, model));
    if (sameAdvice(row, c, signals.current_tier)) {
      out.push(row[15]!);
      standing.push(row[15]!);
      continue;
    }
    out.push(recommendationOf(c, signals, now));
  }
  const byId = await readStored(db, standing);
  return out.flatMap((r) => (typeof r === 'number' ? (byId.get(r) ?? []) : r));
}

/** Stored recommendations by id, read `READ_IDS` at a time. */
export async function readStored(
  db: Db,
  ids: number[],
): Promise<Map<number, StoredRecommendation>> {
  const byId = new Map<number, StoredRecommendation>();
  for (let i = 0; i < ids.length; i += READ_IDS) {
    const rows = await db
      .selectFrom('recommendations')
      .selectAll()
      .where('id', 'in', ids.slice(i, i + READ_IDS))
      .execute();
    for (const r of rows) byId.set(r.id, parseStored(r));
  }
  return byId;
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

/**
 * A recommendation as the API answers it and topic `recommendations` carries it: `action`
 * spelled out, times in ISO 8601.
 */
export function recommendationView(r: CurrentRecommendation) {
  return {
    id: r.id,
    dataset_id: r.dataset_id,
    current_tier: r.current_tier,
    recommended_tier: r.recommended_tier,
    action: r.recommended_tier === r.current_tier ? ('stay' as const) : ('move' as const),
    target_location: r.target_location,
    storage_class: r.storage_class,
    reason: r.reason,
    inputs: r.inputs as unknown as Record<string, unknown>,
    model_version: r.model_version,
    created_at: new Date(r.created_at).toISOString(),
  };
}

export function parseStored(r: Recommendation): StoredRecommendation {
  return { ...r, created_at: Number(r.created_at), inputs: JSON.parse(r.inputs) as DecisionInputs };
}
