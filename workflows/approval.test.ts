import { approvalRefusal } from './approval';

describe('approvalRefusal', () => {
  const rule = { plannedBy: 'alice', fourEyes: true, approvers: [] };

  it('refuses the planner under four eyes, and no one else', () => {
    expect(approvalRefusal(rule, 'alice')).toMatch(/four eyes.*alice planned/);
    expect(approvalRefusal(rule, 'bob')).toBeUndefined();
    expect(approvalRefusal({ ...rule, fourEyes: false }, 'alice')).toBeUndefined();
  });

  it('refuses callers outside the approver list', () => {
    const listed = { plannedBy: 'alice', fourEyes: false, approvers: ['carol'] };
    expect(approvalRefusal(listed, 'bob')).toMatch(/not among the policy's approvers \(carol\)/);
    expect(approvalRefusal(listed, 'carol')).toBeUndefined();
  });

  it('applies both rules together', () => {
    const both = { plannedBy: 'carol', fourEyes: true, approvers: ['carol', 'dave'] };
    expect(approvalRefusal(both, 'carol')).toMatch(/four eyes/);
    expect(approvalRefusal(both, 'dave')).toBeUndefined();
  });
});
