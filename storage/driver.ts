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
  /** Which object this is, as far as the driver can prove it (see storage/identity.ts). */
  identity?: ObjectIdentity;
}

/**
 * What tells one stored object from another written under the same key (with the size):
 * file: mtime and ctime in nanoseconds, device and inode (ctime changes on every write and
 * cannot be set back); S3: ETag, and VersionId on versioned buckets; GCS: generation. Plain
 * JSON (strings for 64-bit numbers), so it can be stored in the manifest as is.
 */
export interface ObjectIdentity {
  mtimeNs?: string;
  ctimeNs?: string;
  dev?: string;
  ino?: string;
  /** file: the inode's hard-link count (not part of the identity: more than 1 means shared). */
  nlink?: number;
  etag?: string;
  versionId?: string;
  generation?: string;
  /** GCS: changes with metadata only (not part of the identity). */
  metageneration?: string;
}

/** The object a caller saw (a listing's entry): what a conditional read or delete expects. */
export interface ExpectedObject {
  size: number;
  identity?: ObjectIdentity;
}

export interface ReadOptions {
  /**
   * Read only if the object is still this one (file: fstat before and after the read; S3:
   * If-Match on the ETag; GCS: the generation). Otherwise fails with the retryable
   * StorageError `source_changed`.
   */
  expect?: ExpectedObject;
  /**
   * Called before the stream is returned with the full-object checksum the server reports for
   * what it serves, when it reports one: only on a read of the whole object (no range, or a
   * range from 0 to at least `expect.size - 1`). The caller compares it with what it read, so
   * that a corrupt read is caught (S3: GetObject with ChecksumMode, or a single-part ETag).
   */
  onChecksum?: (checksum: StoredChecksum) => void;
}

/** A full-object checksum of a stored object, as the server reports it (value: lowercase hex). */
export interface StoredChecksum {
  algorithm: ChecksumAlgorithm;
  value: string;
}

export interface DeleteOptions {
  /** Delete only if the object is still this one; otherwise resolve 'changed'. */
  expect?: ExpectedObject;
  /** file: also delete a file with more than one hard link (default: resolve 'shared'). */
  allowShared?: boolean;
}

/**
 * What a delete did: 'deleted'; 'missing' (nothing there: not an error); 'changed' (the
 * object is not the one expected: kept); 'shared' (a hard-linked file: kept).
 */
export type DeleteOutcome = 'deleted' | 'missing' | 'changed' | 'shared';

export interface WriteOptions {
  /** Storage class for the new object (STANDARD, NEARLINE, ...); ignored by file://. */
  storageClass?: string;
  /** Size when known in advance (lets drivers pick single-part vs multipart upload). */
  size?: number;
}

/** A write that survives the writer's death: a later call continues it (see writeResumable). */
export interface ResumableWrite {
  /** The object's size (from the source listing). */
  size: number;
  storageClass?: string;
  /** The token an interrupted write of this object reported through onCheckpoint. */
  resumeToken?: string;
  /** Opens the source at byte `start`, to its end. */
  openSource(start: number): Promise<Readable>;
  /**
   * The source as positional reads, when its driver offers them (openRandomAccess): a driver
   * that writes positionally (file://) reads through it instead of openSource, and calls
   * check() after its last read, before the object appears.
   */
  openSourceAt?(): Promise<RandomAccessObject>;
  /** How often to record a checkpoint, in ms, where the driver decides (file://: 1000). */
  checkpointMs?: number;
  /**
   * Sees every byte of the object, in order, once per call, before it is stored (the caller
   * hashes and paces here): `resumed` marks bytes an earlier write had stored already, which
   * were read again only to check them against what the server holds.
   */
  observe(chunk: Buffer, resumed: boolean): void | Promise<void>;
  /** Bytes [0, offset) are stored durably and can be resumed from with `token`. */
  onCheckpoint(token: string, offset: number): void;
  signal: AbortSignal;
}

