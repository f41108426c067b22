/** A small element builder and the formats every page uses. */
type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function bytes(n: number): string {
  if (!Number.isFinite(n)) return '—';
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export const usd = (n: number | null | undefined) =>
  n === null || n === undefined
    ? '—'
    : `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: n < 1 ? 4 : 2 })}`;

export const num = (n: number) => n.toLocaleString('en-US');

export function ago(iso: string | null): string {
  if (!iso) return 'never';
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function duration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '—';
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

export const time = (iso: string) => new Date(iso).toLocaleString();

/** A tier badge. */
export const tier = (t: string | null) =>
  h('span', { class: `tier tier-${t ?? 'none'}` }, t ?? '—');

/** Column heads of numbers, right-aligned like their cells. */
const NUMERIC = /^(Datasets|Bytes|Size|Projected cost a month|Read latency|\$|Min\. days)/;

/** A table in a scrolling box (narrow screens scroll it sideways, not the page). */
export function table(head: string[], rows: Node[], caption?: string): HTMLElement {
  return h(
    'div',
    { class: 'scroll' },
    h(
      'table',
      {},
      caption ? h('caption', {}, caption) : null,
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...head.map((c) =>
            h('th', { scope: 'col', class: NUMERIC.test(c) ? 'n' : undefined }, c),
          ),
        ),
      ),
      h('tbody', {}, ...rows),
    ),
  );
}

/** An inline SVG sparkline of `values` (one point each, evenly spaced). */
export function sparkline(values: number[], label: string): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const w = 120;
  const ht = 24;
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${ht}`);
  svg.setAttribute('width', String(w));
  svg.setAttribute('height', String(ht));
  svg.setAttribute('role', 'img');
  svg.setAttribute('class', 'spark');
  const title = document.createElementNS(ns, 'title');
  title.textContent = label;
  svg.append(title);
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? w / (values.length - 1) : w;
  const pts = values.map(
    (v, i) => `${(i * step).toFixed(1)},${(ht - 2 - (v / max) * (ht - 4)).toFixed(1)}`,
  );
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('points', pts.join(' '));
  line.setAttribute('fill', 'none');
  line.setAttribute('stroke', 'currentColor');
  line.setAttribute('stroke-width', '1.5');
  svg.append(line);
  return svg;
}

/** Hourly values over the last `hours` hours from sparse buckets (hours without events are 0). */
export function hourly<T extends { hour: string }>(
  buckets: T[],
  value: (b: T) => number,
  hours: number,
  now = Date.now(),
): { t: number[]; v: number[] } {
  const H = 3_600_000;
  const end = Math.floor(now / H) * H;
  const by = new Map(buckets.map((b) => [Date.parse(b.hour), value(b)]));
  const t: number[] = [];
  const v: number[] = [];
  for (let x = end - (hours - 1) * H; x <= end; x += H) {
    t.push(x / 1000);
    v.push(by.get(x) ?? 0);
  }
  return { t, v };
}
