import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { EVIDENCE_REPORT_ENV, parseEvidenceEvent, parseEvidenceSettings } from '../../contracts/evidence-report';
import { requireEnv, requireJsonEnv } from '../shared/env';
import { eventHandler } from '../shared/handlers';
import { createLogger } from '../shared/powertools';
import { writeEvidenceReport } from './core';

const logger = createLogger();
const settings = parseEvidenceSettings(requireJsonEnv(EVIDENCE_REPORT_ENV.settings));
const topicArn = requireEnv(EVIDENCE_REPORT_ENV.alertTopic);
const bucket = requireEnv(EVIDENCE_REPORT_ENV.bucket);
const s3 = new S3Client({});
const cloudwatch = new CloudWatchClient({});
const sns = new SNSClient({});
const rds = new RDSClient({});

/** Invoked on the 1st by its schedule (`{}`: the month before), or by hand with `{ "month": "YYYY-MM" }`. */
export const handler = eventHandler({ logger, job: 'evidence report', unchanged: 'nothing was written' }, async (event) => {
  const outcome = await writeEvidenceReport(parseEvidenceEvent(event), settings, { s3, cloudwatch, rds, sns, topicArn, bucket, now: new Date() });
  logger.info('evidence report written', { ...outcome });
  return outcome;
});
