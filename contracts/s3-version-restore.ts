import * as z from './zod';
import { parseEventWith } from './errors';

/** The S3 version restore function's console event and its list of media buckets. */

// ---------------------------------------------------------------- event

export const s3VersionRestoreEventSchema = z.strictObject({
    /** A bucket listed in the config's mediaBuckets. */
    bucket: z.string().check(z.minLength(1, 'must name a bucket from the config (mediaBuckets)'), z.maxLength(63, 'must be at most 63 characters')),
    /** One object key to restore. */
    key: z.optional(z.string().check(z.minLength(1, 'must not be empty'), z.maxLength(1024, 'must be at most 1024 characters'))),
    /** A key prefix to restore (`""` is the whole bucket, allowed only when the config sets no allowedPrefixes). */
    prefix: z.optional(z.string().check(z.maxLength(1024, 'must be at most 1024 characters'))),
    /** The time to go back to, ISO 8601 with a zone (`2026-11-21T14:06:00Z`, `...+01:00`). */
    restoreTo: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time with a zone, e.g. 2026-11-21T14:06:00Z' }),
    /** List what would change and change nothing. */
    dryRun: z._default(z.boolean(), false),
    /** Also hide objects created after T behind a delete marker (their versions stay). */
    removeCreatedAfter: z._default(z.boolean(), false),
    /** Must equal the bucket name for any run that changes the bucket. */
    confirm: z.optional(z.string().check(z.maxLength(63))),
  }).check(z.superRefine((event, ctx) => {
    if ((event.key === undefined) === (event.prefix === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['key'], message: 'give exactly one of key or prefix' });
    }
    if (!event.dryRun && event.confirm !== event.bucket) {
      ctx.addIssue({
        code: 'custom',
        path: ['confirm'],
        message: `must equal the bucket name ('${event.bucket}') to change the bucket; run with dryRun: true first to see what would change`,
      });
    }
  }));
export type S3VersionRestoreEvent = z.infer<typeof s3VersionRestoreEventSchema>;

/** Parses an event; throws `InvalidEventError` naming every bad field. */
export function parseS3VersionRestoreEvent(input: unknown): S3VersionRestoreEvent {
  return parseEventWith(s3VersionRestoreEventSchema, input);
}

// ---------------------------------------------------------------- allowlist

/** The environment variable holding the media buckets, JSON of `mediaBucketListSchema`. */
export const MEDIA_BUCKETS_ENV = 'MEDIA_BUCKETS';

/** One media bucket as the config names it (the function receives the list as JSON). */
export const mediaBucketEntrySchema = z.strictObject({
  bucket: z.string().check(z.minLength(1)),
  region: z.string().check(z.minLength(1)),
  kmsKeyArn: z.optional(z.string().check(z.minLength(1))),
  allowedPrefixes: z.optional(z.array(z.string().check(z.minLength(1)))),
});
export type MediaBucketEntry = z.infer<typeof mediaBucketEntrySchema>;
export const mediaBucketListSchema = z.array(mediaBucketEntrySchema);

