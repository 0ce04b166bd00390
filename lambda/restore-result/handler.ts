import { Metrics } from '@aws-lambda-powertools/metrics';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { eventHandler } from '../shared/handlers';
import { createLogger } from '../shared/powertools';
import { DRILL_SERVICE, RESTORE_SERVICE } from '../../contracts/restore-command';
import { loadRestoreResultSettings, parseRestoreInvocationEvent, recordRestoreResult, type RestoreResultOutcome } from './core';
import { METRIC_NAMESPACE } from '../../contracts/metric-catalog';
import { houseEnvironment } from '../shared/env';

const settings = loadRestoreResultSettings(houseEnvironment());
const logger = createLogger();
const namespace = process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRIC_NAMESPACE;
// One function records both kinds of run, each under its own service dimension.
const restoreMetrics = new Metrics({ namespace, serviceName: RESTORE_SERVICE });
const drillMetrics = new Metrics({ namespace, serviceName: DRILL_SERVICE });
const ssm = new SSMClient({});
const sns = new SNSClient({});
const s3 = new S3Client({});

/**
 * Receives Run Command status changes of the restore document (EventBridge). Errors are thrown
 * so EventBridge retries and, when its retries are spent, the event goes to the dead-letter queue.
 */
export const handler = eventHandler({ logger, job: 'restore result', unchanged: 'the run is not recorded yet' }, async (event): Promise<RestoreResultOutcome> => {
  const outcome = await recordRestoreResult(parseRestoreInvocationEvent(event), {
    ssm,
    sns,
    s3,
    logger,
    restoreMetrics,
    drillMetrics,
    settings,
    now: () => new Date(),
  });
  if (outcome.outcome === 'ignored') logger.debug('event ignored', { reason: outcome.reason });
  return outcome;
});
