/**
 * Bandwidth limits of migrations, in bytes per second (null or undefined: no limit). Pure:
 * the migration service applies `jobLimit` when it plans, the copy activity `effectiveLimit`
 * while it runs.
 *
 * - A policy's `max_bytes_per_s` is the default of the migrations of its datasets.
 * - A plan's `max_bytes_per_s` overrides it (a number, or null for none); left out, the
 *   policy's applies. `POST /jobs/{id}/bandwidth` changes the job's limit while it runs.
 * - The worker's DIM_COPY_MAX_BYTES_PER_S caps every copy it runs, whatever the job says.
 */

/** The limit a new job gets: the plan's when it names one (null: none), else the policy's. */
export function jobLimit(
  policyLimit: number | null | undefined,
  requested: number | null | undefined,
): number | null {
  if (requested !== undefined) return requested;
  return policyLimit ?? null;
}

/** The rate a copy runs at: the lowest of the limits that are set (undefined: unlimited). */
export function effectiveLimit(...limits: (number | null | undefined)[]): number | undefined {
  let out: number | undefined;
  for (const l of limits) {
    if (l === null || l === undefined || !(l > 0)) continue;
    out = out === undefined ? l : Math.min(out, l);
  }
  return out;
}
