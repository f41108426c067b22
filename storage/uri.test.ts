import { mkdtempSync, mkdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { StorageError } from '../errors';
import {
  checkRange,
  gcsBucketProblem,
  objectName,
  parseStorageUri,
  realpathLoose,
  resolveFileUri,
  s3BucketProblem,
  validateKey,
  type BucketLocation,
} from './uri';

function storageError(fn: () => unknown): StorageError {
  try {
    fn();
  } catch (err) {
    if (err instanceof StorageError) return err;
    throw err;
  }
  throw new Error('expected a StorageError');
}

async function rejected(p: Promise<unknown>): Promise<StorageError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof StorageError) return err;
    throw err;
  }
  throw new Error('expected a StorageError');
}

function filePath(uri: string): string {
  const loc = parseStorageUri(uri);
  if (loc.scheme !== 'file') throw new Error('not a file URI');
  return loc.path;
}

describe('parseStorageUri', () => {
  it('parses file URIs to normalized absolute paths', () => {
    expect(parseStorageUri('file:///shared_storage/sample')).toEqual({
      scheme: 'file',
      uri: 'file:///shared_storage/sample',
      path: '/shared_storage/sample',
    });
    expect(filePath('file:///a/b/../c/./d/')).toBe('/a/c/d');
    expect(filePath('file:///a%20b/%C3%A9')).toBe('/a b/é');
    expect(filePath('file://localhost/srv/x')).toBe('/srv/x');
    expect(parseStorageUri('FILE:///srv/x').scheme).toBe('file');
    expect(filePath('file:///')).toBe('/');
  });

  it('rejects relative and malformed file URIs, naming the problem', () => {
    const rel = storageError(() => parseStorageUri('file://relative/path'));
    expect(rel.code).toBe('invalid_uri');
    expect(rel.status).toBe(400);
    expect(rel.field).toBe('uri');
    expect(rel.message).toMatch(/absolute path/);
    expect(rel.message).toMatch(/"relative"/);
    expect(storageError(() => parseStorageUri('file:relative')).message).toMatch(/absolute path/);
    expect(storageError(() => parseStorageUri('file:/abs')).message).toMatch(
      /file:\/\/\/abs\/path/,
    );
    expect(storageError(() => parseStorageUri('file:///a?b=1')).message).toMatch(
      /query or fragment/,
    );
    expect(storageError(() => parseStorageUri('file:///a#frag')).message).toMatch(
      /query or fragment/,
    );
    expect(storageError(() => parseStorageUri('file:///a%2Fb')).code).toBe('invalid_uri');
    expect(storageError(() => parseStorageUri('file:///a\0b')).message).toMatch(/NUL/);
  });

  it('rejects other schemes and scheme-less strings', () => {
    const e = storageError(() => parseStorageUri('http://example.com/x'));
    expect(e.code).toBe('scheme_not_supported');
    expect(e.message).toMatch(/"http:"/);
    expect(storageError(() => parseStorageUri('azblob://c/x')).code).toBe('scheme_not_supported');
    expect(storageError(() => parseStorageUri('/abs/path')).message).toMatch(
      /must start with a scheme/,
    );
    expect(storageError(() => parseStorageUri('')).message).toMatch(/non-empty/);
    expect(storageError(() => parseStorageUri('bucket/key', 'target_location')).field).toBe(
      'target_location',
    );
  });

  it('parses bucket URIs', () => {
    expect(parseStorageUri('s3://dim-warm/datasets/sample')).toEqual({
      scheme: 's3',
      uri: 's3://dim-warm/datasets/sample',
      bucket: 'dim-warm',
      prefix: 'datasets/sample',
    });
    expect(parseStorageUri('gs://dim-cold')).toMatchObject({ bucket: 'dim-cold', prefix: '' });
    expect(parseStorageUri('gs://dim-cold/')).toMatchObject({ bucket: 'dim-cold', prefix: '' });
    expect(parseStorageUri('s3://b12/a/b/')).toMatchObject({ prefix: 'a/b' });
    expect(parseStorageUri('gs://my_bucket.example.com/x')).toMatchObject({
      bucket: 'my_bucket.example.com',
    });
  });

  it('rejects empty and bad bucket names and bad prefixes', () => {
    expect(storageError(() => parseStorageUri('s3:///prefix')).message).toMatch(
      /bucket name is empty/,
    );
    expect(storageError(() => parseStorageUri('gs://')).message).toMatch(/bucket name is empty/);
    expect(storageError(() => parseStorageUri('s3:bucket/x')).message).toMatch(
      /s3:\/\/bucket\/prefix/,
    );
    expect(storageError(() => parseStorageUri('s3://My_Bucket/x')).message).toMatch(
      /bucket "My_Bucket" may only contain/,
    );
    expect(storageError(() => parseStorageUri('s3://ab/x')).message).toMatch(/3 to 63/);
    expect(storageError(() => parseStorageUri('s3://192.168.1.1/x')).message).toMatch(/IP address/);
    expect(storageError(() => parseStorageUri('gs://goog-data/x')).message).toMatch(/goog/);
    expect(storageError(() => parseStorageUri('s3://bucket/a//b')).message).toMatch(
      /empty path segments/,
    );
    expect(storageError(() => parseStorageUri('s3://bucket/a/../b')).message).toMatch(/"\.\."/);
    expect(storageError(() => parseStorageUri('gs://bucket/a?x')).message).toMatch(/query/);
  });

  it('knows the bucket naming rules', () => {
    expect(s3BucketProblem('dim-warm')).toBeUndefined();
    expect(s3BucketProblem('a.b.c')).toBeUndefined();
    expect(s3BucketProblem('a..b')).toMatch(/adjacent dots/);
    expect(s3BucketProblem('-abc')).toMatch(/start and end/);
    expect(s3BucketProblem('xn--abc')).toMatch(/xn--/);
    expect(s3BucketProblem('abc-s3alias')).toMatch(/s3alias/);
    expect(s3BucketProblem('a'.repeat(64))).toMatch(/3 to 63/);
    expect(gcsBucketProblem('dim_cold-1')).toBeUndefined();
    expect(gcsBucketProblem('a'.repeat(64))).toMatch(/3 to 63/);
    expect(gcsBucketProblem(`${'a'.repeat(63)}.${'b'.repeat(63)}`)).toBeUndefined();
    expect(gcsBucketProblem('my-google-bucket')).toMatch(/google/);
    expect(gcsBucketProblem('Upper')).toMatch(/lowercase/);
  });
});

