import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import type { Config } from '../config';
import { DimError, StorageError, StorageErrors } from '../errors';
import {
  GCS_STORAGE_CLASSES,
  S3_STORAGE_CLASSES,
  normalizeGcsStorageClass,
  normalizeS3StorageClass,
} from './classes';
import type { StorageDriver } from './driver';
import type { Storage } from './index';
import { checkBucket } from './buckets';
import {
  isInside,
  objectUri,
  parseStorageUri,
  realpathLoose,
  resolveInsideRoots,
  type StorageLocation,
  type StorageScheme,
} from './uri';

/**
 * `dim storage check URI`: can dim use this location? Through the same drivers the
 * migrations use, it checks, in order:
 *
 * - connectivity: the endpoint answers (s3, gs); the path lies inside DIM_FILE_ROOTS (file);
 * - credentials: the server accepts them (s3, gs);
 * - location: the bucket exists (s3, gs); the directory exists or can be created (file);
 * - list, write, read, delete: one small probe object `.dim-check-<random>` is written
 *   under the location, read back and compared, then deleted (always, even when the read
 *   failed); directories created for it on file:// are removed again;
 * - storage classes (s3, gs): the class the bucket gives an object written without one, and
 *   each class asked for (`classes`, or 'all' for the scheme's whole list) verified by
 *   writing one more probe with it, checking the class the server reports, and deleting it.
 *
 * Classes are not all tried by default: on real clouds, archive classes bill a minimum
 * storage duration (90 to 365 days) and infrequent-access ones a minimum object size even
 * for a probe deleted at once, and some (OUTPOSTS, SNOW, EXPRESS_ONEZONE) only exist on
 * special buckets. The report lists the others as `not_tried`.
 *
 * Failures come back in the report (`ok: false`, `error` with a one-line `message` and a
 * `hint` saying what to do), not as exceptions; only invalid input (a malformed URI, an
 * unknown class name) throws. Throttling is retried with backoff by the drivers' SDKs
 * (see README, "Pointing tiers at S3 and GCS") before it is reported.
 */

export type CheckStepName =
  'connectivity' | 'credentials' | 'location' | 'list' | 'write' | 'read' | 'delete';

export const CHECK_STEPS: readonly CheckStepName[] = [
  'connectivity',
  'credentials',
  'location',
  'list',
  'write',
  'read',
  'delete',
];

export interface CheckStep {
  status: 'ok' | 'failed' | 'skipped';
  detail: string;
  /** Error code (StorageError code) when failed. */
  code?: string;
  ms?: number;
}

export interface ClassCheck {
  class: string;
  /**
   * verified: a probe written with it reported it back; refused: the server refused the
   * write; mismatch: the write succeeded but the server stored another class;
   * not_tried: not asked for.
   */
  status: 'verified' | 'refused' | 'mismatch' | 'not_tried';
  detail?: string;
}

export interface StorageCheckReport {
  uri: string;
  scheme: StorageScheme;
  /** Where the requests went: the configured endpoint or the cloud's own; the file roots. */
  endpoint: string;
  ok: boolean;
  checks: Record<CheckStepName, CheckStep>;
  /** The probe object's URI (removed again unless `probe_removed` is false). */
  probe: string;
  probe_removed: boolean;
  storage_classes: {
    /** Every class dim accepts for the scheme (storage/classes.ts); [] for file://. */
    supported: string[];
    /** The class the server stored the probe in when written without one. */
    default?: string;
    /** Classes proven writable by a probe: the default one, and those verified. */
    verified: string[];
    results: ClassCheck[];
  };
  /** The first failure: what is wrong (`message`) and what to do next (`hint`). */
  error?: { step: CheckStepName | 'storage_class'; code: string; message: string; hint: string };
}

export interface StorageCheckOptions {
  /** The drivers (createStorage over the same configuration). */
  storage: Storage;
  /** Endpoints and roots, for the report and the hints. */
  config: Config['storage'];
  /** Classes to verify by writing a probe with each, or 'all' for the scheme's list. */
  classes?: readonly string[] | 'all';
  /** Name of the probe object (tests); default `.dim-check-<random hex>`. */
  probeName?: string;
}

const PROBE_PREFIX = '.dim-check-';

