import type { z } from 'zod';
import { Errors } from '../errors';

/**
 * Parses request input with a zod schema. On failure, throws a 400 naming the field (as a
 * dotted path prefixed by where it came from: `body.size_bytes`, `query.limit`) and the
 * reason. Nothing has been written when this throws.
 */
export function parseInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: string,
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = innermost(result.error.issues[0]!);
  let field = fieldName(where, issue.path);
  let reason = issue.message;
  if (issue.code === 'unrecognized_keys') {
    field = fieldName(where, [...issue.path, issue.keys[0]!]);
    reason = `unknown field (allowed: ${allowedKeys(schema, issue.path)})`;
  } else if (
    issue.code === 'invalid_type' &&
    (/received undefined/.test(issue.message) || missing(value, issue.path))
  ) {
    reason = /received undefined/.test(issue.message)
      ? 'is required'
      : `is required (${issue.message})`;
  }
  throw Errors.invalid(field, reason);
}

/** Whether the input has nothing at `path` (a custom type message hides "received undefined"). */
function missing(value: unknown, path: readonly PropertyKey[]): boolean {
  let cur = value;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return false;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return path.length > 0 && cur === undefined;
}

/** `body`, `body.size_bytes`, `body[3].dataset_id`: array indexes in brackets. */
function fieldName(where: string, path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : `${acc}.${String(p)}`),
    where,
  );
}

/**
 * For a union (e.g. one item or an array of them), the issue of the branch the input was
 * meant for: the first whose complaint is not about the input's type as a whole.
 */
function innermost(issue: z.core.$ZodIssue): z.core.$ZodIssue {
  let cur = issue;
  let prefix: PropertyKey[] = [];
  while (cur.code === 'invalid_union' && cur.errors.length > 0) {
    const branch =
      cur.errors.find((b) => {
        const first = b[0];
        return first !== undefined && !(first.code === 'invalid_type' && first.path.length === 0);
      }) ?? cur.errors[0];
    if (!branch?.[0]) break;
    prefix = [...prefix, ...cur.path];
    cur = branch[0];
  }
  return prefix.length ? { ...cur, path: [...prefix, ...cur.path] } : cur;
}

interface Walkable {
  shape?: Record<string, unknown>;
  element?: unknown;
  options?: unknown[];
}

/** The keys an object schema allows at `path` (through arrays and union branches). */
function allowedKeys(schema: z.ZodType, path: PropertyKey[]): string {
  const walk = (s: unknown, rest: PropertyKey[]): string[] | undefined => {
    const w = s as Walkable | undefined;
    if (!w) return undefined;
    if (w.options) {
      for (const o of w.options) {
        const found = walk(o, rest);
        if (found) return found;
      }
      return undefined;
    }
    if (rest.length === 0) return w.shape ? Object.keys(w.shape) : undefined;
    const [p, ...tail] = rest;
    if (typeof p === 'number') return walk(w.element, tail);
    return walk(w.shape?.[String(p)], tail);
  };
  return walk(schema, path)?.join(', ') ?? 'see /openapi.json';
}

/** How deeply a JSON body may nest: far beyond any body dim accepts, far below a stack's worth. */
export const MAX_JSON_DEPTH = 64;

/**
 * Whether raw JSON text nests arrays and objects deeper than `max`, found in one pass
 * without parsing. A body like 10,000 `[` parses, but anything that walks it recursively
 * afterwards (JSON.stringify for hashing or auditing) would overflow the stack: such a
 * body is refused before it is parsed.
 */
export function nestsDeeperThan(raw: Uint8Array, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

export const tooDeep = () =>
  Errors.invalid('body', `nests arrays or objects more than ${MAX_JSON_DEPTH} levels deep`);
