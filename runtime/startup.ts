import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from './log';

/**
 * Start-up that waits (README, "What happens at start-up"). A process does not exit when a
 * dependency (Temporal, Kafka, a database server) is not up yet: it retries the connection
 * with capped exponential backoff and jitter, logs one line per attempt, and its /health
 * answers 503 naming what it waits for, until every part is started. A stack whose parts
 * start in any order comes up. `DIM_STARTUP_TIMEOUT_S` (0: forever) ends the wait with one
 * line naming the dependency and what to do; SIGTERM during the wait stops cleanly.
 *
 * A short helper rather than a library: p-retry is ESM-only since v5 (this build is
 * CommonJS), and async-retry and retry (already installed through the cloud SDKs) can
 * neither be stopped mid-sleep by an AbortSignal nor tell the next delay before they sleep,
 * which the log line and /health name.
 */

export interface Backoff {
  /** The delay after the first failed attempt. */
  initialMs: number;
  /** No delay is longer than this. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 500, maxMs: 10_000 };

/**
 * The delay after failed attempt `attempt` (1-based): the ceiling doubles from `initialMs`
 * up to `maxMs`, and the delay is half the ceiling plus a random part of the other half
 * ("equal jitter"), so that processes restarted together spread out and none spins.
 */
export function backoffDelay(attempt: number, b: Backoff, random: () => number = Math.random) {
  const ceiling = Math.min(b.maxMs, b.initialMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** SIGTERM (or SIGINT) arrived while the process was still starting. */
export class StartupAborted extends Error {
  override readonly name = 'StartupAborted';
  constructor(readonly waitingFor: string[]) {
    super(
      waitingFor.length
        ? `stopped while waiting for ${waitingFor.join(', ')}`
        : 'stopped while starting',
    );
  }
}

/** DIM_STARTUP_TIMEOUT_S passed before a dependency answered. The message is one line. */
export class StartupTimeout extends Error {
  override readonly name = 'StartupTimeout';
  constructor(
    readonly dependency: string,
    readonly address: string,
    timeoutS: number,
    reason: string,
    hint: string,
  ) {
    super(
      `${dependency} at ${address} did not answer within ${timeoutS} s (DIM_STARTUP_TIMEOUT_S; last error: ${reason}): ${hint}`,
    );
  }
}

/** One dependency to wait for. */
export interface Wait<T> {
  /** As /health and the log name it: `temporal`, `kafka`, `database`. */
  name: string;
  /** Where (host:port, brokers, a URL without its password). */
  address: string;
  /** One attempt: resolves with the connection, or rejects with the reason it failed. */
  connect: () => Promise<T>;
  /** What the operator can do when it never answers: the end of the one-line error. */
  hint: string;
  /**
   * false: one attempt, its error at once. For what nothing else will bring up: a file
   * (SQLite), or the dev server this very process started and already saw answer.
   */
  retry?: boolean;
}

interface Pending {
  address: string;
  attempts: number;
  since: number;
  nextAt: number | undefined;
  error: string | undefined;
}

/** What /health answers (503) while the process starts. */
export interface StartingBody {
  status: 'starting';
  waiting_for: string[];
  waits: Record<
    string,
    { address: string; attempts: number; waiting_s: number; next_in_s?: number; error?: string }
  >;
  starting_s: number;
}

/** A dependency's error as one short line (the Temporal SDK's are Rust debug output). */
export function reasonOf(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  // tonic::transport::Error(Transport, ConnectError(ConnectError("tcp connect error", 127.0.0.1:1, Os { ..., message: "Connection refused" })))
  const tonic = /ConnectError\("([^"]+)".*?message: "([^"]+)"/.exec(text);
  const line = tonic ? `${tonic[1]}: ${tonic[2]}` : (text.split('\n')[0] ?? '');
  return line.length > 300 ? `${line.slice(0, 297)}...` : line || 'unknown error';
}

export interface StartupOptions {
  log: Logger;
  /** Give up after this long from the start (0: wait forever). */
  timeoutMs: number;
  /** Aborted by SIGTERM/SIGINT: every wait rejects with StartupAborted. */
  signal?: AbortSignal;
  backoff?: Backoff;
  random?: () => number;
  now?: () => number;
}

/** The waits of one process while it starts, and what its /health says meanwhile. */
export class Startup {
  private readonly pending = new Map<string, Pending>();
  private readonly startedAt: number;
  private done = false;
  private readonly now: () => number;

  constructor(private readonly opts: StartupOptions) {
    this.now = opts.now ?? Date.now;
    this.startedAt = this.now();
  }

  /** True once every part started (`finish`): /health is then the parts' own. */
  get finished(): boolean {
    return this.done;
  }

  finish(): void {
    this.done = true;
  }

  /** What the process waits for now. */
  waitingFor(): string[] {
    return [...this.pending.keys()];
  }

  /** Throws StartupAborted when the process was told to stop (between start-up steps). */
  check(): void {
    if (this.opts.signal?.aborted) throw new StartupAborted(this.waitingFor());
  }

  status(): StartingBody {
    const now = this.now();
    const s = (ms: number) => Math.round(ms / 100) / 10;
    const waits: StartingBody['waits'] = {};
    for (const [name, p] of this.pending) {
      waits[name] = {
        address: p.address,
        attempts: p.attempts,
        waiting_s: s(now - p.since),
        ...(p.nextAt !== undefined ? { next_in_s: s(Math.max(0, p.nextAt - now)) } : {}),
        ...(p.error !== undefined ? { error: p.error } : {}),
      };
    }
    return {
      status: 'starting',
      waiting_for: this.waitingFor(),
      waits,
      starting_s: s(now - this.startedAt),
    };
  }

  /** Retries `w.connect` until it succeeds, the start-up limit passes, or the process stops. */
  async waitFor<T>(w: Wait<T>): Promise<T> {
    const { log, timeoutMs, signal } = this.opts;
    const backoff = this.opts.backoff ?? DEFAULT_BACKOFF;
    const entry: Pending = {
      address: w.address,
      attempts: 0,
      since: this.now(),
      nextAt: undefined,
      error: undefined,
    };
    this.pending.set(w.name, entry);
    try {
      for (;;) {
        this.check();
        entry.attempts++;
        entry.nextAt = undefined;
        let reason: string;
        try {
          return await this.abortable(w.connect());
        } catch (err) {
          if (err instanceof StartupAborted || w.retry === false) throw err;
          reason = reasonOf(err);
        }
        entry.error = reason;
        let delay = backoffDelay(entry.attempts, backoff, this.opts.random);
        if (timeoutMs > 0) {
          const left = this.startedAt + timeoutMs - this.now();
          if (left <= 0)
            throw new StartupTimeout(w.name, w.address, timeoutMs / 1000, reason, w.hint);
          delay = Math.min(delay, left);
        }
        entry.nextAt = this.now() + delay;
        log.warn(
          `waiting for ${w.name} at ${w.address} (attempt ${entry.attempts}, next in ${(delay / 1000).toFixed(1)}s): ${reason}`,
          { dependency: w.name, address: w.address, attempt: entry.attempts, next_in_ms: delay },
        );
        try {
          await sleep(delay, undefined, signal ? { signal } : {});
        } catch {
          throw new StartupAborted(this.waitingFor());
        }
      }
    } finally {
      this.pending.delete(w.name);
    }
  }

  /** `p`, or StartupAborted as soon as the signal fires (the attempt is left to finish). */
  private abortable<T>(p: Promise<T>): Promise<T> {
    const { signal } = this.opts;
    if (!signal) return p;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(new StartupAborted(this.waitingFor()));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }
}

/** A part's port, open from the first moment of start-up (see `holdPort`). */
export interface HeldPort {
  server: http.Server;
  url: string;
  /** Hands the port to the part's own handler (its /health too, once start-up finished). */
  serve(handler: http.RequestListener): void;
  close(): Promise<void>;
}

/**
 * Opens a part's port before the process waits for anything: /health answers 503 with
 * `startup.status()` until start-up finished; other paths 503 problem+json with Retry-After
 * until `serve` hands them to the part (the API's routes answer as soon as its database is
 * open, while the process still waits for Temporal).
 */
export function holdPort(
  host: string,
  port: number,
  variable: string,
  startup: Startup,
): Promise<HeldPort> {
  let handler: http.RequestListener | undefined;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (!startup.finished && path === '/health') {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '2' });
      res.end(JSON.stringify(startup.status()));
    } else if (handler) {
      handler(req, res);
    } else {
      const waiting = startup.waitingFor();
      res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '2' });
      res.end(
        JSON.stringify({
          type: 'about:blank',
          title: 'Service Unavailable',
          status: 503,
          code: 'starting',
          detail: waiting.length
            ? `dim is starting: waiting for ${waiting.join(', ')} (GET /health says more)`
            : 'dim is starting',
        }),
      );
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(
              `port ${port} on ${host} is already in use: stop what holds it or set ${variable}`,
            )
          : err,
      ),
    );
    server.listen(port, host, () => {
      const addr = server.address();
      const actual = typeof addr === 'object' && addr ? addr.port : port;
      resolve({
        server,
        url: `http://${host}:${actual}`,
        serve: (h) => {
          handler = h;
        },
        close: () =>
          new Promise<void>((res) => {
            server.close(() => res());
            server.closeAllConnections();
          }),
      });
    });
  });
}
