import { endOfClosedRun } from './reconciler';

describe('how a job ends when Temporal closed its run without it', () => {
  it('terminated before the switch: cancelled, with the reason', () => {
    expect(endOfClosedRun('TERMINATED', false, 'stuck', 'file:///d')).toEqual({
      status: 'cancelled',
      error: 'terminated in Temporal: stuck',
      action: 'job.terminated',
    });
  });
  it('timed out before the switch: failed, so that it may be retried', () => {
    expect(endOfClosedRun('TIMED_OUT', false, 'no reason given', 'file:///d')).toMatchObject({
      status: 'failed',
      action: 'job.timed_out',
    });
  });
  it('after the switch: completed at the destination, the source kept', () => {
    const end = endOfClosedRun('TERMINATED', true, 'stuck', 'file:///d');
    expect(end.status).toBe('completed');
    expect(end.error).toMatch(
      /after the switch: the dataset is at file:\/\/\/d; the source was kept/,
    );
  });
});
