import { z } from 'zod';

/**
 * An access event, as `POST /access-events` accepts it and as it travels on topic
 * `access_events` (key: the dataset id; value: this JSON). One schema serves the API,
 * the OpenAPI document and the bridge, so an event produced straight to the topic (by
 * kcat, say) is judged exactly like one sent over HTTP.
 */
export const MAX_EVENTS_PER_REQUEST = 10_000;
/** Events may be stamped at most this far in the future (clock skew). */
export const MAX_FUTURE_MS = 5 * 60_000;
/** ... and at most this far in the past (older ones are a bug, not telemetry). */
export const MAX_AGE_MS = 366 * 86_400_000;
/** One access of more than a pebibyte is a mistake. */
export const MAX_ACCESS_BYTES = 2 ** 50;
export const MAX_CLIENT_LAT_MS = 86_400_000;
/** Numbers below this are epoch seconds (1e11 s is the year 5138; 1e11 ms is 1973). */
const SECONDS_BELOW = 1e11;

/** A type error message, or "is required" when the field is missing. */
const expected = (message: string) => ({
  error: (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : message),
});

const tsSchema = z
  .union([
    z
      .number(expected('must be epoch milliseconds (or seconds) or an ISO 8601 string'))
      .positive('must be a positive epoch time'),
    z.iso.datetime({
      offset: true,
      error: 'must be an ISO 8601 date-time such as 2025-01-31T12:00:00Z, or epoch milliseconds',
    }),
  ])
  .transform((v) =>
    typeof v === 'number' ? Math.round(v < SECONDS_BELOW ? v * 1000 : v) : Date.parse(v),
  )
  .refine((ms) => ms <= Date.now() + MAX_FUTURE_MS, {
    message: `must not be more than ${MAX_FUTURE_MS / 60_000} minutes in the future`,
  })
  .refine((ms) => ms >= Date.now() - MAX_AGE_MS, {
    message: `must not be more than ${MAX_AGE_MS / 86_400_000} days in the past`,
  });

export const AccessEventSchema = z.strictObject({
  dataset_id: z
    .number(expected('must be a dataset id (a number)'))
    .int('must be a whole number')
    .positive('must be positive')
    .max(Number.MAX_SAFE_INTEGER, 'is too large'),
  op: z.enum(['read', 'write'], expected('must be "read" or "write"')),
  size_bytes: z
    .number(expected('must be a number of bytes'))
    .int('must be a whole number of bytes')
    .min(0, 'must not be negative')
    .max(MAX_ACCESS_BYTES, `must be at most ${MAX_ACCESS_BYTES} (1 PiB)`),
  client_lat_ms: z
    .number(expected('must be a number of milliseconds'))
    .min(0, 'must not be negative')
    .max(MAX_CLIENT_LAT_MS, `must be at most ${MAX_CLIENT_LAT_MS} (one day)`),
  ts: tsSchema.optional(),
});

/** The body of `POST /access-events`: one event or an array of them. */
export const AccessEventsBody = z.union([
  AccessEventSchema,
  z
    .array(AccessEventSchema)
    .min(1, 'must hold at least one event')
    .max(MAX_EVENTS_PER_REQUEST, `must hold at most ${MAX_EVENTS_PER_REQUEST} events`),
]);

/** A validated event, `ts` in epoch milliseconds: the value written to the topic. */
export interface AccessEvent {
  dataset_id: number;
  op: 'read' | 'write';
  size_bytes: number;
  client_lat_ms: number;
  ts: number;
}

export type Decoded = { ok: true; event: AccessEvent } | { ok: false; error: string };

/** Formats a zod issue path the way the API names fields: `body[3].dataset_id`. */
export function fieldPath(where: string, path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : `${acc}.${String(p)}`),
    where,
  );
}

/**
 * Judges one message from the topic (or the local log). `fallbackTs` stands in for a
 * missing `ts` (the Kafka record's timestamp). Never throws: a bad message is a reason.
 */
export function decodeAccessEvent(value: Buffer | string | null, fallbackTs: number): Decoded {
  if (value === null || value.length === 0) return { ok: false, error: 'empty message' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
  } catch (err) {
    return { ok: false, error: `not valid JSON: ${(err as Error).message}` };
  }
  const r = AccessEventSchema.safeParse(parsed);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field =
      issue.code === 'unrecognized_keys'
        ? fieldPath('value', [...issue.path, issue.keys[0]!])
        : fieldPath('value', issue.path);
    const reason = issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message;
    return { ok: false, error: `${field}: ${reason}` };
  }
  return { ok: true, event: { ...r.data, ts: r.data.ts ?? fallbackTs } };
}
