import { RDSClient } from '@aws-sdk/client-rds';
import type { Context } from 'aws-lambda';
import { requireJsonEnv } from '../shared/env';
import { rejectedAnswer, type RejectedAnswer } from '../shared/answer';
import { InvalidEventError, PermissionError, RequestRejectedError, errorMessage } from '../../contracts/errors';
import { addCatalogMetric, createLogger, createMetrics } from '../shared/powertools';
import { METRICS } from '../../contracts/metric-catalog';
import { RESTORE_SETTINGS_ENV, parseRestoreSettings } from '../../contracts/rds';
import { restoreToPointInTime, type RestoreResult } from './core';
import { parseRestoreEvent } from '../../contracts/rds-restore-event';

const logger = createLogger();
const metrics = createMetrics();
const settings = parseRestoreSettings(requireJsonEnv(RESTORE_SETTINGS_ENV));

// Short timeouts: with one region down, a DR restore must not hang on the other region's endpoint.
const clientOptions = { requestHandler: { connectionTimeout: 3_000, requestTimeout: 20_000 } };
const rds = {
  primary: new RDSClient({ region: settings.primaryRegion, ...clientOptions }),
  dr: new RDSClient({ region: settings.drRegion, ...clientOptions }),
};

/** The restore failed for a reason the engineer cannot fix by changing the event. */
export class RestoreFailedError extends Error {
  override readonly name = 'RestoreFailedError';
}

/**
 * Point-in-time restore of an allowlisted RDS instance, invoked from the Lambda console or CLI.
 * Answers `{ ok: true, ...result }`, or for a refused request `{ ok: false, error, message }`
 * naming the field or the reason (nothing was changed). Anything unexpected fails the invocation.
 */
export async function handler(event: unknown, context: Context): Promise<(RestoreResult & { ok: true }) | RejectedAnswer> {
  logger.addContext(context);
  try {
    const request = parseRestoreEvent(event);
    logger.info('restore requested', {
      request: { ...request, restoreTime: request.restoreTime === 'latest' ? 'latest' : request.restoreTime.toISOString() },
      requestedBy: request.requestedBy ?? 'unspecified',
      invokedFunctionArn: context.invokedFunctionArn,
    });
    const result = await restoreToPointInTime(request, settings, { rds }, { requestId: context.awsRequestId, now: new Date() });
    logger.info('restore answered', { outcome: result.outcome, target: result.target, status: result.status, region: result.region });
    if (result.outcome === 'started') {
      metrics.addDimension('Source', result.source);
      addCatalogMetric(metrics, METRICS.rdsRestoreStarted, 1);
      metrics.publishStoredMetrics();
    }
    return { ok: true, ...result };
  } catch (error) {
    if (error instanceof InvalidEventError || error instanceof RequestRejectedError) {
      const answer = rejectedAnswer(error);
      logger.warn('restore refused; nothing was changed', { answer });
      return answer;
    }
    if (error instanceof PermissionError) {
      const answer = rejectedAnswer(error);
      logger.error('restore refused by IAM; nothing was changed', { action: error.action, answer });
      return {
        ...answer,
        message: `${answer.message} The restore role may act only on the allowlisted sources, '<source>-pitr-*' instances and their automated backups: if the source was added to the config recently, deploy the jobs stack; otherwise look for an SCP or permissions boundary. Nothing was changed.`,
      };
    }
    logger.error('restore failed', { error: errorMessage(error) });
    throw new RestoreFailedError(`restore failed: ${errorMessage(error)} (request ${context.awsRequestId}; see the function's logs)`);
  }
}
