import { ApiError, type Overview, type Role } from './api';
import { h } from './dom';

/** What every page knows: the caller, its role, and how to tell the operator something. */
export interface Ctx {
  overview: Overview;
  /** Whether the caller's role may do what needs `role`. */
  can(role: Role): boolean;
  /** Shows a message (an error explains its status) in the alert region. */
  notify(msg: unknown, kind?: 'error' | 'ok'): void;
  /** Aborted when the page is left: stop polling. */
  signal: AbortSignal;
  go(hash: string): void;
}

const rank: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };
export const allows = (have: Role, need: Role) => rank[have] >= rank[need];

export function notice(el: HTMLElement) {
  return (msg: unknown, kind: 'error' | 'ok' = 'error') => {
    const text =
      msg instanceof ApiError ? msg.explain() : msg instanceof Error ? msg.message : String(msg);
    el.replaceChildren(
      h(
        'div',
        { class: `notice ${kind}` },
        h('span', {}, text),
        h(
          'button',
          { type: 'button', class: 'link', onclick: () => el.replaceChildren() },
          'Dismiss',
        ),
      ),
    );
  };
}

/** Repeats `fn` every `ms` until the page is left; the first run is at once. */
export function every(signal: AbortSignal, ms: number, fn: () => Promise<void>): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = async () => {
    if (signal.aborted) return;
    try {
      await fn();
    } finally {
      if (!signal.aborted) timer = setTimeout(() => void tick(), ms);
    }
  };
  signal.addEventListener('abort', () => clearTimeout(timer));
  void tick();
}
