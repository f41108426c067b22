import { defaultTiers } from './default-tiers';
import { resolveLocation, templateProblem } from './location';

describe('resolveLocation', () => {
  it('replaces {name} and {id}', () => {
    expect(resolveLocation('s3://dim-warm/{id}/{name}', { id: 7, name: 'logs.2024' })).toBe(
      's3://dim-warm/7/logs.2024',
    );
  });
  it('percent-encodes the name as a path segment', () => {
    expect(resolveLocation('gs://b/{name}', { id: 1, name: 'a b/c' })).toBe('gs://b/a%20b%2Fc');
  });
  it('replaces every occurrence', () => {
    expect(resolveLocation('file:///x/{name}/{name}', { id: 1, name: 'n' })).toBe('file:///x/n/n');
  });
  it('leaves anything else in braces as it is', () => {
    expect(resolveLocation('s3://b/{owner}/{}/{{id}}/{name', { id: 3, name: 'n' })).toBe(
      's3://b/{owner}/{}/{3}/{name',
    );
  });
  it('answers for each dataset on its own when the same template is resolved again', () => {
    const t = 'gs://b/{id}-{name}';
    expect(resolveLocation(t, { id: 1, name: 'a' })).toBe('gs://b/1-a');
    expect(resolveLocation(t, { id: 2, name: 'b' })).toBe('gs://b/2-b');
    expect(resolveLocation('{id}', { id: 9, name: 'z' })).toBe('9');
  });
});

describe('templateProblem', () => {
  it('accepts templates with {name} or {id}', () => {
    expect(templateProblem('s3://b/{name}')).toBeNull();
    expect(templateProblem('s3://b/{id}')).toBeNull();
  });
  it('rejects a template without a placeholder', () => {
    expect(templateProblem('s3://b/all')).toMatch(/must contain \{name\} or \{id\}/);
  });
  it('rejects unknown placeholders', () => {
    expect(templateProblem('s3://b/{owner}/{name}')).toMatch(/unknown placeholder \{owner\}/);
  });
});

describe('defaultTiers', () => {
  it('puts three file:// tiers under the data dir, faster ones dearer', () => {
    const t = defaultTiers('/var/dim/');
    expect(t.hot.location_template).toBe('file:///var/dim/storage/hot/{name}');
    expect(t.warm.location_template).toBe('file:///var/dim/storage/warm/{name}');
    expect(t.cold.location_template).toBe('file:///var/dim/storage/cold/{name}');
    expect(t.hot.read_latency_ms).toBeLessThan(t.warm.read_latency_ms);
    expect(t.warm.read_latency_ms).toBeLessThan(t.cold.read_latency_ms);
    expect(t.hot.price_gb_month).toBeGreaterThan(t.warm.price_gb_month);
    expect(t.warm.price_gb_month).toBeGreaterThan(t.cold.price_gb_month);
    expect(t.cold.min_storage_days).toBe(90);
  });
});
