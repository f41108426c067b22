import { api, health, type Overview } from '../api';
import { every, type Ctx } from '../context';
import { bytes, h, num, table, tier, usd } from '../dom';

/** Datasets per tier, the monthly cost now and under the recommendations, jobs, ingest, health. */
export function overviewPage(ctx: Ctx): HTMLElement {
  const body = h('div', { class: 'cards' });
  const healthBox = h('section', { class: 'card wide', 'aria-labelledby': 'health-h' });
  const root = h('section', {}, h('h1', {}, 'Overview'), body, healthBox);

  const render = (o: Overview) => {
    const c = o.cost;
    body.replaceChildren(
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'tiers-h' },
        h('h2', { id: 'tiers-h' }, 'Datasets per tier'),
        table(
          ['Tier', 'Datasets', 'Bytes'],
          o.tiers.map((t) =>
            h(
              'tr',
              {},
              h('td', {}, tier(t.tier)),
              h('td', { class: 'n' }, num(t.datasets)),
              h('td', { class: 'n' }, bytes(t.bytes)),
            ),
          ),
        ),
      ),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'cost-h' },
        h('h2', { id: 'cost-h' }, 'Projected cost this month'),
        c
          ? h(
              'dl',
              { class: 'kv' },
              h('dt', {}, 'Where the data is now'),
              h('dd', { id: 'cost-now' }, usd(c.monthly_now_usd)),
              h('dt', {}, 'Under the standing recommendations'),
              h('dd', { id: 'cost-rec' }, usd(c.monthly_recommended_usd)),
              h('dt', {}, 'Saving'),
              h(
                'dd',
                { id: 'cost-saving', class: c.saving_usd_month > 0 ? 'good' : '' },
                usd(c.saving_usd_month),
              ),
              h('dt', {}, 'Datasets to move'),
              h('dd', {}, num(c.datasets_to_move)),
            )
          : h(
              'p',
              {},
              'The tier table is incomplete: set hot, warm and cold under Policies & tiers.',
            ),
        h(
          'p',
          { class: 'muted' },
          'Monthly rates from each dataset’s usage so far, under the recommendations stored by the last placement pass; the one-off cost of the moves is not included.',
        ),
      ),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'jobs-h' },
        h('h2', { id: 'jobs-h' }, 'Migrations'),
        h(
          'dl',
          { class: 'kv' },
          h('dt', {}, h('a', { href: '#/jobs' }, 'Running')),
          h('dd', { id: 'jobs-running' }, num(o.jobs.running)),
          h('dt', {}, 'Waiting for approval'),
          h('dd', { id: 'jobs-waiting' }, num(o.jobs.awaiting_approval)),
          h('dt', {}, 'Failed in the last day'),
          h(
            'dd',
            { id: 'jobs-failed', class: o.jobs.failed_last_day > 0 ? 'bad' : '' },
            num(o.jobs.failed_last_day),
          ),
        ),
      ),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'ingest-h' },
        h('h2', { id: 'ingest-h' }, 'Ingest'),
        h('p', { class: 'big', id: 'ingest-rate' }, `${o.ingest.events_per_s.toFixed(2)} events/s`),
        h(
          'p',
          { class: 'muted' },
          `${num(o.ingest.events)} access events since the start of the previous hour`,
        ),
      ),
    );
  };

  const renderHealth = (hl: Awaited<ReturnType<typeof health>>) => {
    const rows = Object.entries(hl)
      .filter(([k, v]) => k !== 'status' && typeof v === 'string')
      .map(([k, v]) =>
        h(
          'tr',
          {},
          h('td', {}, k),
          h('td', { class: v === 'ok' ? 'good' : 'bad' }, String(v)),
          h('td', {}, hl.errors?.[k] ?? ''),
        ),
      );
    healthBox.replaceChildren(
      h('h2', { id: 'health-h' }, `Health: ${hl.status}`),
      table(['Dependency', 'State', 'Reason'], rows),
      ctx.overview.temporal_ui_url
        ? h(
            'p',
            {},
            h(
              'a',
              { href: ctx.overview.temporal_ui_url, target: '_blank', rel: 'noopener' },
              'Temporal Web UI',
            ),
          )
        : '',
    );
  };

  render(ctx.overview);
  every(ctx.signal, 5000, async () => {
    try {
      const [o, hl] = await Promise.all([api<Overview>('GET', '/overview'), health()]);
      render(o);
      renderHealth(hl);
    } catch (err) {
      ctx.notify(err);
    }
  });
  return root;
}
