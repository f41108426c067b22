import {
  forecast,
  HOUR_MS,
  newUsageState,
  observe,
  type ForecastModel,
  type UsageForecast,
  type UsageState,
} from '../forecast';
import type { Trace } from './trace';

/**
 * The trainings of the usage model in simulated time, as the store runs them
 * (store/models.ts): at each training time T, each dataset's state (placement/forecast.ts)
 * has folded the buckets of the steps that ended by T, never a later one, and its forecast
 * as of T over the model's horizon is what `choose` gets until the next training. A dataset
 * with less than `minHistoryMs` of history has no forecast (the heuristic decides).
 * Trainings are at t0 + minHistoryMs + i·retrainMs, before the end of the trace.
 *
 * The forecasts do not depend on any strategy's decisions, so they are computed apart, for
 * a block of datasets at a time, in time order across the block: `forecast` keeps the last
 * exposure it computed (it depends only on the hours observed), so all the datasets of one
 * training share it instead of each recomputing it.
 */
export interface Trained {
  /** The training times, ms. */
  times: number[];
  /** forecasts[d − i0][j]: dataset d's forecast at training j. */
  forecasts: UsageForecast[][];
}

export function trainingTimes(trace: Trace, retrainMs: number, minHistoryMs: number): number[] {
  const end = trace.t0 + trace.steps * trace.stepMs;
  const times: number[] = [];
  for (let t = trace.t0 + minHistoryMs; t < end; t += retrainMs) times.push(t);
  return times;
}

export function train(
  trace: Trace,
  i0: number,
  i1: number,
  model: ForecastModel,
  times: number[],
): Trained {
  const { t0, stepMs } = trace;
  const n = i1 - i0;
  const states: UsageState[] = [];
  const next = new Int32Array(n);
  const forecasts: UsageForecast[][] = [];
  for (let d = 0; d < n; d++) {
    states.push(newUsageState(t0));
    next[d] = trace.off[i0 + d]!;
    forecasts.push([]);
  }
  const h = model.params.horizon_hours;
  for (const T of times) {
    // A dataset with no bucket yet has the state newUsageState(t0), the same for all: its
    // forecast is computed once per training and shared (many datasets are rarely read).
    const empty = forecast(newUsageState(t0), T, h, model);
    for (let d = 0; d < n; d++) {
      const s = states[d]!;
      const a1 = trace.off[i0 + d + 1]!;
      let a = next[d]!;
      // The steps that ended by T; a step's bucket is the hour holding its last event.
      for (; a < a1 && t0 + (trace.step[a]! + 1) * stepMs <= T; a++) {
        observe(
          s,
          {
            hour: Math.floor(trace.lastTs[a]! / HOUR_MS) * HOUR_MS,
            read_count: trace.reads[a]!,
            write_count: trace.writes[a]!,
            bytes_read: trace.bytesRead[a]!,
          },
          model.params,
        );
      }
      const none = a === trace.off[i0 + d]!;
      next[d] = a;
      forecasts[d]!.push(none ? empty : forecast(s, T, h, model));
    }
  }
  return { times, forecasts };
}
