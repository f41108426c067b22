/**
 * Resolves a tier's location template for one dataset: `{name}` becomes the dataset's name
 * and `{id}` its id, both percent-encoded as URI path segments.
 */
export const TEMPLATE_PLACEHOLDER = /\{([^{}]*)\}/g;
export const KNOWN_PLACEHOLDERS = ['name', 'id'] as const;

export function resolveLocation(template: string, dataset: { id: number; name: string }): string {
  const parts = templateParts(template);
  let out = parts[0]!;
  for (let i = 1; i < parts.length; i += 2) {
    const key = parts[i]!;
    out +=
      key === 'name'
        ? encodeURIComponent(dataset.name)
        : key === 'id'
          ? String(dataset.id)
          : `{${key}}`;
    out += parts[i + 1]!;
  }
  return out;
}

/**
 * A template split at its placeholders: text, key, text, key, ..., text. Kept per
 * template (a tier table has three), since a sweep resolves one per dataset.
 */
const splitTemplates = new Map<string, string[]>();
function templateParts(template: string): string[] {
  let parts = splitTemplates.get(template);
  if (!parts) {
    if (splitTemplates.size >= 64) splitTemplates.clear();
    parts = template.split(TEMPLATE_PLACEHOLDER);
    splitTemplates.set(template, parts);
  }
  return parts;
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
