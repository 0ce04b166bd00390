import { z } from 'zod';
import { regionSchema } from '../schema';

/**
 * Versioned S3 buckets the team keeps media in (photos, uploads, videos). The S3 version
 * restore job may bring a key or prefix of these buckets, and of no other, back to its state at
 * a given time. The buckets belong to the team's application stacks; this app only names them.
 */

/** S3 bucket naming rules (general purpose buckets). */
export const BUCKET_NAME = /^(?!xn--)(?!sthree-)(?!.*-s3alias$)(?!.*--ol-s3$)(?!.*\.\.)(?!\d+\.\d+\.\d+\.\d+$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):key\/[0-9a-f-]{36}$|^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):key\/mrk-[0-9a-f]{32}$/;

const mediaBucketSchema = z.strictObject({
  /** The bucket's name. It must have versioning enabled; the job refuses it otherwise. */
  bucket: z.string().regex(BUCKET_NAME, 'must be an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)'),
  /**
   * Region the bucket lives in.
   * Omit for the primary region.
   */
  region: regionSchema.optional(),
  /**
   * The customer-managed KMS key the bucket's objects are encrypted with (SSE-KMS). Given, the
   * job may decrypt the old versions and encrypts the restored copies with it; omit for buckets
   * encrypted with SSE-S3, whose restored copies take the bucket's default encryption.
   */
  kmsKeyArn: z.string().regex(KMS_KEY_ARN, 'must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), not an alias').optional(),
  /**
   * Key prefixes the job may restore (e.g. `media/`, `uploads/`). Omit to allow the whole
   * bucket; given, a restore outside them is refused and the job's role can write nowhere else.
   */
  allowedPrefixes: z
    .array(
      z
        .string()
        .min(1, 'must not be empty (omit allowedPrefixes to allow the whole bucket)')
        .max(512, 'must be at most 512 characters')
        .refine((prefix) => !/[*?]/.test(prefix), 'must be a literal prefix, not a pattern (no * or ?)'),
    )
    .min(1, 'must list at least one prefix (omit the field to allow the whole bucket)')
    .optional(),
});
export type MediaBucketConfig = z.infer<typeof mediaBucketSchema>;

export const mediaBucketsShape = {
  /** Versioned media buckets the S3 version restore may act on. */
  mediaBuckets: z.array(mediaBucketSchema).default([]),
};

type Issue = { path: (string | number)[]; message: string };

/** Cross-field rules: one entry per bucket, a key in the bucket's region, no nested prefixes. */
export function mediaBucketsIssues(config: {
  primaryRegion: string;
  mediaBuckets: readonly MediaBucketConfig[];
}): { errors: Issue[]; warnings: Issue[] } {
  const errors: Issue[] = [];
  const warnings: Issue[] = [];
  const seen = new Map<string, number>();
  config.mediaBuckets.forEach((entry, index) => {
    const first = seen.get(entry.bucket);
    if (first !== undefined) {
      errors.push({ path: ['mediaBuckets', index, 'bucket'], message: `'${entry.bucket}' is already listed at mediaBuckets.${first}` });
    } else {
      seen.set(entry.bucket, index);
    }
    const region = entry.region ?? config.primaryRegion;
    const keyRegion = entry.kmsKeyArn ? entry.kmsKeyArn.split(':')[3] : undefined;
    if (keyRegion !== undefined && keyRegion !== region) {
      errors.push({
        path: ['mediaBuckets', index, 'kmsKeyArn'],
        message: `the key is in ${keyRegion} but the bucket is in ${region}: S3 encrypts only with a key of the bucket's region`,
      });
    }
    const prefixes = entry.allowedPrefixes ?? [];
    prefixes.forEach((prefix, prefixIndex) => {
      const covering = prefixes.findIndex((other, otherIndex) => otherIndex !== prefixIndex && prefix.startsWith(other) && (other !== prefix || otherIndex < prefixIndex));
      if (covering !== -1) {
        errors.push({
          path: ['mediaBuckets', index, 'allowedPrefixes', prefixIndex],
          message: `'${prefix}' is already covered by '${prefixes[covering]}'`,
        });
      }
    });
  });
  return { errors, warnings };
}
