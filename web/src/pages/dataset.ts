import uPlot from 'uplot';
import {
  api,
  type Bucket,
  type Dataset,
  type DryRun,
  type Job,
  type Page,
  type Recommendation,
  type Replica,
} from '../api';
import type { Ctx } from '../context';
import { ago, bytes, h, hourly, num, table, tier, time, usd } from '../dom';
import { statusBadge } from './jobs';

const HOURS = 7 * 24;

/** One dataset: usage chart, recommendation with its cost per tier, plan (dry run first), replicas, jobs. */
export function datasetPage(ctx: Ctx, id: number): HTMLElement {
  const title = h('h1', {}, `Dataset ${id}`);
  const facts = h('section', { class: 'card wide' });
  const chartBox = h('section', { class: 'card wide', 'aria-labelledby': 'usage-h' });
  const recBox = h('section', {
    class: 'card wide',
    id: 'recommendation',
    'aria-labelledby': 'rec-h',
  });
  const planBox = h('div', { id: 'plan', 'aria-live': 'polite' });
  const replicasBox = h('section', { class: 'card wide', 'aria-labelledby': 'replicas-h' });
  const jobsBox = h('section', { class: 'card wide', 'aria-labelledby': 'history-h' });
  const root = h(
    'section',
    {},
    h('p', {}, h('a', { href: '#/datasets' }, '← Datasets')),
    title,
    facts,
    chartBox,
    recBox,
    replicasBox,
    jobsBox,
  );

  async function load() {
    let d: Dataset;
    try {
      d = await api<Dataset>('GET', `/datasets/${id}`);
    } catch (err) {
      ctx.notify(err);
      return;
    }
    title.textContent = d.name;
    facts.replaceChildren(
      h(
        'dl',
        { class: 'kv' },
        h('dt', {}, 'Location'),
        h('dd', {}, h('code', {}, d.path_uri)),
        h('dt', {}, 'Tier'),
        h('dd', {}, tier(d.current_tier)),
        h('dt', {}, 'Size'),
        h('dd', {}, `${bytes(d.size_bytes)} in ${num(d.object_count)} objects`),
        h('dt', {}, 'Owner · policy'),
        h('dd', {}, `${d.owner ?? '—'} · ${d.policy ?? 'default'}`),
        h('dt', {}, 'Last access'),
        h('dd', {}, ago(d.last_access_ts)),
        h('dt', {}, 'Reads · writes'),
        h(
          'dd',
          {},
          `${num(d.usage.read_count)} · ${num(d.usage.write_count)} (${bytes(d.usage.bytes_read)} read)`,
        ),
      ),
    );
    await Promise.all([chart(), recommendation(d), replicas(), history()]);
  }

  async function chart() {
    chartBox.replaceChildren(h('h2', { id: 'usage-h' }, 'Usage, hourly, last 7 days'));
    try {
      const u = await api<{ buckets: Bucket[] }>('GET', `/datasets/${id}/usage`);
      const reads = hourly(u.buckets, (b) => b.read_count, HOURS);
      const writes = hourly(u.buckets, (b) => b.write_count, HOURS);
      const holder = h('div', {
        class: 'chart',
        role: 'img',
        'aria-label': `Reads and writes per hour: ${num(reads.v.reduce((a, b) => a + b, 0))} reads, ${num(writes.v.reduce((a, b) => a + b, 0))} writes in 7 days`,
      });
      chartBox.append(holder);
      const width = Math.max(280, Math.min(1100, holder.clientWidth || chartBox.clientWidth - 32));
      new uPlot(
        {
          width,
          height: 220,
          series: [
            {},
            { label: 'reads', stroke: '#1a73e8', fill: 'rgba(26,115,232,0.12)' },
            { label: 'writes', stroke: '#e8710a' },
          ],
          axes: [{}, { label: 'events / hour' }],
          scales: { x: { time: true } },
        },
        [reads.t, reads.v, writes.v],
        holder,
      );
    } catch (err) {
      chartBox.append(h('p', { class: 'error' }, String(err)));
    }
  }

  async function recommendation(d: Dataset) {
    recBox.replaceChildren(h('h2', { id: 'rec-h' }, 'Recommendation'));
    let r: Recommendation | undefined;
    try {
      r = (await api<Page<Recommendation>>('GET', `/recommendations?dataset_id=${id}`)).items[0];
    } catch (err) {
      recBox.append(h('p', { class: 'error' }, String((err as Error).message)));
      return;
    }
    if (!r) return;
    const costs = r.inputs.cost_usd_month ?? {};
    recBox.append(
      h(
        'p',
        { class: 'big', id: 'rec-action' },
        r.action === 'move'
          ? ['Move from ', tier(r.current_tier), ' to ', tier(r.recommended_tier)]
          : ['Stay in ', tier(r.current_tier)],
      ),
      h('p', { id: 'rec-reason' }, r.reason),
      table(
        ['Tier', 'Projected cost a month'],
        (['hot', 'warm', 'cold'] as const).map((t) =>
          h(
            'tr',
            { class: t === r.recommended_tier ? 'chosen' : '' },
            h(
              'td',
              {},
              tier(t),
              t === d.current_tier ? ' (now)' : '',
              t === r.recommended_tier ? ' (recommended)' : '',
            ),
            h('td', { class: 'n' }, usd(costs[t])),
          ),
        ),
        'Cost in each tier',
      ),
      r.action === 'move'
        ? h(
            'p',
            {},
            h(
              'button',
              { type: 'button', id: 'plan-button', onclick: () => void dryRun(r) },
              'Plan…',
            ),
            ' shows the dry run first; nothing starts until you confirm.',
          )
        : '',
      planBox,
    );
  }

  async function dryRun(r: Recommendation) {
    planBox.replaceChildren(h('p', { class: 'muted' }, 'computing the dry run…'));
    try {
      // A stored recommendation has its dry run (viewers may read it); advice computed on demand
      // (id null) is planned from its target with dry_run: true.
      const plan =
        r.id !== null
          ? (await api<{ plan: DryRun | null }>('GET', `/recommendations/${r.id}`)).plan
          : await api<DryRun>('POST', '/plan-migration', {
              dataset_id: id,
              target_location: r.target_location,
              storage_class: r.storage_class,
              target_tier: r.recommended_tier,
              dry_run: true,
            });
      if (!plan) {
        planBox.replaceChildren(h('p', {}, 'Nothing to move.'));
        return;
      }
      showPlan(r, plan);
    } catch (err) {
      planBox.replaceChildren();
      ctx.notify(err);
    }
  }

  function showPlan(r: Recommendation, p: DryRun) {
    const approval = h('input', {
      type: 'checkbox',
      id: 'require-approval',
      checked: p.safety?.require_approval ?? false,
    });
    const c = p.cost;
    const start = async () => {
      try {
        const job = await api<Job>('POST', '/plan-migration', {
          dataset_id: id,
          target_location: p.target_location,
          storage_class: p.storage_class,
          ...(p.target_tier ? { target_tier: p.target_tier } : {}),
          ...(approval.checked ? { require_approval: true } : {}),
        });
        ctx.notify(`Migration planned: job ${job.job_id} (${job.status}).`, 'ok');
        ctx.go('#/jobs');
      } catch (err) {
        ctx.notify(err);
      }
    };
    planBox.replaceChildren(
      h(
        'div',
        { class: 'dryrun', id: 'dry-run', role: 'region', 'aria-label': 'Dry run' },
        h('h3', {}, `Dry run: ${p.ok ? 'every check passed' : 'a check failed'}`),
        h(
          'dl',
          { class: 'kv' },
          h('dt', {}, 'To'),
          h('dd', {}, h('code', {}, p.target_location), ` (${p.storage_class})`),
          h('dt', {}, 'Objects'),
          h('dd', { id: 'dry-objects' }, num(p.objects)),
          h('dt', {}, 'Bytes'),
          h('dd', { id: 'dry-bytes' }, bytes(p.bytes)),
          h('dt', {}, 'Cost a month'),
          h(
            'dd',
            { id: 'dry-cost' },
            c
              ? `${usd(c.monthly_before_usd)} → ${usd(c.monthly_after_usd)} (saving ${usd(c.saving_usd_month)})`
              : '—',
          ),
          h('dt', {}, 'The move costs'),
          h('dd', {}, c ? usd(c.move_usd) : '—'),
          h('dt', {}, 'Break-even'),
          h(
            'dd',
            { id: 'dry-breakeven' },
            c
              ? c.payback_days === null
                ? 'never (no saving)'
                : `${c.payback_days.toFixed(1)} days (${c.pays_back ? 'pays back' : 'does not pay back'} within ${c.horizon_days} days)`
              : '—',
          ),
        ),
        table(
          ['Check', 'Result'],
          p.checks.map((k) =>
            h(
              'tr',
              {},
              h('td', {}, k.name.replace(/_/g, ' ')),
              h('td', { class: k.ok ? 'good' : 'bad' }, k.ok ? 'ok' : k.detail),
            ),
          ),
        ),
        p.existing_job_id ? h('p', {}, `Already planned: job ${p.existing_job_id}.`) : null,
        ctx.can('operator') && p.ok
          ? h(
              'p',
              { class: 'actions' },
              h('label', {}, approval, ' require approval before copying'),
              h(
                'button',
                { type: 'button', id: 'start-migration', onclick: () => void start() },
                `Start migration to ${r.recommended_tier}`,
              ),
            )
          : null,
      ),
    );
    document.getElementById('start-migration')?.focus();
  }

  async function replicas() {
    replicasBox.replaceChildren(h('h2', { id: 'replicas-h' }, 'Replicas'));
    try {
      const r = await api<{ items: Replica[] }>('GET', `/datasets/${id}/replicas`);
      replicasBox.append(
        r.items.length === 0
          ? h('p', { class: 'muted' }, 'No replica recorded yet (a migration records them).')
          : table(
              ['Location', 'Tier', 'Class', 'Role', 'Since'],
              r.items.map((x) =>
                h(
                  'tr',
                  {},
                  h('td', {}, h('code', {}, x.uri)),
                  h('td', {}, tier(x.tier)),
                  h('td', {}, x.storage_class),
                  h('td', {}, x.role),
                  h('td', {}, time(x.updated_at)),
                ),
              ),
            ),
      );
    } catch (err) {
      replicasBox.append(h('p', { class: 'error' }, String((err as Error).message)));
    }
  }

  async function history() {
    jobsBox.replaceChildren(h('h2', { id: 'history-h' }, 'Migration history'));
    try {
      const p = await api<Page<Job>>('GET', `/jobs?dataset_id=${id}&limit=50`);
      jobsBox.append(
        p.items.length === 0
          ? h('p', { class: 'muted' }, 'No migration yet.')
          : table(
              ['Submitted', 'Status', 'To', 'By'],
              p.items.map((j) =>
                h(
                  'tr',
                  {},
                  h('td', {}, h('a', { href: `#/jobs/${j.job_id}` }, time(j.submitted_at))),
                  h('td', {}, statusBadge(j.status)),
                  h('td', {}, h('code', {}, j.dest_uri)),
                  h('td', {}, j.requested_by),
                ),
              ),
            ),
      );
    } catch (err) {
      jobsBox.append(h('p', { class: 'error' }, String((err as Error).message)));
    }
  }

  void load();
  return root;
}
