import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { DimError, Errors } from '../errors';
import type { Db } from '../store/db';

/**
 * `Idempotency-Key` on mutating calls (DESIGN.md, REST API). A key belongs to its caller
 * (the API key's name, `anonymous` in open mode): the same key from two callers names two
 * requests, and neither ever gets the other's answer. Per caller and key:
 *
 * - the first request claims the key (a row with no status yet), runs, and records its
 *   answer; a repeat with the same method, path and body gets that answer again
 *   (`Idempotent-Replayed: true`); with another body or endpoint, a 422;
 * - a repeat while the first still runs is a 409, but only for `CLAIM_TTL_MS`: a claim
 *   older than that belongs to a request that died (a crash between claim and answer) and
 *   the next request takes it over;
 * - a recorded answer is kept for `RETENTION_MS`; after that the key is new again (the
 *   pruner deletes such rows by `created_at`; until it has, they are overwritten here);
 * - a request that fails (an error, not a 4xx answer it returns) frees the key again.
 */
export const IDEMPOTENCY_CLAIM_TTL_MS = 60_000;
export const IDEMPOTENCY_RETENTION_MS = 24 * 3600_000;
const MAX_KEY_LENGTH = 200;

export interface IdempotentRequest {
  caller: string;
  key: string;
  method: string;
  path: string;
  body: unknown;
}

export interface RecordedReply {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

const hash = (v: unknown) =>
  createHash('sha256')
    .update(JSON.stringify(v ?? null))
    .digest('hex');

/** What a request that claimed its key runs with. */
export interface Claim {
  /**
   * When this request first claimed the key (epoch ms): the same when it runs again after
   * a crash, another for a new request with the key. Names the request's own message source.
   */
  origin: number;
}

export async function runIdempotent<R extends RecordedReply>(
  db: Db,
  req: IdempotentRequest,
  run: (claim: Claim) => Promise<R> | R,
  now = Date.now(),
): Promise<R | RecordedReply> {
  const { caller, key, method, path } = req;
  if (key.length > MAX_KEY_LENGTH)
    throw Errors.invalid('header.Idempotency-Key', `must be at most ${MAX_KEY_LENGTH} characters`);
  const requestHash = hash(req.body);
  const row = { caller, key, method, path, request_hash: requestHash, status: null, body: null };
  // One statement claims the key: a new row, or an expired one taken over. Which rows are
  // expired is decided inside it, so of two requests racing for a stale claim one wins.
  // The origin stays with the request: kept when the same request takes over its own
  // crashed claim, new for a new request (an expired key, or another body or endpoint).
  const sameRequest = sql<boolean>`idempotency_keys.created_at >= ${now - IDEMPOTENCY_RETENTION_MS}
    and idempotency_keys.request_hash = ${requestHash} and idempotency_keys.method = ${method}
    and idempotency_keys.path = ${path}`;
  const claimed = await db
    .insertInto('idempotency_keys')
    .values({ ...row, created_at: now, origin_ts: now })
    .onConflict((oc) =>
      oc
        .columns(['caller', 'key'])
        .doUpdateSet({
          ...row,
          created_at: now,
          origin_ts: sql<number>`case when ${sameRequest}
            then coalesce(idempotency_keys.origin_ts, idempotency_keys.created_at) else ${now} end`,
        })
        .where((eb) =>
          eb.or([
            eb('idempotency_keys.created_at', '<', now - IDEMPOTENCY_RETENTION_MS),
            eb.and([
              eb('idempotency_keys.status', 'is', null),
              eb('idempotency_keys.created_at', '<', now - IDEMPOTENCY_CLAIM_TTL_MS),
            ]),
          ]),
        ),
    )
    .returning('origin_ts')
    .executeTakeFirst();
  if (claimed === undefined) {
    const held = await db
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('caller', '=', caller)
      .where('key', '=', key)
      .executeTakeFirst();
    // Gone between the two statements (freed by a failed request, or pruned): claim again.
    if (!held) return runIdempotent(db, req, run, now);
    if (held.method !== method || held.path !== path || held.request_hash !== requestHash) {
      throw new DimError(
        'idempotency_key_reused',
        422,
        'Idempotency-Key was already used for a different request (another body or endpoint); use a new key for a new request',
        'header.Idempotency-Key',
      );
    }
    if (held.status === null) {
      throw new DimError(
        'conflict',
        409,
        'a request with this Idempotency-Key is still running; retry shortly',
        'header.Idempotency-Key',
      );
    }
    return {
      status: held.status,
      body: held.body === null ? undefined : (JSON.parse(held.body) as unknown),
      headers: { 'Idempotent-Replayed': 'true' },
    };
  }
  // Only our own claim is completed or freed: if it went stale and another request took it
  // over meanwhile, created_at no longer matches and that request's row is left alone.
  const ours = db
    .updateTable('idempotency_keys')
    .where('caller', '=', caller)
    .where('key', '=', key)
    .where('created_at', '=', now);
  try {
    const reply = await run({ origin: Number(claimed.origin_ts ?? now) });
    await ours
      .set({
        status: reply.status ?? 200,
        body: reply.body === undefined ? null : JSON.stringify(reply.body),
      })
      .execute();
    return reply;
  } catch (err) {
    // A failed request does not burn the key: the client may retry it.
    await db
      .deleteFrom('idempotency_keys')
      .where('caller', '=', caller)
      .where('key', '=', key)
      .where('created_at', '=', now)
      .where('status', 'is', null)
      .execute();
    throw err;
  }
}