describe('keys and ranges', () => {
  it('accepts relative keys and refuses escapes', () => {
    expect(() => validateKey('')).not.toThrow();
    expect(() => validateKey('a/b/c.bin')).not.toThrow();
    for (const bad of ['/abs', 'a/../b', '..', './a', 'a//b', 'a/', 'a\0b']) {
      expect(storageError(() => validateKey(bad)).code).toBe('invalid_key');
    }
  });

  it('maps keys to object names under the prefix', () => {
    const loc = parseStorageUri('s3://bucket/data/set') as BucketLocation;
    expect(objectName(loc, '')).toBe('data/set');
    expect(objectName(loc, 'a/b')).toBe('data/set/a/b');
    const whole = parseStorageUri('s3://bucket') as BucketLocation;
    expect(objectName(whole, 'a')).toBe('a');
    expect(storageError(() => objectName(whole, '')).code).toBe('invalid_key');
  });

  it('checks ranges', () => {
    expect(() => checkRange({ start: 0 })).not.toThrow();
    expect(() => checkRange({ start: 5, end: 5 })).not.toThrow();
    expect(storageError(() => checkRange({ start: -1 })).code).toBe('invalid_range');
    expect(storageError(() => checkRange({ start: 5, end: 4 })).code).toBe('invalid_range');
    expect(storageError(() => checkRange({ start: 1.5 })).code).toBe('invalid_range');
  });
});

