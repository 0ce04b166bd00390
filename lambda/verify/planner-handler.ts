import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { isCloudFormationRequest, serveDeployStep } from '../shared/cfn-response';
import { optionalEnv, requireEnv } from '../shared/env';
import { InvalidEventError } from '../../contracts/errors';
import { createLogger, createMetrics } from '../shared/powertools';
import { decodeConfiguredTargets } from '../../contracts/configured-targets';
import { planVerification, plannerEventSchema, reportAges, type AgeReport, type PlanResult } from './planner';
import { parseVerifySettings } from '../../contracts/verify-settings';

const logger = createLogger();
const metrics = createMetrics();
const region = requireEnv('AWS_REGION');
const deps = {
  s3: new S3Client({ region }),
  sqs: new SQSClient({ region }),
  metrics,
  logger,
  bucket: requireEnv('BACKUP_BUCKET'),
  queueUrl: requireEnv('VERIFY_QUEUE_URL'),
  sns: new SNSClient({ region }),
  alertTopicArn: requireEnv('ALERT_TOPIC_ARN'),
  backupKeyArn: requireEnv('BACKUP_KEY_ARN'),
  tierMaxAgeHours: parseVerifySettings(JSON.parse(requireEnv('VERIFY_SETTINGS'))).tierMaxAgeHours,
  // Absent: targets are discovered from the bucket only.
  ...(optionalEnv('CONFIGURED_TARGETS', '') ? { configured: decodeConfiguredTargets(requireEnv('CONFIGURED_TARGETS')) } : {}),
};

/**
 * Plans verifications: `{}` (the daily schedule) every target and tier, `{ "target": "name" }`,
 * `{ "key": "..." }`; `{ "action": "report-ages" }` (hourly) publishes backup ages. As a
 * CloudFormation custom resource it reports the ages once at deploy, before the age alarms
 * exist, so they start with data.
 */
export async function handler(event: unknown, context?: Context): Promise<PlanResult | { ages: AgeReport[] } | void> {
  if (context) logger.addContext(context);
  if (isCloudFormationRequest(event)) {
    return serveDeployStep(event, 'backup-ages-at-deploy', async () => {
      const ages = await reportAges(deps);
      return { TargetTiers: String(ages.length) };
    });
  }
  const parsed = plannerEventSchema.safeParse(event ?? {});
  if (!parsed.success) throw InvalidEventError.fromZod(parsed.error);
  if (parsed.data.action === 'report-ages') return { ages: await reportAges(deps) };
  return planVerification(deps, parsed.data);
}
