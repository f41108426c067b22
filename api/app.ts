import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import express from 'express';
import { version } from '../package.json';
import type { Logger } from '../runtime/log';
import { packageRoot } from '../runtime/repo';
import type { Db } from '../store/db';
import { authenticate, type ApiKey } from './auth';
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
import { registerTiers } from './routes/tiers';
import { docsRouter } from './docs';
import { nestsDeeperThan, tooDeep } from './validate';
import type { EventSink } from '../events/sink';

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
  registerModels(routes, deps);
  const doc = openApiDocument(routes.operations, version);
  app.get('/openapi.json', (_req, res) => {
    res.json(doc);
  });
  app.use(docsRouter());

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
