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
  const issue = result.error.issues[0]!;
  let field = [where, ...issue.path.map(String)].join('.');
  let reason = issue.message;
  if (issue.code === 'unrecognized_keys') {
    field = [where, ...issue.path.map(String), issue.keys[0]].join('.');
    reason = `unknown field (allowed: ${allowedKeys(schema, issue.path)})`;
  } else if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) {
    reason = 'is required';
  }
  throw Errors.invalid(field, reason);
}

function allowedKeys(schema: z.ZodType, path: PropertyKey[]): string {
  let s: unknown = schema;
  for (const p of path) {
    const shape = (s as { shape?: Record<string, unknown> }).shape;
    s = shape?.[String(p)];
  }
  const shape = (s as { shape?: Record<string, unknown> } | undefined)?.shape;
  return shape ? Object.keys(shape).join(', ') : 'see /openapi.json';
}
