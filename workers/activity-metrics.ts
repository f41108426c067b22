import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { DimError } from '../errors';
import { counter, histogram, type Registry } from '../runtime/metrics';

/**
 * A Temporal activity interceptor that observes each activity's outcome, so that no
 * activity counts for itself: `dim_activity_executions_total{activity,outcome}`,
 * `dim_activity_duration_seconds{activity,outcome}` and
 * `dim_activity_failures_total{activity,code}`, where code is the ApplicationFailure's
 * `type` (dim's error codes, errors/ and activities/failures.ts), `cancelled`, or
 * `unexpected` for anything else. Outcomes: `completed`, `failed`, `cancelled`.
 */
export function failureCode(err: unknown): string {
  if (err instanceof CancelledFailure) return 'cancelled';
  if (err instanceof ApplicationFailure && err.type) return err.type;
  if (err instanceof DimError) return err.code;
  return 'unexpected';
}

export function activityMetricsInterceptor(registry: Registry): ActivityInterceptorsFactory {
  const executions = counter(registry, {
    name: 'dim_activity_executions_total',
    help: 'Activity attempts that ended on this worker, by activity and outcome.',
    labelNames: ['activity', 'outcome'],
  });
  const failures = counter(registry, {
    name: 'dim_activity_failures_total',
    help: 'Activity attempts that failed, by activity and failure code (ApplicationFailure type).',
    labelNames: ['activity', 'code'],
  });
  const duration = histogram(registry, {
    name: 'dim_activity_duration_seconds',
    help: 'How long activity attempts ran, by activity and outcome.',
    labelNames: ['activity', 'outcome'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14_400],
  });
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        const activity = ctx.info.activityType;
        const started = process.hrtime.bigint();
        const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
        try {
          const result = await next(input);
          executions.inc({ activity, outcome: 'completed' });
          duration.observe({ activity, outcome: 'completed' }, seconds());
          return result;
        } catch (err) {
          const code = failureCode(err);
          const outcome = code === 'cancelled' ? 'cancelled' : 'failed';
          executions.inc({ activity, outcome });
          duration.observe({ activity, outcome }, seconds());
          if (outcome === 'failed') failures.inc({ activity, code });
          throw err;
        }
      },
    },
  });
}
