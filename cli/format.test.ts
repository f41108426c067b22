import { problemLine } from './client';
import { bytes, duration, parseByteRate, progressLine, table } from './format';
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

  it('progress line: the bandwidth limit when the job has one', () => {
    const p = {
      status: 'copying',
      bytes_done: 0,
      bytes_total: 0,
      objects_done: 0,
      objects_total: 0,
    };
    expect(progressLine(p, 1024, 10 * 1024 * 1024)).toMatch(
      /1\.0 KiB\/s {2}ETA - {2}\(limit 10\.0 MiB\/s\)$/,
    );
    expect(progressLine(p, 1024, null)).not.toMatch(/limit/);
  });

  it('bandwidths typed by people: binary and decimal units, /s, off', () => {
    expect(parseByteRate('65536')).toBe(65536);
    expect(parseByteRate('10MiB')).toBe(10 * 1024 * 1024);
    expect(parseByteRate('10M')).toBe(10 * 1024 * 1024);
    expect(parseByteRate('10mb')).toBe(10_000_000);
    expect(parseByteRate('512K')).toBe(512 * 1024);
    expect(parseByteRate('1.5GiB/s')).toBe(1.5 * 1024 ** 3);
    expect(parseByteRate(' 2 kB/s ')).toBe(2000);
    expect(parseByteRate('100Bps')).toBe(100);
    for (const off of ['off', 'none', 'OFF', '0']) expect(parseByteRate(off)).toBeNull();
    for (const bad of ['', 'fast', '10 furlongs', '-5M', '1e6', '0.1']) {
      expect(() => parseByteRate(bad)).toThrow(/is no bandwidth/);
    }
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
