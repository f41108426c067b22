import { z } from 'zod';
import type { Operation } from './route';

/** The OpenAPI 3.1 document, generated from the same zod schemas that validate requests. */
const toSchema = (s: z.ZodType) =>
  z.toJSONSchema(s, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as Record<
    string,
    unknown
  >;

const problem = {
  description: 'Problem details (RFC 9457) naming the field and the reason',
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
};

function parameters(where: 'query' | 'path', schema: z.ZodType | undefined) {
  if (!schema) return [];
  const json = toSchema(schema) as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || (json.required ?? []).includes(name),
    schema: s,
  }));
}

export function openApiDocument(operations: Operation[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const path = op.path.replace(/:(\w+)/g, '{$1}');
    paths[path] ??= {};
    paths[path][op.method] = {
      summary: op.summary,
      tags: [op.tag],
      description: `Needs the ${op.role} role when API keys are configured.`,
      parameters: [...parameters('path', op.params), ...parameters('query', op.query)],
      ...(op.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: toSchema(op.body) } },
            },
          }
        : {}),
      responses: {
        [op.method === 'post' && !op.path.includes(':') ? '201' : '200']: {
          description: 'Success',
          ...(op.response
            ? { content: { 'application/json': { schema: toSchema(op.response) } } }
            : {}),
        },
        '400': problem,
        '401': problem,
        '403': problem,
        '404': problem,
        '409': problem,
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'dim — Data in Motion API',
      version,
      description:
        'Datasets, access telemetry, placement recommendations and migrations. Errors are application/problem+json. Mutating calls accept an Idempotency-Key header.',
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
