import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import * as z from '../../contracts/zod';

/**
 * The time from which the kit expects something of a target (a backup in a tier, a successful
 * drill), kept in one small object written once: read it, or create it with `now` on first
 * sight. Alarms on "too long without" count from here until the first success, so a fresh
 * deployment is quiet until the first run is due, and redeploying does not restart the clock.
 */
const markerSchema = z.strictObject({ expectedSince: z.iso.datetime(), what: z.string() });

export interface ExpectedSinceOptions {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly key: string;
  /** What is expected, in words, stored beside the time for whoever reads the object. */
  readonly what: string;
  readonly now: Date;
  /** Where the object is encrypted; the bucket's default key when absent. */
  readonly kmsKeyArn?: string;
}

/**
 * Reads or creates the marker. A marker that cannot be read as one, or lies in the future, counts
 * as the epoch: the alarm fires and someone looks, rather than a forged time hiding a gap.
 */
export async function expectedSince(options: ExpectedSinceOptions): Promise<Date> {
  const existing = await readMarker(options);
  if (existing !== undefined) return existing;
  try {
    await options.s3.send(
      new PutObjectCommand({
        Bucket: options.bucket,
        Key: options.key,
        // Written once: a second writer (a concurrent run) loses and reads the first one's time.
        IfNoneMatch: '*',
        Body: `${JSON.stringify({ expectedSince: options.now.toISOString(), what: options.what })}\n`,
        ContentType: 'application/json',
        // The bucket is Object Locked: S3 refuses a write without a checksum, whatever the SDK's defaults.
        ChecksumAlgorithm: 'SHA256',
        ...(options.kmsKeyArn ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: options.kmsKeyArn } : {}),
      }),
    );
    return options.now;
  } catch (error) {
    if (!isConditionalLoss(error)) throw error;
    return (await readMarker(options)) ?? options.now;
  }
}

async function readMarker(options: ExpectedSinceOptions): Promise<Date | undefined> {
  let text: string;
  try {
    const object = await options.s3.send(new GetObjectCommand({ Bucket: options.bucket, Key: options.key }));
    text = (await object.Body?.transformToString()) ?? '';
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  let parsed: z.infer<typeof markerSchema> | undefined;
  try {
    parsed = markerSchema.parse(JSON.parse(text));
  } catch {
    return new Date(0);
  }
  const since = new Date(parsed.expectedSince);
  return since.getTime() > options.now.getTime() ? new Date(0) : since;
}

function isNotFound(error: unknown): boolean {
  const name = (error as { name?: string }).name;
  return name === 'NoSuchKey' || name === 'NotFound' || (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404;
}

/** 412: the object exists now; 409: a concurrent conditional write is in progress. */
function isConditionalLoss(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const name = (error as { name?: string }).name;
  return status === 412 || status === 409 || name === 'PreconditionFailed' || name === 'ConditionalRequestConflict';
}
