import { StorageErrors } from '../errors';

/**
 * Storage classes each backend accepts on write. Names are matched case-insensitively
 * ("standard", "Standard-IA" → STANDARD, STANDARD_IA), so tier tables may use either style.
 */
export const S3_STORAGE_CLASSES = [
  'STANDARD',
  'REDUCED_REDUNDANCY',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER',
  'GLACIER_IR',
  'DEEP_ARCHIVE',
  'OUTPOSTS',
  'SNOW',
  'EXPRESS_ONEZONE',
] as const;

export const GCS_STORAGE_CLASSES = [
  'STANDARD',
  'NEARLINE',
  'COLDLINE',
  'ARCHIVE',
  // legacy names GCS still accepts
  'MULTI_REGIONAL',
  'REGIONAL',
  'DURABLE_REDUCED_AVAILABILITY',
] as const;

export type S3StorageClass = (typeof S3_STORAGE_CLASSES)[number];
export type GcsStorageClass = (typeof GCS_STORAGE_CLASSES)[number];

function canonical(name: string): string {
  return name.trim().toUpperCase().replace(/[-\s]/g, '_');
}

export function normalizeS3StorageClass(name: string): S3StorageClass {
  const c = canonical(name);
  const found = S3_STORAGE_CLASSES.find((x) => x === c);
  if (!found) throw StorageErrors.invalidStorageClass(name, 's3', S3_STORAGE_CLASSES);
  return found;
}

export function normalizeGcsStorageClass(name: string): GcsStorageClass {
  const c = canonical(name);
  const found = GCS_STORAGE_CLASSES.find((x) => x === c);
  if (!found) throw StorageErrors.invalidStorageClass(name, 'gs', GCS_STORAGE_CLASSES);
  return found;
}
