import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
  type CounterConfiguration,
  type GaugeConfiguration,
  type HistogramConfiguration,
  type Metric,
} from 'prom-client';

/**
 * Prometheus metrics (prom-client): one registry per process. `app/system.ts` creates
 * it and hands it to each part the process runs (API, worker, bridge), which register
 * their collectors in it; every HTTP port of the process (`/metrics` on the API, the
 * worker's and the bridge's ports) serves the whole registry.
 *
 * dim's own metrics are named `dim_<part>_<what>_<unit>` (`_total` counters, `_seconds`
 * histograms, `_bytes`); the Node.js process metrics of prom-client's
 * `collectDefaultMetrics` keep their standard names (`process_cpu_seconds_total`,
 * `nodejs_eventloop_lag_seconds`, ...) so that stock Node.js dashboards work: the scrape
 * job's labels tell the processes apart.
 */
export type { Registry } from 'prom-client';

/** A registry with the process metrics (unless `defaults` is false: unit tests). */
export function createMetricsRegistry(opts: { defaults?: boolean } = {}): Registry {
  const registry = new Registry();
  if (opts.defaults !== false) collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * The metric of that name already in `registry` (a second worker or API in the same
 * process shares its counters), else a new one.
 */
function reuse<M extends Metric<string>>(registry: Registry, name: string, make: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? make();
}

export function counter<L extends string = string>(
  registry: Registry,
  cfg: Omit<CounterConfiguration<L>, 'registers'>,
): Counter<L> {
  return reuse(registry, cfg.name, () => new Counter({ ...cfg, registers: [registry] }));
}

export function histogram<L extends string = string>(
  registry: Registry,
  cfg: Omit<HistogramConfiguration<L>, 'registers'>,
): Histogram<L> {
  return reuse(registry, cfg.name, () => new Histogram({ ...cfg, registers: [registry] }));
}

export function gauge<L extends string = string>(
  registry: Registry,
  cfg: Omit<GaugeConfiguration<L>, 'registers'>,
): Gauge<L> {
  return reuse(registry, cfg.name, () => new Gauge({ ...cfg, registers: [registry] }));
}

/**
 * A gauge whose value is read at scrape time (`collect`). It replaces one of the same name
 * already registered: the gauge reads the newest part (a worker restarted in-process).
 */
export function liveGauge<L extends string = string>(
  registry: Registry,
  cfg: Omit<GaugeConfiguration<L>, 'registers'> & Required<Pick<GaugeConfiguration<L>, 'collect'>>,
): Gauge<L> {
  registry.removeSingleMetric(cfg.name);
  return new Gauge({ ...cfg, registers: [registry] });
}

/** Answers a scrape on a plain node:http server (the worker's and the bridge's ports). */
export function serveMetrics(registry: Registry, _req: IncomingMessage, res: ServerResponse): void {
  registry.metrics().then(
    (text) => {
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(text);
    },
    (err: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`# metrics could not be collected: ${(err as Error).message}\n`);
    },
  );
}
