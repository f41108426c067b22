/**
 * Resolves a tier's location template for one dataset: `{name}` becomes the dataset's name
 * and `{id}` its id, both percent-encoded as URI path segments.
 */
export const TEMPLATE_PLACEHOLDER = /\{([^{}]*)\}/g;
export const KNOWN_PLACEHOLDERS = ['name', 'id'] as const;

export function resolveLocation(template: string, dataset: { id: number; name: string }): string {
  return template.replace(TEMPLATE_PLACEHOLDER, (whole, key: string) => {
    if (key === 'name') return encodeURIComponent(dataset.name);
    if (key === 'id') return String(dataset.id);
    return whole;
  });
}

/** Why a template is unusable, or null when it is fine. */
export function templateProblem(template: string): string | null {
  const keys = [...template.matchAll(TEMPLATE_PLACEHOLDER)].map((m) => m[1]!);
  const unknown = keys.find((k) => !(KNOWN_PLACEHOLDERS as readonly string[]).includes(k));
  if (unknown !== undefined) return `unknown placeholder {${unknown}} (use {name} or {id})`;
  if (keys.length === 0)
    return 'must contain {name} or {id}, or every dataset would map to the same location';
  return null;
}
