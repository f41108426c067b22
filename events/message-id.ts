import { createHmac, createSecretKey, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Hmac, KeyObject } from 'node:crypto';
import type SQLite from 'better-sqlite3';
import type { Db } from '../store/db';
import { settingOrInit, settingOrInitDb } from '../store/settings';

/**
 * Signed message ids (events/README.md, "Exactly once"). A run of consecutive numbers of
 * one source within one partition travels as ONE header on the run's first record:
 *
 *   dim-id: <source>:<n>:<count>:<mac>
 *
 * the run is records n, n+1, ... n+count-1, the header's record and the count-1 records
 * after it. `mac` is HMAC-SHA256 (base64url) under the install's key over the topic, the
 * partition, the source, n, every value of the run (length-prefixed) and count. The
 * bridge lets only a verified run touch a watermark: an id that dim's producers did not
 * issue (a forged `<source>:<huge n>`, a real header replayed with other or more values,
 * another partition or topic) is no id at all, and its records count once per offset,
 * like any outside client's.
 */
export const ID_HEADER = 'dim-id';

/** The key: DIM_EVENT_ID_KEY, else one generated once per install and kept in the database. */
export function eventIdKey(configured: string | undefined, sqlite: SQLite.Database): KeyObject {
  if (configured !== undefined) return createSecretKey(Buffer.from(configured, 'utf8'));
  const stored = settingOrInit(sqlite, 'event_id_key', () => randomBytes(32).toString('base64url'));
  return createSecretKey(Buffer.from(stored, 'base64url'));
}

/** `eventIdKey` through Kysely, on either backend. */
export async function eventIdKeyOf(configured: string | undefined, db: Db): Promise<KeyObject> {
  if (configured !== undefined) return createSecretKey(Buffer.from(configured, 'utf8'));
  const stored = await settingOrInitDb(db, 'event_id_key', () =>
    randomBytes(32).toString('base64url'),
  );
  return createSecretKey(Buffer.from(stored, 'base64url'));
}

/** One length prefix buffer for every value (update() copies it at once). */
const lengthPrefix = Buffer.alloc(4);

/** Starts the MAC of a run: values are added with `addValue`, then `finishRun`. */
export function startRun(
  key: KeyObject,
  topic: string,
  partition: number,
  source: string,
  n: number,
): Hmac {
  return createHmac('sha256', key).update(`dim-id/1\0${topic}\0${partition}\0${source}\0${n}\0`);
}

export function addValue(mac: Hmac, value: Buffer | string | null): void {
  if (value === null) {
    lengthPrefix.writeUInt32BE(0xffffffff);
    mac.update(lengthPrefix);
    return;
  }
  const bytes = typeof value === 'string' ? Buffer.byteLength(value) : value.length;
  lengthPrefix.writeUInt32BE(bytes);
  mac.update(lengthPrefix);
  if (typeof value === 'string') mac.update(value, 'utf8');
  else mac.update(value);
}

export function finishRun(mac: Hmac, count: number): Buffer {
  return mac.update(`\0${count}`).digest();
}

export const formatIdHeader = (source: string, n: number, count: number, mac: Buffer): string =>
  `${source}:${n}:${count}:${mac.toString('base64url')}`;

export interface ParsedId {
  source: string;
  n: number;
  count: number;
  mac: Buffer;
}

const MAC_BYTES = 32;

/** The parts of a `dim-id` header, or undefined when it is not one (e.g. '-', or unsigned). */
export function parseIdHeader(header: string): ParsedId | undefined {
  const parts = header.split(':');
  if (parts.length !== 4) return undefined;
  const [source, ns, counts, macText] = parts as [string, string, string, string];
  const n = Number(ns);
  const count = Number(counts);
  if (source.length === 0 || !Number.isSafeInteger(n) || n < 1) return undefined;
  if (!Number.isSafeInteger(count) || count < 1) return undefined;
  const mac = Buffer.from(macText, 'base64url');
  if (mac.length !== MAC_BYTES) return undefined;
  return { source, n, count, mac };
}

/** Constant-time comparison of the MAC a run carries with the one computed. */
export const macMatches = (expected: Buffer, given: Buffer): boolean =>
  expected.length === given.length && timingSafeEqual(expected, given);
