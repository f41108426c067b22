import { createHash } from 'node:crypto';
import { z } from 'zod';
import { DimError, Errors } from '../../errors';
import {
  AccessEventsBody,
  MAX_EVENTS_PER_REQUEST,
  type AccessEvent,
} from '../../events/access-event';
import type { EventSink, Message } from '../../events/sink';
import type { Db } from '../../store/db';
import type { ApiKey, Caller } from '../auth';
import { fastIngestLane, type FastLane } from '../fast-ingest';
import type { Routes } from '../route';

/**
 * `POST /access-events`: one event or an array of up to 10,000. The whole request is
 * validated first (types, ranges, timestamps, that every dataset exists), then published
 * in one call: to Kafka (or its outbox) or to the local log. All or nothing: a bad event
 * anywhere rejects the request with a 400 naming it (`body[3].dataset_id`) and nothing is
 * published. 202 once the events are durable; the bridge aggregates them shortly after.
 */
const Accepted = z.object({ accepted: z.number() });

/** Distinct dataset ids per existence query (well under SQLite's parameter limit). */
const ID_CHUNK = 500;

/**
 * Dataset ids seen to exist recently. Single-event requests arrive by the thousand per
 * second for the same few datasets: asking the database each time costs more than the
 * rest of the request. An id is re-checked after `ttlMs`; an event for a dataset deleted
 * within that window is accepted and then set aside by the bridge (dead_letters).
 */
export class KnownDatasets {
  private readonly seen = new Map<number, number>();
  constructor(
    private readonly db: Db,
    private readonly ttlMs = 10_000,
    private readonly maxEntries = 100_000,
  ) {}

  /** The ids among `ids` (distinct) that name no dataset. */
  async missing(ids: number[]): Promise<Set<number>> {
    const now = Date.now();
    const unknown = ids.filter((id) => (this.seen.get(id) ?? 0) < now);
    const missing = new Set(unknown);
    for (let i = 0; i < unknown.length; i += ID_CHUNK) {
      const rows = await this.db
        .selectFrom('datasets')
        .select('id')
        .where('id', 'in', unknown.slice(i, i + ID_CHUNK))
        .execute();
      for (const r of rows) missing.delete(r.id);
    }
    if (this.seen.size + unknown.length > this.maxEntries) this.seen.clear();
    for (const id of unknown) if (!missing.has(id)) this.seen.set(id, now + this.ttlMs);
    return missing;
  }
}

/**
 * The audit trail of ingestion, rolled up: one `audit_log` row per caller and interval
 * ("POST /access-events": requests, events, datasets) instead of one per request, which
 * at thousands of requests per second would bury everything else in the log. Written
 * when a request finds the interval over, and by a timer; a crash loses at most one
 * interval of these counts (never an event).
 */
export class IngestAudit {
  private readonly open = new Map<
    string,
    { since: number; requests: number; events: number; datasets: Set<number> }
  >();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly db: Db,
    private readonly intervalMs = 10_000,
  ) {
    this.timer = setInterval(() => void this.flush(false), intervalMs);
    this.timer.unref();
  }

  async record(actor: string, events: number, ids: number[]): Promise<void> {
    let entry = this.open.get(actor);
    if (!entry) {
      entry = { since: Date.now(), requests: 0, events: 0, datasets: new Set() };
      this.open.set(actor, entry);
    }
    entry.requests++;
    entry.events += events;
    for (const id of ids) if (entry.datasets.size < 20) entry.datasets.add(id);
    if (Date.now() - entry.since >= this.intervalMs) await this.flush(false);
  }

  /** Writes the entries whose interval is over (all of them when `all`). */
  async flush(all: boolean): Promise<void> {
    const now = Date.now();
    const due = [...this.open].filter(([, e]) => all || now - e.since >= this.intervalMs);
    if (due.length === 0) return;
    for (const [actor] of due) this.open.delete(actor);
    await this.db
      .insertInto('audit_log')
      .values(
        due.map(([actor, e]) => ({
          ts: now,
          actor,
          action: 'POST /access-events',
          target: '/access-events',
          details: JSON.stringify({
            requests: e.requests,
            events: e.events,
            datasets: [...e.datasets],
            since: new Date(e.since).toISOString(),
          }),
        })),
      )
      .execute()
      .catch(() => undefined);
  }

  close(): Promise<void> {
    clearInterval(this.timer);
    return this.flush(true);
  }
}

