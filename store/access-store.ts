import { AccessWriter, type AccessStore } from './access';
import { PgAccessStore } from './access-pg';
import type { OpenedDb } from './db';

/** The bridge's AccessStore on the opened database's backend. */
export function accessStore(
  store: OpenedDb,
  consumer: string,
  topic: string,
  deadLetterSource: string,
): AccessStore {
  if (store.dialect === 'postgres')
    return new PgAccessStore(store.db, consumer, topic, deadLetterSource);
  const w = new AccessWriter(store.sqlite, consumer, topic, deadLetterSource);
  return {
    apply: (p, b, n) => Promise.resolve(w.apply(p, b, n)),
    storedOffset: (p) => Promise.resolve(w.storedOffset(p)),
    forgetOldSources: (maxAgeMs) => Promise.resolve(w.forgetOldSources(maxAgeMs)),
  };
}
