import { createLogger } from './log';
import {
  backoffDelay,
  holdPort,
  reasonOf,
  Startup,
  StartupAborted,
  StartupTimeout,
  type Backoff,
} from './startup';

/** A logger that keeps its lines, to read what start-up said. */
function recordingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger('debug', {}, (line) => lines.push(JSON.parse(line)));
  return { log, lines, messages: () => lines.map((l) => String(l.msg)) };
}

const fast: Backoff = { initialMs: 2, maxMs: 8 };

/** A connect that fails `failures` times with ECONNREFUSED, then answers `value`. */
function flaky<T>(failures: number, value: T) {
  let calls = 0;
  const connect = () =>
    ++calls > failures
      ? Promise.resolve(value)
      : Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:7233'));
  return { connect, calls: () => calls };
}

describe('backoffDelay', () => {
  const b: Backoff = { initialMs: 500, maxMs: 10_000 };

  it('doubles its ceiling from the initial delay up to the cap', () => {
    const top = (n: number) => backoffDelay(n, b, () => 1);
    expect([1, 2, 3, 4, 5, 6, 7, 20, 1000].map(top)).toEqual([
      500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000, 10_000,
    ]);
  });

  it('keeps half the ceiling fixed and draws the other half at random', () => {
    expect(backoffDelay(3, b, () => 0)).toBe(1000);
    expect(backoffDelay(3, b, () => 0.5)).toBe(1500);
    expect(backoffDelay(10, b, () => 0)).toBe(5000);
  });
});

describe('reasonOf', () => {
  it("shortens the Temporal SDK's Rust transport errors to one readable line", () => {
    const tonic =
      'tonic::transport::Error(Transport, ConnectError(ConnectError("tcp connect error", 127.0.0.1:42555, Os { code: 111, kind: ConnectionRefused, message: "Connection refused" })))';
    expect(reasonOf(new Error(tonic))).toBe('tcp connect error: Connection refused');
  });

  it('keeps the first line of other errors, and at most 300 characters', () => {
    expect(reasonOf(new Error('first\nsecond'))).toBe('first');
    expect(reasonOf(new Error('x'.repeat(1000))).length).toBe(300);
    expect(reasonOf('plain')).toBe('plain');
  });
});

