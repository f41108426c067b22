import { Router } from 'express';

/** A dependency `/health` reports on: resolves when it is usable, rejects with the reason. */
export type HealthCheck = () => Promise<void>;

function withTimeout(check: HealthCheck, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    check().then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/**
 * `GET /health`: `{"status":"ok","temporal":"ok",...}` with 200 when every dependency
 * answers, else 503 with `"down"` for the ones that do not and their reasons under `errors`.
 */
export function healthRouter(checks: Record<string, HealthCheck>, timeoutMs = 2000): Router {
  const router = Router();
  router.get('/health', async (_req, res) => {
    const names = Object.keys(checks);
    const results = await Promise.allSettled(names.map((n) => withTimeout(checks[n]!, timeoutMs)));
    const body: Record<string, unknown> = { status: 'ok' };
    const errors: Record<string, string> = {};
    results.forEach((r, i) => {
      const name = names[i]!;
      body[name] = r.status === 'fulfilled' ? 'ok' : 'down';
      if (r.status === 'rejected') errors[name] = (r.reason as Error).message;
    });
    if (Object.keys(errors).length > 0) {
      body.status = 'degraded';
      body.errors = errors;
    }
    res.status(body.status === 'ok' ? 200 : 503).json(body);
  });
  return router;
}
