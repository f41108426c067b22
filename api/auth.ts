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

/** Finds the caller from `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
export function authenticate(keys: ApiKey[]): RequestHandler {
  return (req, _res, next) => {
    if (keys.length === 0) {
      req.caller = { name: 'anonymous', role: 'admin' };
      return next();
    }
    const header = req.get('authorization');
    const presented = header?.match(/^Bearer\s+(.+)$/i)?.[1] ?? req.get('x-api-key');
    const key = presented ? keys.find((k) => k.secret === presented) : undefined;
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