type Body = z.output<typeof AccessEventsBody>;

/** An Idempotency-Key request as it runs (api/idempotency.ts Claim). */
interface IdempotentRun {
  key: string;
  origin: number;
}

/**
 * The message source of an idempotent request: from its caller, key and origin, so the
 * same when the request runs again after a crash, another for a new request with the key.
 */
export function requestSource(caller: Caller, r: IdempotentRun): string {
  const id = createHash('sha256').update(`${caller.name}\0${r.key}\0${r.origin}`);
  return `k.${id.digest('base64url').slice(0, 22)}`;
}

/** The ingestion itself, shared by the route and the fast lane (api/fast-ingest.ts). */
export function createIngest(deps: {
  db: Db;
  events: EventSink;
  audit?: IngestAudit;
  known?: KnownDatasets;
  /** Counts accepted events (dim_events_accepted_total). */
  onAccepted?: (n: number) => void;
}): (body: Body, caller: Caller, request?: IdempotentRun) => Promise<{ accepted: number }> {
  const { events } = deps;
  const known = deps.known ?? new KnownDatasets(deps.db);
  const audit = deps.audit ?? new IngestAudit(deps.db);
  return async (body, caller, request) => {
    const single = !Array.isArray(body);
    const list = single ? [body] : body;
    const now = Date.now();
    const ids = [...new Set(list.map((e) => e.dataset_id))];
    const missing = await known.missing(ids);
    if (missing.size > 0) {
      const index = list.findIndex((e) => missing.has(e.dataset_id));
      const id = list[index]!.dataset_id;
      throw Errors.invalid(
        single ? 'body.dataset_id' : `body[${index}].dataset_id`,
        `dataset ${id} does not exist (register it with POST /datasets)`,
      );
    }
    const messages: Message[] = list.map((e) => {
      const value: AccessEvent = {
        dataset_id: e.dataset_id,
        op: e.op,
        size_bytes: e.size_bytes,
        client_lat_ms: e.client_lat_ms,
        ts: e.ts ?? now,
      };
      return { key: String(e.dataset_id), value };
    });
    try {
      // An Idempotency-Key gives the events a source of their own (events/sink.ts): run
      // again after this process died between publishing them and recording the answer,
      // the request publishes them as the same ones, and they count once.
      await events.publish(
        'access_events',
        messages,
        request === undefined ? undefined : { source: requestSource(caller, request) },
      );
    } catch (err) {
      if (err instanceof DimError) throw err;
      throw Errors.unavailable(
        `the events could not be stored: ${(err as Error).message}; retry later`,
        5,
      );
    }
    deps.onAccepted?.(list.length);
    await audit.record(caller.name, list.length, ids);
    return { accepted: list.length };
  };
}

/**
 * Registers the route, and returns the fast lane for the same endpoint (see
 * api/fast-ingest.ts), which `listen` puts in front of Express.
 */
export function registerAccessEvents(
  routes: Routes,
  deps: {
    db: Db;
    events: EventSink;
    apiKeys: ApiKey[];
    apiHost?: string;
    onAccepted?: (n: number) => void;
  },
): FastLane {
  const ingest = createIngest(deps);
  routes.add(
    {
      method: 'post',
      path: '/access-events',
      summary: `Record dataset accesses: one event or an array of up to ${MAX_EVENTS_PER_REQUEST} (all or nothing). ts defaults to now; epoch ms, epoch s or ISO 8601`,
      tag: 'telemetry',
      role: 'operator',
      body: AccessEventsBody,
      response: Accepted,
      success: [202],
      // Audited in roll-ups (IngestAudit): one row per caller and 10 s, not per request.
      audit: false,
    },
    async ({ body, caller, idempotency }) => ({
      status: 202,
      body: await ingest(body, caller, idempotency),
    }),
  );
  return fastIngestLane({ apiKeys: deps.apiKeys, apiHost: deps.apiHost, ingest });
}
