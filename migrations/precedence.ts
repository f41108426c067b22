import { Errors } from '../errors';

/**
 * The policy outranks the planner (invariant 10). Pure: the migration service applies it to
 * every plan, from the API, the CLI and the placement sweep alike.
 *
 * A request may make a migration safer than its dataset's policy: require an approval the
 * policy does not, keep a source the policy would retire, wait longer before retiring it.
 * Making it less safe (skip a required approval, retire a source the policy keeps, shorten
 * the grace period) needs the admin role. Four-eyes and the approver list come from the
 * policy alone; no request can turn them off.
 */
export interface SafetyPolicy {
  name: string;
  require_approval: boolean;
  retire_source: boolean;
  retire_grace_s: number;
  four_eyes: boolean;
  approvers: string[];
  /** Retire may unlink a source file that has other hard links. */
  retire_linked_files: boolean;
}

export interface SafetyRequest {
  require_approval?: boolean;
  retire_source?: boolean;
  retire_grace_s?: number;
}

export interface Safety {
  requireApproval: boolean;
  retireSource: boolean;
  retireGraceS: number;
  fourEyes: boolean;
  approvers: string[];
  retireLinkedFiles: boolean;
}

export type PlannerRole = 'viewer' | 'operator' | 'admin';

/** What the migration will do, or a 403 naming the field a non-admin may not loosen. */
export function effectiveSafety(
  policy: SafetyPolicy,
  req: SafetyRequest,
  role: PlannerRole,
  fieldPrefix = 'body',
): Safety {
  const admin = role === 'admin';
  const refuse = (field: string, what: string) =>
    Errors.forbidden(
      `${fieldPrefix}.${field}: ${what} than policy "${policy.name}" allows; only an admin may do that (or change the policy)`,
      `${fieldPrefix}.${field}`,
    );
  if (req.require_approval === false && policy.require_approval && !admin) {
    throw refuse('require_approval', 'skipping the approval is less safe');
  }
  if (req.retire_source === true && !policy.retire_source && !admin) {
    throw refuse('retire_source', 'deleting a source the policy keeps is less safe');
  }
  if (
    req.retire_grace_s !== undefined &&
    req.retire_grace_s < policy.retire_grace_s &&
    (req.retire_source ?? policy.retire_source) &&
    !admin
  ) {
    throw refuse(
      'retire_grace_s',
      `a grace period shorter than ${policy.retire_grace_s} s is less safe`,
    );
  }
  return {
    requireApproval: req.require_approval ?? policy.require_approval,
    retireSource: req.retire_source ?? policy.retire_source,
    retireGraceS: req.retire_grace_s ?? policy.retire_grace_s,
    fourEyes: policy.four_eyes,
    approvers: policy.approvers,
    retireLinkedFiles: policy.retire_linked_files,
  };
}