describe('resolveFileUri (invariant 6)', () => {
  let base: string;
  let root: string;
  let outside: string;

  beforeEach(() => {
    base = realpathSync(mkdtempSync(path.join(tmpdir(), 'dim-uri-')));
    root = path.join(base, 'root');
    outside = path.join(base, 'outside');
    mkdirSync(path.join(root, 'data', 'sub'), { recursive: true });
    mkdirSync(outside, { recursive: true });
    writeFileSync(path.join(outside, 'secret'), 'secret');
    writeFileSync(path.join(root, 'data', 'file'), 'x');
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  const uri = (p: string) => `file://${p}`;

  it('accepts paths inside a root, existing or not', async () => {
    await expect(resolveFileUri(uri(`${root}/data/file`), [root])).resolves.toEqual({
      path: `${root}/data/file`,
      root,
    });
    await expect(resolveFileUri(uri(`${root}/new/deeper/x`), [root])).resolves.toMatchObject({
      path: `${root}/new/deeper/x`,
    });
    await expect(resolveFileUri(uri(root), [root])).resolves.toMatchObject({ path: root });
    // A root that does not exist yet still confines paths below it.
    await expect(resolveFileUri(uri(`${base}/later/x`), [`${base}/later`])).resolves.toMatchObject({
      path: `${base}/later/x`,
    });
  });

  it('rejects paths outside every root, naming the resolved path', async () => {
    const e = await rejected(resolveFileUri(uri(`${outside}/secret`), [root]));
    expect(e.code).toBe('outside_roots');
    expect(e.status).toBe(403);
    expect(e.message).toContain(`${outside}/secret`);
    expect((await rejected(resolveFileUri('file:///etc/passwd', [root]))).code).toBe(
      'outside_roots',
    );
    expect((await rejected(resolveFileUri(uri(`${root}/../outside/secret`), [root]))).code).toBe(
      'outside_roots',
    );
    // A sibling whose name starts like the root is not inside it.
    mkdirSync(`${root}2`);
    expect((await rejected(resolveFileUri(uri(`${root}2/x`), [root]))).code).toBe('outside_roots');
    expect((await rejected(resolveFileUri(uri(`${root}/x`), []))).message).toMatch(
      /none configured/,
    );
  });

  it('rejects a symlink inside the root that points outside', async () => {
    symlinkSync(outside, path.join(root, 'data', 'escape'));
    const e = await rejected(resolveFileUri(uri(`${root}/data/escape/secret`), [root]));
    expect(e.code).toBe('outside_roots');
    expect(e.message).toContain(`${outside}/secret`);
    // ... also for a path below it that does not exist yet (a write target).
    expect((await rejected(resolveFileUri(uri(`${root}/data/escape/new/file`), [root]))).code).toBe(
      'outside_roots',
    );
    // ... and for a symlinked file.
    symlinkSync(path.join(outside, 'secret'), path.join(root, 'link-to-secret'));
    expect((await rejected(resolveFileUri(uri(`${root}/link-to-secret`), [root]))).code).toBe(
      'outside_roots',
    );
  });

  it('follows dangling symlinks to where they would point', async () => {
    symlinkSync(path.join(outside, 'not-yet'), path.join(root, 'dangling'));
    expect((await rejected(resolveFileUri(uri(`${root}/dangling`), [root]))).code).toBe(
      'outside_roots',
    );
    expect((await rejected(resolveFileUri(uri(`${root}/dangling/x`), [root]))).code).toBe(
      'outside_roots',
    );
    symlinkSync(path.join(root, 'data', 'later'), path.join(root, 'inner-dangling'));
    await expect(resolveFileUri(uri(`${root}/inner-dangling/x`), [root])).resolves.toMatchObject({
      path: `${root}/data/later/x`,
    });
  });

  it('accepts symlinks that stay inside, and roots that are symlinks', async () => {
    symlinkSync(path.join(root, 'data'), path.join(root, 'alias'));
    await expect(resolveFileUri(uri(`${root}/alias/file`), [root])).resolves.toMatchObject({
      path: `${root}/data/file`,
    });
    const linkRoot = path.join(base, 'link-root');
    symlinkSync(root, linkRoot);
    await expect(resolveFileUri(uri(`${linkRoot}/data/file`), [linkRoot])).resolves.toMatchObject({
      path: `${root}/data/file`,
      root,
    });
    // Two roots: the path may be in either.
    await expect(resolveFileUri(uri(`${outside}/secret`), [root, outside])).resolves.toMatchObject({
      root: outside,
    });
  });

  it('refuses symlink loops with a clear error', async () => {
    symlinkSync(path.join(root, 'loop-b'), path.join(root, 'loop-a'));
    symlinkSync(path.join(root, 'loop-a'), path.join(root, 'loop-b'));
    const e = await rejected(resolveFileUri(uri(`${root}/loop-a/x`), [root]));
    expect(e.code).toBe('invalid_uri');
    expect(e.message).toMatch(/symbolic links/);
  });

  it('refuses a path component longer than the file system allows with invalid_uri, not a crash', async () => {
    // Found by schemathesis (test/integration/schemathesis.test.ts): it was a 500.
    const e = await rejected(resolveFileUri(uri(`${root}/${'0'.repeat(300)}/x`), [root]));
    expect(e.code).toBe('invalid_uri');
    expect(e.status).toBe(400);
    expect(e.message).toMatch(/longer than the file system allows/);
  });

  it('realpathLoose resolves the longest existing ancestor', async () => {
    symlinkSync(path.join(root, 'data'), path.join(base, 'd'));
    await expect(realpathLoose(path.join(base, 'd', 'sub', 'a', 'b'))).resolves.toBe(
      path.join(root, 'data', 'sub', 'a', 'b'),
    );
  });

  it('refuses non-file URIs', async () => {
    expect((await rejected(resolveFileUri('s3://bucket/x', [root]))).code).toBe('invalid_uri');
  });
});
