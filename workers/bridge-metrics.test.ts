import type { AddressInfo } from 'node:net';
import { createMetricsRegistry } from '../runtime/metrics';
import { parseExposition, value } from '../test/support/prometheus';
import { bridgeMetrics, LAG_CACHE_MS, serveBridgeHealth } from './bridge-metrics';

/** The bridge's counters and its consumer lag, read at scrape time and cached a few seconds. */
describe('bridgeMetrics', () => {
  it('reads the lag per partition at most once per cache period', async () => {
    const registry = createMetricsRegistry({ defaults: false });
    let now = 1_000_000;
    const m = bridgeMetrics(registry, () => now);
    let reads = 0;
    let lags = [
      { partition: 0, lag: 5 },
      { partition: 1, lag: 0 },
    ];
    m.setLagSource('kafka', 'access_events', () => {
      reads++;
      return Promise.resolve(lags);
    });
    const lag = async (partition: string) =>
      value(parseExposition(await registry.metrics()), 'dim_bridge_consumer_lag', {
        source: 'kafka',
        topic: 'access_events',
        partition,
      });
    expect(await lag('0')).toBe(5);
    expect(await lag('1')).toBe(0);
    lags = [{ partition: 0, lag: 9 }];
    expect(await lag('0')).toBe(5); // cached
    expect(reads).toBe(1);
    now += LAG_CACHE_MS;
    expect(await lag('0')).toBe(9);
    expect(await lag('1')).toBeUndefined();
    expect(reads).toBe(2);
  });

  it('leaves the lag empty and counts an error when it cannot be read', async () => {
    const registry = createMetricsRegistry({ defaults: false });
    const m = bridgeMetrics(registry);
    m.setLagSource('kafka', 't', () => Promise.reject(new Error('Kafka is down')));
    let s = parseExposition(await registry.metrics());
    expect(value(s, 'dim_bridge_consumer_lag')).toBeUndefined();
    // Metrics are collected side by side: the error shows in the next scrape (which, within
    // the cache period, does not try again).
    s = parseExposition(await registry.metrics());
    expect(value(s, 'dim_bridge_consumer_lag')).toBeUndefined();
    expect(value(s, 'dim_bridge_lag_errors_total')).toBe(1);
  });

  it('serves /health and /metrics on its own port', async () => {
    const registry = createMetricsRegistry({ defaults: false });
    const m = bridgeMetrics(registry);
    m.applied.inc(3);
    m.deadLetters.inc();
    let running = true;
    const server = await serveBridgeHealth(
      { source: 'local-log', running: () => running },
      registry,
      '127.0.0.1',
      0,
    );
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const health = await fetch(`${base}/health`);
      expect([health.status, await health.json()]).toEqual([
        200,
        { status: 'ok', bridge: 'local-log' },
      ]);
      running = false;
      expect((await fetch(`${base}/health`)).status).toBe(503);
      const s = parseExposition(await (await fetch(`${base}/metrics`)).text());
      expect(value(s, 'dim_bridge_events_applied_total')).toBe(3);
      expect(value(s, 'dim_bridge_dead_letters_total')).toBe(1);
      const other = await fetch(`${base}/datasets`);
      expect(other.status).toBe(404);
      expect(other.headers.get('content-type')).toBe('application/problem+json');
    } finally {
      server.close();
    }
  });
});
