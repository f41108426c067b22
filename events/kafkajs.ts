/**
 * kafkajs, as dim loads it. Import kafkajs values from here, not from 'kafkajs': this
 * module first replaces one internal of kafkajs 2.2.4 that costs dim a sizeable share of
 * its ingestion CPU. The producer groups each send's messages per partition with
 * `reduce` and `[...current, message]`, copying the partition's array for every message:
 * quadratic in the messages per send. `linearGrouping` returns the same object, built in
 * one pass. Applied only to that exact version, and only if kafkajs was not loaded yet
 * (otherwise kafkajs runs unchanged, just slower). Type imports may come from 'kafkajs'.
 */
import Module from 'node:module';

type Partitioner = (args: {
  topic: string;
  partitionMetadata: unknown[];
  message: unknown;
}) => number;

export function linearGrouping({
  topic,
  partitionMetadata,
  messages,
  partitioner,
}: {
  topic: string;
  partitionMetadata: unknown[];
  messages: unknown[];
  partitioner: Partitioner;
}): Record<number, unknown[]> {
  if (partitionMetadata.length === 0) return {};
  const result: Record<number, unknown[]> = {};
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    (result[partition] ??= []).push(message);
  }
  return result;
}

function patch(): void {
  const load = Module.createRequire(__filename);
  let version: string | undefined;
  let id: string;
  try {
    version = (load('kafkajs/package.json') as { version: string }).version;
    id = load.resolve('kafkajs/src/producer/groupMessagesPerPartition');
  } catch {
    return;
  }
  if (version !== '2.2.4' || load.cache[id]) return;
  const m = new Module(id);
  m.filename = id;
  m.loaded = true;
  m.exports = linearGrouping;
  load.cache[id] = m;
}
patch();

export * from 'kafkajs';
