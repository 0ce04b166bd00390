import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { eventHandler } from '../shared/handlers';
import { createLogger, createMetrics } from '../shared/powertools';
import { loadResultSettings, parseResultEvent, recordBackupResult, type ResultOutcome } from './core';
import { houseEnvironment } from '../shared/env';

const settings = loadResultSettings(houseEnvironment());
const ssm = new SSMClient({});
const sns = new SNSClient({});
const logger = createLogger();
const metrics = createMetrics();

/**
 * Receives Run Command status changes of the backup document (EventBridge) and records each
 * finished run: metrics, and an alert for a failure. Errors are thrown so EventBridge's
 * asynchronous retries run and, when they are spent, the event lands in the dead-letter queue.
 */
export const handler = eventHandler({ logger, job: 'backup result', unchanged: 'the run is not recorded yet' }, async (event): Promise<ResultOutcome> => {
  const outcome = await recordBackupResult(parseResultEvent(event), { ssm, sns, logger, metrics, settings });
  if (outcome.outcome === 'ignored') logger.debug('event ignored', { reason: outcome.reason });
  return outcome;
});
