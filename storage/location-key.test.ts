import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { StorageError } from '../errors';
import { checkDatasetLocation } from './location';
import {
  ancestorKeys,
  descendantsEnd,
  keysOverlap,
  lexicalLocationKey,
  locationKey,
  overlapRelation,
} from './location-key';

/** Canonical location keys and the overlap rule of invariant 9, on a real temp directory. */
describe('location keys', () => {
  let base: string;
  let root: string;
  const uri = (p: string) => pathToFileURL(p).href;

  beforeAll(() => {
    base = realpathSync(mkdtempSync(path.join(tmpdir(), 'dim-lockey-')));
    root = path.join(base, 'root');
    mkdirSync(path.join(root, 'data', 'a'), { recursive: true });
    mkdirSync(path.join(root, 'other'), { recursive: true });
    // root/alias -> root/data: one directory under two names
    symlinkSync(path.join(root, 'data'), path.join(root, 'alias'));
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('keys file URIs by their real path, after .. and symlinks, with a trailing /', async () => {
    const real = `file:${root}/data/a/`;
    expect(await locationKey(uri(`${root}/data/a`), [root])).toBe(real);
    expect(await locationKey(`file://${root}/other/../data/a/`, [root])).toBe(real);
    expect(await locationKey(uri(`${root}/alias/a`), [root])).toBe(real);
    // A path that does not exist yet resolves through its existing ancestors.
    expect(await locationKey(uri(`${root}/alias/new/x`), [root])).toBe(`file:${root}/data/new/x/`);
    // The lexical key (migration 005's backfill) does not see the symlink.
    expect(lexicalLocationKey(uri(`${root}/alias/a`))).toBe(`file:${root}/alias/a/`);
    expect(lexicalLocationKey('file:///x/y/../z//')).toBe('file:/x/z/');
  });

  it('refuses a file URI outside the roots, like every file:// check', async () => {
    await expect(locationKey('file:///etc/passwd', [root], 'body.path_uri')).rejects.toMatchObject({
      code: 'outside_roots',
      field: 'body.path_uri',
    });
  });

  it('keys buckets by scheme, bucket and prefix', async () => {
    expect(await locationKey('s3://bkt/data/', [])).toBe('s3:bkt/data/');
    expect(lexicalLocationKey('s3://bkt/data/x')).toBe('s3:bkt/data/x/');
    expect(lexicalLocationKey('s3://bkt')).toBe('s3:bkt/');
    expect(lexicalLocationKey('s3://bkt/')).toBe('s3:bkt/');
    expect(lexicalLocationKey('gs://bkt/data')).toBe('gs:bkt/data/');
  });

  it('overlaps only on / boundaries, and never across schemes or buckets', () => {
    const k = lexicalLocationKey;
    expect(keysOverlap(k('s3://bkt/data'), k('s3://bkt/database'))).toBe(false);
    expect(keysOverlap(k('s3://bkt/data'), k('s3://bkt/data/x'))).toBe(true);
    expect(keysOverlap(k('s3://bkt/data'), k('gs://bkt/data'))).toBe(false);
    expect(keysOverlap(k('s3://bkt/data'), k('s3://bkt2/data'))).toBe(false);
    expect(keysOverlap(k('s3://bkt'), k('s3://bkt/anything/at/all'))).toBe(true);
    expect(keysOverlap(k('file:///srv/a'), k('file:///srv/ab'))).toBe(false);
    expect(overlapRelation(k('file:///srv/a/b'), k('file:///srv/a'))).toBe('inside');
    expect(overlapRelation(k('file:///srv/a'), k('file:///srv/a/b'))).toBe('contains');
    expect(overlapRelation(k('file:///srv/a/'), k('file:///srv/a'))).toBe('equals');
    expect(overlapRelation(k('file:///srv/a'), k('file:///srv/b'))).toBeUndefined();
  });

  it('lists ancestors and bounds descendants, so SQL can use an index', () => {
    expect(ancestorKeys('file:/a/b/')).toEqual(['file:/', 'file:/a/', 'file:/a/b/']);
    expect(ancestorKeys('s3:bkt/x/')).toEqual(['s3:bkt/', 's3:bkt/x/']);
    const end = descendantsEnd('s3:bkt/data/');
    for (const inside of ['s3:bkt/data/', 's3:bkt/data/x/', 's3:bkt/data/~~/'])
      expect(inside >= 's3:bkt/data/' && inside < end).toBe(true);
    for (const outside of ['s3:bkt/database/', 's3:bkt/data0/', 's3:bkt/datb/', 's3:bkt/dat/'])
      expect(outside >= 's3:bkt/data/' && outside < end).toBe(false);
  });

  describe('checkDatasetLocation', () => {
    const opts = () => ({ fileRoots: [root], allowWholeRoot: false });

    it('returns the normalized URI and the real key', async () => {
      expect(await checkDatasetLocation(uri(`${root}/alias/a`), 'body.path_uri', opts())).toEqual({
        uri: uri(`${root}/alias/a`),
        key: `file:${root}/data/a/`,
      });
    });

    it('refuses a whole file root or a whole bucket, saying what to do', async () => {
      for (const whole of [uri(root), `file://${root}/data/..`, 's3://bkt', 'gs://bkt/']) {
        const err = await checkDatasetLocation(whole, 'body.path_uri', opts()).catch(
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(StorageError);
        expect(err).toMatchObject({ code: 'whole_root', status: 400, field: 'body.path_uri' });
        expect((err as Error).message).toMatch(/DIM_ALLOW_WHOLE_ROOT_DATASETS/);
      }
      // ... also when the root is reached through a symlink that points at it.
      symlinkSync(root, path.join(root, 'self'));
      await expect(
        checkDatasetLocation(uri(`${root}/self`), 'body.path_uri', opts()),
      ).rejects.toMatchObject({ code: 'whole_root' });
    });

    it('accepts them when the administrator allows it', async () => {
      const allow = { fileRoots: [root], allowWholeRoot: true };
      expect((await checkDatasetLocation(uri(root), 'f', allow)).key).toBe(`file:${root}/`);
      expect((await checkDatasetLocation('s3://bkt', 'f', allow)).key).toBe('s3:bkt/');
    });
  });
});
