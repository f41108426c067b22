import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';

/**
 * Starts a long-running child that cannot outlive us. The child runs under a tiny `sh`
 * guard that holds the read end of a pipe from this process: when we exit for any reason,
 * `kill -9` included, the pipe closes and the guard stops the child. Its output goes to
 * `logFile`.
 */
export interface Supervised {
  readonly pid: number | undefined;
  /** Resolves with the exit code (or signal name) when the child has ended. */
  readonly exited: Promise<number | string>;
  /** TERM, then KILL after `graceMs`; resolves when the child is gone. */
  stop(graceMs?: number): Promise<void>;
}

const guard = [
  'exec 3<&0',
  '"$@" </dev/null &',
  'child=$!',
  'trap \'kill -TERM "$child" 2>/dev/null\' TERM INT',
  '( while read -r _ <&3; do :; done; kill -TERM "$child" 2>/dev/null; sleep 10; kill -KILL "$child" 2>/dev/null ) &',
  'watcher=$!',
  'wait "$child"; code=$?',
  // wait returns early when a trapped signal arrives: wait again for the child itself.
  'while kill -0 "$child" 2>/dev/null; do wait "$child"; code=$?; done',
  'kill "$watcher" 2>/dev/null',
  'exit "$code"',
].join('\n');

export function startSupervised(command: string, args: string[], logFile: string): Supervised {
  mkdirSync(path.dirname(logFile), { recursive: true });
  const log = createWriteStream(logFile, { flags: 'a' });
  const child: ChildProcess = spawn('sh', ['-c', guard, 'dim-guard', command, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      log.end();
      resolve(code ?? signal ?? 'unknown');
    });
  });
  let stopping: Promise<void> | undefined;
  return {
    pid: child.pid,
    exited,
    stop(graceMs = 10_000) {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}
