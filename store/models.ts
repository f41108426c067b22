import { sql, type RawBuilder } from 'kysely';
import { jsonArrayAgg, rawQuery } from './dialect';
import {
  DEFAULT_FORECAST_PARAMS,
  HOUR_MS,
  accuracyOf,
  advance,
  emptyScore,
  forecast,
  newUsageState,
  observe,
  scoreHoldout,
  type Accuracy,
  type ForecastParams,
  type HourlyBucket,
  type UsageForecast,
} from '../placement';
import type { Db } from './db';

/**
 * Trained usage models (migration 009). Training folds the hourly `access_aggregates` of
 * every dataset through placement/forecast.ts, in dataset chunks, in time order:
 *
 * 1. the training part [window_from, holdout_from) into a state per dataset;
 * 2. the held-out later window [holdout_from, window_to) scored against the forecast from
 *    that state, and against the naive last-value forecast (WAPE and MAE of hourly reads);
 * 3. the holdout folded in too, and each dataset's forecast as of window_to over the
 *    model's horizon stored in `model_forecasts`, which the recommendation pass reads.
 *
 * A dataset registered after the training, or observed for less than MIN_HISTORY_HOURS,
 * has no forecast in the model: the pass decides it by the heuristic until the next
 * training. Only datasets with history before the holdout are scored. The forecasts are as of window_to; the
 * placement sweep (or an operator) retrains to bring them forward.
 */
export const MODEL_KIND = 'seasonal-decay-v1';

/** Models whose per-dataset forecasts are kept (the rows of older models stay, as history). */
export const KEEP_FORECASTS = 3;

export interface StoredModel {
  version: string;
  kind: string;
  created_at: number;
  window_from: number;
  window_to: number;
  holdout_from: number;
  params: ForecastParams;
  accuracy: Accuracy;
  /** Datasets the model has a forecast for, and the hourly buckets it was fitted from. */
  datasets: number;
  buckets: number;
  /** How long the training took, ms. */
  train_ms: number;
}

export interface TrainOptions {
  windowDays?: number;
  holdoutDays?: number;
  /** Training ends at the start of the hour holding `now` (default Date.now()). */
  now?: number;
  params?: ForecastParams;
  /** Datasets per read (the event loop is yielded to between chunks). */
  chunk?: number;
}

const DAY_MS = 86_400_000;
/**
 * A dataset observed for less than this gets no forecast: the heuristic decides it until
 * the next training (a model knows nothing of a dataset registered an hour ago).
 */
export const MIN_HISTORY_HOURS = 24;
/**
 * Buckets per read at most (datasets per read = this / hours in the window): bounds the
 * event loop's time at a stretch (a few hundred ms) and the size of one JSON text.
 */
const ROWS_PER_CHUNK = 200_000;

/**
 * Fits a model from the datasets' hourly buckets and stores it with its forecasts (see
 * the top of this file); returns it. Yields the event loop between chunks of datasets,
 * so an API serving other requests is not blocked for the whole training.
 */