/** The endpoint requests for `scheme` go to, for messages. */
export function endpointOf(scheme: StorageScheme, config: Config['storage']): string {
  switch (scheme) {
    case 's3':
      return config.s3.endpoint ?? `AWS S3 (region ${config.s3.region})`;
    case 'gs':
      return config.gcs.endpoint ?? 'Google Cloud Storage (https://storage.googleapis.com)';
    case 'file':
      return `file roots ${config.fileRoots.join(', ')}`;
  }
}

function supportedClasses(scheme: StorageScheme): string[] {
  if (scheme === 's3') return [...S3_STORAGE_CLASSES];
  if (scheme === 'gs') return [...GCS_STORAGE_CLASSES];
  return [];
}

/** Canonical class names to verify; throws invalid_storage_class for an unknown one. */
function classesToTry(scheme: StorageScheme, classes: StorageCheckOptions['classes']): string[] {
  if (scheme === 'file' || classes === undefined) return [];
  if (classes === 'all') return supportedClasses(scheme);
  const norm = scheme === 's3' ? normalizeS3StorageClass : normalizeGcsStorageClass;
  return [...new Set(classes.map((c) => norm(c)))];
}

function codeOf(err: unknown): string {
  return err instanceof DimError ? err.code : 'error';
}

function messageOf(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0] ?? msg;
}

/** What to do next about a failure: one clause, in the operator's terms. */
export function hintFor(
  err: unknown,
  step: CheckStepName | 'storage_class',
  scheme: StorageScheme,
  config: Config['storage'],
): string {
  const code = codeOf(err);
  const endpoint = endpointOf(scheme, config);
  const perm: Record<string, Record<string, string>> = {
    s3: {
      list: 's3:ListBucket',
      write: 's3:PutObject',
      read: 's3:GetObject',
      delete: 's3:DeleteObject',
    },
    gs: {
      list: 'storage.objects.list',
      write: 'storage.objects.create',
      read: 'storage.objects.get',
      delete: 'storage.objects.delete',
    },
  };
  switch (code) {
    case 'outside_roots':
      return 'choose a path inside one of the roots, or add a root that contains it to DIM_FILE_ROOTS';
    case 'outside_buckets':
      return 'choose one of the configured buckets, or add this one to DIM_BUCKETS';
    case 'bad_credentials':
      return scheme === 's3'
        ? `set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) to a key that ${endpoint} accepts`
        : 'run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file';
    case 'bucket_not_found':
      return `create the bucket at ${endpoint}, or fix the bucket name in the URI`;
    case 'bucket_wrong_region':
      return 'set AWS_REGION to the bucket’s region';
    case 'access_denied':
      if (scheme === 'file')
        return 'make the directory writable and readable by the user running dim';
      return `grant ${perm[scheme]?.[step === 'storage_class' ? 'write' : step] ?? 'access'} on this bucket and prefix to these credentials`;
    case 'throttled':
      return 'the service still throttled after the SDK’s retries with backoff; try again later or lower the load on the bucket';
    case 'storage_unavailable':
      if (step === 'connectivity') {
        return scheme === 's3'
          ? `check S3_ENDPOINT (now ${config.s3.endpoint ?? 'unset: AWS'}) and that the server is running and reachable`
          : scheme === 'gs'
            ? `check STORAGE_EMULATOR_HOST (now ${config.gcs.endpoint ?? 'unset: Google'}) and that the server is running and reachable`
            : 'check the file system (space, mounts)';
      }
      return 'the service failed after retries; try again, and check its health';
    case 'invalid_storage_class':
      return 'use a class the bucket accepts (see the verified ones) in the tier table';
    case 'storage_conflict':
      return 'a file is in the way of the location: remove it or choose another path';
    default:
      return `check the location and ${scheme === 'file' ? 'the file system' : endpoint}`;
  }
}

const NETWORK_ERROR =
  /ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|socket hang up/;

/**
 * Whether the first request failed because the endpoint did not answer. Besides the
 * drivers' storage_unavailable, an SDK may hand back a network error it did not recognise
 * (e.g. the AWS SDK's "error wrapper" when the error comes from another realm, as in jest).
 */
function isNetworkFailure(err: unknown): boolean {
  if (err instanceof DimError) return err.code === 'storage_unavailable';
  return NETWORK_ERROR.test(messageOf(err));
}

