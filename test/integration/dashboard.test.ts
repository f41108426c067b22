import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startTestApi, type TestApi } from '../support/api';
import { freePort, repoRoot, startDim, tempDir, type DimProcess } from '../support/dim-process';

/**
 * The dashboard in a real browser: Debian's Chromium (installed once by `dev/tools path
 * chromium`, apt) driven by playwright-core, against `dim up` with real files on the
 * Temporal dev server dev/services runs. One browser launch for the whole file. Screenshots
 * of each page go to var/screenshots/ (ignored by git).
 */
jest.setTimeout(300_000);

const shots = path.join(repoRoot, 'var', 'screenshots');
const MB = 1_000_000;

function chromiumPath(): string {
  const r = spawnSync(path.join(repoRoot, 'dev', 'tools'), ['path', 'chromium'], {
    encoding: 'utf8',
  });
  const p = r.stdout.trim();
  if (r.status !== 0 || !p) {
    throw new Error(
      `the browser test needs Debian's package chromium (apt-get install chromium), and dev/tools could not install it:\n${r.stderr}`,
    );
  }
  return p;
}

/** Real files under `dir`: `count` files of `size` bytes. */
function files(dir: string, count: number, size: number) {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < count; i++)
    writeFileSync(path.join(dir, `part-${i}.bin`), Buffer.alloc(size, i));
}

