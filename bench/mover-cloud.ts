import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { createStorage } from '../storage';
import type { GcsDriver } from '../storage/drivers/gcs';
import type { S3Driver } from '../storage/drivers/s3';
import {
  MINIO,
  cloudStorageConfig,
  createBuckets,
  emptyUri,
  rcloneEnv,
  rclonePath,
  rcloneRemote,
  removeBuckets,
} from '../test/support/cloud';
import { median, runMover, sync, timed, type Row } from './mover';

/**
 * The mover across clouds, on the servers `dev/services start s3 gcs` runs (MinIO and
 * fake-gcs-server on 127.0.0.1), beside rclone with the same concurrency in the same run:
 *
 *   file → s3, s3 → gs, gs → file, each for one 1 GiB object and for 10,000 × 4 KiB objects;
 *   then the peak RSS of the mover copying one 2 GiB object to s3 and to gs.
 *
 * dim runs its copy and verify activities in a child process (bench/mover.ts), with the
 * worker's driver options; rclone runs `rclone copy --checksum --transfers N --checkers N`.
 * The sources on s3 and gs are seeded once per run; every copy goes to a fresh, empty
 * destination, which is emptied afterwards. One bucket per run, removed at the end.
 */

const GiB = 1024 * 1024 * 1024;

export interface CloudArgs {
  rounds: number;
  dir: string;
  concurrency: number;
  /** Only the cases whose name contains this (e.g. "file → s3"). */
  only?: string;
}

export const DIM_CLOUD = 'dim copy + verify (as the worker runs it)';
export const DIM_COPY = 'dim copy alone (same runs)';
export const RCLONE_CLOUD = 'rclone copy --checksum';

/** Fails with a hint unless MinIO and fake-gcs-server answer. */
async function checkServers(): Promise<void> {
  const probe = async (url: string) => {
    try {
      await fetch(url, { signal: AbortSignal.timeout(3000) });
      return true;
    } catch {
      return false;
    }
  };
  const down = [];
  if (!(await probe(`${cloudStorageConfig.s3.endpoint}/minio/health/live`))) down.push('s3');
  if (!(await probe(`${cloudStorageConfig.gcs.endpoint}/storage/v1/b`))) down.push('gcs');
  if (down.length) {
    throw new Error(
      `MinIO / fake-gcs-server are not running (${down.join(', ')}): run \`dev/services start s3 gcs\`, or pass --skip-cloud`,
    );
  }
}

