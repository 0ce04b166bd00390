import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import { isCloudFormationRequest, serveDeployStep } from '../shared/cfn-response';
import { eventHandler } from '../shared/handlers';
import { createLogger, createMetrics } from '../shared/powertools';
import { finishRdsDrill, loadDrillSettings, parseDrillEvent, runDrills, type DrillStart } from './core';
import { reportDrills, type DrillReport } from './report';
import { houseEnvironment } from '../shared/env';

const logger = createLogger();
const metrics = createMetrics();
const settings = loadDrillSettings(houseEnvironment());
const s3 = new S3Client({ region: settings.site.region });
const ssm = new SSMClient({});
const sns = new SNSClient({});
const rds = new RDSClient({});

/** Drills and reports, from a schedule, an engineer or an RDS event. */
const drillJob = eventHandler({ logger, job: 'drill', unchanged: 'nothing more was started' }, async (event): Promise<{ started: DrillStart[] } | { reports: DrillReport[] } | { rds: string }> => {
  const deps = { s3, ssm, sns, rds, logger, metrics, settings, now: () => new Date() };
  const request = parseDrillEvent(event);
  if (request.action === 'drill') return { started: await runDrills(request.target, deps, { dryRun: request.dryRun ?? false }) };
  if (request.action === 'report') return { reports: await reportDrills(deps) };
  return { rds: await finishRdsDrill(request.detail.SourceIdentifier, deps) };
});

/**
 * `{ "action": "drill", "target"?, "dryRun"? }` (monthly schedule, or an engineer for one target;
 * with `dryRun`, the plan of each drill and nothing started),
 * `{ "action": "report" }` (daily schedule), or an RDS instance event of a drill instance. As a
 * CloudFormation custom resource it reports once at deploy, before the no-recent-drill alarms
 * exist, so they start with data.
 */
export async function handler(event: unknown, context?: Context): Promise<{ started: DrillStart[] } | { reports: DrillReport[] } | { rds: string } | void> {
  if (isCloudFormationRequest(event)) {
    if (context) logger.addContext(context);
    const deps = { s3, ssm, sns, rds, logger, metrics, settings, now: () => new Date() };
    return serveDeployStep(event, 'drill-report-at-deploy', async () => ({ Targets: String((await reportDrills(deps)).length) }));
  }
  return drillJob(event, context);
}
