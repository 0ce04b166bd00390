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
import { VERIFY_ENV, parseVerifySettings } from '../../contracts/verify-settings';

const logger = createLogger();
const metrics = createMetrics();
const region = requireEnv('AWS_REGION');
const deps = {
  s3: new S3Client({ region }),
  sqs: new SQSClient({ region }),
  metrics,
  logger,
  bucket: requireEnv(VERIFY_ENV.bucket),
  queueUrl: requireEnv(VERIFY_ENV.queueUrl),
  sns: new SNSClient({ region }),
  alertTopicArn: requireEnv(VERIFY_ENV.alertTopicArn),
  backupKeyArn: requireEnv(VERIFY_ENV.backupKeyArn),
  tierMaxAgeHours: parseVerifySettings(JSON.parse(requireEnv(VERIFY_ENV.settings))).tierMaxAgeHours,
  // Absent: targets are discovered from the bucket only.
  ...(optionalEnv(VERIFY_ENV.configuredTargets, '') ? { configured: decodeConfiguredTargets(requireEnv(VERIFY_ENV.configuredTargets)) } : {}),
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
