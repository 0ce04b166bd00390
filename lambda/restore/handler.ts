import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import { rejectedAnswer, type RejectedAnswer } from '../shared/answer';
import { InvalidEventError, PermissionError, RequestRejectedError, errorMessage } from '../../contracts/errors';
import { createLogger } from '../shared/powertools';
import { loadRestoreJobSettings } from '../shared/restore-job';
import { parseRestoreEvent } from '../../contracts/restore-event';
import { startRestore, type RestoreAnswer } from './core';

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
 * Answers `{ ok: true, ... }` with the plan (dry run) or the command ID, or for a refused request
 * `{ ok: false, error, message }` naming the field or the reason; nothing is sent then.
 */
export async function handler(event: unknown, context?: Context): Promise<(RestoreAnswer & { ok: true }) | RejectedAnswer> {
  if (context) logger.addContext(context);
  try {
    const request = parseRestoreEvent(event);
    logger.info('restore requested', { request });
    return { ok: true, ...(await startRestore(request, { s3, ssm, logger, settings, now: () => new Date() })) };
  } catch (error) {
    if (error instanceof InvalidEventError || error instanceof RequestRejectedError) {
      const answer = rejectedAnswer(error);
      logger.warn('restore refused; nothing was sent', { answer });
      return answer;
    }
    if (error instanceof PermissionError) {
      const answer = rejectedAnswer(error);
      logger.error('restore refused by IAM', { action: error.action, answer });
      return {
        ...answer,
        message: `${answer.message} The function may read only the targets' backups and send only the restore document to the targets' instances; deploy the jobs stack after changing targets. Nothing was sent.`,
      };
    }
    logger.error('restore failed', { error: errorMessage(error) });
    throw new RestoreNotStartedError(`restore not started: ${errorMessage(error)} (see the function's logs). Nothing was sent.`);
  }
}
