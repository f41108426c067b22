import { api, type Job, type JobStatus, type Page } from '../api';
import { every, type Ctx } from '../context';
import { bytes, duration, h, num, time } from '../dom';

const POLL_MS = 1500;
const CANCELLABLE: JobStatus[] = ['queued', 'awaiting_approval', 'copying', 'verifying'];
const RUNNING: JobStatus[] = ['queued', 'copying', 'verifying', 'switching', 'retiring'];

export const statusBadge = (s: JobStatus) =>
  h('span', { class: `status status-${s}` }, s.replace(/_/g, ' '));

interface History {
  statuses: { status: JobStatus; error: string | null; at: string; run_id: string }[];
  actions: { action: string; actor: string; at: string }[];
}

/** Fills `box` with the job's status history (GET /jobs/{id}/history: Temporal and the audit log). */
async function loadHistory(job: Job, box: HTMLElement) {
  try {
    const hist = await api<History>('GET', `/jobs/${job.job_id}/history`);
    // The audit log has the plan (job.planned); older jobs without it show when they were submitted.
    const planned = hist.actions.some((a) => a.action === 'job.planned');
    const items = [
      ...(planned ? [] : [{ at: job.submitted_at, text: `planned by ${job.requested_by}` }]),
      ...hist.statuses.map((s) => ({
        at: s.at,
        text: `${s.status.replace(/_/g, ' ')}${s.error ? `: ${s.error}` : ''}`,
      })),
      ...hist.actions.map((a) => ({
        at: a.at,
        text: `${a.action.replace(/^job\./, '')} by ${a.actor}`,
      })),
    ].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    box.replaceChildren(
      h(
        'ol',
        { class: 'history' },
        ...items.map((i) => h('li', {}, h('time', { datetime: i.at }, time(i.at)), ` ${i.text}`)),
      ),
    );
  } catch (err) {
    box.replaceChildren(h('p', { class: 'error' }, String((err as Error).message)));
  }
}

