import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { RequestHandler } from 'express';
import { DimError } from '../errors';

/**
 * API keys with roles. viewer: reads; operator: writes; admin: policies and tiers too.
 * With no keys configured dim runs open (every caller is an anonymous admin) and the
 * entry point warns once.
 */
export type Role = 'viewer' | 'operator' | 'admin';
const rank: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

export interface ApiKey {
  name: string;
  role: Role;
  secret: string;
}

export interface Caller {
  name: string;
  role: Role;
}

declare module 'express-serve-static-core' {
  interface Request {
    caller?: Caller;
  }
}

/** The caller in open mode (no keys configured); also the scope of its Idempotency-Keys. */
export const ANONYMOUS: Caller = { name: 'anonymous', role: 'admin' };

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Matches a presented secret against the keys in constant time: both sides are SHA-256
 * digests (so lengths never differ and nothing leaks through an early exit), and every key
 * is compared, whether or not an earlier one matched.
 */
export function keyMatcher(keys: ApiKey[]): (presented: string) => ApiKey | undefined {
  const digests = keys.map((k) => ({ key: k, digest: digest(k.secret) }));
  return (presented) => {
    const d = digest(presented);
    let found: ApiKey | undefined;
    for (const k of digests) if (timingSafeEqual(k.digest, d) && !found) found = k.key;
    return found;
  };
}

/** The secret a request presents: `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
export function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  const bearer = headers.authorization?.match(/^Bearer\s+(.+)$/i)?.[1];
  const apiKey = headers['x-api-key'];
  return bearer ?? (typeof apiKey === 'string' && apiKey !== '' ? apiKey : undefined);
}

/**
 * Finds the caller from `Authorization: Bearer <key>` or `X-API-Key: <key>`. Runs before
 * the body is read, so a caller without a valid key gets 401 whatever it sends. Neither
 * the answer nor any log line ever repeats what was presented.
 */
export function authenticate(keys: ApiKey[]): RequestHandler {
  const match = keyMatcher(keys);
  return (req, _res, next) => {
    if (keys.length === 0) {
      req.caller = ANONYMOUS;
      return next();
    }
    const presented = presentedKey(req.headers);
    const key = presented === undefined ? undefined : match(presented);
    if (!key) {
      return next(
        new DimError(
          'unauthorized',
          401,
          presented
            ? 'the API key is not valid'
            : 'an API key is required: send Authorization: Bearer <key> (keys come from DIM_API_KEYS)',
        ),
      );
    }
    req.caller = { name: key.name, role: key.role };
    next();
  };
}

export function allows(caller: Caller | undefined, needed: Role): boolean {
  return !!caller && rank[caller.role] >= rank[needed];
}

export function requireRole(needed: Role): RequestHandler {
  return (req, _res, next) => {
    if (allows(req.caller, needed)) return next();
    next(
      new DimError(
        'forbidden',
        403,
        `this call needs the ${needed} role; key "${req.caller?.name ?? '?'}" has ${req.caller?.role ?? 'none'}`,
      ),
    );
  };
}
