import { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { rejectedAnswer, type RejectedAnswer } from '../shared/answer';
import { requireJsonEnv } from '../shared/env';
import { createLogger } from '../shared/powertools';
import {
  mediaBucketListSchema,
  parseS3VersionRestoreEvent,
  restoreVersions,
  type S3VersionRestoreResult,
} from './core';

const logger = createLogger();
/** The config's media buckets, each with its region resolved: `[{ bucket, region, kmsKeyArn?, allowedPrefixes? }]`. */
const mediaBuckets = mediaBucketListSchema.parse(requireJsonEnv('MEDIA_BUCKETS'));
const clients = new Map<string, S3Client>();

function s3For(region: string): S3Client {
  let client = clients.get(region);
  if (!client) {
    client = new S3Client({ region, maxAttempts: 8 });
    clients.set(region, client);
  }
  return client;
}

/**
 * Console-invoked: `{ "bucket", "key" | "prefix", "restoreTo", "dryRun"?, "removeCreatedAfter"?, "confirm"? }`.
 */
export async function handler(event: unknown, context?: Context): Promise<(S3VersionRestoreResult & { ok: true }) | RejectedAnswer> {
  try {
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
    return { ok: true, ...result };
  } catch (error) {
    const answer = rejectedAnswer(error);
    logger.warn('S3 version restore refused', { answer });
    return answer;
  }
}
