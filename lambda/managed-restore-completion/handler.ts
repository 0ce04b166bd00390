import { BackupClient } from '@aws-sdk/client-backup';
import { SNSClient } from '@aws-sdk/client-sns';
import { METRICS } from '../../contracts/metric-catalog';
import { MANAGED_RESTORE_ENV, parseManagedRestoreSettings } from '../../contracts/managed-restore';
import { requireEnv, requireJsonEnv } from '../shared/env';
import { eventHandler } from '../shared/handlers';
import { addCatalogMetric, createLogger, createMetrics } from '../shared/powertools';
import { parseRestoreJobEvent, reportCompletedRestore, type CompletionOutcome } from './core';

const logger = createLogger();
const metrics = createMetrics();
const settings = parseManagedRestoreSettings(requireJsonEnv(MANAGED_RESTORE_ENV.settings));
const topicArn = requireEnv(MANAGED_RESTORE_ENV.alertTopic);
const backup = { [settings.primaryRegion]: new BackupClient({ region: settings.primaryRegion }), [settings.drRegion]: new BackupClient({ region: settings.drRegion }) };
const sns = new SNSClient({});

/** Invoked by the EventBridge rule on completed AWS Backup restore jobs; errors fail the invocation, so Lambda retries. */
export const handler = eventHandler({ logger, job: 'AWS Backup restore completion', unchanged: 'nothing was sent' }, async (event): Promise<CompletionOutcome> => {
  const parsed = parseRestoreJobEvent(event);
  const outcome = await reportCompletedRestore(parsed, settings, {
    backupIn: (region) => {
      const client = backup[region];
      if (!client) throw new Error(`restore job event from ${region}, which is neither the primary nor the DR region`);
      return client;
    },
    sns,
    topicArn,
    recordMinutes: (resource, minutes) => {
      metrics.addDimension('Resource', resource);
      addCatalogMetric(metrics, METRICS.managedRestoreMinutes, minutes);
      metrics.publishStoredMetrics();
    },
  });
  logger.info('restore job event handled', { restoreJobId: parsed.detail.restoreJobId, ...outcome });
  return outcome;
});

