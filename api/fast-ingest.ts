import type { IncomingMessage, ServerResponse } from 'node:http';
import { AccessEventsBody } from '../events/access-event';
import { allows, ANONYMOUS, keyMatcher, presentedKey, type ApiKey, type Caller } from './auth';
import { crossSiteProblem } from './browser';
import { problem } from './problem';
import { nestsDeeperThan, parseInput, tooDeep } from './validate';

/**
 * The fast lane of `POST /access-events`, in front of Express.
 *
 * Telemetry arrives as thousands of single-event requests per second. Express' own
 * per-request machinery (router, middleware chain, body-parser) costs several times
 * what the ingestion does: on a 2-core machine a bare Express app answers ~4,700
 * requests/s, plain node:http ~19,000. So the plain, successful case is served here:
 *
 *   POST /access-events, JSON, Content-Length up to 2 MiB, no Idempotency-Key, a caller
 *   whose key allows `operator` (or no keys configured, and not a cross-site browser
 *   request: api/browser.ts), a body that validates.
 *
 * It runs the very same validation (`parseInput` with the route's zod schema) and the
 * very same ingestion function as the route registered with `Routes.add`. Anything else
 * goes to Express untouched; and when something fails after the body was read (bad
 * input, unknown dataset, a full buffer) the parsed body is handed to Express, whose
 * route fails the same way and answers with the canonical problem+json. Only malformed
 * JSON is answered here, in the error middleware's shape (the stream is spent by then).
 */
export type FastLane = (req: IncomingMessage, res: ServerResponse, express: () => void) => void;

const MAX_FAST_BYTES = 2 * 1024 * 1024;

type Ingest = (
  body: ReturnType<typeof AccessEventsBody.parse>,
  caller: Caller,
) => Promise<{ accepted: number }>;

/** The same rule as api/auth.ts `authenticate`; when it says no, Express answers 401/403. */
function callerOf(
  keys: ApiKey[],
  match: ReturnType<typeof keyMatcher>,
  req: IncomingMessage,
): Caller | undefined {
  if (keys.length === 0) return ANONYMOUS;
  const presented = presentedKey(req.headers);
  const key = presented === undefined ? undefined : match(presented);
  return key ? { name: key.name, role: key.role } : undefined;
}

function isPlainJson(req: IncomingMessage): boolean {
  const type = req.headers['content-type'];
  if (!type) return false;
  const [mime, ...params] = type.toLowerCase().split(';');
  if (mime!.trim() !== 'application/json') return false;
  return params.every((p) => {
    const [k, v] = p.split('=').map((x) => x.trim());
    return k !== 'charset' || v === 'utf-8' || v === 'utf8';
  });
}

function send(res: ServerResponse, status: number, type: string, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': `${type}; charset=utf-8`,
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export function fastIngestLane(opts: {
  apiKeys: ApiKey[];
  ingest: Ingest;
  /** The configured listen host (see api/browser.ts). */
  apiHost?: string;
}): FastLane {
  const match = keyMatcher(opts.apiKeys);
  const guard = { open: opts.apiKeys.length === 0, host: opts.apiHost };
  return (req, res, express) => {
    const length = Number(req.headers['content-length']);
    if (
      req.method !== 'POST' ||
      req.url !== '/access-events' ||
      req.headers['idempotency-key'] !== undefined ||
      req.headers['content-encoding'] !== undefined ||
      !(length > 0 && length <= MAX_FAST_BYTES) ||
      !isPlainJson(req)
    ) {
      return express();
    }
    const caller = callerOf(opts.apiKeys, match, req);
    if (!caller || !allows(caller, 'operator') || crossSiteProblem(req, guard)) return express();

    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => res.destroy());
    req.on('end', () => {
      const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      // Too deep a body is refused as Express' parser refuses it. Only a body that fails
      // pays for that scan: one that validates nests two levels at most.
      const deep = () => {
        if (!nestsDeeperThan(raw)) return false;
        const e = tooDeep();
        send(
          res,
          e.status,
          'application/problem+json',
          problem(e.status, e.code, e.message, { field: e.field, instance: req.url }),
        );
        return true;
      };
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw.toString('utf8'));
      } catch (err) {
        if (deep()) return;
        return send(
          res,
          400,
          'application/problem+json',
          problem(400, 'malformed_json', `body: not valid JSON (${(err as Error).message})`, {
            field: 'body',
            instance: req.url,
          }),
        );
      }
      const run = async () => {
        const body = parseInput(AccessEventsBody, parsed, 'body');
        return opts.ingest(body, caller);
      };
      run().then(
        (reply) => send(res, 202, 'application/json', reply),
        () => {
          if (deep()) return;
          // Express' route fails the same way and answers canonically (it reads req.body:
          // body-parser skips a request whose stream is already consumed).
          (req as IncomingMessage & { body?: unknown }).body = parsed;
          express();
        },
      );
    });
  };
}