export async function trainModel(db: Db, opts: TrainOptions = {}): Promise<StoredModel> {
  const started = Date.now();
  const windowDays = opts.windowDays ?? 30;
  const holdoutDays = opts.holdoutDays ?? 3;
  const params = opts.params ?? DEFAULT_FORECAST_PARAMS;
  // At most ~ROWS_PER_CHUNK buckets per read, even when every hour has one.
  const chunk =
    opts.chunk ?? Math.max(50, Math.min(5000, Math.floor(ROWS_PER_CHUNK / (windowDays * 24))));
  const trainedAt = opts.now ?? Date.now();
  const to = Math.floor(trainedAt / HOUR_MS) * HOUR_MS;
  const from = to - windowDays * DAY_MS;
  const split = Math.max(from, to - holdoutDays * DAY_MS);
  const model = { version: 'pending', params };

  const score = emptyScore();
  const forecasts: Array<{ id: number; f: UsageForecast }> = [];
  let buckets = 0;
  let afterId = 0;
  for (;;) {
    const ds = await db
      .selectFrom('datasets')
      .select(['id', 'created_at'])
      .where('id', '>', afterId)
      .where('created_at', '<=', trainedAt)
      .orderBy('id')
      .limit(chunk)
      .execute();
    if (ds.length === 0) break;
    const lo = ds[0]!.id;
    const hi = ds[ds.length - 1]!.id;
    // One JSON array per column (json_agg on PostgreSQL): a third cheaper than an array
    // per row, for SQLite to build and for JSON.parse.
    const agg = (e: RawBuilder<unknown>) => jsonArrayAgg(db, e);
    const cols = await sql<Record<'d' | 'h' | 'r' | 'w' | 'b', string>>`
      select ${agg(sql`dataset_id`)} as d, ${agg(sql`(hour - ${from}) / ${HOUR_MS}`)} as h,
        ${agg(sql`read_count`)} as r, ${agg(sql`write_count`)} as w,
        ${agg(sql`bytes_read`)} as b
      from (select dataset_id, hour, read_count, write_count, bytes_read from access_aggregates
            where dataset_id >= ${lo} and dataset_id <= ${hi} and hour >= ${from} and hour < ${to}
            order by dataset_id, hour) as x`
      .execute(db)
      .then((r) => r.rows[0]!);
    const dsIds = JSON.parse(cols.d) as number[];
    const hours = JSON.parse(cols.h) as number[];
    const reads = JSON.parse(cols.r) as number[];
    const writes = JSON.parse(cols.w) as number[];
    const bytes = JSON.parse(cols.b) as number[];
    const n = dsIds.length;
    buckets += n;
    let i = 0;
    for (const d of ds) {
      while (i < n && dsIds[i]! < d.id) i++;
      // Observed from its registration, or its first bucket if older (imported history).
      const createdHour = Math.floor(Number(d.created_at) / HOUR_MS) * HOUR_MS;
      const first = i < n && dsIds[i] === d.id ? from + hours[i]! * HOUR_MS : createdHour;
      const s = newUsageState(Math.max(from, Math.min(createdHour, first)));
      const start = s.start * HOUR_MS;
      const held: HourlyBucket[] = [];
      for (; i < n && dsIds[i] === d.id; i++) {
        const b = {
          hour: from + hours[i]! * HOUR_MS,
          read_count: reads[i]!,
          write_count: writes[i]!,
          bytes_read: bytes[i]!,
        };
        if (b.hour < split) observe(s, b, params);
        else held.push(b);
      }
      // Scored only with some training history before the holdout.
      if (split < to && start < split) {
        advance(s, split, params);
        scoreHoldout(s, held, split, to, params, score);
      }
      for (const b of held) observe(s, b, params);
      if (to - start >= MIN_HISTORY_HOURS * HOUR_MS) {
        forecasts.push({ id: d.id, f: forecast(s, to, params.horizon_hours, model) });
      }
    }
    afterId = hi;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  const accuracy = accuracyOf(score);
  const created = Date.now();
  const version = await db.transaction().execute(async (trx) => {
    const { id } = await trx
      .insertInto('models')
      .values({
        version: `pending-${created}-${Math.random().toString(36).slice(2)}`,
        kind: MODEL_KIND,
        created_at: created,
        window_from: from,
        window_to: to,
        holdout_from: split,
        params: JSON.stringify(params),
        accuracy: JSON.stringify(accuracy),
        datasets: forecasts.length,
        buckets,
        train_ms: 0,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const v = `forecast-${id}`;
    for (let k = 0; k < forecasts.length; k += INSERT_ROWS) {
      const part = forecasts.slice(k, k + INSERT_ROWS);
      const values: unknown[] = [];
      for (const { id: dsId, f } of part) {
        values.push(
          id,
          dsId,
          f.reads_per_hour,
          f.read_bytes_per_hour,
          f.writes_per_hour,
          f.p_access,
        );
      }
      await trx.executeQuery(
        rawQuery(trx, part.length === INSERT_ROWS ? FULL_INSERT : insertText(part.length), values),
      );
      // Other requests get the event loop now and then (their queries wait for the commit).
      if ((k / INSERT_ROWS) % 25 === 24) await new Promise<void>((r) => setImmediate(r));
    }
    await trx
      .updateTable('models')
      .set({ version: v, train_ms: Date.now() - started })
      .where('id', '=', id)
      .execute();
    await trx
      .deleteFrom('model_forecasts')
      .where('model_id', '<=', id - KEEP_FORECASTS)
      .execute();
    return v;
  });
  return (await getModel(db, version))!;
}

const INSERT_ROWS = 200;
const insertText = (rows: number) =>
  `insert into model_forecasts (model_id, dataset_id, reads_per_hour, read_bytes_per_hour, writes_per_hour, p_access) values ${Array<string>(rows).fill('(?, ?, ?, ?, ?, ?)').join(', ')}`;
const FULL_INSERT = insertText(INSERT_ROWS);

type ModelRow = {
  id: number;
  version: string;
  kind: string;
  created_at: number;
  window_from: number;
  window_to: number;
  holdout_from: number;
  params: string;
  accuracy: string;
  datasets: number;
  buckets: number;
  train_ms: number;
};

const parse = (r: ModelRow): StoredModel => ({
  version: r.version,
  kind: r.kind,
  created_at: Number(r.created_at),
  window_from: Number(r.window_from),
  window_to: Number(r.window_to),
  holdout_from: Number(r.holdout_from),
  params: JSON.parse(r.params) as ForecastParams,
  accuracy: JSON.parse(r.accuracy) as Accuracy,
  datasets: r.datasets,
  buckets: r.buckets,
  train_ms: r.train_ms,
});

export async function getModel(db: Db, version: string): Promise<StoredModel | undefined> {
  const r = await db
    .selectFrom('models')
    .selectAll()
    .where('version', '=', version)
    .where('version', 'not like', 'pending-%')
    .executeTakeFirst();
  return r ? parse(r) : undefined;
}

/** Models newest first; `beforeId` pages (the cursor is the model's id). */
export async function listModels(
  db: Db,
  limit: number,
  beforeId?: number,
): Promise<Array<StoredModel & { id: number }>> {
  let q = db
    .selectFrom('models')
    .selectAll()
    .where('version', 'not like', 'pending-%')
    .orderBy('id', 'desc')
    .limit(limit);
  if (beforeId !== undefined) q = q.where('id', '<', beforeId);
  const rows = await q.execute();
  return rows.map((r) => ({ id: r.id, ...parse(r) }));
}

/** The newest trained model's id, version and horizon; undefined when none was trained. */
export async function latestModel(
  db: Db,
): Promise<{ id: number; version: string; horizon_hours: number } | undefined> {
  const r = await db
    .selectFrom('models')
    .select(['id', 'version', 'params'])
    .where('version', 'not like', 'pending-%')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!r) return undefined;
  const p = JSON.parse(r.params) as ForecastParams;
  return { id: r.id, version: r.version, horizon_hours: p.horizon_hours };
}
