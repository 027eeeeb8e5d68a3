import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import {
  assertKey,
  type ObjectStorage,
  type PutOptions,
  type PutResult,
  StorageLimitExceeded,
} from './storage.ts';

export interface S3StorageOptions {
  bucket: string;
  /** An S3-compatible endpoint (path-style addressing); unset: AWS. */
  endpoint?: string;
  region?: string;
  /** Prefix of every key in the bucket, e.g. `vigil/`. */
  prefix?: string;
  /** Credentials; unset: the SDK's default chain (AWS_ACCESS_KEY_ID, ...). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** Parts of a multipart write; S3's minimum part size is 5 MiB. */
const PART = 8 * 1024 * 1024;

/**
 * The storage port on S3-compatible object storage (the AWS SDK). A write is one PutObject when it fits in
 * one part, else a multipart upload completed only after `accept` agreed (aborted otherwise), so an object
 * is never seen half written. Tools that need a path get a downloaded copy.
 */
export class S3Storage implements ObjectStorage {
  readonly kind = 's3';
  readonly #s3: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(opts: S3StorageOptions) {
    this.#s3 = new S3Client({
      region: opts.region ?? 'us-east-1',
      ...(opts.endpoint ? { endpoint: opts.endpoint, forcePathStyle: true } : {}),
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
    });
    this.#bucket = opts.bucket;
    this.#prefix = opts.prefix ?? '';
  }

  #key(key: string): string {
    assertKey(key);
    return `${this.#prefix}${key}`;
  }

  async put(key: string, source: AsyncIterable<Uint8Array>, opts: PutOptions = {}): Promise<PutResult> {
    const Key = this.#key(key);
    const hash = createHash('sha256');
    let size = 0;
    let buffered: Buffer[] = [];
    let bufferedBytes = 0;
    let uploadId: string | undefined;
    const parts: { ETag: string; PartNumber: number }[] = [];
    const flush = async () => {
      if (uploadId === undefined) {
        const created = await this.#s3.send(new CreateMultipartUploadCommand({ Bucket: this.#bucket, Key }));
        uploadId = created.UploadId!;
      }
      const Body = Buffer.concat(buffered);
      buffered = [];
      bufferedBytes = 0;
      const PartNumber = parts.length + 1;
      const res = await this.#s3.send(
        new UploadPartCommand({ Bucket: this.#bucket, Key, UploadId: uploadId, PartNumber, Body }),
      );
      parts.push({ ETag: res.ETag!, PartNumber });
    };
    try {
      for await (const chunk of source) {
        size += chunk.byteLength;
        if (opts.maxBytes !== undefined && size > opts.maxBytes)
          throw new StorageLimitExceeded(opts.maxBytes);
        hash.update(chunk);
        buffered.push(Buffer.from(chunk));
        bufferedBytes += chunk.byteLength;
        if (bufferedBytes >= PART) await flush();
      }
      const result = { size, sha256: hash.digest('hex') };
      opts.accept?.(result);
      if (uploadId === undefined) {
        await this.#s3.send(
          new PutObjectCommand({ Bucket: this.#bucket, Key, Body: Buffer.concat(buffered) }),
        );
      } else {
        if (bufferedBytes > 0) await flush();
        await this.#s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.#bucket,
            Key,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts },
          }),
        );
      }
      return result;
    } catch (err) {
      if (uploadId !== undefined)
        await this.#s3
          .send(new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key, UploadId: uploadId }))
          .catch(() => {});
      throw err;
    }
  }

  async read(key: string, range?: { start: number; end: number }): Promise<Readable> {
    try {
      const res = await this.#s3.send(
        new GetObjectCommand({
          Bucket: this.#bucket,
          Key: this.#key(key),
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      );
      return res.Body as Readable;
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchKey')
        throw Object.assign(new Error(`no object ${key}`), { code: 'ENOENT' });
      throw err;
    }
  }

  async size(key: string): Promise<number | undefined> {
    try {
      const res = await this.#s3.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) }));
      return res.ContentLength;
    } catch {
      return undefined;
    }
  }

  async stat(key: string): Promise<{ size: number; modifiedMs: number } | undefined> {
    try {
      const res = await this.#s3.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) }));
      return { size: res.ContentLength ?? 0, modifiedMs: res.LastModified?.getTime() ?? 0 };
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404 || (err as { name?: string }).name === 'NotFound') return undefined;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.#s3.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) }));
  }

  async deletePrefix(prefix: string): Promise<void> {
    const Prefix = this.#key(prefix);
    for (;;) {
      const listed = await this.#s3.send(
        new ListObjectsV2Command({ Bucket: this.#bucket, Prefix, MaxKeys: 1000 }),
      );
      const keys = (listed.Contents ?? []).map((o) => o.Key!).filter(Boolean);
      if (keys.length === 0) return;
      for (const Key of keys) await this.#s3.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key }));
      if (!listed.IsTruncated) return;
    }
  }

  async localFile(key: string): Promise<{ path: string; release(): Promise<void> }> {
    const dir = await mkdtemp(join(tmpdir(), 'vigil-s3-'));
    const path = join(dir, 'object');
    try {
      await pipeline(await this.read(key), createWriteStream(path, { mode: 0o600 }));
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    return { path, release: () => rm(dir, { recursive: true, force: true }) };
  }

  /** Ensures the bucket answers (for a start-up check). */
  async check(): Promise<void> {
    await this.#s3.send(new ListObjectsV2Command({ Bucket: this.#bucket, MaxKeys: 1 }));
  }
}
