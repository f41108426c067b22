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
 * One progress line: status, bytes and percent, objects, rate and ETA. The rate is the
 * client's own measure (bytes between two polls over the time between them); with no rate
 * yet it reads "-" rather than guessing.
 */
export function progressLine(p: ProgressSample, rate: number | undefined): string {
  const pct =
    p.bytes_total > 0
      ? ` (${Math.min(100, Math.floor((p.bytes_done / p.bytes_total) * 100))}%)`
      : '';
  const r = rate !== undefined && rate > 0 ? `${bytes(rate)}/s` : '-';
  const left = p.bytes_total - p.bytes_done;
  const eta = rate !== undefined && rate > 0 && left > 0 ? duration(left / rate) : '-';
  return `${p.status.padEnd(17)} ${bytes(p.bytes_done)} / ${bytes(p.bytes_total)}${pct}  ${p.objects_done}/${p.objects_total} objects  ${r}  ETA ${eta}`;
}