describe('dashboard in Chromium', () => {
  let browser: Browser;
  let dim: DimProcess;
  let api: string;
  const dataDir = tempDir('dash');
  const storage = path.join(dataDir, 'storage');
  const uiUrl = `http://127.0.0.1:${8233}`;

  async function post(p: string, body: unknown) {
    const res = await fetch(api + p, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status >= 300) throw new Error(`${p}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  }

  async function dataset(name: string, count: number, size: number, withFiles = true) {
    const dir = path.join(storage, 'src', name);
    if (withFiles) files(dir, count, size);
    const d = await post('/datasets', {
      name,
      path_uri: `file://${dir}`,
      size_bytes: count * size,
      object_count: count,
    });
    return { id: d.id as number, dir };
  }

  const shot = (page: Page, name: string) =>
    page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    const executablePath = chromiumPath();
    dim = await startDim('up', {
      DIM_DATA_DIR: dataDir,
      DIM_API_PORT: String(await freePort()),
      DIM_WORKER_PORT: String(await freePort()),
      TEMPORAL_ADDRESS: '127.0.0.1:7233',
      TEMPORAL_UI_URL: uiUrl,
      // Our own task queue: no other test's worker takes these workflows.
      DIM_TASK_QUEUE: `dim-dash-${Date.now()}`,
      DIM_FILE_ROOTS: storage,
      // Slow enough copies that the progress bar can be seen moving.
      DIM_COPY_MAX_BYTES_PER_S: String(2 * MB),
    });
    api = dim.ready.api!;
    browser = await chromium.launch({
      executablePath,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    dim?.child.kill('SIGTERM');
    await dim?.exited;
  });

  it('shows the recommendation, plans with a dry run, and follows jobs live: progress, approve, cancel, failure and retry', async () => {
    const big = await dataset('big', 10, 2 * MB); // 20 MB at 2 MB/s: about ten seconds
    const busy = await dataset('busy', 2, 1000);
    const waits = await dataset('waits', 2, 1000);
    const cancels = await dataset('cancels', 2, 1000);
    const broken = await dataset('broken', 3, 1000, false); // no files yet: its copy fails
    await post(
      '/access-events',
      Array.from({ length: 50 }, () => ({
        dataset_id: busy.id,
        op: 'read',
        size_bytes: 4096,
        client_lat_ms: 3,
      })),
    );

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));

    // Overview: counts per tier and the saving the recommendations would bring.
    await page.goto(`${api}/`);
    await page.waitForSelector('#cost-saving');
    await page.waitForSelector('#health-h');
    expect(await page.textContent('#tiers-h')).toBe('Datasets per tier');
    expect(await page.locator('.card', { hasText: 'Datasets per tier' }).textContent()).toContain(
      '5',
    );

    // Datasets: the table, a search, the recommendation per row.
    await page.click('nav >> text=Datasets');
    await page.waitForSelector(`tr[data-dataset="${big.id}"] .rec-move`);
    await page.waitForSelector(`tr[data-dataset="${busy.id}"] svg.spark`);
    expect(await page.textContent(`tr[data-dataset="${busy.id}"]`)).toContain('stay');
    await shot(page, 'datasets');
    // Reads store nothing: once the placement sweep stored the recommendations (here run at
    // once, as the schedule would), the overview counts their saving.
    await post('/sweep', undefined);
    await page.click('nav >> text=Overview');
    await page.waitForFunction(
      `(() => { const s = document.querySelector('#cost-saving'); return !!s && /[1-9]/.test(s.textContent); })()`,
    );
    await shot(page, 'overview');
    await page.click('nav >> text=Datasets');
    await page.waitForSelector(`tr[data-dataset="${big.id}"] .rec-move`);
    await page.fill('#f-name', 'bus');
    await page.press('#f-name', 'Enter');
    await page.waitForFunction(`document.querySelectorAll('tr[data-dataset]').length === 1`);

    // Dataset detail: the chart, the reason, the cost per tier, the dry run before anything starts.
    await page.goto(`${api}/#/datasets/${big.id}`);
    await page.waitForSelector('.chart .uplot');
    await page.waitForSelector('#rec-reason');
    expect(await page.textContent('#rec-action')).toMatch(/Move from\s*hot\s*to\s*(warm|cold)/);
    await page.click('#plan-button');
    await page.waitForSelector('#dry-run');
    expect(await page.textContent('#dry-objects')).toBe('10');
    expect(await page.textContent('#dry-bytes')).toBe('20.0 MB');
    expect(await page.textContent('#dry-breakeven')).toMatch(/days|never/);
    const before = (await fetch(`${api}/jobs?dataset_id=${big.id}`).then((r) => r.json())) as {
      items: unknown[];
    };
    expect(before.items).toHaveLength(0); // the dry run started nothing
    await shot(page, 'dataset-dry-run');

    // Start it: the jobs page shows the progress bar moving, without a reload.
    await page.evaluate('window.marker = 42');
    await page.click('#start-migration');
    await page.waitForURL(/#\/jobs$/);
    const bigJob = page.locator('article.job', { hasText: `dataset ${big.id}` });
    await bigJob.waitFor();
    // In the page: the progress bar of the dataset's job, as [value, max].
    const bar = (id: number) =>
      `(() => { const p = document.querySelector('a[href="#/datasets/${id}"]')?.closest('article')?.querySelector('progress'); return p ? [p.value, p.max, p.closest('article').dataset.status] : null; })()`;
    await page.waitForFunction(
      `(() => { const b = ${bar(big.id)}; return !!b && b[2] === 'copying' && b[0] > 0 && b[0] < b[1]; })()`,
      undefined,
      { timeout: 60_000 },
    );
    const [first] = await page.evaluate<[number, number, string]>(bar(big.id));
    await shot(page, 'jobs-copying');
    await page.waitForFunction(
      `(() => { const b = ${bar(big.id)}; return !!b && b[0] > ${first}; })()`,
      undefined,
      { timeout: 60_000 },
    );
    expect(await bigJob.locator('.stats').textContent()).toMatch(/ETA/);
    await page.waitForSelector(`article[data-status="completed"] a[href="#/datasets/${big.id}"]`, {
      timeout: 120_000,
    });
    expect(await bigJob.locator('a.temporal').getAttribute('href')).toMatch(
      new RegExp(`^${uiUrl}/namespaces/default/workflows/migration-`),
    );
    expect(await bigJob.locator('button').count()).toBe(0); // nothing to do on a completed job

    // Two jobs that wait for approval, planned elsewhere (the CLI, the API): they appear here.
    const target = (d: { id: number }, name: string) => ({
      dataset_id: d.id,
      target_location: `file://${storage}/dest/${name}`,
      storage_class: 'standard',
      require_approval: true,
    });
    await post('/plan-migration', target(waits, 'waits'));
    await post('/plan-migration', target(cancels, 'cancels'));
    const waitJob = page.locator('article.job', { hasText: `dataset ${waits.id}` });
    const cancelJob = page.locator('article.job', { hasText: `dataset ${cancels.id}` });
    await waitJob.locator('button[data-action="approve"]').waitFor({ timeout: 60_000 });
    await cancelJob.locator('button[data-action="cancel"]').waitFor({ timeout: 60_000 });
    expect(await waitJob.locator('button[data-action="retry"]').count()).toBe(0);
    await shot(page, 'jobs-awaiting-approval');
    await waitJob.locator('button[data-action="approve"]').click();
    await cancelJob.locator('button[data-action="cancel"]').click();
    await page.waitForSelector(
      `article[data-status="completed"] a[href="#/datasets/${waits.id}"]`,
      {
        timeout: 120_000,
      },
    );
    await page.waitForSelector(
      `article[data-status="cancelled"] a[href="#/datasets/${cancels.id}"]`,
      {
        timeout: 120_000,
      },
    );

    // A failed one: its source has no files. The error shows, and Retry runs it again.
    await post('/plan-migration', { ...target(broken, 'broken'), require_approval: false });
    const brokenJob = page.locator('article.job', { hasText: `dataset ${broken.id}` });
    await brokenJob.locator('button[data-action="retry"]').waitFor({ timeout: 120_000 });
    expect(await brokenJob.locator('.job-error').textContent()).toMatch(/source/);
    await shot(page, 'jobs-failed');
    files(broken.dir, 3, 1000);
    await brokenJob.locator('button[data-action="retry"]').click();
    await page.waitForSelector(
      `article[data-status="completed"] a[href="#/datasets/${broken.id}"]`,
      {
        timeout: 120_000,
      },
    );
    expect(await brokenJob.locator('.job-error').count()).toBe(0);
    // Its status history, from Temporal and the audit log: the failed run, the retry, the new run.
    await brokenJob.locator('summary').click();
    await brokenJob.locator('.history-box :is(ol, .error)').waitFor();
    const history = await brokenJob.locator('.history-box').textContent();
    expect(history).toMatch(
      /planned by anonymous.*failed: source_missing.*retried by anonymous.*copying.*completed/s,
    );
    await shot(page, 'jobs');

    // All of it without a reload.
    expect(await page.evaluate('window.marker')).toBe(42);

    // The dataset's replicas and history after its move; the policies and tiers.
    await page.goto(`${api}/#/datasets/${big.id}`);
    await page.waitForSelector('#history-h + .scroll');
    expect(await page.locator('#replicas-h').locator('..').textContent()).toContain('primary');
    await shot(page, 'dataset');
    await page.click('nav >> text=Policies');
    await page.waitForSelector('#tiers-json');
    await page.waitForSelector('#policy-json');
    await shot(page, 'policies');

    // Narrow: 400 px wide, nothing wider than the screen but the scrolling tables.
    await page.setViewportSize({ width: 400, height: 800 });
    await page.goto(`${api}/#/jobs`);
    await page.waitForSelector('article.job');
    const overflow = await page.evaluate('document.documentElement.scrollWidth');
    expect(overflow).toBeLessThanOrEqual(400);
    await shot(page, 'jobs-400px');
    expect(errors).toEqual([]);
    await page.close();
  });

  describe('with API keys', () => {
    let keyed: TestApi;
    beforeAll(async () => {
      keyed = await startTestApi({
        apiKeys: [
          { name: 'vera', role: 'viewer', secret: 'viewer-secret-1234567890' },
          { name: 'ada', role: 'admin', secret: 'admin-secret-12345678901' },
        ],
      });
    });
    afterAll(() => keyed.close());

    it('asks for a key, explains a refused one, keeps it for the tab, and hides what the role may not do', async () => {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(`${keyed.url}/`);
      await page.waitForSelector('#api-key');
      await shot(page, 'sign-in');
      await page.fill('#api-key', 'wrong-key');
      await page.press('#api-key', 'Enter');
      await page.waitForSelector('text=That key was refused');

      await page.fill('#api-key', 'viewer-secret-1234567890');
      await page.keyboard.press('Enter');
      await page.waitForSelector('#who >> text=vera');
      expect(await page.evaluate(`sessionStorage.getItem('dim.api_key')`)).toBe(
        'viewer-secret-1234567890',
      );
      await page.click('nav >> text=Policies');
      await page.waitForSelector('text=Only admins may change the tier table.');
      expect(await page.locator('#tiers-json').count()).toBe(0);

      // A reload keeps the sign-in (the same tab); signing out forgets it.
      await page.reload();
      await page.waitForSelector('#who >> text=vera');
      await page.click('text=Sign out');
      await page.waitForSelector('#api-key');

      await page.fill('#api-key', 'admin-secret-12345678901');
      await page.keyboard.press('Enter');
      await page.goto(`${keyed.url}/#/policies`);
      await page.waitForSelector('#policy-json');
      await page.close();
    });
  });
});