/** An object opened for positional reads (see StorageDriver.openRandomAccess). */
export interface RandomAccessObject {
  /** The object's size when it was opened. */
  readonly size: number;
  /** Reads up to `length` bytes at `position` into `buf`; fewer only at the object's end. */
  readAt(buf: Buffer, length: number, position: number): Promise<number>;
  /** With `expect`: fails with source_changed unless the object is still the expected one. */
  check(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Whole small objects read and written without the per-call cost of the driver's general
 * path (file://: directories resolved once, plain descriptors, one syncfs at the end).
 */
export interface BulkAccess {
  /**
   * Reads a whole object: at most `size + 1` bytes (more than `size` means it is longer).
   * With `expect`, that very object (before and after the read), else source_changed;
   * a missing object fails with not_found.
   */
  read(key: string, size: number, expect?: ExpectedObject): Promise<Buffer>;
  /**
   * Writes a whole object IN PLACE (no temporary name): only for a migration's own
   * destination, where every key is in the manifest before it is written, nobody reads it
   * before the verify, and a torn object is rewritten by the next attempt. Durable only
   * after flush().
   */
  write(key: string, data: Buffer): Promise<void>;
  /** Makes every write() so far durable (file://: one syncfs, when the driver fsyncs). */
  flush(): Promise<void>;
}

/** Where a dataset root resolves now (file://: its real path, links resolved). */
export interface ResolvedRoot {
  path: string;
  exists: boolean;
}

export type ChecksumAlgorithm = NonNullable<ObjectInfo['checksum']>['algorithm'];

export interface StorageDriver {
  /** The URI scheme this driver serves: 'file', 's3', 'gs'. */
  readonly scheme: string;
  /**
   * The full-object checksums list() and stat() may report for a stored object (empty:
   * none; the content must be read again to be checked).
   */
  readonly checksums: readonly ChecksumAlgorithm[];
  /** Every object under the dataset root, in key order; paginates internally. */
  list(rootUri: string): AsyncIterable<ObjectInfo>;
  /** One object, or undefined if it does not exist. */
  stat(rootUri: string, key: string): Promise<ObjectInfo | undefined>;
  /** Reads an object, or the byte range [start, end] (inclusive) of it. */
  read(
    rootUri: string,
    key: string,
    range?: { start: number; end?: number },
    opts?: ReadOptions,
  ): Promise<Readable>;
  /**
   * Writes an object from a stream. The object becomes visible only when the whole
   * stream was written (temporary name + rename, multipart complete, ...): a crash
   * never leaves a half object under the final key.
   */
  write(rootUri: string, key: string, body: Readable, opts?: WriteOptions): Promise<ObjectInfo>;
  /**
   * Deletes one object; deleting a missing object is not an error. Never follows a link:
   * on file://, a symbolic link anywhere below the dataset root fails (symlink_in_dataset)
   * and nothing is deleted. With `expect`, deletes only that very object (conditional).
   */
  delete(rootUri: string, key: string, opts?: DeleteOptions): Promise<DeleteOutcome>;
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
   * Optional: writes a large object in parts that outlive the writer (S3 multipart upload),
   * reporting checkpoints; given the token of an interrupted write, keeps the parts whose
   * content still matches the source (compared by checksum, the source read again) and
   * uploads the rest (file://: a part file beside the final name, its bytes compared with
   * the source's). Like write(), the object appears only complete.
   */
  writeResumable?(rootUri: string, key: string, w: ResumableWrite): Promise<ObjectInfo>;
  /**
   * Optional: removes what interrupted writes of these objects may have left on the server,
   * invisible to list() but kept (and billed): S3's unfinished multipart uploads, after a
   * worker was killed mid-upload; file://: part and temporary files, then the directories
   * they leave empty below the root. Never touches a complete object. Call it only when no write
   * of these keys is still running (it would make that write fail). Resolves the number of
   * leftovers removed.
   */
  discardUnfinishedWrites?(
    rootUri: string,
    objects: readonly { key: string; size: number }[],
  ): Promise<number>;
  /**
   * Optional: the full-object checksum the server keeps for a stored object and reports on
   * request, one the server computed from the bytes it received (or checked a client's claim
   * against, refusing the upload when they differ): S3's FULL_OBJECT CRC32C, CRC64NVME or
   * SHA-256 (HeadObject with ChecksumMode), GCS's crc32c. Null when it keeps none for this
   * object (or only a composite one); a missing object fails with not_found. A driver offers
   * this only where the server vouches for the value: the verify compares it with the
   * checksum the copy computed from the source's bytes instead of reading the object again.
   */
  storedChecksum?(rootUri: string, key: string): Promise<StoredChecksum | null>;
  /**
   * With storedChecksum: the algorithm write() and writeResumable() store every object under
   * (the ObjectInfo they resolve carries its value), so that the copy computes the same one
   * from the source while streaming.
   */
  readonly writeChecksum?: ChecksumAlgorithm;
  /** Optional: opens an object for positional reads (conditional with `expect`, as read()). */
  openRandomAccess?(rootUri: string, key: string, opts?: ReadOptions): Promise<RandomAccessObject>;
  /** Optional: a bulk path for many small objects under one dataset root. */
  bulk?(rootUri: string): BulkAccess;
  /**
   * Optional: dataset roots are places of their own (file://: directories, reached through
   * links): where the root resolves now, so that a root re-pointed since a copy is noticed.
   */
  resolveRoot?(rootUri: string): Promise<ResolvedRoot>;
  /** Optional (with resolveRoot): creates an empty dataset's place. */
  createRoot?(rootUri: string): Promise<void>;
  /** Optional (with resolveRoot): removes the dataset's place if nothing is left in it. */
  removeRootIfEmpty?(rootUri: string): Promise<void>;
  /** Optional: releases connections; the driver is not used afterwards. */
  close?(): Promise<void>;
}
