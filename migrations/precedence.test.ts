import { DimError } from '../errors';
import { effectiveSafety, type SafetyPolicy } from './precedence';

const policy: SafetyPolicy = {
  name: 'p',
  require_approval: true,
  retire_source: false,
  retire_grace_s: 600,
  four_eyes: true,
  approvers: ['carol'],
  retire_linked_files: false,
};

function refusal(fn: () => unknown): DimError {
  try {
    fn();
  } catch (err) {
    if (err instanceof DimError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('effectiveSafety: the policy outranks the planner', () => {
  it('takes the policy when the request says nothing', () => {
    expect(effectiveSafety(policy, {}, 'operator')).toEqual({
      requireApproval: true,
      retireSource: false,
      retireGraceS: 600,
      fourEyes: true,
      approvers: ['carol'],
      retireLinkedFiles: false,
    });
  });

  it('lets anyone make the migration safer', () => {
    const open = { ...policy, require_approval: false, retire_source: true };
    expect(
      effectiveSafety(
        open,
        { require_approval: true, retire_source: false, retire_grace_s: 7200 },
        'operator',
      ),
    ).toMatchObject({ requireApproval: true, retireSource: false, retireGraceS: 7200 });
  });

  it.each([
    [{ require_approval: false }, 'body.require_approval'],
    [{ retire_source: true }, 'body.retire_source'],
    [{ retire_source: true, retire_grace_s: 0 }, 'body.retire_source'],
  ])('refuses an operator who loosens it: %j', (req, field) => {
    const err = refusal(() => effectiveSafety(policy, req, 'operator'));
    expect(err).toMatchObject({ code: 'forbidden', status: 403, field });
    expect(err.message).toContain('only an admin');
  });

  it('refuses a shorter grace only when the source is retired', () => {
    const retiring = { ...policy, retire_source: true };
    expect(
      refusal(() => effectiveSafety(retiring, { retire_grace_s: 5 }, 'operator')),
    ).toMatchObject({ field: 'body.retire_grace_s' });
    expect(effectiveSafety(policy, { retire_grace_s: 5 }, 'operator').retireGraceS).toBe(5);
  });

  it('lets an admin loosen it, but never drop four eyes or the approver list', () => {
    expect(
      effectiveSafety(
        policy,
        { require_approval: false, retire_source: true, retire_grace_s: 0 },
        'admin',
      ),
    ).toEqual({
      requireApproval: false,
      retireSource: true,
      retireGraceS: 0,
      fourEyes: true,
      approvers: ['carol'],
      retireLinkedFiles: false,
    });
  });
});
