import { z } from 'zod';
import type { Operation } from './route';

/**
 * The OpenAPI 3.1 document, generated from the same zod schemas that validate requests, so
 * that it says what the code enforces: every status an operation can answer (its success
 * statuses, and the problem+json ones), the Idempotency-Key header of mutating calls, and
 * links from the ids an answer holds to the operations that take them (for clients and for
 * stateful fuzzing: test/integration/schemathesis.test.ts).
 */
type JsonSchema = Record<string, unknown> & {
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
};

const toSchema = (s: z.ZodType) =>
  z.toJSONSchema(s, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;

/**
 * What the storage URI parser (storage/uri.ts) accepts before it looks any further: a
 * scheme dim knows, an absolute file path, a valid bucket name. Document it with
 * `.meta(storageUriMeta)` on a URI field: the parser's own errors stay the ones answered.
 */
export const storageUriMeta = {
  pattern:
    '^(?:file://(?:localhost)?/|s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](?:/|$)|gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](?:/|$))[^?#\\u0000]*$',
};

/** A tier's location template (placement/location.ts): a storage URI with {name} and/or {id}. */
export const storageUriTemplateMeta = {
  pattern: '^(?:file://(?:localhost)?/|s3://|gs://)[^{}]*(?:\\{(?:name|id)\\}[^{}]*)+$',
};

const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

/** Problems any operation may answer (api/problem.ts, errors/). */
const problems: Record<string, string> = {
  '400': 'Bad input: the problem names the field (`field`) and the reason',
  '401': 'No API key, or an unknown one (when API keys are configured)',
  '403':
    'The caller’s role may not do this, the policy forbids it, a location lies outside what the configuration allows, or (with no API keys) the request came from another site',
  '404': 'Something the request names does not exist',
  '409': 'Conflicts with the current state; the problem says with what',
  '431': 'The request line or headers are too large',
  '503':
    'A service dim needs (Temporal, the event buffer) is unavailable; Retry-After says when to try again',
};

/** Problems only a call that may carry a body and an Idempotency-Key may answer. */
const mutatingProblems: Record<string, string> = {
  '413': 'The body is larger than the limit',
  '415':
    'The body is not JSON (Content-Type must be application/json), or its encoding or charset is not supported',
  '422': 'The Idempotency-Key was used before with a different body',
};

const successDescriptions: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted: the work goes on in the background',
  204: 'Done; no body',
};

/** The success statuses of an operation: its route spec's `success`, else by method. */
export function successStatuses(op: Operation): readonly number[] {
  if (op.success) return op.success;
  if (op.method === 'delete') return [204];
  if (op.method === 'post') return [201];
  return [200];
}

const openApiPath = (path: string) => path.replace(/:(\w+)/g, '{$1}');
const pascal = (s: string) =>
  s
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');

/** `post` + `/jobs/:job_id/approve` → `postJobsByJobIdApprove`. */
export function operationId(op: Pick<Operation, 'method' | 'path'>): string {
  const parts = op.path
    .split('/')
    .filter(Boolean)
    .map((seg) => (seg.startsWith(':') ? `By${pascal(seg.slice(1))}` : pascal(seg)));
  return op.method + parts.join('');
}

function parameters(where: 'query' | 'path', schema: z.ZodType | undefined) {
  if (!schema) return [];
  const json = toSchema(schema);
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || (json.required ?? []).includes(name),
    schema: s,
  }));
}

const idempotencyKey = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'Repeating the call with the same key and body answers the first answer again instead of doing it twice',
  // An empty one is no key at all.
  schema: { type: 'string', maxLength: 200 },
};

// ---- links -------------------------------------------------------------------------------

/** The first path segment names the resource: `/datasets/:id/usage` → `datasets`. */
const resourceOf = (path: string) => path.split('/')[1] ?? '';
/** `datasets` → `dataset_id`: how another resource's fields refer to one of these. */
const foreignKeyOf = (resource: string) =>
  `${resource.replace(/ies$/, 'y').replace(/s$/, '').replace(/-/g, '_')}_id`;

interface Field {
  name: string;
  /** JSON pointer into the answer body. */
  pointer: string;
}

/** The fields of an answer that can feed another call: its own, or those of a page's first item. */
function answerFields(schema: JsonSchema | undefined): Field[] {
  const props = schema?.properties;
  if (!props) return [];
  const item = props.items?.items?.properties;
  if (item && props.next_cursor)
    return Object.keys(item).map((name) => ({ name, pointer: `/items/0/${name}` }));
  return Object.keys(props).map((name) => ({ name, pointer: `/${name}` }));
}

/**
 * The field of `source`'s answer that supplies parameter `param` of `target`: the same name
 * (`job_id`); for a bare `id`, the answer's `id` when both are about the same resource, or
 * its reference (`dataset_id` for `GET /datasets/{id}`: references are followed to read
 * only); for a `*_id` in a body or query, the answer's `id` when it is that resource's.
 */
