/**
 * The CLI's client for dim's REST API (fetch, Node 20). Every failure becomes a CliError: one
 * line for stderr and the exit status, never a stack trace.
 */

/** An error the CLI prints as `dim: <message>` and exits with `code` (1 failed, 2 bad usage). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code = 1,
  ) {
    super(message);
  }
}

/** An RFC 9457 answer from the API (api/problem.ts). */
interface Problem {
  status?: number;
  code?: string;
  detail?: string;
  field?: string;
}

export interface ApiClient {
  url: string;
  /** The parsed JSON answer (undefined for an empty body); a problem answer throws a CliError. */
  call<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
}

/** The API's problem+json as one line: its detail, naming the field unless it already does. */
export function problemLine(status: number, p: Problem | undefined): string {
  if (!p?.detail) return `the API answered HTTP ${status}`;
  const detail = p.detail;
  const field = p.field && !detail.startsWith(`${p.field}:`) ? `${p.field}: ` : '';
  return `${field}${detail} (HTTP ${status})`;
}

export function createClient(url: string, key: string | undefined): ApiClient {
  const base = url.replace(/\/+$/, '');
  return {
    url: base,
    async call<T>(method: string, path: string, body?: unknown): Promise<T> {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (body !== undefined) headers['content-type'] = 'application/json';
      if (key) headers.authorization = `Bearer ${key}`;
      let res: Response;
      try {
        res = await fetch(base + path, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (err) {
        // fetch hides the socket error in `cause`: ECONNREFUSED is the common case, and it
        // almost always means dim is not started.
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        if (cause?.code === 'ECONNREFUSED') {
          throw new CliError(
            `cannot reach dim at ${base} (connection refused); is dim running? start it with \`dim up\` (or point --url / DIM_URL at it)`,
          );
        }
        throw new CliError(
          `cannot reach dim at ${base}: ${cause?.message ?? (err as Error).message}`,
        );
      }
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        if (res.ok) throw new CliError(`${method} ${path}: the API answered something not JSON`);
      }
      if (!res.ok) {
        // 400/422: bad input the user typed or sent, like a usage error; else a failure.
        throw new CliError(
          problemLine(res.status, parsed as Problem | undefined),
          res.status === 400 || res.status === 422 ? 2 : 1,
        );
      }
      return parsed as T;
    },
  };
}
