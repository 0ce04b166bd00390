import { RDSClient } from '@aws-sdk/client-rds';
import { SNSClient } from '@aws-sdk/client-sns';
import type { Context } from 'aws-lambda';
import { requireEnv, requireJsonEnv } from '../shared/env';
import { addCatalogMetric, createLogger, createMetrics } from '../shared/powertools';
import { METRICS } from '../../contracts/metric-catalog';
import { RESTORE_ALERT_TOPIC_ENV, RESTORE_SETTINGS_ENV, parseRestoreSettings } from '../../contracts/rds';
import { parseRdsInstanceEvent, reportRestoreCompletion, type CompletionOutcome } from './core';

const logger = createLogger();
const metrics = createMetrics();
const settings = parseRestoreSettings(requireJsonEnv(RESTORE_SETTINGS_ENV));
const topicArn = requireEnv(RESTORE_ALERT_TOPIC_ENV);
const rds = {
  primary: new RDSClient({ region: settings.primaryRegion }),
  dr: new RDSClient({ region: settings.drRegion }),
};
const sns = new SNSClient({});

/**
 * Invoked by the EventBridge rule on RDS events of `<source>-pitr-*` instances (DR-region
 * events are forwarded to the primary region's bus). Errors fail the invocation so that
 * Lambda's asynchronous retries try again.
 */
export async function handler(event: unknown, context: Context): Promise<CompletionOutcome> {
  logger.addContext(context);
  const parsed = parseRdsInstanceEvent(event);
  const outcome = await reportRestoreCompletion(parsed, settings, {
    rds,
    sns,
    topicArn,
    recordMinutes: (source, minutes) => {
      metrics.addDimension('Source', source);
      addCatalogMetric(metrics, METRICS.rdsRestoreMinutes, minutes);
    },
  });
  if (outcome.outcome === 'reported-available' && outcome.minutes !== undefined) metrics.publishStoredMetrics();
  logger.info('restore event handled', { eventId: parsed.detail.EventID, instance: parsed.detail.SourceIdentifier, ...outcome });
  return outcome;
}
