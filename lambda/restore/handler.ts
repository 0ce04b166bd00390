import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import { consoleHandler } from '../shared/handlers';
import { createLogger } from '../shared/powertools';
import { loadRestoreJobSettings } from '../shared/restore-job';
import { parseRestoreEvent } from '../../contracts/restore-event';
import { RequestRejectedError } from '../../contracts/errors';
import { isRebuildEvent, parseRebuildEvent } from '../../contracts/rebuild';
import { startRestore, type RestoreAnswer } from './core';
import { startRebuild, type RebuildAnswer } from './rebuild';
import { houseEnvironment } from '../shared/env';

const logger = createLogger();
const settings = loadRestoreJobSettings(houseEnvironment());
const s3 = new S3Client({ region: settings.site.region });
const ssm = new SSMClient({});

/** The restore could not be started for a reason outside the event; the message says which. */
export class RestoreNotStartedError extends Error {
  override readonly name = 'RestoreNotStartedError';
}

/**
 * Restores an EC2 target's backup on its instance, invoked from the Lambda console:
 * `{ "target": "orders-db", "mode": "scratch" | "replace", "key"? | "before"?, "instanceId"? | "onto"?, "dryRun"?, "confirm"? }`,
 * or rebuilds a server onto another instance: `{ "rebuild": "rs-systems", "onto": "i-…", "mode"?, "before"?, "keys"?, "dryRun"?, "confirm"? }`.
 * Answers `{ ok: true, ... }` with the plan (dry run) or the command ID, or for a refused request
 * `{ ok: false, error, field, reason, message }`; nothing is sent then.
 */
export const handler = consoleHandler(
  {
    logger,
    job: 'restore',
    unchanged: 'Nothing was sent.',
    permissionHint: "The function may read only the targets' backups and send only the restore document to the targets' instances; deploy the jobs stack after changing targets.",
    failure: (message) => new RestoreNotStartedError(`restore not started: ${message} (see the function's logs). Nothing was sent.`),
  },
  async (event): Promise<RestoreAnswer | RebuildAnswer> => {
    if (isRebuildEvent(event)) {
      const rebuild = parseRebuildEvent(event);
      logger.info('rebuild requested', { request: rebuild });
      try {
        return await startRebuild(rebuild, { s3, ssm, logger, settings, now: () => new Date() });
      } catch (error) {
        // A scheduled rebuild drill has nobody to read a refusal: it fails, and the failed
        // invocation goes to the dead-letter queue, whose alarm says so.
        if (rebuild.drill && error instanceof RequestRejectedError) throw new RestoreNotStartedError(`rebuild drill of '${rebuild.rebuild}' not started: ${error.message}`);
        throw error;
      }
    }
    const request = parseRestoreEvent(event);
    logger.info('restore requested', { request });
    return startRestore(request, { s3, ssm, logger, settings, now: () => new Date() });
  },
);
