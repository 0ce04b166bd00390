import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { MediaBucketEntry } from '../../contracts/s3-version-restore';
import type { PlannedChange } from './core';

/**
 * Applying one planned change: a copy of the version current at the time (one request, or a
 * multipart copy above 5 GiB, with its tags), or a delete marker.
 */

/** CopyObject copies at most 5 GiB; larger versions are copied in parts. */
export const SINGLE_COPY_LIMIT = 5 * 1024 ** 3;
const MIN_PART_BYTES = 512 * 1024 ** 2;
const MAX_PARTS = 10_000;

/** `bucket/key?versionId=...` with the key URL-encoded segment by segment, as CopySource wants it. */
export function copySource(bucket: string, key: string, versionId: string): string {
  const encodedKey = key.split('/').map(encodeURIComponent).join('/');
  return `${bucket}/${encodedKey}?versionId=${encodeURIComponent(versionId)}`;
}

function encryptionParams(entry: MediaBucketEntry): { ServerSideEncryption?: 'aws:kms'; SSEKMSKeyId?: string } {
  // Without a key in config the copy takes the bucket's default encryption.
  return entry.kmsKeyArn ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: entry.kmsKeyArn } : {};
}

async function copyVersionInParts(s3: S3Client, entry: MediaBucketEntry, key: string, versionId: string, bytes: number): Promise<void> {
  const head = await s3.send(new HeadObjectCommand({ Bucket: entry.bucket, Key: key, VersionId: versionId }));
  const tagging = await s3.send(new GetObjectTaggingCommand({ Bucket: entry.bucket, Key: key, VersionId: versionId }));
  const tagString = new URLSearchParams((tagging.TagSet ?? []).map((tag): [string, string] => [tag.Key ?? '', tag.Value ?? ''])).toString();
  const upload = await s3.send(
    new CreateMultipartUploadCommand({
      Bucket: entry.bucket,
      Key: key,
      ...(head.ContentType !== undefined ? { ContentType: head.ContentType } : {}),
      ...(head.CacheControl !== undefined ? { CacheControl: head.CacheControl } : {}),
      ...(head.ContentDisposition !== undefined ? { ContentDisposition: head.ContentDisposition } : {}),
      ...(head.ContentEncoding !== undefined ? { ContentEncoding: head.ContentEncoding } : {}),
      ...(head.ContentLanguage !== undefined ? { ContentLanguage: head.ContentLanguage } : {}),
      ...(head.Expires !== undefined ? { Expires: head.Expires } : {}),
      ...(head.Metadata !== undefined ? { Metadata: head.Metadata } : {}),
      ...(tagString !== '' ? { Tagging: tagString } : {}),
      ...encryptionParams(entry),
    }),
  );
  const uploadId = upload.UploadId;
  if (!uploadId) throw new Error(`CreateMultipartUpload for ${key} returned no UploadId`);
  const partBytes = Math.max(MIN_PART_BYTES, Math.ceil(bytes / MAX_PARTS));
  const parts: CompletedPart[] = [];
  try {
    for (let start = 0, partNumber = 1; start < bytes; start += partBytes, partNumber += 1) {
      const end = Math.min(start + partBytes, bytes) - 1;
      const part = await s3.send(
        new UploadPartCopyCommand({
          Bucket: entry.bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: partNumber,
          CopySource: copySource(entry.bucket, key, versionId),
          CopySourceRange: `bytes=${start}-${end}`,
        }),
      );
      parts.push({ PartNumber: partNumber, ETag: part.CopyPartResult?.ETag });
    }
    await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: entry.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
    );
  } catch (error) {
    await s3.send(new AbortMultipartUploadCommand({ Bucket: entry.bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
    throw error;
  }
}

/** Applies one planned change. Never passes a VersionId to a delete: no version is ever removed. */
export async function applyChange(s3: S3Client, entry: MediaBucketEntry, change: PlannedChange): Promise<void> {
  if (change.action === 'remove-created-after') {
    await s3.send(new DeleteObjectCommand({ Bucket: entry.bucket, Key: change.key }));
    return;
  }
  if (change.toVersion === null) throw new Error(`change of ${change.key} has no version to restore`);
  if ((change.bytes ?? 0) > SINGLE_COPY_LIMIT) {
    await copyVersionInParts(s3, entry, change.key, change.toVersion, change.bytes ?? 0);
    return;
  }
  await s3.send(
    new CopyObjectCommand({
      Bucket: entry.bucket,
      Key: change.key,
      CopySource: copySource(entry.bucket, change.key, change.toVersion),
      MetadataDirective: 'COPY',
      TaggingDirective: 'COPY',
      ...encryptionParams(entry),
    }),
  );
}
