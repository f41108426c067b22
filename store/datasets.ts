import type { Db } from './db';
import type { Dataset, NewDataset, Tier } from './schema';

/** Dataset queries shared by the API, the bridge and the activities. */
export interface DatasetFilter {
  tier?: Tier;
  owner?: string;
  policy?: string;
  name?: string;
  afterId?: number;
  limit: number;
}

export interface Usage {
  read_count: number;
  write_count: number;
  bytes_read: number;
  bytes_written: number;
  last_access_ts: number | null;
  mean_client_lat_ms: number | null;
}

export async function getDataset(db: Db, id: number): Promise<Dataset | undefined> {
  return db.selectFrom('datasets').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listDatasets(db: Db, f: DatasetFilter): Promise<Dataset[]> {
  let q = db.selectFrom('datasets').selectAll().orderBy('id').limit(f.limit);
  if (f.tier) q = q.where('current_tier', '=', f.tier);
  if (f.owner) q = q.where('owner', '=', f.owner);
  if (f.policy) q = q.where('policy', '=', f.policy);
  if (f.name) q = q.where('name', 'like', `%${f.name.replace(/[%_\\]/g, (c) => `\\${c}`)}%`);
  if (f.afterId) q = q.where('id', '>', f.afterId);
  return q.execute();
}

export async function insertDataset(db: Db, row: NewDataset): Promise<Dataset> {
  return db.insertInto('datasets').values(row).returningAll().executeTakeFirstOrThrow();
}

export async function usageOf(db: Db, ids: number[]): Promise<Map<number, Usage>> {
  const out = new Map<number, Usage>();
  if (ids.length === 0) return out;
  const rows = await db
    .selectFrom('access_totals')
    .selectAll()
    .where('dataset_id', 'in', ids)
    .execute();
  for (const r of rows) {
    out.set(r.dataset_id, {
      read_count: Number(r.read_count),
      write_count: Number(r.write_count),
      bytes_read: Number(r.bytes_read),
      bytes_written: Number(r.bytes_written),
      last_access_ts: r.last_access_ts,
      mean_client_lat_ms: r.lat_count > 0 ? r.lat_sum_ms / Number(r.lat_count) : null,
    });
  }
  return out;
}

export const emptyUsage: Usage = {
  read_count: 0,
  write_count: 0,
  bytes_read: 0,
  bytes_written: 0,
  last_access_ts: null,
  mean_client_lat_ms: null,
};
