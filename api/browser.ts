import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { RequestHandler } from 'express';
import { Errors, type DimError } from '../errors';

/**
 * What keeps a web page from driving a local dim (issue 9, item 8). A page can make the
 * browser send a "simple" POST (a form, or fetch without CORS) to any address, the local
 * API included, but cannot read the answer, set a JSON Content-Type or an API key without a
 * CORS preflight, which dim never grants. So:
 *
 * - every mutating request (POST, PUT, PATCH, DELETE) with a body must be JSON (415);
 * - with no API keys configured (open mode), a mutating request that a browser marks as
 *   coming from another origin is refused (403): `Sec-Fetch-Site` other than `same-origin`
 *   or `none` (typed by the user), or an `Origin` whose host:port is not the `Host` the
 *   request was sent to. A browser sends `Origin` with every such request; clients that
 *   are not browsers (curl, the CLI) send neither header and are not affected. An `Origin`
 *   that equals `Host` must also name the API by an IP address, `localhost` or the
 *   configured listen host: a page on a name its owner re-points at 127.0.0.1 (DNS
 *   rebinding) would otherwise count as dim's own origin.
 *
 * With API keys configured, a browser cannot attach the key cross-site, so the origin
 * checks are not needed there (and would get in the way of proxies).
 */
export interface BrowserGuardOptions {
  /** True when no API keys are configured. */
  open: boolean;
  /** The configured listen host (DIM_API_HOST): a name the API may be reached by. */
  host?: string;
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export const isMutating = (method: string | undefined) => MUTATING.has(method ?? '');

/** Lower-cased host[:port] with the default port dropped, or undefined when not a host. */
function normalHost(host: string, scheme = 'http:'): string | undefined {
  try {
    const u = new URL(`${scheme}//${host}`);
    return u.pathname === '/' && !u.username && !u.password ? u.host : undefined;
  } catch {
    return undefined;
  }
}

function namesTheApi(hostname: string, listenHost: string | undefined): boolean {
  const bare = hostname.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare)) return true;
  if (bare === 'localhost' || bare.endsWith('.localhost')) return true;
  return !!listenHost && bare === listenHost.toLowerCase();
}

/** Why a request must be refused as cross-site, or undefined (always undefined unless open). */
export function crossSiteProblem(
  req: IncomingMessage,
  opts: BrowserGuardOptions,
): DimError | undefined {
  if (!opts.open || !isMutating(req.method)) return undefined;
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    return Errors.crossSite('header.Sec-Fetch-Site', `the browser says this request is ${site}`);
  }
  const origin = req.headers.origin;
  if (origin === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(origin);
  } catch {
    url = undefined;
  }
  const host =
    req.headers.host === undefined ? undefined : normalHost(req.headers.host, url?.protocol);
  if (!url || !/^https?:$/.test(url.protocol) || host === undefined || url.host !== host) {
    return Errors.crossSite('header.Origin', 'the request comes from another origin');
  }
  if (!namesTheApi(url.hostname, opts.host)) {
    return Errors.crossSite(
      'header.Origin',
      `a browser reached the API by the name ${url.hostname}, which is not an IP address, localhost or DIM_API_HOST`,
    );
  }
  return undefined;
}

/** Whether the request carries a body (a length above zero, or a chunked stream). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** `application/json` or `application/<anything>+json`, with any parameters. */
export function isJsonType(type: string | undefined): boolean {
  const mime = type?.split(';')[0]?.trim().toLowerCase() ?? '';
  return mime === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(mime);
}

/** The Express middleware: runs after authentication and before any body is parsed. */
export function browserGuard(opts: BrowserGuardOptions): RequestHandler {
  return (req, _res, next) => {
    const crossSite = crossSiteProblem(req, opts);
    if (crossSite) return next(crossSite);
    if (isMutating(req.method) && hasBody(req) && !isJsonType(req.headers['content-type'])) {
      return next(
        Errors.unsupportedMediaType(
          'header.Content-Type',
          'a request body must be JSON: send Content-Type: application/json',
        ),
      );
    }
    next();
  };
}
