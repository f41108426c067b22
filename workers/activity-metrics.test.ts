import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { Context } from '@temporalio/activity';
import { DimError } from '../errors';
import { createMetricsRegistry } from '../runtime/metrics';
import { parseExposition, value } from '../test/support/prometheus';
import { activityMetricsInterceptor, failureCode } from './activity-metrics';

/**
 * The interceptor is called here as the Temporal worker calls it (a factory given the
 * activity's context, then `execute(input, next)`); the worker run by the integration test
 * (test/integration/metrics.test.ts) shows it in place.
 */
describe('failureCode', () => {
  it('is the ApplicationFailure type, the DimError code, cancelled, or unexpected', () => {
    expect(failureCode(ApplicationFailure.nonRetryable('gone', 'source_missing'))).toBe(
      'source_missing',
    );
    expect(failureCode(new DimError('unavailable', 503, 'later'))).toBe('unavailable');
    expect(failureCode(new CancelledFailure('cancelled'))).toBe('cancelled');
    expect(failureCode(new TypeError('x is undefined'))).toBe('unexpected');
    expect(failureCode('a string')).toBe('unexpected');
  });
});

describe('activityMetricsInterceptor', () => {
  it('counts outcomes and failure codes per activity, and times each attempt', async () => {
    const registry = createMetricsRegistry({ defaults: false });
    const factory = activityMetricsInterceptor(registry);
    const run = (activityType: string, outcome: () => Promise<unknown>) => {
      const ctx = { info: { activityType } } as unknown as Context;
      const execute = factory(ctx).inbound!.execute!;
      return execute({ args: [], headers: {} }, () => outcome());
    };
    await expect(run('copy', () => Promise.resolve(42))).resolves.toBe(42);
    const fail = ApplicationFailure.nonRetryable('not empty', 'dest_not_empty');
    await expect(run('copy', () => Promise.reject(fail))).rejects.toBe(fail);
    await expect(
      run('verify', () => Promise.reject(new CancelledFailure('cancelled'))),
    ).rejects.toBeInstanceOf(CancelledFailure);
    const s = parseExposition(await registry.metrics());
    const executions = (activity: string, outcome: string) =>
      value(s, 'dim_activity_executions_total', { activity, outcome });
    expect(executions('copy', 'completed')).toBe(1);
    expect(executions('copy', 'failed')).toBe(1);
    expect(executions('verify', 'cancelled')).toBe(1);
    expect(
      value(s, 'dim_activity_failures_total', { activity: 'copy', code: 'dest_not_empty' }),
    ).toBe(1);
    // A cancellation is no failure.
    expect(value(s, 'dim_activity_failures_total', { activity: 'verify' })).toBeUndefined();
    expect(value(s, 'dim_activity_duration_seconds', { activity: 'copy' })).toBe(2);
  });
});
