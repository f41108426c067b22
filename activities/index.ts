import type { Logger } from '../runtime/log';

/** What activities need from the outside world, wired by the worker (and by tests). */
export interface ActivityDeps {
  log: Logger;
}

/** Activities are a factory over ports: the worker passes real adapters, tests too. */
export function createActivities(deps: ActivityDeps) {
  return {
    // eslint-disable-next-line @typescript-eslint/require-await -- activities are async by contract
    async echo(message: string): Promise<string> {
      deps.log.debug('echo', { message });
      return message;
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
