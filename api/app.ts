import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import express from 'express';
import type { Logger } from '../runtime/log';
import { packageRoot } from '../runtime/repo';
import { healthRouter, type HealthCheck } from './health';
import { errorHandler, notFoundHandler } from './problem';

export interface ApiDeps {
  log: Logger;
  health: Record<string, HealthCheck>;
}

/** The Express app: routes, the dashboard's static files, and problem+json errors. */
export function createApp(deps: ApiDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('json spaces', 0);
  app.use(healthRouter(deps.health));
  const web = path.join(packageRoot(), 'web');
  if (existsSync(web)) app.use(express.static(web, { index: 'index.html' }));
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
    const server = http.createServer(app);
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