/**
 * A quick TCP connection to a configured endpoint: the SDKs retry a refused connection
 * with backoff (GCS for about 15 s), which is right for migrations but slow to tell an
 * operator that S3_ENDPOINT has a typo. Resolves the reason it failed, or undefined.
 */
function tcpProbe(endpoint: string, timeoutMs = 5000): Promise<string | undefined> {
  const url = new URL(endpoint);
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (why: string | undefined) => {
      socket.destroy();
      resolve(why);
    };
    socket.setTimeout(timeoutMs, () =>
      done(`no answer from ${host}:${port} within ${timeoutMs} ms`),
    );
    socket.once('connect', () => done(undefined));
    socket.once('error', (err) => done(messageOf(err)));
  });
}

/** How many objects (up to `max`, probes left out) the location holds. */
async function listSome(
  driver: StorageDriver,
  uri: string,
  max: number,
): Promise<{ count: number; more: boolean }> {
  let count = 0;
  for await (const o of driver.list(uri)) {
    if (o.key.split('/').pop()?.startsWith(PROBE_PREFIX)) continue;
    count++;
    if (count >= max) return { count, more: true };
  }
  return { count, more: false };
}

async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks);
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await fsp.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** The nearest existing ancestor of `p` (p itself when it exists). */
async function nearestExisting(p: string): Promise<string> {
  let d = p;
  for (;;) {
    try {
      await fsp.lstat(d);
      return d;
    } catch {
      const parent = path.dirname(d);
      if (parent === d) return d;
      d = parent;
    }
  }
}

