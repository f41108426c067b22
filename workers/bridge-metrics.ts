import http from 'node:http';
import type { Counter, Gauge } from 'prom-client';
import { withTimeout } from '../events/kafka-client';
import { counter, gauge, liveGauge, serveMetrics, type Registry } from '../runtime/metrics';

/**
 * The bridge's metrics: `dim_bridge_events_applied_total`, `dim_bridge_events_skipped_total`
 * (duplicates: ids or offsets already counted), `dim_bridge_dead_letters_total`,
 * `dim_bridge_unverified_ids_total`, `dim_bridge_batches_total`,
 * `dim_bridge_last_batch_timestamp_seconds`, and `dim_bridge_consumer_lag{source,topic,partition}`:
 * the messages of each partition not yet aggregated (Kafka: the high watermark minus the
 * next offset stored in SQLite with the aggregates; the local log: its one "partition" 0,
 * the highest seq minus the stored next seq). Lag is computed at scrape time, at most every
 * `LAG_CACHE_MS`, within `LAG_TIMEOUT_MS`; when it cannot be read the gauge is left empty
 * and `dim_bridge_lag_errors_total` counts it.
 */
export const LAG_CACHE_MS = 5000;
export const LAG_TIMEOUT_MS = 2000;

export interface PartitionLag {
  partition: number;
  lag: number;
}

export interface BridgeMetrics {
  applied: Counter;
  skipped: Counter;
  deadLetters: Counter;
  unverified: Counter;
  batches: Counter;
  lastBatch: Gauge;
  /** Installs the lag reader of the running bridge (Kafka or the local log). */
  setLagSource(
    source: 'kafka' | 'local-log',
    topic: string,
    read: () => Promise<PartitionLag[]>,
  ): void;
}

export function bridgeMetrics(registry: Registry, now: () => number = Date.now): BridgeMetrics {
  const lagErrors = counter(registry, {
    name: 'dim_bridge_lag_errors_total',
    help: 'Scrapes for which the consumer lag could not be read in time (Kafka unreachable).',
  });
  let reader: { source: string; topic: string; read: () => Promise<PartitionLag[]> } | undefined;
  let cached: { at: number; lags: PartitionLag[] | undefined } | undefined;
  let inflight: Promise<PartitionLag[] | undefined> | undefined;

  const readLag = async (): Promise<PartitionLag[] | undefined> => {
    if (!reader) return undefined;
    if (cached && now() - cached.at < LAG_CACHE_MS) return cached.lags;
    const r = reader;
    inflight ??= withTimeout(r.read(), LAG_TIMEOUT_MS, 'consumer lag')
      .catch(() => {
        lagErrors.inc();
        return undefined;
      })
      .then((lags) => {
        cached = { at: now(), lags };
        return lags;
      })
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  };

  liveGauge(registry, {
    name: 'dim_bridge_consumer_lag',
    help: 'Access events in each partition not yet aggregated by the bridge (messages).',
    labelNames: ['source', 'topic', 'partition'],
    async collect() {
      this.reset();
      const lags = await readLag();
      if (!lags || !reader) return;
      for (const { partition, lag } of lags) {
        this.set(
          { source: reader.source, topic: reader.topic, partition: String(partition) },
          Math.max(0, lag),
        );
      }
    },
  });

  return {
    applied: counter(registry, {
      name: 'dim_bridge_events_applied_total',
      help: 'Access events the bridge added to the usage aggregates.',
    }),
    skipped: counter(registry, {
      name: 'dim_bridge_events_skipped_total',
      help: 'Access events the bridge skipped as already counted (redelivery, a relayed duplicate).',
    }),
    deadLetters: counter(registry, {
      name: 'dim_bridge_dead_letters_total',
      help: 'Messages the bridge set aside in dead_letters (malformed, unknown dataset).',
    }),
    unverified: counter(registry, {
      name: 'dim_bridge_unverified_ids_total',
      help: 'dim-id headers that did not verify (counted as outside messages).',
    }),
    batches: counter(registry, {
      name: 'dim_bridge_batches_total',
      help: 'Batches the bridge applied (one transaction each).',
    }),
    lastBatch: gauge(registry, {
      name: 'dim_bridge_last_batch_timestamp_seconds',
      help: 'When the bridge last applied a batch (Unix time).',
    }),
    setLagSource(source, topic, read) {
      reader = { source, topic, read };
      cached = undefined;
    },
  };
}

/**
 * `dim bridge` alone: health and metrics on DIM_BRIDGE_PORT (with the API in the same
 * process, the API's /metrics shows the bridge's metrics instead).
 */
export function serveBridgeHealth(
  bridge: { source: string; running(): boolean },
  registry: Registry,
  host: string,
  port: number,
): Promise<http.Server> {
  const server = http.createServer(bridgeHealthHandler(bridge, registry));
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(
              `port ${port} on ${host} is already in use: stop what holds it or set DIM_BRIDGE_PORT`,
            )
          : err,
      ),
    );
    server.listen(port, host, () => resolve(server));
  });
}

/** What `dim bridge`'s port answers: /health and /metrics. */
export function bridgeHealthHandler(
  bridge: { source: string; running(): boolean },
  registry: Registry,
): http.RequestListener {
  return (req, res) => {
    if (req.url === '/health') {
      const ok = bridge.running();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: ok ? 'ok' : 'down', bridge: bridge.source }));
    } else if (req.url === '/metrics') {
      serveMetrics(registry, req, res);
    } else {
      res.writeHead(404, { 'content-type': 'application/problem+json' });
      res.end(
        JSON.stringify({
          type: 'about:blank',
          title: 'Not Found',
          status: 404,
          detail: 'the bridge serves /health and /metrics; the API serves the rest',
        }),
      );
    }
  };
}
