import type { KafkaMessage } from 'kafkajs';
import { incomingFromKafka } from './bridge';

/** Decoding fetched records: run-length ids (events/kafka.ts) and bad values. */
const value = (id: number) =>
  Buffer.from(
    JSON.stringify({ dataset_id: id, op: 'read', size_bytes: 1, client_lat_ms: 1, ts: Date.now() }),
  );

function rec(offset: number, batch: number, header?: string, v: Buffer | null = value(1)) {
  return {
    offset: String(offset),
    timestamp: String(Date.now()),
    key: Buffer.from('1'),
    value: v,
    attributes: 0,
    headers: header === undefined ? {} : { 'dim-id': Buffer.from(header) },
    batchContext: { firstOffset: String(batch) },
  } as unknown as KafkaMessage;
}

const ids = (ms: KafkaMessage[]) => incomingFromKafka(ms).map((i) => [i.offset, i.source, i.n]);

describe('incomingFromKafka', () => {
  it('numbers the records of a run from the header on its first record', () => {
    expect(ids([rec(10, 10, 'src:5'), rec(11, 10), rec(12, 10)])).toEqual([
      [10, 'src', 5],
      [11, 'src', 6],
      [12, 'src', 7],
    ]);
  });

  it('ends a run at the next record batch, and at a new header', () => {
    expect(
      ids([
        rec(10, 10, 'a:1'),
        rec(11, 10),
        rec(12, 12), // another batch, no header: another producer (kcat)
        rec(13, 13, 'b~:9'),
        rec(14, 13, 'a:3'), // a jump inside a batch: a new header
        rec(15, 13),
        rec(16, 13, '-'), // "no id"
        rec(17, 13),
      ]),
    ).toEqual([
      [10, 'a', 1],
      [11, 'a', 2],
      [12, undefined, undefined],
      [13, 'b~', 9],
      [14, 'a', 3],
      [15, 'a', 4],
      [16, undefined, undefined],
      [17, undefined, undefined],
    ]);
  });

  it('a batch resumed mid-way has no ids for its records (offsets keep them exact)', () => {
    expect(ids([rec(12, 10), rec(13, 10)])).toEqual([
      [12, undefined, undefined],
      [13, undefined, undefined],
    ]);
  });

  it('decodes values, and keeps the reason for the bad ones', () => {
    const [good, bad, empty] = incomingFromKafka([
      rec(1, 1, 'a:1'),
      rec(2, 1, undefined, Buffer.from('{"dataset_id":')),
      rec(3, 1, undefined, null),
    ]);
    expect(good!.event).toMatchObject({ dataset_id: 1, op: 'read' });
    expect(bad!.event).toBeUndefined();
    expect(bad!.error).toMatch(/not valid JSON/);
    expect(bad!.raw!()).toBe('{"dataset_id":');
    expect(bad!.n).toBe(2); // bad values keep their place in the numbering
    expect(empty!.error).toMatch(/empty/);
  });
});
