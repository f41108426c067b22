/** Plain-text output for humans: tables, sizes, durations and the migration progress line. */

/** Columns padded to their widest cell, a header row first; `-` for an empty cell. */
export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [
    headers,
    ...rows.map((r) => r.map((c) => (c === null || c === undefined || c === '' ? '-' : String(c)))),
  ];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return (
    cells
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function bytes(n: number): string {
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${UNITS[u]}`;
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/**
 * A bandwidth typed by a person, in bytes per second: `10MiB`, `10M` (binary, as rclone's
 * --bwlimit reads it), `10MB` (decimal), `1.5GiB/s`, `65536`; `off`, `none` or `0`: no limit
 * (null). Throws an Error saying what is accepted.
 */
export function parseByteRate(text: string): number | null {
  const t = text.trim();
  if (/^(off|none|unlimited|0)$/i.test(t)) return null;
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*?)(?:\/s|ps)?$/i.exec(t);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  const n = m && unit !== undefined ? Math.round(Number(m[1]) * unit) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new Error(
      `"${text}" is no bandwidth: give bytes per second as a number with an optional unit (65536, 512K, 10MiB, 10MB, 1.5G), or "off" for no limit`,
    );
  }
  return n;
}

export function duration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const t = Math.max(0, Math.round(s));
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s`;
  return `${Math.floor(t / 3600)}h${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}m`;
}

export interface ProgressSample {
  status: string;
  bytes_done: number;
  bytes_total: number;
  objects_done: number;
  objects_total: number;
}

/**
 * One progress line: status, bytes and percent, objects, rate, ETA and the job's bandwidth
 * limit if it has one. The rate is the copy's own (GET /jobs/{id} progress.bytes_per_s), else
 * the client's measure (bytes between two polls over the time between them); with no rate
 * yet it reads "-" rather than guessing.
 */
export function progressLine(
  p: ProgressSample,
  rate: number | undefined,
  limit?: number | null,
): string {
  const pct =
    p.bytes_total > 0
      ? ` (${Math.min(100, Math.floor((p.bytes_done / p.bytes_total) * 100))}%)`
      : '';
  const r = rate !== undefined && rate > 0 ? `${bytes(rate)}/s` : '-';
  const left = p.bytes_total - p.bytes_done;
  const eta = rate !== undefined && rate > 0 && left > 0 ? duration(left / rate) : '-';
  const cap = limit ? `  (limit ${bytes(limit)}/s)` : '';
  return `${p.status.padEnd(17)} ${bytes(p.bytes_done)} / ${bytes(p.bytes_total)}${pct}  ${p.objects_done}/${p.objects_total} objects  ${r}  ETA ${eta}${cap}`;
}
