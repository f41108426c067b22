import { createSecretKey, randomBytes } from 'node:crypto';
import type { KafkaMessage } from 'kafkajs';
import { addValue, finishRun, formatIdHeader, startRun } from '../events/message-id';
import { incomingFromKafka, type IdCheck } from './bridge';

/** Decoding fetched records: signed run-length ids (events/message-id.ts) and bad values. */
const value = (id: number) =>
  Buffer.from(
    JSON.stringify({ dataset_id: id, op: 'read', size_bytes: 1, client_lat_ms: 1, ts: Date.now() }),
  );

const check: IdCheck = {
  key: createSecretKey(randomBytes(32)),
  topic: 'access_events',
  partition: 3,
};

function rec(offset: number, header?: string, v: Buffer | null = value(1)) {
  return {
    offset: String(offset),
    timestamp: String(Date.now()),
    key: Buffer.from('1'),
    value: v,
    attributes: 0,
    headers: header === undefined ? {} : { 'dim-id': Buffer.from(header) },
  } as unknown as KafkaMessage;
}

/** The header dim's sink would put on a run of these values (another key, topic or partition: a forger's). */
function signed(source: string, n: number, values: Array<Buffer | null>, c: IdCheck = check) {
  const mac = startRun(c.key, c.topic, c.partition, source, n);
  for (const v of values) addValue(mac, v);
  return formatIdHeader(source, n, values.length, finishRun(mac, values.length));
}

/** A run of `count` records from `offset`, signed as dim would (values 1, 2, ...). */
function run(offset: number, source: string, n: number, count: number, c: IdCheck = check) {
  const values = Array.from({ length: count }, (_, j) => value(j + 1));
  const header = signed(source, n, values, c);
  return values.map((v, j) => rec(offset + j, j === 0 ? header : undefined, v));
}

const ids = (ms: KafkaMessage[]) =>
  incomingFromKafka(ms, check).incoming.map((i) => [i.offset, i.source, i.n]);
const unverified = (ms: KafkaMessage[]) => incomingFromKafka(ms, check).unverified;

describe('incomingFromKafka', () => {
  it('numbers the records of a signed run from the header on its first record', () => {
    expect(ids(run(10, 'src', 5, 3))).toEqual([
      [10, 'src', 5],
      [11, 'src', 6],
      [12, 'src', 7],
    ]);
  });

  it('ends a run after its count; records after it, a "-" and no header have no id', () => {
    expect(
      ids([
        ...run(10, 'a', 1, 2),
        rec(12), // another producer (kcat)
        ...run(13, 'b~', 9, 1),
        ...run(14, 'a', 3, 2), // a jump: a new header
        rec(16, '-'), // "no id"
        rec(17),
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
    const [, ...rest] = run(10, 'a', 1, 3);
    expect(ids(rest)).toEqual([
      [11, undefined, undefined],
      [12, undefined, undefined],
    ]);
  });

  it('gives no id to what dim did not sign: forged, unsigned, tampered, replayed elsewhere', () => {
    const genuine = run(10, 'src', 5, 3);
    const header = genuine[0]!.headers!['dim-id']!.toString();
    const cases: Record<string, KafkaMessage[]> = {
      'the old unsigned form': [rec(1, 'src:1000000000')],
      'a made-up MAC': [rec(1, `src:1000000000:1:${randomBytes(32).toString('base64url')}`)],
      'another key': run(1, 'src', 1e9, 1, { ...check, key: createSecretKey(randomBytes(32)) }),
      'another partition': run(1, 'src', 1e9, 1, { ...check, partition: 0 }),
      'another topic': run(1, 'src', 1e9, 1, { ...check, topic: 'other.access_events' }),
      'a genuine header on another value': [rec(1, header, value(7)), genuine[1]!, genuine[2]!],
      'a genuine header with a value changed in the run': [
        genuine[0]!,
        genuine[1]!,
        rec(12, undefined, value(9)),
      ],
      'a genuine header, its run cut short': [genuine[0]!, genuine[1]!],
      'a genuine header with a header inside its run': [genuine[0]!, rec(11, '-'), genuine[2]!],
      'a genuine header with a larger count': [
        rec(10, header.replace(':3:', ':4:')),
        ...genuine.slice(1),
        rec(13),
      ],
      'a short MAC': [rec(1, 'src:1000000000:1:AAAA')],
    };
    for (const [what, ms] of Object.entries(cases)) {
      const { incoming, unverified: bad } = incomingFromKafka(ms, check);
      expect([what, incoming.map((i) => [i.source, i.n])]).toEqual([
        what,
        ms.map(() => [undefined, undefined]),
      ]);
      expect([what, bad]).toEqual([what, 1]);
    }
  });

  it('a genuine run replayed with more records after it: the run keeps its ids, the rest have none', () => {
    const genuine = run(10, 'src', 5, 2);
    expect(ids([...genuine, rec(12), rec(13)])).toEqual([
      [10, 'src', 5],
      [11, 'src', 6],
      [12, undefined, undefined],
      [13, undefined, undefined],
    ]);
    expect(unverified([...genuine, rec(12)])).toBe(0);
  });

  it('decodes values, and keeps the reason for the bad ones', () => {
    const values = [value(1), Buffer.from('{"dataset_id":'), null];
    const header = signed('a', 1, values);
    const { incoming } = incomingFromKafka(
      [rec(1, header, values[0]), rec(2, undefined, values[1]), rec(3, undefined, null)],
      check,
    );
    const [good, bad, empty] = incoming;
    expect(good!.event).toMatchObject({ dataset_id: 1, op: 'read' });
    expect(bad!.event).toBeUndefined();
    expect(bad!.error).toMatch(/not valid JSON/);
    expect(bad!.raw!()).toBe('{"dataset_id":');
    expect(bad!.n).toBe(2); // bad values keep their place in the numbering
    expect(empty!.error).toMatch(/empty/);
    expect(empty!.n).toBe(3);
  });
});
