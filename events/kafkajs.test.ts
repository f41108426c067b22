import Module from 'node:module';
import { linearGrouping } from './kafkajs';

describe('linearGrouping (the kafkajs 2.2.4 producer grouping, in one pass)', () => {
  it('groups messages per partition in order, like the original', () => {
    // The original, for comparison (jest's module registry is its own: unpatched here).
    const original = Module.createRequire(__filename)(
      'kafkajs/src/producer/groupMessagesPerPartition',
    ) as typeof linearGrouping;
    const messages = Array.from({ length: 50 }, (_, i) => ({
      key: String(i % 7),
      value: String(i),
    }));
    const args = {
      topic: 't',
      partitionMetadata: [{}, {}, {}],
      messages,
      partitioner: ({ message }: { message: unknown }) =>
        Number((message as { key: string }).key) % 3,
    };
    expect(linearGrouping(args)).toEqual(original(args));
    expect(linearGrouping({ ...args, partitionMetadata: [] })).toEqual({});
  });
});
