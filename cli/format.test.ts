import { problemLine } from './client';
import { bytes, duration, progressLine, table } from './format';

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
