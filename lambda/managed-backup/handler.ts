import { BackupClient } from '@aws-sdk/client-backup';
import type { Context } from 'aws-lambda';
import { parseEventWith } from '../../contracts/errors';
import { MANAGED_BACKUP_ENV, RESTORE_TEST_REPORT_HOUR_UTC, managedBackupEventSchema, parseManagedBackupSettings } from '../../contracts/managed-backup';
import { SERVICES } from '../../contracts/metric-catalog';
import { isCloudFormationRequest, serveDeployStep } from '../shared/cfn-response';
import { requireJsonEnv } from '../shared/env';
import { eventHandler } from '../shared/handlers';
import { createLogger, createMetrics } from '../shared/powertools';
import { reportRecoveryPointAges, type RecoveryPointAge } from './ages';

const logger = createLogger();
const metrics = createMetrics();
const settings = parseManagedBackupSettings(requireJsonEnv(MANAGED_BACKUP_ENV.settings));
const backup = new BackupClient({ region: settings.region });

// The days since each resource's last validated restore test belong to the drills' series.
const drillMetrics = createMetrics(SERVICES.drill);

/** Every hour the recovery point ages; at deploy and once a day also the restore tests' ages. */
const report = (withRestoreTests: boolean) =>
  reportRecoveryPointAges({ backup, settings, metrics, logger, now: () => new Date(), ...(withRestoreTests ? { restoreTests: { metrics: drillMetrics } } : {}) });

const reportJob = eventHandler({ logger, job: 'managed backup', unchanged: 'nothing was changed' }, async (event): Promise<{ ages: RecoveryPointAge[] }> => {
  parseEventWith(managedBackupEventSchema, event);
  return { ages: await report(new Date().getUTCHours() === RESTORE_TEST_REPORT_HOUR_UTC) };
});

/**
 * `{ "action": "report-ages" }` (hourly schedule, or an engineer): the age of every protected
 * resource's newest recovery point. As a CloudFormation custom resource it reports once at
 * deploy, before the age alarms exist, so they start with data.
 */
export async function handler(event: unknown, context?: Context): Promise<{ ages: RecoveryPointAge[] } | void> {
  if (isCloudFormationRequest(event)) {
    if (context) logger.addContext(context);
    return serveDeployStep(event, 'recovery-point-ages-at-deploy', async () => ({ Resources: String((await report(true)).length) }));
  }
  return reportJob(event, context);
}
