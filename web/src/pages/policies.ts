import { api, type Page } from '../api';
import type { Ctx } from '../context';
import { h, table, tier, usd } from '../dom';

interface Policy {
  name: string;
  latency_slo_ms: number | null;
  pinned_tier: string | null;
  min_residency_s: number;
  hot_max_age_s: number;
  warm_max_age_s: number;
  require_approval: boolean;
  retire_source: boolean;
  auto_apply: boolean;
  four_eyes: boolean;
  approvers: string[];
  [k: string]: unknown;
}

interface TierRow {
  name: string;
  location_template: string;
  storage_class: string;
  read_latency_ms: number;
  price_gb_month: number;
  price_retrieval_gb: number;
  price_per_1k_requests: number;
  min_storage_days: number;
  egress_gb: number;
}

const yes = (b: boolean) => (b ? 'yes' : 'no');

/** A JSON editor for admins: the body of one API call, sent as it is; the API names a bad field. */
function editor(
  ctx: Ctx,
  id: string,
  label: string,
  initial: unknown,
  send: (body: unknown) => Promise<void>,
) {
  const area = h('textarea', { id, rows: 14, spellcheck: 'false' });
  area.value = JSON.stringify(initial, null, 2);
  const form = h(
    'form',
    { class: 'editor' },
    h('label', { for: id }, label),
    area,
    h('button', { type: 'submit' }, 'Save'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    let body: unknown;
    try {
      body = JSON.parse(area.value);
    } catch (err) {
      ctx.notify(`Not JSON: ${(err as Error).message}`);
      return;
    }
    void send(body).catch((err: unknown) => ctx.notify(err));
  });
  return form;
}

/** Policies and the tier table: readable by every role, editable by admins. */
export function policiesPage(ctx: Ctx): HTMLElement {
  const policies = h('section', { class: 'card wide', 'aria-labelledby': 'pol-h' });
  const tiers = h('section', { class: 'card wide', 'aria-labelledby': 'tiers-table-h' });
  const root = h('section', {}, h('h1', {}, 'Policies & tiers'), policies, tiers);

  async function loadPolicies() {
    const p = await api<Page<Policy>>('GET', '/policies?limit=1000');
    policies.replaceChildren(
      h('h2', { id: 'pol-h' }, 'Policies'),
      table(
        [
          'Name',
          'Hot if read within',
          'Warm if read within',
          'Pinned',
          'SLO',
          'Approval',
          'Retire source',
          'Auto-apply',
          ...(ctx.can('admin') ? [''] : []),
        ],
        p.items.map((x) =>
          h(
            'tr',
            {},
            h('td', {}, x.name),
            h('td', { class: 'n' }, `${x.hot_max_age_s} s`),
            h('td', { class: 'n' }, `${x.warm_max_age_s} s`),
            h('td', {}, x.pinned_tier ? tier(x.pinned_tier) : '—'),
            h('td', {}, x.latency_slo_ms === null ? '—' : `${x.latency_slo_ms} ms`),
            h('td', {}, yes(x.require_approval) + (x.four_eyes ? ' (four eyes)' : '')),
            h('td', {}, yes(x.retire_source)),
            h('td', {}, yes(x.auto_apply)),
            ctx.can('admin')
              ? h(
                  'td',
                  {},
                  h(
                    'button',
                    {
                      type: 'button',
                      class: 'danger',
                      onclick: () =>
                        void api('DELETE', `/policies/${encodeURIComponent(x.name)}`)
                          .then(() => loadPolicies())
                          .catch((err: unknown) => ctx.notify(err)),
                    },
                    `Delete ${x.name}`,
                  ),
                )
              : null,
          ),
        ),
      ),
      ctx.can('admin')
        ? editor(
            ctx,
            'policy-json',
            'Create or replace a policy (POST /policies; omitted fields take their defaults)',
            { name: 'new-policy', hot_max_age_s: 60, warm_max_age_s: 600, require_approval: false },
            async (body) => {
              await api('POST', '/policies', body);
              ctx.notify('Policy saved.', 'ok');
              await loadPolicies();
            },
          )
        : h('p', { class: 'muted' }, 'Only admins may change policies.'),
    );
  }

  async function loadTiers() {
    const t = await api<{ items: TierRow[] }>('GET', '/tiers');
    tiers.replaceChildren(
      h('h2', { id: 'tiers-table-h' }, 'Tiers'),
      table(
        [
          'Tier',
          'Location',
          'Class',
          'Read latency',
          '$/GB-month',
          '$/GB read',
          '$/1k requests',
          'Min. days',
          '$/GB egress',
        ],
        t.items.map((x) =>
          h(
            'tr',
            {},
            h('td', {}, tier(x.name)),
            h('td', {}, h('code', {}, x.location_template)),
            h('td', {}, x.storage_class),
            h('td', { class: 'n' }, `${x.read_latency_ms} ms`),
            h('td', { class: 'n' }, usd(x.price_gb_month)),
            h('td', { class: 'n' }, usd(x.price_retrieval_gb)),
            h('td', { class: 'n' }, usd(x.price_per_1k_requests)),
            h('td', { class: 'n' }, x.min_storage_days),
            h('td', { class: 'n' }, usd(x.egress_gb)),
          ),
        ),
      ),
      ctx.can('admin')
        ? editor(
            ctx,
            'tiers-json',
            'Replace the tier table (PUT /tiers, all three tiers)',
            t,
            async (body) => {
              await api('PUT', '/tiers', body);
              ctx.notify('Tier table saved.', 'ok');
              await loadTiers();
            },
          )
        : h('p', { class: 'muted' }, 'Only admins may change the tier table.'),
    );
  }

  void loadPolicies().catch((err: unknown) => ctx.notify(err));
  void loadTiers().catch((err: unknown) => ctx.notify(err));
  return root;
}