/** Checks one storage location. Throws only for invalid input (URI, class names). */
export async function checkStorage(
  uri: string,
  opts: StorageCheckOptions,
): Promise<StorageCheckReport> {
  const loc: StorageLocation = parseStorageUri(uri);
  const { scheme } = loc;
  const tryClasses = classesToTry(scheme, opts.classes);
  const driver = opts.storage.driverFor(uri);
  const probeName = opts.probeName ?? `${PROBE_PREFIX}${randomBytes(6).toString('hex')}`;

  const checks = Object.fromEntries(
    CHECK_STEPS.map((s): [CheckStepName, CheckStep] => [
      s,
      { status: 'skipped', detail: 'not reached' },
    ]),
  ) as Record<CheckStepName, CheckStep>;
  const report: StorageCheckReport = {
    uri,
    scheme,
    endpoint: endpointOf(scheme, opts.config),
    ok: false,
    checks,
    probe: objectUri(uri, probeName),
    probe_removed: true,
    storage_classes: {
      supported: supportedClasses(scheme),
      verified: [],
      results: supportedClasses(scheme).map((c) => ({ class: c, status: 'not_tried' as const })),
    },
  };
  const fail = (step: CheckStepName | 'storage_class', err: unknown): void => {
    let message = messageOf(err).replace(/\.$/, '');
    if (step === 'connectivity' && scheme !== 'file') {
      const why = message
        .replace(/^.*? is unavailable: /, '')
        .replace(/^(AWS SDK error wrapper for )?Error: /, '');
      message = `cannot reach ${report.endpoint} (${why})`;
    }
    if (step !== 'storage_class') {
      checks[step] = { status: 'failed', detail: message, code: codeOf(err) };
    }
    report.error ??= {
      step,
      code: codeOf(err),
      message,
      hint: hintFor(err, step, scheme, opts.config),
    };
  };
  const timed = async <T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> => {
    const t0 = performance.now();
    const value = await fn();
    return { value, ms: Math.round(performance.now() - t0) };
  };

  // The dataset root the probe goes under. file://: a single-file dataset is probed in its
  // directory; directories created for the probe are removed afterwards.
  let rootUri = uri;
  let fileCleanup: (() => Promise<void>) | undefined;

  if (loc.scheme !== 'file') {
    try {
      checkBucket(loc, opts.config.buckets?.[loc.scheme]);
    } catch (err) {
      fail('location', err);
      return report;
    }
  }

  if (loc.scheme === 'file') {
    let resolved: string;
    try {
      resolved = (await resolveInsideRoots(loc.path, opts.config.fileRoots, uri)).path;
    } catch (err) {
      fail('connectivity', err);
      return report;
    }
    checks.connectivity = { status: 'ok', detail: `${resolved} is inside DIM_FILE_ROOTS` };
    checks.credentials = {
      status: 'ok',
      detail: `file access as uid ${process.getuid?.() ?? '?'}`,
    };
    let dir = resolved;
    try {
      const st = await fsp.stat(resolved);
      if (st.isFile()) {
        dir = path.dirname(resolved);
        await resolveInsideRoots(dir, opts.config.fileRoots, uri);
        rootUri = pathToFileURL(dir).href;
        checks.location = {
          status: 'ok',
          detail: `${resolved} is a file: probing its directory ${dir}`,
        };
      } else {
        checks.location = { status: 'ok', detail: `directory ${resolved} exists` };
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        fail(
          'location',
          err instanceof StorageError ? err : StorageErrors.accessDenied(uri, messageOf(err)),
        );
        return report;
      }
      checks.location = {
        status: 'ok',
        detail: `${resolved} does not exist yet (nearest existing: ${await nearestExisting(resolved)}); the probe creates it and removes it again`,
      };
    }
    report.probe = objectUri(rootUri, probeName);
    const existedBefore = await isDirectory(dir);
    const stopAt = await realpathLoose(await nearestExisting(dir));
    fileCleanup = async () => {
      if (existedBefore) {
        // The driver prunes a dataset directory left empty: put it back as it was.
        if (!(await isDirectory(dir))) await fsp.mkdir(dir, { recursive: true });
        return;
      }
      // Remove the directories the probe created, deepest first, while empty.
      for (let d = dir; d !== stopAt && isInside(d, stopAt); d = path.dirname(d)) {
        try {
          await fsp.rmdir(d);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return; // not empty: not ours
        }
      }
    };
  }

  // A configured endpoint (S3_ENDPOINT, STORAGE_EMULATOR_HOST) must accept connections.
  const configured =
    scheme === 's3'
      ? opts.config.s3.endpoint
      : scheme === 'gs'
        ? opts.config.gcs.endpoint
        : undefined;
  if (configured) {
    const why = await tcpProbe(configured);
    if (why) {
      fail('connectivity', StorageErrors.unavailable(uri, why));
      return report;
    }
  }

  // connectivity, credentials, bucket and list: one listing answers all four.
  try {
    const { value, ms } = await timed(() => listSome(driver, rootUri, 1));
    if (scheme !== 'file') {
      checks.connectivity = { status: 'ok', detail: `${report.endpoint} answered`, ms };
      checks.credentials = { status: 'ok', detail: 'accepted' };
      checks.location = {
        status: 'ok',
        detail: `bucket ${loc.bucket} exists`,
      };
    }
    checks.list = {
      status: 'ok',
      detail: value.count === 0 ? 'listed: no objects yet' : 'listed: holds objects',
      ms,
    };
  } catch (err) {
    const code = codeOf(err);
    if (scheme !== 'file') {
      if (isNetworkFailure(err)) {
        fail(
          'connectivity',
          err instanceof DimError ? err : StorageErrors.unavailable(uri, messageOf(err)),
        );
        return report;
      }
      checks.connectivity = { status: 'ok', detail: `${report.endpoint} answered` };
      if (code === 'bad_credentials') {
        fail('credentials', err);
        return report;
      }
      checks.credentials = { status: 'ok', detail: 'accepted' };
      if (code === 'bucket_not_found' || code === 'bucket_wrong_region') {
        fail('location', err);
        return report;
      }
    }
    fail('list', err);
    // Listing may be denied while writing is allowed: go on to the probe then.
    if (code !== 'access_denied') return report;
    if (scheme !== 'file') {
      checks.location = { status: 'skipped', detail: 'unknown: listing was denied' };
    }
  }

  // write, read back, delete: one probe under the location.
  const content = Buffer.from(
    `dim storage check ${new Date().toISOString()} ${probeName}\n`,
    'utf8',
  );
  let written = false;
  try {
    const { ms } = await timed(() =>
      driver.write(rootUri, probeName, bufferStream(content), { size: content.length }),
    );
    written = true;
    checks.write = { status: 'ok', detail: `wrote ${report.probe} (${content.length} bytes)`, ms };
  } catch (err) {
    fail('write', err);
  }
  if (written) {
    try {
      const { value, ms } = await timed(async () => readAll(await driver.read(rootUri, probeName)));
      if (!value.equals(content)) {
        throw StorageErrors.checksumMismatch(
          report.probe,
          `${content.length} bytes`,
          `${value.length} different bytes`,
        );
      }
      checks.read = { status: 'ok', detail: 'read it back: same bytes', ms };
    } catch (err) {
      fail('read', err);
    }
    if (scheme !== 'file') {
      try {
        const info = await driver.stat(rootUri, probeName);
        if (info?.storageClass) {
          report.storage_classes.default = info.storageClass;
          report.storage_classes.verified.push(info.storageClass);
        }
      } catch {
        // the class is a detail here; read and write already said what matters
      }
    }
    try {
      const { ms } = await timed(() => driver.delete(rootUri, probeName));
      checks.delete = { status: 'ok', detail: 'removed the probe', ms };
    } catch (err) {
      report.probe_removed = false;
      fail('delete', err);
      if (report.error?.step === 'delete') {
        report.error.message += ` (the probe ${report.probe} is still there: delete it by hand)`;
      }
    }
  } else {
    checks.read = { status: 'skipped', detail: 'nothing was written' };
    checks.delete = { status: 'skipped', detail: 'nothing was written' };
  }
  if (fileCleanup) await fileCleanup().catch(() => undefined);

  // storage classes: one more probe for each class asked for.
  if (written && checks.delete.status === 'ok') {
    for (const cls of tryClasses) {
      const result = await checkClass(driver, rootUri, `${probeName}-${cls.toLowerCase()}`, cls);
      const i = report.storage_classes.results.findIndex((r) => r.class === cls);
      report.storage_classes.results[i] = result.check;
      if (result.check.status === 'verified' && !report.storage_classes.verified.includes(cls)) {
        report.storage_classes.verified.push(cls);
      }
      if (!result.removed) {
        report.probe_removed = false;
        fail('storage_class', result.error);
      }
    }
    if (fileCleanup) await fileCleanup().catch(() => undefined);
    // Explicitly named classes must all work; with 'all', refusals are information.
    if (opts.classes !== 'all') {
      const bad = report.storage_classes.results.find(
        (r) => tryClasses.includes(r.class) && r.status !== 'verified',
      );
      if (bad && !report.error) {
        report.error = {
          step: 'storage_class',
          code: bad.status === 'mismatch' ? 'storage_class_mismatch' : 'invalid_storage_class',
          message: `storage class ${bad.class} cannot be written to ${uri}: ${bad.detail ?? bad.status}`,
          hint: `use a class this bucket accepts in the tier table (verified: ${report.storage_classes.verified.join(', ') || 'none'})`,
        };
      }
    }
  }
  if (report.storage_classes.default) {
    const d = report.storage_classes.results.find(
      (r) => r.class === report.storage_classes.default,
    );
    if (d && d.status === 'not_tried') {
      d.status = 'verified';
      d.detail = 'the bucket’s default: the probe written without a class got it';
    }
  }
  report.ok = report.error === undefined;
  return report;
}