export async function cloudCases(
  a: CloudArgs,
  data: { bigDir: string; smallDir: string; bigFile: string },
): Promise<Row[]> {
  await checkServers();
  let rclone: string | undefined;
  try {
    rclone = rclonePath();
  } catch (err) {
    process.stderr.write(`rclone is not available, its rows are left out: ${String(err)}\n`);
  }
  const home = path.join(a.dir, 'rclone-home');
  mkdirSync(home, { recursive: true });
  const env = rcloneEnv(home);
  const n = a.concurrency;
  const rcloneCopy = (src: string, dst: string) =>
    `'${rclone}' copy --checksum --transfers ${n} --checkers ${n} '${rcloneRemote(src)}' '${rcloneRemote(dst)}'`;

  const storage = createStorage(
    { fileRoots: [a.dir], ...cloudStorageConfig },
    { s3: { credentials: MINIO } },
  );
  const s3 = storage.driverFor('s3://any-bucket') as S3Driver;
  const gcs = storage.driverFor('gs://any-bucket') as GcsDriver;
  const bucket = `dim-bench-mover-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
  await createBuckets(s3, bucket);
  const out = path.join(a.dir, 'out');
  const rows: Row[] = [];
  try {
    // Sources on both servers, written once by dim (rclone's GCS uploads are slow on
    // fake-gcs-server, see BENCHMARKS.md).
    const fileSrc = { big: `file://${data.bigDir}`, small: `file://${data.smallDir}` };
    const s3Src = { big: `s3://${bucket}/src/big`, small: `s3://${bucket}/src/small` };
    const gsSrc = { big: `gs://${bucket}/src/big`, small: `gs://${bucket}/src/small` };
    process.stderr.write(`seeding s3://${bucket}/src and gs://${bucket}/src …\n`);
    const wanted = (name: string) => !a.only || name.includes(a.only);
    for (const [from, to, needed] of [
      [fileSrc.big, s3Src.big, 's3 → gs, 1 × 1 GiB'],
      [fileSrc.small, s3Src.small, 's3 → gs, 10,000 × 4 KiB'],
      [fileSrc.big, gsSrc.big, 'gs → file, 1 × 1 GiB'],
      [fileSrc.small, gsSrc.small, 'gs → file, 10,000 × 4 KiB'],
    ] as const) {
      if (wanted(needed))
        runMover({ src: from, dst: to, fsync: false, dir: a.dir, concurrency: n, cloud: true });
    }

    let seq = 0;
    const dest = (scheme: 'file' | 's3' | 'gs') =>
      scheme === 'file' ? path.join(out, `t${++seq}`) : `${scheme}://${bucket}/out/t${++seq}`;
    const clean = async (dst: string) => {
      if (dst.startsWith('/')) rmSync(dst, { recursive: true, force: true });
      else await emptyUri(s3, gcs, dst);
      sync();
    };

    const oneCase = async (
      name: string,
      src: string,
      to: 'file' | 's3' | 'gs',
      bytes: number,
      objects: number,
    ) => {
      if (!wanted(name)) return;
      process.stderr.write(`${name} …\n`);
      const runs: Record<string, { s: number[]; rss: number[] }> = {};
      const add = (tool: string, s: number, rss: number | null) => {
        process.stderr.write(
          `  ${tool}: ${s.toFixed(2)} s${rss === null ? '' : `, ${rss.toFixed(0)} MB`}\n`,
        );
        runs[tool] ??= { s: [], rss: [] };
        runs[tool].s.push(s);
        if (rss !== null) runs[tool].rss.push(rss);
      };
      const tools: Array<(dst: string) => void> = [
        (dst) => {
          const m = runMover({ src, dst, fsync: true, dir: a.dir, concurrency: n, cloud: true });
          if (m.objects !== objects) throw new Error(`${name}: dim copied ${m.objects} objects`);
          add(DIM_CLOUD, (m.copy_ms + m.verify_ms) / 1000, m.max_rss_mb);
          add(DIM_COPY, m.copy_ms / 1000, m.max_rss_mb);
        },
      ];
      if (rclone) {
        tools.push((dst) => {
          const r = timed(`${rcloneCopy(src, to === 'file' ? `file://${dst}` : dst)} 2>&1`, env);
          add(RCLONE_CLOUD, r.ms / 1000, r.rss_mb);
        });
      }
      // No warm-up round here (unlike the file cases): the runs are long, and each starts
      // with a fresh process and an empty destination anyway.
      for (let round = 0; round < a.rounds; round++) {
        for (let i = 0; i < tools.length; i++) {
          const dst = dest(to);
          try {
            tools[(i + round) % tools.length]!(dst);
          } finally {
            await clean(dst);
          }
        }
      }
      for (const [tool, r] of Object.entries(runs)) {
        const s = median(r.s);
        rows.push({
          case: name,
          tool,
          seconds: s,
          spread: `${Math.min(...r.s).toFixed(2)}–${Math.max(...r.s).toFixed(2)}`,
          mb_s: bytes / 1e6 / s,
          files_s: objects / s,
          rss_mb: r.rss.length ? Math.max(...r.rss) : null,
        });
      }
    };

    const small = 10_000 * 4096;
    await oneCase('file → s3, 1 × 1 GiB', fileSrc.big, 's3', GiB, 1);
    await oneCase('s3 → gs, 1 × 1 GiB', s3Src.big, 'gs', GiB, 1);
    await oneCase('gs → file, 1 × 1 GiB', gsSrc.big, 'file', GiB, 1);
    await oneCase('file → s3, 10,000 × 4 KiB', fileSrc.small, 's3', small, 10_000);
    await oneCase('s3 → gs, 10,000 × 4 KiB', s3Src.small, 'gs', small, 10_000);
    await oneCase('gs → file, 10,000 × 4 KiB', gsSrc.small, 'file', small, 10_000);

    // Peak RSS while copying one 2 GiB object (made of the 1 GiB file twice).
    const twoDir = path.join(a.dir, 'data', 'big2');
    const two = path.join(twoDir, 'two.bin');
    if (!existsSync(two)) {
      mkdirSync(twoDir, { recursive: true });
      execFileSync('sh', ['-c', `cat '${data.bigFile}' '${data.bigFile}' > '${two}.tmp'`]);
      execFileSync('mv', [`${two}.tmp`, two]);
    }
    try {
      for (const to of ['s3', 'gs'] as const) {
        const name = `file → ${to}, 1 × 2 GiB (RSS)`;
        if (!wanted(name)) continue;
        process.stderr.write(`${name} …\n`);
        const dst = dest(to);
        const m = runMover({
          src: twoDir,
          dst,
          fsync: true,
          dir: a.dir,
          concurrency: n,
          cloud: true,
        });
        await clean(dst);
        const s = (m.copy_ms + m.verify_ms) / 1000;
        process.stderr.write(`  ${s.toFixed(2)} s, ${m.max_rss_mb.toFixed(0)} MB\n`);
        rows.push({
          case: name,
          tool: DIM_CLOUD,
          seconds: s,
          mb_s: (2 * GiB) / 1e6 / s,
          files_s: 0,
          rss_mb: m.max_rss_mb,
        });
      }
    } finally {
      rmSync(twoDir, { recursive: true, force: true });
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
    await removeBuckets(s3, gcs, bucket);
    await storage.close();
  }
  return rows;
}
