import type { Readable } from 'node:stream';

/**
 * The one narrow interface every storage driver implements (file://, s3://, gs://).
 * A dataset is everything under its URI: a single object, or every object whose key
 * starts with the URI's prefix. Keys handed to and returned by a driver are relative to
 * the dataset root ('' for a single-object dataset), always with '/' separators.
 */
export interface ObjectInfo {
  /** Path relative to the dataset root, '/'-separated; '' when the root itself is the object. */
  key: string;
  size: number;
  /** Milliseconds since the epoch. */
  mtimeMs?: number;
  /** A full-object checksum the server keeps, when it has one: e.g. { algorithm: 'sha256', value: hex }. */
  checksum?: { algorithm: 'sha256' | 'crc32c' | 'md5' | 'crc64nvme'; value: string };
  storageClass?: string;
}

export interface WriteOptions {
  /** Storage class for the new object (STANDARD, NEARLINE, ...); ignored by file://. */
  storageClass?: string;
  /** Size when known in advance (lets drivers pick single-part vs multipart upload). */
  size?: number;
}

export interface StorageDriver {
  /** The URI scheme this driver serves: 'file', 's3', 'gs'. */
  readonly scheme: string;
  /** Every object under the dataset root, in key order; paginates internally. */
  list(rootUri: string): AsyncIterable<ObjectInfo>;
  /** One object, or undefined if it does not exist. */
  stat(rootUri: string, key: string): Promise<ObjectInfo | undefined>;
  /** Reads an object, or the byte range [start, end] (inclusive) of it. */
  read(rootUri: string, key: string, range?: { start: number; end?: number }): Promise<Readable>;
  /**
   * Writes an object from a stream. The object becomes visible only when the whole
   * stream was written (temporary name + rename, multipart complete, ...): a crash
   * never leaves a half object under the final key.
   */
  write(rootUri: string, key: string, body: Readable, opts?: WriteOptions): Promise<ObjectInfo>;
  /** Deletes one object; deleting a missing object is not an error. */
  delete(rootUri: string, key: string): Promise<void>;
  /**
   * Optional: copies one object within this driver's service (same endpoint) without
   * streaming it through dim (S3 CopyObject, GCS rewrite). Resolves undefined when it
   * cannot (e.g. too large for one CopyObject); the caller then falls back to read + write.
   * Like write(), the destination appears only complete.
   */
  copyWithin?(
    srcRootUri: string,
    srcKey: string,
    dstRootUri: string,
    dstKey: string,
    opts?: WriteOptions,
  ): Promise<ObjectInfo | undefined>;
  /**
   * Optional: removes what interrupted writes of these objects may have left on the server,
   * invisible to list() but kept (and billed): S3's unfinished multipart uploads, after a
   * worker was killed mid-upload. Never touches a complete object. Call it only when no write
   * of these keys is still running (it would make that write fail). Resolves the number of
   * leftovers removed.
   */
  discardUnfinishedWrites?(
    rootUri: string,
    objects: readonly { key: string; size: number }[],
  ): Promise<number>;
  /** Optional: releases connections; the driver is not used afterwards. */
  close?(): Promise<void>;
}
