import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import * as z from '../../contracts/zod';
import { requireEnv, requireJsonEnv } from '../shared/env';
import { errorMessage, InvalidEventError, RequestRejectedError } from '../../contracts/errors';
import { createLogger, createMetrics } from '../shared/powertools';
import { verifyMessageSchema } from './planner';
import { VERIFY_ENV, parseVerifySettings } from '../../contracts/verify-settings';
import { verifyBackup, type VerifyDeps } from './verify-backup';
import type { Verdict } from '../../contracts/verdict';

const logger = createLogger();
const metrics = createMetrics();
const region = requireEnv('AWS_REGION');
const deps: Omit<VerifyDeps, 'deadline'> = {
  s3: new S3Client({ region }),
  replicaS3: new S3Client({ region: requireEnv(VERIFY_ENV.replicaRegion) }),
  sns: new SNSClient({ region }),
  metrics,
  logger,
  bucket: requireEnv(VERIFY_ENV.bucket),
  replicaBucket: requireEnv(VERIFY_ENV.replicaBucket),
  backupKeyArn: requireEnv(VERIFY_ENV.backupKeyArn),
  alertTopicArn: requireEnv(VERIFY_ENV.alertTopicArn),
  region,
  settings: parseVerifySettings(requireJsonEnv(VERIFY_ENV.settings)),
};

/** Time kept back from the invocation's limit to write the verdict, metrics and alerts. */
const VERDICT_MARGIN_MS = 60_000;

const directEventSchema = z.strictObject({ key: z.string().check(z.minLength(1)) });

/**
 * Verifies one backup per SQS message (batch size 1); a failure to verify (not a failed
 * backup, which is a verdict) returns the message for a retry and, after the queue's limit,
 * the dead-letter queue. Invoked directly with `{ "key": "..." }` it answers with the verdict.
 */
export async function handler(event: unknown, context: Context): Promise<SQSBatchResponse | Verdict> {
  const withDeadline: VerifyDeps = { ...deps, deadline: () => Date.now() + context.getRemainingTimeInMillis() - VERDICT_MARGIN_MS };
  if (isSqsEvent(event)) {
    const failures: SQSBatchResponse['batchItemFailures'] = [];
    for (const record of event.Records) {
      try {
        const message = verifyMessageSchema.parse(JSON.parse(record.body));
        await verifyBackup(withDeadline, message.key);
      } catch (error) {
        if (error instanceof RequestRejectedError || error instanceof z.$ZodError || error instanceof SyntaxError) {
          // A message that can never succeed goes nowhere useful by retrying; the log says why.
          logger.error('dropping an invalid verification message', { messageId: record.messageId, error: errorMessage(error) });
          continue;
        }
        logger.error('verification did not complete; the message will be retried', { messageId: record.messageId, error: errorMessage(error) });
        failures.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures: failures };
  }
  const parsed = directEventSchema.safeParse(event);
  if (!parsed.success) throw InvalidEventError.fromZod(parsed.error);
  return verifyBackup(withDeadline, parsed.data.key);
}

function isSqsEvent(event: unknown): event is SQSEvent {
  return typeof event === 'object' && event !== null && Array.isArray((event as { Records?: unknown }).Records);
}
