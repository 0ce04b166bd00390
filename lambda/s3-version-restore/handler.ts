import { S3Client } from '@aws-sdk/client-s3';
import { requireJsonEnv } from '../shared/env';
import { consoleHandler } from '../shared/handlers';
import { createLogger } from '../shared/powertools';
import { MEDIA_BUCKETS_ENV, mediaBucketListSchema, parseS3VersionRestoreEvent } from '../../contracts/s3-version-restore';
import { restoreVersions, type S3VersionRestoreResult } from './core';

const logger = createLogger();
/** The config's media buckets, each with its region resolved: `[{ bucket, region, kmsKeyArn?, allowedPrefixes? }]`. */
const mediaBuckets = mediaBucketListSchema.parse(requireJsonEnv(MEDIA_BUCKETS_ENV));
const clients = new Map<string, S3Client>();

function s3For(region: string): S3Client {
  let client = clients.get(region);
  if (!client) {
    client = new S3Client({ region, maxAttempts: 8 });
    clients.set(region, client);
  }
  return client;
}

/** The restore could not run for a reason outside the event (IAM, S3); the message says which. */
export class S3VersionRestoreFailedError extends Error {
  override readonly name = 'S3VersionRestoreFailedError';
}

/**
 * Console-invoked: `{ "bucket", "key" | "prefix", "restoreTo", "dryRun"?, "removeCreatedAfter"?, "confirm"? }`.
 * Answers `{ ok: true, ...what changed (or would) }`, or for a refused request
 * `{ ok: false, error, field, reason, message }` (nothing was changed).
 * Anything unexpected fails the invocation.
 */
export const handler = consoleHandler(
  {
    logger,
    job: 'S3 version restore',
    unchanged: 'Nothing was changed.',
    permissionHint: "The function may act only on the config's media buckets and allowed prefixes; deploy the jobs stack after changing them.",
    failure: (message) => new S3VersionRestoreFailedError(`S3 version restore failed: ${message} (see the function's logs)`),
  },
  async (event, context): Promise<S3VersionRestoreResult> => {
    const request = parseS3VersionRestoreEvent(event);
    logger.info('S3 version restore requested', { request });
    const result = await restoreVersions(request, {
      s3For,
      mediaBuckets,
      now: () => new Date(),
      remainingMs: () => context?.getRemainingTimeInMillis() ?? 900_000,
      onChange: (change) => logger.info(request.dryRun ? 'would change' : 'changing', { change }),
    });
    logger.info('S3 version restore finished', {
      bucket: result.bucket,
      dryRun: result.dryRun,
      changeCounts: result.changeCounts,
      applied: result.applied,
      failed: result.failed.length,
      complete: result.complete,
    });
    return result;
  },
);