function bufferStream(buf: Buffer): Readable {
  return Readable.from([buf]);
}

async function checkClass(
  driver: StorageDriver,
  rootUri: string,
  key: string,
  cls: string,
): Promise<{ check: ClassCheck; removed: boolean; error?: unknown }> {
  const body = Buffer.from(`dim storage check, class ${cls}\n`);
  let check: ClassCheck;
  try {
    await driver.write(rootUri, key, bufferStream(body), { storageClass: cls, size: body.length });
  } catch (err) {
    const why = messageOf(err)
      .replace(`${objectUri(rootUri, key)}: `, '')
      .replace(/\.$/, '');
    return { check: { class: cls, status: 'refused', detail: why }, removed: true };
  }
  try {
    const info = await driver.stat(rootUri, key);
    check =
      info?.storageClass === cls
        ? { class: cls, status: 'verified', detail: 'written and reported back' }
        : {
            class: cls,
            status: 'mismatch',
            detail: `written, but the server stored it as ${info?.storageClass ?? 'unknown'}`,
          };
  } catch (err) {
    check = { class: cls, status: 'verified', detail: `written (stat failed: ${messageOf(err)})` };
  }
  try {
    await driver.delete(rootUri, key);
    return { check, removed: true };
  } catch (err) {
    return { check, removed: false, error: err };
  }
}
