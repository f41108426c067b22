import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import express from 'express';
import { version } from '../package.json';
import type { Logger } from '../runtime/log';
import { packageRoot } from '../runtime/repo';
import type { Db } from '../store/db';
import { authenticate, type ApiKey } from './auth';
import { healthRouter, type HealthCheck } from './health';
import { openApiDocument } from './openapi';
import { errorHandler, notFoundHandler } from './problem';
import { Routes } from './route';
import type { FastLane } from './fast-ingest';
import { registerAccessEvents } from './routes/access-events';
import { registerDatasets, type DatasetLocationCheck, type LocationCheck } from './routes/datasets';
import { registerJobs, type TemporalDeps } from './routes/jobs';
import { registerUsage } from './routes/usage';
import { registerPolicies } from './routes/policies';
import { registerRecommendations } from './routes/recommendations';
import { registerTiers } from './routes/tiers';
import { docsRouter } from './docs';
import type { EventSink } from '../events/sink';

export interface ApiDeps {
  log: Logger;
  health: Record<string, HealthCheck>;
  db: Db;
  apiKeys: ApiKey[];
  checkLocation: LocationCheck;
  /** A dataset's location: also its canonical key, and no whole root or bucket (invariant 9). */
  datasetLocation: DatasetLocationCheck;
  /** Where access events (and status messages) go: Kafka, its outbox, or the local log. */
  events: EventSink;
  /** Largest accepted request body. */
  bodyLimit?: string;
  /** Starts, signals and queries migration workflows; without it migrations answer 503. */
  temporal?: TemporalDeps;
}

/** The Express app: routes, the dashboard's static files, and problem+json errors. */
export function createApp(deps: ApiDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(healthRouter(deps.health));
  const web = path.join(packageRoot(), 'web');
  if (existsSync(web)) app.use(express.static(web, { index: 'index.html' }));

  const router = express.Router();
  const routes = new Routes(router, deps.db);
  registerDatasets(routes, deps);
  registerUsage(routes, deps);
  // Its fast lane (api/fast-ingest.ts) goes in front of Express in `listen`.
  app.locals.fastLane = registerAccessEvents(routes, deps);
  registerPolicies(routes, deps);
  registerTiers(routes, deps);
  registerRecommendations(routes, deps);
  registerJobs(routes, deps);
  const doc = openApiDocument(routes.operations, version);
  app.get('/openapi.json', (_req, res) => {
    res.json(doc);
  });
  app.use(docsRouter());

  app.use(
    express.json({
      limit: deps.bodyLimit ?? '16mb',
      type: ['application/json', 'application/*+json'],
    }),
  );
  app.use(authenticate(deps.apiKeys));
  app.use(router);
  app.use(notFoundHandler);
  app.use(errorHandler(deps.log));
  return app;
}

export interface ApiServer {
  url: string;
  close(): Promise<void>;
}

export function listen(app: express.Express, host: string, port: number): Promise<ApiServer> {
  return new Promise((resolve, reject) => {
    const fast = app.locals.fastLane as FastLane | undefined;
    const server = http.createServer(
      fast
        ? (req, res) => {
            fast(req, res, () => {
              app(req, res);
            });
          }
        : app,
    );
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
