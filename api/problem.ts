import type { ErrorRequestHandler, RequestHandler } from 'express';
import { DimError } from '../errors';
import type { Logger } from '../runtime/log';

/** RFC 9457 problem details, as every API error is answered. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  field?: string;
  [extension: string]: unknown;
}

const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function problem(
  status: number,
  code: string,
  detail: string,
  more: Partial<Problem> = {},
): Problem {
  return {
    type: `https://dim.dev/problems/${code}`,
    title: titles[status] ?? 'Error',
    status,
    detail,
    ...more,
  };
}

interface BodyParserError {
  type?: string;
  status?: number;
  statusCode?: number;
  message?: string;
}

/** Maps any thrown error to problem+json. Unknown errors are logged and answered 500. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    let p: Problem;
    if (err instanceof DimError) {
      p = problem(err.status, err.code, err.message, {
        ...(err.field ? { field: err.field } : {}),
        ...err.extra,
      });
      if (typeof err.extra.retryAfterS === 'number')
        res.setHeader('Retry-After', String(err.extra.retryAfterS));
    } else {
      const e = (err ?? {}) as BodyParserError;
      if (e.type === 'entity.parse.failed') {
        p = problem(400, 'malformed_json', `body: not valid JSON (${e.message ?? 'parse error'})`, {
          field: 'body',
        });
      } else if (e.type === 'entity.too.large') {
        p = problem(413, 'too_large', 'body: larger than the limit for this endpoint', {
          field: 'body',
        });
      } else if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') {
        p = problem(415, 'unsupported_media_type', `body: ${e.message ?? 'unsupported encoding'}`, {
          field: 'body',
        });
      } else if (
        typeof (e.status ?? e.statusCode) === 'number' &&
        (e.status ?? e.statusCode)! < 500
      ) {
        const status = (e.status ?? e.statusCode)!;
        p = problem(status, 'bad_request', e.message ?? 'bad request');
      } else {
        log.error('unhandled error', {
          err: err instanceof Error ? err.stack : String(err),
          path: req.path,
        });
        p = problem(500, 'internal', 'an internal error occurred; it has been logged');
      }
    }
    p.instance = req.originalUrl;
    res.status(p.status).type('application/problem+json').send(JSON.stringify(p));
  };
}

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new DimError('not_found', 404, `no route for ${req.method} ${req.path}`));
};
