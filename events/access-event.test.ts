import {
  AccessEventSchema,
  AccessEventsBody,
  decodeAccessEvent,
  fieldPath,
  MAX_ACCESS_BYTES,
} from './access-event';

const ok = { dataset_id: 1, op: 'read', size_bytes: 4096, client_lat_ms: 12.3 };

describe('access event validation', () => {
  it("accepts the prototype's event verbatim, ts optional", () => {
    expect(AccessEventSchema.parse(ok)).toEqual(ok);
  });

  it('reads ts as epoch milliseconds, epoch seconds or ISO 8601, always giving ms', () => {
    const ms = Date.now() - 60_000;
    expect(AccessEventSchema.parse({ ...ok, ts: ms }).ts).toBe(ms);
    expect(AccessEventSchema.parse({ ...ok, ts: ms / 1000 }).ts).toBe(ms);
    const isoTs = new Date(ms).toISOString();
    expect(AccessEventSchema.parse({ ...ok, ts: isoTs }).ts).toBe(ms);
    expect(AccessEventSchema.parse({ ...ok, ts: isoTs.replace('Z', '+00:00') }).ts).toBe(ms);
  });

  const bad: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ['a future ts (> 5 min)', { ts: Date.now() + 6 * 60_000 }, 'ts', /future/],
    ['an absurdly old ts', { ts: Date.now() - 400 * 86_400_000 }, 'ts', /in the past/],
    ['ts in 1970', { ts: 5 }, 'ts', /in the past/],
    ['a ts that is no date', { ts: 'yesterday' }, 'ts', /ISO 8601/],
    ['a negative size', { size_bytes: -1 }, 'size_bytes', /negative/],
    ['an absurd size', { size_bytes: MAX_ACCESS_BYTES * 2 }, 'size_bytes', /at most/],
    ['a fractional size', { size_bytes: 1.5 }, 'size_bytes', /whole number/],
    ['a size as a string', { size_bytes: '4096' }, 'size_bytes', /number of bytes/],
    ['an unknown op', { op: 'delete' }, 'op', /"read" or "write"/],
    ['dataset id 0', { dataset_id: 0 }, 'dataset_id', /positive/],
    ['dataset id as a string', { dataset_id: 'one' }, 'dataset_id', /dataset id/],
    ['a negative latency', { client_lat_ms: -3 }, 'client_lat_ms', /negative/],
    ['a latency over a day', { client_lat_ms: 90_000_000 }, 'client_lat_ms', /one day/],
  ];
  it.each(bad)('rejects %s, naming the field', (_what, change, field, reason) => {
    const r = AccessEventSchema.safeParse({ ...ok, ...change });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual([field]);
    expect(r.error!.issues[0]!.message).toMatch(reason);
  });

  it('rejects unknown fields and missing ones', () => {
    expect(AccessEventSchema.safeParse({ ...ok, extra: 1 }).error!.issues[0]!.code).toBe(
      'unrecognized_keys',
    );
    const noOp: Record<string, unknown> = { ...ok };
    delete noOp.op;
    expect(AccessEventSchema.safeParse(noOp).error!.issues[0]!.path).toEqual(['op']);
  });

  it('takes one event or an array of 1 to 10,000', () => {
    expect(AccessEventsBody.safeParse(ok).success).toBe(true);
    expect(AccessEventsBody.safeParse([ok, ok]).success).toBe(true);
    expect(AccessEventsBody.safeParse([]).success).toBe(false);
    expect(AccessEventsBody.safeParse(new Array(10_001).fill(ok)).success).toBe(false);
    expect(AccessEventsBody.safeParse(new Array(10_000).fill(ok)).success).toBe(true);
  });

  it('formats paths with indexes in brackets', () => {
    expect(fieldPath('body', [3, 'dataset_id'])).toBe('body[3].dataset_id');
    expect(fieldPath('body', ['op'])).toBe('body.op');
    expect(fieldPath('body', [])).toBe('body');
  });
});

describe('decodeAccessEvent (messages on the topic)', () => {
  it('decodes a message and fills a missing ts from the record timestamp', () => {
    const at = Date.now() - 1000;
    expect(decodeAccessEvent(Buffer.from(JSON.stringify(ok)), at)).toEqual({
      ok: true,
      event: { ...ok, ts: at },
    });
    expect(decodeAccessEvent(JSON.stringify({ ...ok, ts: at - 5 }), at)).toEqual({
      ok: true,
      event: { ...ok, ts: at - 5 },
    });
  });

  it.each([
    [null, /empty message/],
    ['', /empty message/],
    ['{"dataset_id":', /not valid JSON/],
    ['[1,2]', /value: .*expected object/i],
    ['"read"', /value: .*expected object/i],
    [JSON.stringify({ ...ok, op: 'rm' }), /value\.op: must be "read" or "write"/],
    [JSON.stringify({ ...ok, colour: 'red' }), /value\.colour: unknown field/],
  ])('sets aside %j with a reason', (value, reason) => {
    const d = decodeAccessEvent(value, Date.now());
    expect(d.ok).toBe(false);
    expect(!d.ok && d.error).toMatch(reason);
  });
});
