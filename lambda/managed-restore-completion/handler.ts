import { BackupClient } from '@aws-sdk/client-backup';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { METRICS, SERVICES } from '../../contracts/metric-catalog';
import { MANAGED_RESTORE_ENV, parseManagedRestoreSettings } from '../../contracts/managed-restore';
import type { ProbeRequest } from '../../contracts/database-probe';
import { optionalEnv, requireEnv, requireJsonEnv } from '../shared/env';
import { eventHandler } from '../shared/handlers';
import { addCatalogMetric, createLogger, createMetrics, publishCatalogMetrics } from '../shared/powertools';
import { parseRestoreJobEvent, reportCompletedRestore, type CompletionOutcome } from './core';
import { invokeProbe } from './validation';

const logger = createLogger();
const metrics = createMetrics();
// A restore test is a drill of its resource: its verdict and time join the drills' series.
const drillMetrics = createMetrics(SERVICES.drill);
const settings = parseManagedRestoreSettings(requireJsonEnv(MANAGED_RESTORE_ENV.settings));
const topicArn = requireEnv(MANAGED_RESTORE_ENV.alertTopic);
const regions = [settings.primaryRegion, settings.drRegion];
const clientsOf = <T>(make: (region: string) => T): Map<string, T> => new Map(regions.map((region) => [region, make(region)]));
const backup = clientsOf((region) => new BackupClient({ region }));
const s3 = clientsOf((region) => new S3Client({ region }));
const rds = clientsOf((region) => new RDSClient({ region }));
const sns = new SNSClient({});
// The probe function runs in the primary region's VPC, where the restore tests put their copies.
const probeFunction = optionalEnv(MANAGED_RESTORE_ENV.probeFunction, '');
const lambda = probeFunction ? new LambdaClient({ region: settings.primaryRegion }) : undefined;

function inRegion<T>(clients: Map<string, T>, region: string): T {
  const client = clients.get(region);
  if (!client) throw new Error(`restore job event from ${region}, which is neither the primary nor the DR region`);
  return client;
}

/** Invoked by the EventBridge rule on completed AWS Backup restore jobs; errors fail the invocation, so Lambda retries. */
export const handler = eventHandler({ logger, job: 'AWS Backup restore completion', unchanged: 'nothing was sent' }, async (event): Promise<CompletionOutcome> => {
  const parsed = parseRestoreJobEvent(event);
  const outcome = await reportCompletedRestore(parsed, settings, {
    backupIn: (region) => inRegion(backup, region),
    validationIn: (region) => ({
      backup: inRegion(backup, region),
      s3: { copy: inRegion(s3, region), live: inRegion(s3, settings.primaryRegion) },
      rds: inRegion(rds, region),
      ...(lambda && probeFunction && region === settings.primaryRegion ? { probe: (request: ProbeRequest) => invokeProbe(lambda, probeFunction, request) } : {}),
    }),
    sns,
    topicArn,
    recordMinutes: (resource, minutes) => {
      metrics.addDimension('Resource', resource);
      addCatalogMetric(metrics, METRICS.managedRestoreMinutes, minutes);
      metrics.publishStoredMetrics();
    },
    recordDrill: (resource, succeeded, seconds) => {
      publishCatalogMetrics(drillMetrics, { Target: resource }, [
        [succeeded ? METRICS.drillSucceeded : METRICS.drillFailed, 1],
        ...(seconds !== undefined ? ([[METRICS.drillSeconds, seconds]] as const) : []),
      ]);
    },
  });
  logger.info('restore job event handled', { restoreJobId: parsed.detail.restoreJobId, ...outcome });
  return outcome;
});
