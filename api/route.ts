import type { NextFunction, Request, Response, Router } from 'express';
import { z } from 'zod';
import { DimError, Errors } from '../errors';
import type { Db } from '../store/db';
import { requireRole, type Caller, type Role } from './auth';
import { runIdempotent } from './idempotency';
import { parseInput } from './validate';

/**
 * One place where an endpoint is declared: its method and path, the zod schemas of its
 * input, the role it needs, and its handler. From the same declaration come request
 * validation (400 naming the field), the OpenAPI document, Idempotency-Key handling for
 * mutating calls, and the audit log entry.
 */
export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface RouteSpec<B extends z.ZodType, Q extends z.ZodType, P extends z.ZodType> {
  method: Method;
  /** Express syntax: /datasets/:id */
  path: string;
  summary: string;
  tag: string;
  role: Role;
  body?: B;
  /** The body may be left out: it is then parsed as `{}` (its defaults). */
  bodyOptional?: boolean;
  query?: Q;
  params?: P;
  /** Schema of the success answer, for the OpenAPI document. */
  response?: z.ZodType;
  /**
   * The success statuses the handler answers, for the OpenAPI document. Default by method
   * (api/openapi.ts `successStatuses`): 200; DELETE 204; POST 200, 201 or 202.
   */
  success?: readonly number[];
  /**
   * A status whose answer has another schema than `response` (links to other operations are
   * drawn from `response` only, so they stay off these statuses).
   */
  responseByStatus?: Readonly<Record<number, z.ZodType>>;
  /** Audit action name; mutating routes default to `<method> <path>`. */
  audit?: string | false;
  /**
   * A request of a mutating route that changes nothing (a dry run): it gets no audit entry
   * and no idempotency record (a stored dry-run answer would be replayed to the real plan).
   */
  readOnly?: (body: z.output<B>) => boolean;
}

export interface Reply {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Ctx<B, Q, P> {
  body: B;
  query: Q;
  params: P;
  caller: Caller;
  req: Request;
  /** Set when the request runs under an Idempotency-Key (api/idempotency.ts). */
  idempotency?: { key: string; origin: number };
}

export interface Operation {
  method: Method;
  path: string;
  summary: string;
  tag: string;
  role: Role;
  body?: z.ZodType;
  bodyOptional?: boolean;
  query?: z.ZodType;
  params?: z.ZodType;
  response?: z.ZodType;
  success?: readonly number[];
  responseByStatus?: Readonly<Record<number, z.ZodType>>;
}

export class Routes {
  readonly operations: Operation[] = [];
  constructor(
    private readonly router: Router,
    private readonly db: Db,
  ) {
    // In front of every route: a method no route of the path answers is a 405 with Allow
    // (RFC 9110), not the 404 of an unknown path.
    router.use((req, res, next) => this.methodNotAllowed(req, res, next));
  }

  private methodNotAllowed(req: Request, res: Response, next: NextFunction): void {
    const method = req.method.toUpperCase();
    if (method === 'OPTIONS') return next(); // Express answers it, with Allow
    const allowed = new Set<string>();
    for (const op of this.operations) {
      if (!pathPattern(op.path).test(req.path)) continue;
      allowed.add(op.method.toUpperCase());
      if (op.method === 'get') allowed.add('HEAD');
    }
    if (allowed.size === 0 || allowed.has(method)) return next();
    const allow = [...allowed].sort().join(', ');
    res.setHeader('Allow', allow);
    next(
      new DimError('method_not_allowed', 405, `${method} is not allowed on ${req.path} (${allow})`),
    );
  }

  add<
    B extends z.ZodType = z.ZodUndefined,
    Q extends z.ZodType = z.ZodUndefined,
    P extends z.ZodType = z.ZodUndefined,
  >(
    spec: RouteSpec<B, Q, P>,
    handler: (ctx: Ctx<z.output<B>, z.output<Q>, z.output<P>>) => Promise<Reply> | Reply,
  ): void {
    this.operations.push(spec);
    const mutating = spec.method !== 'get';
    this.router[spec.method](
      spec.path,
      requireRole(spec.role),
      async (req: Request, res: Response) => {
        const params = spec.params ? parseInput(spec.params, req.params, 'path') : undefined;
        const query = spec.query ? parseInput(spec.query, req.query, 'query') : undefined;
        let body: unknown;
        if (spec.body) {
          if (req.body === undefined && !spec.bodyOptional)
            throw Errors.invalid(
              'body',
              'a JSON body is required (Content-Type: application/json)',
            );
          body = parseInput(spec.body, req.body ?? {}, 'body');
        }
        const caller = req.caller!;
        const ctx = { body, query, params, caller, req } as Ctx<
          z.output<B>,
          z.output<Q>,
          z.output<P>
        >;
        const changes = mutating && !spec.readOnly?.(body as z.output<B>);
        const key = changes ? req.get('idempotency-key') : undefined;
        const reply = key
          ? await runIdempotent(
              this.db,
              { caller: caller.name, key, method: req.method, path: req.path, body: req.body },
              (claim) => handler({ ...ctx, idempotency: { key, origin: claim.origin } }),
            )
          : await handler(ctx);
        if (changes && spec.audit !== false && (reply.status ?? 200) < 400) {
          await this.db
            .insertInto('audit_log')
            .values({
              ts: Date.now(),
              actor: caller.name,
              action: spec.audit ?? `${spec.method.toUpperCase()} ${spec.path}`,
              target: req.originalUrl,
              details: JSON.stringify({ params: req.params, body: req.body as unknown }),
            })
            .execute();
        }
        this.send(res, reply);
      },
    );
  }

  private send(res: Response, reply: Reply) {
    for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
    res.status(reply.status ?? 200);
    if (reply.body === undefined) res.end();
    else res.json(reply.body);
  }
}

const patterns = new Map<string, RegExp>();
/** The request paths an Express path (`/jobs/:job_id/approve`) matches, as Express matches them. */
function pathPattern(path: string): RegExp {
  let re = patterns.get(path);
  if (!re) {
    const body = path
      .split('/')
      .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/');
    re = new RegExp(`^${body}/?$`, 'i');
    patterns.set(path, re);
  }
  return re;
}

/** Cursor pagination shared by every list: `?limit=&cursor=`, answered as `{items, next_cursor}`. */
export const pageQuery = z.object({
  limit: z.coerce
    .number()
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(1000, 'must be at most 1000')
    .default(100),
  cursor: z.string().regex(/^\d+$/, 'must be a next_cursor value from a previous page').optional(),
});

/** The answer of a list: one page of `item`s (see `page`). */
export const pageOf = (item: z.ZodType) =>
  z.object({ items: z.array(item), next_cursor: z.string().nullable() });

export function page<T>(rows: T[], limit: number, cursorOf: (row: T) => number | string) {
  const more = rows.length > limit;
  const items = more ? rows.slice(0, limit) : rows;
  const last = items[items.length - 1];
  return { items, next_cursor: more && last !== undefined ? String(cursorOf(last)) : null };
}

export const idParam = z.object({
  id: z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .positive('must be positive'),
});

export const iso = (ms: number | null | undefined) =>
  ms === null || ms === undefined ? null : new Date(ms).toISOString();