describe('Startup.waitFor', () => {
  it('retries until the dependency answers, logging one line per failed attempt', async () => {
    const { log, lines, messages } = recordingLogger();
    const startup = new Startup({ log, timeoutMs: 0, backoff: fast });
    const dep = flaky(3, 'connection');
    await expect(
      startup.waitFor({
        name: 'temporal',
        address: '127.0.0.1:7233',
        connect: dep.connect,
        hint: 'start it',
      }),
    ).resolves.toBe('connection');
    expect(dep.calls()).toBe(4);
    expect(messages()).toHaveLength(3);
    for (const [i, m] of messages().entries()) {
      expect(m).toMatch(
        new RegExp(
          `^waiting for temporal at 127\\.0\\.0\\.1:7233 \\(attempt ${i + 1}, next in \\d+\\.\\ds\\): connect ECONNREFUSED 127\\.0\\.0\\.1:7233$`,
        ),
      );
    }
    expect(lines[0]).toMatchObject({ level: 'warn', dependency: 'temporal', attempt: 1 });
    expect(startup.waitingFor()).toEqual([]);
  });

  it('reports what it waits for while it waits', async () => {
    const { log } = recordingLogger();
    const startup = new Startup({ log, timeoutMs: 0, backoff: fast });
    let release: (v: string) => void = () => undefined;
    const waiting = startup.waitFor({
      name: 'kafka',
      address: 'k1:9092,k2:9092',
      connect: () => new Promise<string>((r) => (release = r)),
      hint: 'start it',
    });
    expect(startup.waitingFor()).toEqual(['kafka']);
    expect(startup.status()).toMatchObject({
      status: 'starting',
      waiting_for: ['kafka'],
      waits: { kafka: { address: 'k1:9092,k2:9092', attempts: 1 } },
    });
    release('ok');
    await expect(waiting).resolves.toBe('ok');
    expect(startup.status().waiting_for).toEqual([]);
  });

  it('makes one attempt when told not to retry (what nothing else will bring up)', async () => {
    const { log, messages } = recordingLogger();
    const startup = new Startup({ log, timeoutMs: 0, backoff: fast });
    const dep = flaky(1, 'db');
    await expect(
      startup.waitFor({
        name: 'database',
        address: '/x/dim.db',
        connect: dep.connect,
        hint: '',
        retry: false,
      }),
    ).rejects.toThrow('ECONNREFUSED');
    expect(dep.calls()).toBe(1);
    expect(messages()).toEqual([]);
  });

  it('gives up after the start-up limit with one line naming the dependency and what to do', async () => {
    const { log } = recordingLogger();
    let now = 1_000_000;
    const startup = new Startup({
      log,
      timeoutMs: 5000,
      backoff: fast,
      now: () => now,
    });
    const err = await startup
      .waitFor({
        name: 'temporal',
        address: 'temporal:7233',
        connect: () => {
          now += 2000; // each attempt "takes" two seconds of the clock start-up reads
          return Promise.reject(new Error('connection refused'));
        },
        hint: 'start Temporal there or point TEMPORAL_ADDRESS at it',
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartupTimeout);
    expect((err as Error).message).toBe(
      'temporal at temporal:7233 did not answer within 5 s (DIM_STARTUP_TIMEOUT_S; last error: connection refused): start Temporal there or point TEMPORAL_ADDRESS at it',
    );
    expect((err as Error).message).not.toContain('\n');
  });

  it('stops waiting at once when the process is told to stop, in an attempt or between two', async () => {
    const { log } = recordingLogger();
    const between = new AbortController();
    const a = new Startup({
      log,
      timeoutMs: 0,
      backoff: { initialMs: 600_000, maxMs: 600_000 },
      signal: between.signal,
    });
    const dep = flaky(1000, 'never');
    const sleeping = a.waitFor({
      name: 'kafka',
      address: 'k:9092',
      connect: dep.connect,
      hint: '',
    });
    await new Promise((r) => setImmediate(r));
    between.abort();
    await expect(sleeping).rejects.toEqual(new StartupAborted(['kafka']));
    expect(dep.calls()).toBe(1);

    const during = new AbortController();
    const b = new Startup({ log, timeoutMs: 0, backoff: fast, signal: during.signal });
    const hanging = b.waitFor({
      name: 'temporal',
      address: 't:7233',
      connect: () => new Promise<never>(() => undefined),
      hint: '',
    });
    during.abort();
    await expect(hanging).rejects.toBeInstanceOf(StartupAborted);
    expect(() => b.check()).toThrow(StartupAborted);
  });
});

describe('holdPort', () => {
  it('answers /health 503 with what it waits for, then hands the port to the part', async () => {
    const { log } = recordingLogger();
    const startup = new Startup({ log, timeoutMs: 0, backoff: fast });
    const held = await holdPort('127.0.0.1', 0, 'DIM_WORKER_PORT', startup);
    try {
      let release: () => void = () => undefined;
      const waiting = startup.waitFor({
        name: 'temporal',
        address: '127.0.0.1:7233',
        connect: () => new Promise<void>((r) => (release = r)),
        hint: '',
      });
      const health = await fetch(`${held.url}/health`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({
        status: 'starting',
        waiting_for: ['temporal'],
        waits: { temporal: { address: '127.0.0.1:7233', attempts: 1 } },
      });
      const other = await fetch(`${held.url}/metrics`);
      expect(other.status).toBe(503);
      expect(other.headers.get('content-type')).toBe('application/problem+json');
      expect(await other.json()).toMatchObject({
        status: 503,
        detail: 'dim is starting: waiting for temporal (GET /health says more)',
      });

      held.serve((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('the part');
      });
      // The part answers its routes at once, its /health once start-up finished.
      expect(await (await fetch(`${held.url}/metrics`)).text()).toBe('the part');
      expect((await fetch(`${held.url}/health`)).status).toBe(503);
      release();
      await waiting;
      startup.finish();
      const ok = await fetch(`${held.url}/health`);
      expect([ok.status, await ok.text()]).toEqual([200, 'the part']);
    } finally {
      await held.close();
    }
  });

  it('names the variable to change when the port is taken', async () => {
    const { log } = recordingLogger();
    const startup = new Startup({ log, timeoutMs: 0 });
    const first = await holdPort('127.0.0.1', 0, 'DIM_WORKER_PORT', startup);
    try {
      const port = Number(new URL(first.url).port);
      await expect(holdPort('127.0.0.1', port, 'DIM_BRIDGE_PORT', startup)).rejects.toThrow(
        `port ${port} on 127.0.0.1 is already in use: stop what holds it or set DIM_BRIDGE_PORT`,
      );
    } finally {
      await first.close();
    }
  });
});
