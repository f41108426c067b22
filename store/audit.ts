import type { Db } from './db';

/** One row of the audit log: who did what to which thing. */
export interface AuditEntry {
  actor: string;
  action: string;
  target: string;
  details?: unknown;
}

export async function recordAudit(db: Db, e: AuditEntry, now = Date.now()): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      ts: now,
      actor: e.actor,
      action: e.action,
      target: e.target,
      details: JSON.stringify(e.details ?? {}),
    })
    .execute();
}
