import { problemLine } from './client';
import { bytes, duration, progressLine, table } from './format';
import { modelSummary } from './commands/api';

describe('CLI output', () => {
  it('table: a header, columns padded to the widest cell, - for empty cells', () => {
    expect(
      table(
        ['ID', 'NAME', 'OWNER'],
        [
          [1, 'logs', null],
          [22, 'a', 'ops'],
        ],
      ),
    ).toBe('ID  NAME  OWNER\n1   logs  -\n22  a     ops\n');
  });

  it('sizes and durations for humans', () => {
    expect([bytes(0), bytes(1023), bytes(1024), bytes(5 * 1024 ** 3)]).toEqual([
      '0 B',
      '1023 B',
      '1.0 KiB',
      '5.0 GiB',
    ]);
    expect([duration(5.4), duration(125), duration(7300), duration(Infinity)]).toEqual([
      '5s',
      '2m05s',
      '2h01m',
      '?',
    ]);
  });

  it('progress line: bytes, percent, objects, rate and ETA; no rate yet reads -', () => {
    const p = {
      status: 'copying',
      bytes_done: 1024,
      bytes_total: 4096,
      objects_done: 1,
      objects_total: 4,
    };
    expect(progressLine(p, 1024)).toMatch(
      /^copying\s+1\.0 KiB \/ 4\.0 KiB \(25%\)  1\/4 objects  1\.0 KiB\/s  ETA 3s$/,
    );
    expect(progressLine(p, undefined)).toMatch(/objects {2}- {2}ETA -$/);
  });

  it('a problem answer is its detail, naming the field once, and the status', () => {
    expect(problemLine(400, { detail: 'body.name: must not be empty', field: 'body.name' })).toBe(
      'body.name: must not be empty (HTTP 400)',
    );
    expect(problemLine(409, { detail: 'exists already', field: 'body.name' })).toBe(
      'body.name: exists already (HTTP 409)',
    );
    expect(problemLine(502, undefined)).toBe('the API answered HTTP 502');
  });
});

describe('dim train summary', () => {
  const m = (model_wape: number | null, naive_wape: number | null) => ({
    version: 'forecast-3',
    window: {
      from: '2026-11-02T04:00:00.000Z',
      to: '2026-12-02T04:00:00.000Z',
      holdout_from: '2026-11-29T04:00:00.000Z',
      days: 30,
      holdout_days: 3,
    },
    accuracy: { model_wape, naive_wape, hours: 7200 },
    datasets: 100,
    buckets: 72000,
    train_ms: 1234,
  });

  it('says the version, the window and the accuracy against the naive forecast', () => {
    expect(modelSummary(m(0.25, 1))).toBe(
      'model forecast-3 trained on 100 datasets (72000 hourly buckets) in 1.2s\n' +
        'window    2026-11-02T04:00:00.000Z .. 2026-12-02T04:00:00.000Z (30 days; the last 3 held out from 2026-11-29T04:00:00.000Z)\n' +
        'accuracy  WAPE of hourly reads 0.250, naive last value 1.000 (75% less error than naive; 7200 dataset-hours)\n',
    );
    expect(modelSummary(m(1.2, 1))).toMatch(/\(no better than naive;/);
    expect(modelSummary(m(null, null))).toMatch(
      /WAPE of hourly reads -, naive last value - \(no reads in the holdout to score against;/,
    );
  });
});