function supplier(
  fields: Field[],
  param: string,
  source: string,
  target: Operation,
): Field | undefined {
  const named = (n: string) => fields.find((f) => f.name === n);
  if (param === 'id' || param === 'name') {
    if (resourceOf(source) === resourceOf(target.path)) return named(param);
    return param === 'id' && target.method === 'get'
      ? named(foreignKeyOf(resourceOf(target.path)))
      : undefined;
  }
  if (!param.endsWith('_id')) return undefined;
  return named(param) ?? (foreignKeyOf(resourceOf(source)) === param ? named('id') : undefined);
}

interface Built {
  op: Operation;
  answer: JsonSchema | undefined;
  requestBody: JsonSchema | undefined;
  path: string[];
  query: string[];
  body: string[];
}

/** OpenAPI links from one operation's answer to every operation whose inputs it can fill. */
function linksFrom(source: Built, all: Built[]): Record<string, unknown> {
  const fields = answerFields(source.answer);
  const links: Record<string, unknown> = {};
  if (fields.length === 0) return links;
  for (const target of all) {
    if (target === source) continue;
    const parameters: Record<string, string> = {};
    const requestBody: Record<string, string> = {};
    let complete = true;
    for (const p of target.path) {
      const f = supplier(fields, p, source.op.path, target.op);
      if (f) parameters[`path.${p}`] = `$response.body#${f.pointer}`;
      else complete = false;
    }
    if (!complete) continue; // a path cannot be half filled
    for (const q of target.query) {
      const f = q.endsWith('_id') ? supplier(fields, q, source.op.path, target.op) : undefined;
      if (f) parameters[`query.${q}`] = `$response.body#${f.pointer}`;
    }
    for (const b of target.body) {
      const f = b.endsWith('_id') ? supplier(fields, b, source.op.path, target.op) : undefined;
      if (f) requestBody[b] = `$response.body#${f.pointer}`;
    }
    if (Object.keys(parameters).length === 0 && Object.keys(requestBody).length === 0) continue;
    links[operationId(target.op)] = {
      operationId: operationId(target.op),
      ...(Object.keys(parameters).length ? { parameters } : {}),
      // Merged into the generated body: only the named fields come from the answer.
      ...(Object.keys(requestBody).length ? { requestBody } : {}),
    };
  }
  return links;
}

// ---- the document ------------------------------------------------------------------------

export function openApiDocument(operations: Operation[], version: string): Record<string, unknown> {
  const built: Built[] = operations.map((op) => {
    const body = op.body ? toSchema(op.body) : undefined;
    return {
      op,
      answer: op.response ? toSchema(op.response) : undefined,
      requestBody: body,
      path: Object.keys(op.params ? (toSchema(op.params).properties ?? {}) : {}),
      query: Object.keys(op.query ? (toSchema(op.query).properties ?? {}) : {}),
      body: Object.keys(body?.properties ?? {}),
    };
  });
  const paths: Record<string, Record<string, unknown>> = {};
  const ids = new Set<string>();
  for (const b of built) {
    const { op } = b;
    const id = operationId(op);
    if (ids.has(id)) throw new Error(`two operations would be named ${id}: ${op.path}`);
    ids.add(id);
    const mutating = op.method !== 'get';
    const links = linksFrom(b, built);
    const responses: Record<string, unknown> = {};
    for (const status of successStatuses(op)) {
      const other = op.responseByStatus?.[status];
      const answer = other ? toSchema(other) : b.answer;
      responses[String(status)] = {
        description: successDescriptions[status] ?? 'Success',
        ...(status !== 204 && answer
          ? { content: { 'application/json': { schema: answer } } }
          : {}),
        ...(status !== 204 && !other && Object.keys(links).length ? { links } : {}),
      };
    }
    for (const [status, description] of Object.entries({
      ...problems,
      ...(mutating ? mutatingProblems : {}),
    }))
      responses[status] = problem(description);
    const path = openApiPath(op.path);
    paths[path] ??= {};
    paths[path][op.method] = {
      operationId: id,
      summary: op.summary,
      tags: [op.tag],
      description: `Needs the ${op.role} role when API keys are configured.`,
      parameters: [
        ...parameters('path', op.params),
        ...parameters('query', op.query),
        ...(mutating ? [idempotencyKey] : []),
      ],
      ...(b.requestBody
        ? {
            requestBody: {
              required: !op.bodyOptional,
              content: { 'application/json': { schema: b.requestBody } },
            },
          }
        : {}),
      responses: Object.fromEntries(
        Object.entries(responses).sort(([a], [b]) => Number(a) - Number(b)),
      ),
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'dim — Data in Motion API',
      version,
      description:
        'Datasets, access telemetry, placement recommendations and migrations. Errors are application/problem+json. Mutating calls accept an Idempotency-Key header. A method a path does not offer is answered 405 with an Allow header.',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Problem: {
          type: 'object',
          properties: {
            type: { type: 'string' },
            title: { type: 'string' },
            status: { type: 'integer' },
            detail: { type: 'string' },
            field: { type: 'string' },
            instance: { type: 'string' },
          },
          required: ['type', 'title', 'status', 'detail'],
        },
      },
    },
    security: [{ apiKey: [] }, {}],
    paths,
  };
}
