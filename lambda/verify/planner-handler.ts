import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { optionalEnv, requireEnv } from '../shared/env';
import { InvalidEventError } from '../shared/errors';
import { createLogger, createMetrics } from '../shared/powertools';
import { decodeConfiguredTargets } from './configured-targets';
import { planVerification, plannerEventSchema, reportAges, type AgeReport, type PlanResult } from './planner';

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
  // Absent: targets are discovered from the bucket only.
  ...(optionalEnv('CONFIGURED_TARGETS', '') ? { configured: decodeConfiguredTargets(requireEnv('CONFIGURED_TARGETS')) } : {}),
};

/**
 * Plans verifications: `{}` (the daily schedule) every target and tier, `{ "target": "name" }`,
 * `{ "key": "..." }`; `{ "action": "report-ages" }` (hourly) publishes backup ages.
 */
export async function handler(event: unknown): Promise<PlanResult | { ages: AgeReport[] }> {
  const parsed = plannerEventSchema.safeParse(event ?? {});
  if (!parsed.success) throw InvalidEventError.fromZod(parsed.error);
  if (parsed.data.action === 'report-ages') return { ages: await reportAges(deps) };
  return planVerification(deps, parsed.data);
}
