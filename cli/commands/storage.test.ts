import { mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../config';
import { storageCommand } from './storage';

/** `dim storage check` on file:// (no servers needed); s3 and gs: test/integration/storage-check. */
describe('dim storage', () => {
  const base = realpathSync(mkdtempSync(path.join(tmpdir(), 'dim-storage-cmd-')));
  const root = path.join(base, 'root');
  mkdirSync(root);
  const config = loadConfig({ DIM_DATA_DIR: base, DIM_FILE_ROOTS: root });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  async function dim(...args: string[]) {
    let out = '';
    let err = '';
    const code = await storageCommand(args, config, {
      out: (t) => (out += t),
      err: (t) => (err += t),
    });
    return { code, out, err };
  }

  it('check: a summary line per step, exit 0, nothing left behind', async () => {
    const r = await dim('check', `file://${root}/new/ds`);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toBe(`dim storage check file://${root}/new/ds: ok (file roots ${root})`);
    expect(lines.slice(1, 8).map((l) => l.trim().split(/\s+/).slice(0, 2))).toEqual([
      ['connectivity', 'ok'],
      ['credentials', 'ok'],
      ['location', 'ok'],
      ['list', 'ok'],
      ['write', 'ok'],
      ['read', 'ok'],
      ['delete', 'ok'],
    ]);
    expect(lines[8]).toMatch(/file:\/\/ has no storage classes/);
    expect(readdirSync(root)).toEqual([]);
  });

  it('check --json: the report as one JSON object', async () => {
    const r = await dim('check', `file://${root}/j`, '--json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(report).toMatchObject({
      ok: true,
      scheme: 'file',
      probe_removed: true,
      checks: { write: { status: 'ok' }, read: { status: 'ok' }, delete: { status: 'ok' } },
    });
    expect(report.probe).toMatch(/\/j\/\.dim-check-[0-9a-f]{12}$/);
  });

  it('a path outside DIM_FILE_ROOTS: one line saying what to do, exit 1', async () => {
    const r = await dim('check', `file://${base}/other`);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err.trimEnd().split('\n')).toEqual([
      `dim: storage check file://${base}/other: uri: file://${base}/other resolves to ${base}/other, which is outside the allowed file roots (${root}); choose a path inside one of the roots, or add a root that contains it to DIM_FILE_ROOTS`,
    ]);
  });

  it('usage errors exit 2; --help prints the usage', async () => {
    expect((await dim('check')).code).toBe(2);
    expect((await dim('check', 'a', 'b')).code).toBe(2);
    expect((await dim('frobnicate')).err).toMatch(/unknown command "storage frobnicate"/);
    expect((await dim('check', 'file:relative')).code).toBe(2);
    expect((await dim('check', `s3://bucket/x`, '--class', 'lukewarm')).err).toMatch(
      /"lukewarm" is not a s3 storage class/,
    );
    expect((await dim('check', '--nope')).code).toBe(2);
    const help = await dim('--help');
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^Usage: dim storage check URI \[--class NAME\]\.\.\. \[--json\]/);
  });
});
