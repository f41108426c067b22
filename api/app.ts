import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import express from 'express';
import { version } from '../package.json';
import type { Logger } from '../runtime/log';
import { packageRoot } from '../runtime/repo';
import type { HeldPort } from '../runtime/startup';
import type { Db } from '../store/db';
import { authenticate, requireRole, type ApiKey } from './auth';
import { browserGuard } from './browser';
import { healthRouter, type HealthCheck } from './health';
import { openApiDocument } from './openapi';
import { errorHandler, notFoundHandler, problem } from './problem';
import { Routes } from './route';
import type { FastLane } from './fast-ingest';
import { registerAccessEvents } from './routes/access-events';
import { registerDatasets, type DatasetLocationCheck, type LocationCheck } from './routes/datasets';
import { registerJobs, type TemporalDeps } from './routes/jobs';
import { registerModels } from './routes/models';
import { registerUsage } from './routes/usage';
import { registerPolicies } from './routes/policies';
import { registerRecommendations } from './routes/recommendations';
import { registerSweep } from './routes/sweep';
import { registerTiers } from './routes/tiers';
import { registerOverview } from './routes/overview';
import { docsRouter } from './docs';
import { nestsDeeperThan, tooDeep } from './validate';
import type { EventSink } from '../events/sink';
import { createMetricsRegistry, type Registry } from '../runtime/metrics';
import { apiMetrics, type ApiMetrics } from './metrics';

export interface ApiDeps {
  log: Logger;
  health: Record<string, HealthCheck>;
  db: Db;
  apiKeys: ApiKey[];
  /** The configured listen host (DIM_API_HOST): in open mode, a name browsers may use. */
  apiHost?: string;
  checkLocation: LocationCheck;
  /** A dataset's location: also its canonical key, and no whole root or bucket (invariant 9). */
  datasetLocation: DatasetLocationCheck;
  /** Where access events (and status messages) go: Kafka, its outbox, or the local log. */
  events: EventSink;
  /** Largest accepted request body. */
  bodyLimit?: string;
  /** Starts, signals and queries migration workflows; without it migrations answer 503. */
  temporal?: TemporalDeps;
  /** The process's metrics registry (runtime/metrics.ts), served at GET /metrics. */
  metrics?: Registry;
  /** Events accepted but not yet delivered (dim_event_buffer_depth). */
  eventBuffer?: { buffer: string; depth: () => number };
}

const DASHBOARD_NOT_BUILT =
  '<!doctype html><title>dim</title><h1>dim</h1><p>The dashboard is not built: run <code>npm run build</code> ' +
  '(or <code>npm start</code>, which builds what is missing). The API answers as usual: see /openapi.json.</p>';

/** The Express app: routes, the dashboard's static files, and problem+json errors. */
export function createApp(deps: ApiDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  const router = express.Router();
  const routes = new Routes(router, deps.db);
  const metrics = apiMetrics(deps.metrics ?? createMetricsRegistry({ defaults: false }), {
    routes: () => ['/health', '/metrics', '/openapi.json', ...routes.operations.map((o) => o.path)],
    bufferDepth: deps.eventBuffer,
  });
  app.locals.metrics = metrics;
  app.use(healthRouter(deps.health));
  // The dashboard: web/ as `npm run build` (Vite) built it; the data comes from the API.
  const web = path.join(packageRoot(), 'dist', 'web');
  if (existsSync(path.join(web, 'index.html')))
    app.use(
      express.static(web, { index: 'index.html', setHeaders: (res) => metrics.markStatic(res) }),
    );
  else app.get('/', (_req, res) => res.type('html').send(DASHBOARD_NOT_BUILT));

  registerDatasets(routes, deps);
  registerUsage(routes, deps);
  // Its fast lane (api/fast-ingest.ts) goes in front of Express in `listen`.
  app.locals.fastLane = registerAccessEvents(routes, {
    ...deps,
    onAccepted: (n) => metrics.accepted(n),
  });
  registerPolicies(routes, deps);
  registerTiers(routes, deps);
  registerRecommendations(routes, deps);
  registerSweep(routes, deps);
  registerJobs(routes, deps);
  registerModels(routes, deps);
  registerOverview(routes, deps);
  const doc = openApiDocument(routes.operations, version);
  app.get('/openapi.json', (_req, res) => {
    res.json(doc);
  });
  app.use(docsRouter());
  // Prometheus' scrape: with API keys configured it needs a key (viewer or above), which
  // Prometheus sends as a bearer token (deploy/prometheus/prometheus.yml).
  app.get('/metrics', authenticate(deps.apiKeys), requireRole('viewer'), metrics.handler);

  // Who is calling, and whether a browser may, before a byte of the body is read: a bad
  // key is a 401 and a cross-site form a 403/415 whatever the body holds or weighs.
  app.use(authenticate(deps.apiKeys));
  app.use(browserGuard({ open: deps.apiKeys.length === 0, host: deps.apiHost }));
  app.use(
    express.json({
      limit: deps.bodyLimit ?? '16mb',
      type: ['application/json', 'application/*+json'],
      verify: (_req, _res, raw) => {
        if (nestsDeeperThan(raw)) throw tooDeep();
      },
    }),
  );
  app.use(router);
  app.use(notFoundHandler);
  app.use(errorHandler(deps.log));
  return app;
}

export interface ApiServer {
  url: string;
  close(): Promise<void>;
}

/** `held`: the port start-up opened already (runtime/startup.ts); the app takes it over. */
export function listen(
  app: express.Express,
  host: string,
  port: number,
  held?: HeldPort,
): Promise<ApiServer> {
  return new Promise((resolve, reject) => {
    const fast = app.locals.fastLane as FastLane | undefined;
    const metrics = app.locals.metrics as ApiMetrics | undefined;
    const handler: http.RequestListener = (req, res) => {
      metrics?.observe(req, res);
      if (fast)
        fast(req, res, () => {
          app(req, res);
        });
      else app(req, res);
    };
    const server = held?.server ?? http.createServer(handler);
    // Requests Node refuses before Express sees them (a 100 KB URL, malformed HTTP) are
    // answered as problem+json too, never with a bare socket close.
    server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      if (!socket.writable || err.code === 'ECONNRESET') {
        socket.destroy();
        return;
      }
      const tooLong = err.code === 'HPE_HEADER_OVERFLOW';
      const status = tooLong ? 431 : 400;
      const body = JSON.stringify(
        problem(
          status,
          tooLong ? 'headers_too_large' : 'bad_request',
          tooLong
            ? 'the request line or headers are too long (the URL included)'
            : 'the request is not valid HTTP',
        ),
      );
      socket.end(
        `HTTP/1.1 ${status} ${tooLong ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
          `Content-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
          `Connection: close\r\n\r\n${body}`,
      );
    });
    if (held) {
      held.serve(handler);
      resolve({ url: held.url, close: () => held.close() });
      return;
    }
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(
              `port ${port} on ${host} is already in use: stop what holds it or set DIM_API_PORT`,
            )
          : err,
      ),
    );
    server.listen(port, host, () => {
      const addr = server.address();
      const actual = typeof addr === 'object' && addr ? addr.port : port;
      resolve({
        url: `http://${host}:${actual}`,
        close: () =>
          new Promise<void>((res) => {
            server.close(() => res());
            server.closeAllConnections();
          }),
      });
    });
  });
}
