/**
 * Who may approve a migration (invariant 10). Pure and deterministic: the migration service
 * checks it before it sends the `approve` signal, and the workflow checks it again when the
 * signal arrives, so an approval sent straight through Temporal (the Web UI, `temporal
 * workflow signal`) obeys the same rule as one sent through the API.
 */
export interface ApprovalRule {
  /** The caller who planned the migration. */
  plannedBy: string;
  /** The approver must not be the planner. */
  fourEyes: boolean;
  /** Caller names allowed to approve; empty: anyone allowed to call approve. */
  approvers: readonly string[];
}

/** Why `approver` may not approve under `rule`, or undefined when they may. */
export function approvalRefusal(rule: ApprovalRule, approver: string): string | undefined {
  if (rule.fourEyes && approver === rule.plannedBy) {
    return `the policy requires four eyes: ${approver} planned this migration, so someone else must approve it`;
  }
  if (rule.approvers.length > 0 && !rule.approvers.includes(approver)) {
    return `${approver} is not among the policy's approvers (${rule.approvers.join(', ')})`;
  }
  return undefined;
}
