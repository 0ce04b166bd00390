import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import { InvalidEventError, PermissionError, RequestRejectedError, errorMessage } from '../shared/errors';
import { createLogger } from '../shared/powertools';
import { loadRestoreJobSettings, parseRestoreEvent, startRestore, type RestoreAnswer } from './core';

const logger = createLogger();
const settings = loadRestoreJobSettings(process.env);
const s3 = new S3Client({ region: settings.site.region });
const ssm = new SSMClient({});

/** The restore could not be started for a reason outside the event; the message says which. */
export class RestoreNotStartedError extends Error {
  override readonly name = 'RestoreNotStartedError';
}

/**
 * Restores an EC2 target's backup on its instance, invoked from the Lambda console:
 * `{ "target": "orders-db", "mode": "scratch" | "replace", "key"? | "before"?, "instanceId"?, "dryRun"?, "confirm"? }`.
 * A refused request fails the invocation with a message naming the field; nothing is sent.
 */
export async function handler(event: unknown, context?: Context): Promise<RestoreAnswer> {
  if (context) logger.addContext(context);
  try {
    const request = parseRestoreEvent(event);
    logger.info('restore requested', { request });
    return await startRestore(request, { s3, ssm, logger, settings, now: () => new Date() });
  } catch (error) {
    if (error instanceof InvalidEventError || error instanceof RequestRejectedError) {
      logger.warn('restore refused; nothing was sent', { reason: error.message });
      throw error;
    }
    if (error instanceof PermissionError) {
      logger.error('restore refused by IAM', { action: error.action, reason: error.message });
      throw new RestoreNotStartedError(`${error.message}. The function may read only the backup bucket and send only the restore document to the targets' instances; deploy the jobs stack after changing targets. Nothing was sent.`);
    }
    logger.error('restore failed', { error: errorMessage(error) });
    throw new RestoreNotStartedError(`restore not started: ${errorMessage(error)} (see the function's logs). Nothing was sent.`);
  }
}
