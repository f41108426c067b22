import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import { counter, histogram, liveGauge, type Registry } from '../runtime/metrics';

/**
 * The API's metrics: `dim_http_requests_total{method,route,status}` and
 * `dim_http_request_duration_seconds{method,route,status}` for every request (the fast
 * ingest lane's too: they are observed on the node:http server, in `listen`),
 * `dim_events_accepted_total` and `dim_event_buffer_depth{buffer}`.
 *
 * `route` is the route pattern (`/jobs/:job_id`), never the raw path: the request's path is
 * matched against the patterns the API declares (so a 401 or 405 is labelled with its
 * route too); the dashboard's static files are `static`, Swagger UI's `/docs`, and
 * anything else `unmatched`. `method` is one of the HTTP methods or `other`.
 */
export interface ApiMetrics {
  /** Times one request and counts it when its response has been sent (or the client left). */
  observe(req: IncomingMessage, res: ServerResponse): void;
  /** Events `POST /access-events` accepted (made durable). */
  accepted(n: number): void;
  /** Marks a response as one of the static files (express.static's `setHeaders`). */
  markStatic(res: ServerResponse): void;
  /** `GET /metrics`. */
  handler: RequestHandler;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Seconds buckets from 1 ms to 10 s: most calls answer in milliseconds, a plan in seconds. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Turns Express paths (`/jobs/:job_id/approve`) into a labeller of request paths. */
export function routeLabeller(patterns: string[]): (path: string) => string | undefined {
  const compiled = [...new Set(patterns)]
    .filter((p) => p.includes(':'))
    .map((p) => ({
      label: p,
      re: new RegExp(
        '^' +
          p
            .split('/')
            .map((seg) =>
              seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
            )
            .join('/') +
          '/?$',
      ),
    }));
  // Paths without parameters (`/access-events`, thousands a second) by lookup, first.
  const exact = new Map<string, string>();
  for (const p of patterns) {
    if (p.includes(':')) continue;
    exact.set(p, p);
    exact.set(`${p}/`, p);
  }
  return (path) => {
    const known = exact.get(path);
    if (known) return known;
    for (const c of compiled) if (c.re.test(path)) return c.label;
    return undefined;
  };
}

export function apiMetrics(
  registry: Registry,
  opts: {
    /** The route patterns the API answers (from `Routes.operations`, and the fixed ones). */
    routes: () => string[];
    /** Events held but not yet delivered: the local log's backlog, or the Kafka outbox. */
    bufferDepth?: { buffer: string; depth: () => number };
  },
): ApiMetrics {
  const requests = counter(registry, {
    name: 'dim_http_requests_total',
    help: 'HTTP requests the API answered, by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'],
  });
  const duration = histogram(registry, {
    name: 'dim_http_request_duration_seconds',
    help: 'Time from a request arriving to its response sent, by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'],
    buckets: BUCKETS,
  });
  const accepted = counter(registry, {
    name: 'dim_events_accepted_total',
    help: 'Access events POST /access-events accepted (durable in Kafka, its outbox or the local log).',
  });
  if (opts.bufferDepth) {
    const { buffer, depth } = opts.bufferDepth;
    liveGauge(registry, {
      name: 'dim_event_buffer_depth',
      help: 'Events accepted but not yet delivered: the local log backlog, or the Kafka outbox while Kafka is down.',
      labelNames: ['buffer'],
      collect() {
        try {
          this.set({ buffer }, depth());
        } catch {
          this.reset(); // the database is closing: no value rather than a wrong one
        }
      },
    });
  }
  let label: ((path: string) => string | undefined) | undefined;
  const statics = new WeakSet<ServerResponse>();
  const routeOf = (path: string, res: ServerResponse) => {
    label ??= routeLabeller(opts.routes());
    const known = label(path);
    if (known) return known;
    if (path === '/docs' || path.startsWith('/docs/')) return '/docs';
    return statics.has(res) ? 'static' : 'unmatched';
  };

  return {
    observe(req, res) {
      const started = process.hrtime.bigint();
      const path = (req.url ?? '/').split('?')[0]!;
      let done = false;
      const end = () => {
        if (done) return;
        done = true;
        const labels = {
          method: METHODS.has(req.method ?? '') ? req.method! : 'other',
          route: routeOf(path, res),
          status: String(res.statusCode),
        };
        requests.inc(labels);
        duration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
      };
      res.once('finish', end);
      res.once('close', end);
    },
    accepted(n) {
      accepted.inc(n);
    },
    markStatic(res) {
      statics.add(res);
    },
    handler(_req, res, next) {
      registry.metrics().then((text) => {
        res.setHeader('content-type', registry.contentType);
        res.send(text);
      }, next);
    },
  };
}
