import { api, type Bucket, type Dataset, type Page, type Recommendation } from '../api';
import type { Ctx } from '../context';
import { ago, bytes, h, hourly, sparkline, table, tier } from '../dom';

const PAGE = 25;
const SPARK_HOURS = 48;

/** Every dataset: search, filters (tier, owner, policy), pages over the API's cursors. */
export function datasetsPage(ctx: Ctx): HTMLElement {
  const search = h('input', { id: 'f-name', type: 'search', placeholder: 'name contains…' });
  const tierSel = h(
    'select',
    { id: 'f-tier' },
    h('option', { value: '' }, 'any'),
    ...['hot', 'warm', 'cold'].map((t) => h('option', { value: t }, t)),
  );
  const owner = h('input', { id: 'f-owner', type: 'text', placeholder: 'exact owner' });
  const policy = h('select', { id: 'f-policy' }, h('option', { value: '' }, 'any'));
  const form = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter datasets' },
    h('label', { for: 'f-name' }, 'Search'),
    search,
    h('label', { for: 'f-tier' }, 'Tier'),
    tierSel,
    h('label', { for: 'f-owner' }, 'Owner'),
    owner,
    h('label', { for: 'f-policy' }, 'Policy'),
    policy,
    h('button', { type: 'submit' }, 'Apply'),
  );
  const list = h('div', { 'aria-live': 'polite' });
  const prev = h('button', { type: 'button', disabled: true }, '← Previous');
  const next = h('button', { type: 'button', disabled: true }, 'Next →');
  const pager = h('div', { class: 'pager' }, prev, next);
  const root = h('section', {}, h('h1', {}, 'Datasets'), form, list, pager);

  // The cursors of the pages seen so far: cursors[i] opens page i.
  let cursors: (string | undefined)[] = [undefined];
  let index = 0;

  void api<Page<{ name: string }>>('GET', '/policies?limit=1000').then(
    (p) => policy.append(...p.items.map((x) => h('option', { value: x.name }, x.name))),
    (err: unknown) => ctx.notify(err),
  );

  async function load() {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (search.value.trim()) q.set('name', search.value.trim());
    if (tierSel.value) q.set('tier', tierSel.value);
    if (owner.value.trim()) q.set('owner', owner.value.trim());
    if (policy.value) q.set('policy', policy.value);
    const cursor = cursors[index];
    if (cursor) q.set('cursor', cursor);
    list.replaceChildren(h('p', { class: 'muted' }, 'loading…'));
    try {
      const page = await api<Page<Dataset>>('GET', `/datasets?${q.toString()}`);
      cursors[index + 1] = page.next_cursor ?? undefined;
      prev.disabled = index === 0;
      next.disabled = !page.next_cursor;
      const rows = page.items.map((d) => row(d));
      list.replaceChildren(
        page.items.length === 0
          ? h('p', {}, 'No dataset matches.')
          : table(
              ['Name', 'Tier', 'Size', 'Last access', `Reads, ${SPARK_HOURS} h`, 'Recommendation'],
              rows.map((r) => r.tr),
            ),
        h('p', { class: 'muted' }, `Page ${index + 1}`),
      );
      await Promise.all(rows.map((r) => r.fill()));
    } catch (err) {
      list.replaceChildren();
      ctx.notify(err);
    }
  }

  function row(d: Dataset) {
    const spark = h('td', {}, '…');
    const rec = h('td', {}, '…');
    const tr = h(
      'tr',
      { 'data-dataset': d.id },
      h('td', {}, h('a', { href: `#/datasets/${d.id}` }, d.name)),
      h('td', {}, tier(d.current_tier)),
      h('td', { class: 'n' }, bytes(d.size_bytes)),
      h('td', {}, ago(d.last_access_ts)),
      spark,
      rec,
    );
    const fill = async () => {
      const [usage, recs] = await Promise.allSettled([
        api<{ buckets: Bucket[] }>('GET', `/datasets/${d.id}/usage`),
        api<Page<Recommendation>>('GET', `/recommendations?dataset_id=${d.id}`),
      ]);
      if (usage.status === 'fulfilled') {
        const { v } = hourly(usage.value.buckets, (b) => b.read_count, SPARK_HOURS);
        spark.replaceChildren(
          sparkline(v, `${v.reduce((a, b) => a + b, 0)} reads in ${SPARK_HOURS} hours`),
        );
      } else spark.textContent = '—';
      const r = recs.status === 'fulfilled' ? recs.value.items[0] : undefined;
      rec.replaceChildren(
        r
          ? r.action === 'move'
            ? h('span', { class: 'rec-move' }, 'move to ', tier(r.recommended_tier))
            : h('span', { class: 'muted' }, 'stay')
          : '—',
      );
    };
    return { tr, fill };
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    cursors = [undefined];
    index = 0;
    void load();
  });
  prev.addEventListener('click', () => {
    index = Math.max(0, index - 1);
    void load();
  });
  next.addEventListener('click', () => {
    index++;
    void load();
  });
  void load();
  return root;
}