/** Live list of migration jobs: progress, rate, ETA, status history, errors, and the actions allowed. */
export function jobsPage(ctx: Ctx): HTMLElement {
  const status = h(
    'select',
    { id: 'f-status' },
    h('option', { value: '' }, 'any'),
    ...[
      'queued',
      'awaiting_approval',
      'copying',
      'verifying',
      'switching',
      'retiring',
      'completed',
      'failed',
      'cancelled',
      'enqueue_failed',
    ].map((s) => h('option', { value: s }, s.replace(/_/g, ' '))),
  );
  const list = h('div', { id: 'jobs', class: 'jobs' });
  const updated = h('p', { class: 'muted', id: 'jobs-updated', 'aria-live': 'off' });
  const root = h(
    'section',
    {},
    h('h1', {}, 'Jobs'),
    h('p', { class: 'filters' }, h('label', { for: 'f-status' }, 'Status'), status),
    updated,
    list,
  );
  const cards = new Map<string, { json: string; el: HTMLElement }>();
  // Dataset names, read once per dataset (a deleted one keeps its id only).
  const names = new Map<number, string | null>();
  const nameOf = (id: number) => {
    if (names.has(id)) return names.get(id) ?? null;
    names.set(id, null);
    void api<{ name: string }>('GET', `/datasets/${id}`).then(
      (d) => names.set(id, d.name),
      () => undefined,
    );
    return null;
  };
  const last = new Map<string, { t: number; bytes: number; rate: number | null }>();

  async function act(job: Job, verb: 'approve' | 'cancel' | 'retry') {
    try {
      const j = await api<Job>('POST', `/jobs/${job.job_id}/${verb}`, {});
      ctx.notify(`Job ${j.job_id.slice(0, 8)}: ${verb} sent (${j.status}).`, 'ok');
      await poll();
    } catch (err) {
      ctx.notify(err);
    }
  }

  function card(job: Job): HTMLElement {
    const p = job.progress;
    const prev = last.get(job.job_id);
    const running = RUNNING.includes(job.status);
    const rate = prev?.rate ?? null;
    const eta = rate && rate > 0 ? (p.bytes_total - p.bytes_done) / rate : NaN;
    const me = ctx.overview.caller.name;
    const mayApprove =
      ctx.can('operator') &&
      job.require_approval &&
      job.status === 'awaiting_approval' &&
      !(job.four_eyes && job.requested_by === me) &&
      (job.approvers.length === 0 || job.approvers.includes(me));
    const buttons = [
      mayApprove
        ? h(
            'button',
            {
              type: 'button',
              'data-action': 'approve',
              id: `approve-${job.job_id}`,
              onclick: () => void act(job, 'approve'),
            },
            'Approve',
          )
        : null,
      ctx.can('operator') && CANCELLABLE.includes(job.status)
        ? h(
            'button',
            {
              type: 'button',
              class: 'danger',
              'data-action': 'cancel',
              id: `cancel-${job.job_id}`,
              onclick: () => void act(job, 'cancel'),
            },
            'Cancel',
          )
        : null,
      ctx.can('operator') && (job.status === 'failed' || job.status === 'enqueue_failed')
        ? h(
            'button',
            {
              type: 'button',
              'data-action': 'retry',
              id: `retry-${job.job_id}`,
              onclick: () => void act(job, 'retry'),
            },
            'Retry',
          )
        : null,
    ];
    const historyBox = h('div', { class: 'history-box' }, h('p', { class: 'muted' }, 'loading…'));
    const details = h('details', {}, h('summary', {}, 'Status history'), historyBox);
    details.addEventListener('toggle', () => {
      if (details.open) void loadHistory(job, historyBox);
    });
    return h(
      'article',
      {
        class: `job card wide job-${job.status}`,
        id: `job-${job.job_id}`,
        'data-job': job.job_id,
        'data-status': job.status,
        'aria-label': `Job ${job.job_id}`,
      },
      h(
        'header',
        {},
        statusBadge(job.status),
        ' ',
        h(
          'a',
          { href: `#/datasets/${job.dataset_id}` },
          nameOf(job.dataset_id)
            ? `${nameOf(job.dataset_id)} (dataset ${job.dataset_id})`
            : `dataset ${job.dataset_id}`,
        ),
        ' → ',
        h('code', {}, job.dest_uri),
        ` (${job.dest_storage_class})`,
      ),
      h(
        'div',
        { class: 'progress-row' },
        h('progress', {
          max: p.bytes_total > 0 ? p.bytes_total : 1,
          value: job.status === 'completed' ? p.bytes_total || 1 : p.bytes_done,
          'aria-label': `copied ${p.percent ?? 0} percent`,
        }),
        h('span', { class: 'pct' }, p.percent === null ? '—' : `${p.percent}%`),
      ),
      h(
        'p',
        { class: 'stats' },
        `${bytes(p.bytes_done)} of ${bytes(p.bytes_total)} · ${num(p.objects_done)} of ${num(p.objects_total)} objects`,
        running ? ` · ${rate === null ? 'rate —' : `${bytes(rate)}/s`} · ETA ${duration(eta)}` : '',
      ),
      job.error
        ? h(
            'p',
            { class: 'error job-error' },
            h('b', {}, job.status === 'cancelled' ? 'Reason: ' : 'Error: '),
            job.error,
          )
        : null,
      details,
      h(
        'p',
        { class: 'actions' },
        ...buttons,
        job.temporal_ui_url
          ? h(
              'a',
              { href: job.temporal_ui_url, target: '_blank', rel: 'noopener', class: 'temporal' },
              'Workflow in Temporal Web UI',
            )
          : null,
        h('span', { class: 'muted' }, ` job ${job.job_id}`),
      ),
    );
  }

  async function poll() {
    const q = new URLSearchParams({ limit: '50' });
    if (status.value) q.set('status', status.value);
    const page = await api<Page<Job>>('GET', `/jobs?${q.toString()}`);
    const now = Date.now();
    const focused = document.activeElement?.id;
    const els: HTMLElement[] = [];
    for (const job of page.items) {
      const prev = last.get(job.job_id);
      const d = prev ? job.progress.bytes_done - prev.bytes : 0;
      // The rate between two polls that saw the bytes change (the worker reports about once a second).
      if (!prev || d !== 0) {
        const rate = prev && d > 0 && now > prev.t ? (d / (now - prev.t)) * 1000 : null;
        last.set(job.job_id, { t: now, bytes: job.progress.bytes_done, rate });
      }
      const json = JSON.stringify(job) + (names.get(job.dataset_id) ?? '');
      const have = cards.get(job.job_id);
      if (have && have.json === json) {
        els.push(have.el);
        continue;
      }
      const el = card(job);
      // An open history stays open (and is read again) when the job changes.
      if (have?.el.querySelector('details')?.open) el.querySelector('details')!.open = true;
      cards.set(job.job_id, { json, el });
      els.push(el);
    }
    list.replaceChildren(
      ...(els.length ? els : [h('p', {}, 'No migration job yet: plan one from a dataset’s page.')]),
    );
    if (focused) document.getElementById(focused)?.focus();
    updated.textContent = `Updated ${new Date(now).toLocaleTimeString()} (every ${POLL_MS / 1000} s)`;
    const target = /^#\/jobs\/([0-9a-f-]{36})$/.exec(location.hash)?.[1];
    if (target) document.getElementById(`job-${target}`)?.classList.add('target');
  }

  status.addEventListener('change', () => {
    cards.clear();
    void poll().catch((err: unknown) => ctx.notify(err));
  });
  every(ctx.signal, POLL_MS, async () => {
    try {
      await poll();
    } catch (err) {
      ctx.notify(err);
    }
  });
  return root;
}
