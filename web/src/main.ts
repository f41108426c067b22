import 'uplot/dist/uPlot.min.css';
import './style.css';
import { api, ApiError, session, type Overview } from './api';
import { allows, notice, type Ctx } from './context';
import { h } from './dom';
import { datasetPage } from './pages/dataset';
import { datasetsPage } from './pages/datasets';
import { jobsPage } from './pages/jobs';
import { overviewPage } from './pages/overview';
import { policiesPage } from './pages/policies';

const main = document.getElementById('main')!;
const who = document.getElementById('who')!;
const notify = notice(document.getElementById('notice')!);
let leave = new AbortController();

function signIn(reason?: string) {
  who.replaceChildren();
  const input = h('input', {
    id: 'api-key',
    type: 'password',
    autocomplete: 'off',
    required: true,
    'aria-describedby': 'key-help',
  });
  const form = h(
    'form',
    { class: 'card signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in'),
    h(
      'p',
      { id: 'key-help' },
      'This dim requires an API key (configured in DIM_API_KEYS). The key is kept for this tab only and sent with each request.',
    ),
    reason ? h('p', { class: 'error' }, reason) : null,
    h('label', { for: 'api-key' }, 'API key'),
    input,
    h('button', { type: 'submit' }, 'Sign in'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    session.setKey(input.value.trim());
    void route();
  });
  main.replaceChildren(form);
  input.focus();
}

function header(o: Overview) {
  who.replaceChildren(
    h(
      'span',
      {},
      o.open ? 'open mode (no API keys): ' : 'signed in as ',
      h('b', {}, o.caller.name),
      ` · ${o.caller.role}`,
    ),
    o.open
      ? ''
      : h(
          'button',
          {
            type: 'button',
            class: 'link',
            onclick: () => {
              session.clear();
              void route();
            },
          },
          'Sign out',
        ),
  );
}

async function route(): Promise<void> {
  leave.abort();
  leave = new AbortController();
  const signal = leave.signal;
  const hash = location.hash.replace(/^#/, '') || '/';
  let overview: Overview;
  try {
    overview = await api<Overview>('GET', '/overview');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      const had = session.key() !== null;
      session.clear();
      return signIn(had ? `That key was refused: ${err.detail}.` : undefined);
    }
    main.replaceChildren(
      h('h1', {}, 'dim'),
      h('p', { class: 'error' }, err instanceof ApiError ? err.explain() : String(err)),
    );
    return;
  }
  header(overview);
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav a')) {
    const target = a.getAttribute('href')!.slice(1);
    const current = target === '/' ? hash === '/' : hash.startsWith(target);
    if (current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const ctx: Ctx = {
    overview,
    can: (role) => allows(overview.caller.role, role),
    notify,
    signal,
    go: (to) => {
      location.hash = to;
    },
  };
  const m = /^\/datasets\/(\d+)$/.exec(hash);
  const page = m
    ? datasetPage(ctx, Number(m[1]))
    : hash.startsWith('/datasets')
      ? datasetsPage(ctx)
      : hash.startsWith('/jobs')
        ? jobsPage(ctx)
        : hash.startsWith('/policies')
          ? policiesPage(ctx)
          : overviewPage(ctx);
  main.replaceChildren(page);
  main.focus({ preventScroll: true });
}

window.addEventListener('hashchange', () => void route());
void route();
