import { createMetricsRegistry } from '../runtime/metrics';
import { conventionProblems, parseExposition, value } from '../test/support/prometheus';
import { MoverMetrics } from './metrics';

/** MoverMetrics keeps the methods the activities call, on prom-client counters. */
describe('MoverMetrics', () => {
  const scrape = async (m: MoverMetrics) => parseExposition(await m.registry.metrics());

  it('counts bytes and objects copied and verified, and job statuses', async () => {
    const m = new MoverMetrics(createMetricsRegistry({ defaults: false }));
    m.addBytesCopied(100);
    m.addBytesCopied(23);
    m.addBytesCopied(0);
    m.objectsCopied++;
    m.objectsCopied++;
    m.addBytesVerified(50);
    m.addObjectsVerified(1);
    m.addStatus('copying');
    m.addStatus('completed');
    m.addStatus('completed');
    const s = await scrape(m);
    expect(value(s, 'dim_mover_bytes_copied_total')).toBe(123);
    expect(value(s, 'dim_mover_objects_copied_total')).toBe(2);
    expect(value(s, 'dim_mover_bytes_verified_total')).toBe(50);
    expect(value(s, 'dim_mover_objects_verified_total')).toBe(1);
    expect(value(s, 'dim_migration_jobs_status_total', { status: 'completed' })).toBe(2);
    expect(value(s, 'dim_migration_jobs_status_total', { status: 'copying' })).toBe(1);
    expect([m.bytesCopied, m.objectsCopied, m.bytesVerified, m.objectsVerified]).toEqual([
      123, 2, 50, 1,
    ]);
    for (const f of s.values()) expect(conventionProblems(f)).toEqual([]);
  });

  it('tracks the steps in flight by kind, and a step begun twice counts once', async () => {
    const m = new MoverMetrics(createMetricsRegistry({ defaults: false }));
    expect(value(await scrape(m), 'dim_mover_active_steps', { step: 'copy' })).toBe(0);
    const progress = m.begin('a1', { job_id: 'j1', step: 'copy', attempt: 1 });
    m.begin('a2', { job_id: 'j2', step: 'verify', attempt: 1 });
    m.begin('a2', { job_id: 'j2', step: 'verify', attempt: 2 });
    progress({ bytes_done: 5, bytes_total: 10, objects_done: 1, objects_total: 2 });
    let s = await scrape(m);
    expect(value(s, 'dim_mover_active_steps', { step: 'copy' })).toBe(1);
    expect(value(s, 'dim_mover_active_steps', { step: 'verify' })).toBe(1);
    expect(m.active.get('a1')).toMatchObject({ job_id: 'j1', bytes_done: 5, objects_total: 2 });
    m.end('a1');
    m.end('a1');
    m.end('a2');
    s = await scrape(m);
    expect(value(s, 'dim_mover_active_steps')).toBe(0);
    expect(m.active.size).toBe(0);
  });

  it('shares the counters of a registry with another instance', async () => {
    const registry = createMetricsRegistry({ defaults: false });
    const a = new MoverMetrics(registry);
    const b = new MoverMetrics(registry);
    a.addBytesCopied(1);
    b.addBytesCopied(2);
    expect(value(await scrape(a), 'dim_mover_bytes_copied_total')).toBe(3);
    expect([a.bytesCopied, b.bytesCopied]).toEqual([1, 2]);
  });
});
