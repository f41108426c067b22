import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { tempDir } from '../../test/support/dim-process';
import type { Database } from '../schema';
import * as m001 from './001-initial';
import * as m002 from './002-telemetry';
import * as m003 from './003-recommendation-heads';

describe('migration 003: recommendation heads', () => {
  it("fills each dataset's head from its newest recommendation", async () => {
    const sqlite = new SQLite(path.join(tempDir('m003'), 'dim.db'));
    sqlite.pragma('foreign_keys = ON');
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
    try {
      await m001.up(db);
      await m002.up(db);
      await db
        .insertInto('datasets')
        .values(
          [1, 2, 3].map((id) => ({
            id,
            name: `ds-${id}`,
            path_uri: `file:///shared_storage/ds-${id}`,
            current_tier: 'hot' as const,
            size_bytes: 1,
            object_count: 1,
            version: 1,
            last_access_ts: null,
            tier_since: 0,
            created_at: 0,
            updated_at: 0,
          })),
        )
        .execute();
      const rec = (dataset_id: number, recommended_tier: 'hot' | 'warm' | 'cold') => ({
        dataset_id,
        current_tier: 'hot' as const,
        recommended_tier,
        target_location: `file:///x/${recommended_tier}/${dataset_id}`,
        storage_class: 'standard',
        reason: 'r',
        inputs: '{}',
        model_version: 'heuristic-v1',
        created_at: 0,
      });
      // Dataset 1: cold, then warm (stands); dataset 2: hot; dataset 3: none.
      await db
        .insertInto('recommendations')
        .values([rec(1, 'cold'), rec(2, 'hot'), rec(1, 'warm')])
        .execute();

      await m003.up(db);
      expect(
        await db.selectFrom('recommendation_heads').selectAll().orderBy('dataset_id').execute(),
      ).toEqual([
        {
          dataset_id: 1,
          recommendation_id: 3,
          current_tier: 'hot',
          recommended_tier: 'warm',
          target_location: 'file:///x/warm/1',
          storage_class: 'standard',
          model_version: 'heuristic-v1',
        },
        expect.objectContaining({ dataset_id: 2, recommendation_id: 2, recommended_tier: 'hot' }),
      ]);

      // A deleted dataset takes its head with it.
      await db.deleteFrom('datasets').where('id', '=', 1).execute();
      expect(
        (await db.selectFrom('recommendation_heads').select('dataset_id').execute()).map(
          (h) => h.dataset_id,
        ),
      ).toEqual([2]);
    } finally {
      await db.destroy();
    }
  });
});
