import { PutObjectCommand } from '@aws-sdk/client-s3';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { reportKeys, type EvidenceEvent, type EvidenceSettings } from '../../contracts/evidence-report';
import { RequestRejectedError } from '../../contracts/errors';
import { awsCall, type RetryOptions } from '../shared/retry';
import { databaseEvidence, openAlarms, storageEvidence, targetInput, type GatherDeps } from './gather';
import { evidenceReport, monthWindow, previousMonth, type EvidenceReport } from './model';
import { renderCsv, renderHtml } from './render';

/**
 * The monthly evidence report: gathered, computed, written to the backup bucket under `reports/`
 * as HTML, CSV and JSON (the bucket's default Object Lock retention locks each), and summarised
 * on the alert topic. On the 1st it reports the month before; `{ "month": "YYYY-MM" }` any other.
 */

export interface EvidenceDeps extends GatherDeps {
  readonly sns: SNSClient;
  readonly topicArn: string;
  readonly now: Date;
  readonly retry?: RetryOptions;
}

export interface EvidenceOutcome {
  readonly month: string;
  readonly keys: ReturnType<typeof reportKeys>;
  readonly summary: EvidenceReport['summary'];
}

/** Gathers and computes the report of `month` (no writing): what the command line prints too. */
export async function buildEvidence(month: string, settings: EvidenceSettings, deps: GatherDeps & { readonly now: Date }): Promise<EvidenceReport> {
  let window;
  try {
    window = monthWindow(month, deps.now);
  } catch (error) {
    throw new RequestRejectedError((error as Error).message, { field: 'month' });
  }
  const rds = deps.rds;
  const [inputs, storage, alarms, databases] = await Promise.all([
    Promise.all(settings.targets.map((target) => targetInput(target, window, deps))),
    storageEvidence(deps.s3, deps.bucket),
    openAlarms(deps.cloudwatch, settings.prefix),
    rds ? Promise.all((settings.databases ?? []).map((database) => databaseEvidence(rds, deps.cloudwatch, database, window))) : Promise.resolve([]),
  ]);
  return evidenceReport(settings.prefix, window, storage, inputs, alarms, deps.now, databases);
}

export async function writeEvidenceReport(event: EvidenceEvent, settings: EvidenceSettings, deps: EvidenceDeps): Promise<EvidenceOutcome> {
  const month = event.month ?? previousMonth(deps.now);
  const report = await buildEvidence(month, settings, deps);
  const keys = reportKeys(month);
  const put = (key: string, body: string, contentType: string) =>
    awsCall(
      's3:PutObject',
      // A locked bucket takes only writes with a checksum.
      () => deps.s3.send(new PutObjectCommand({ Bucket: deps.bucket, Key: key, Body: body, ContentType: contentType, ChecksumAlgorithm: 'SHA256' })),
      deps.retry,
    );
  await put(keys.json, JSON.stringify(report, null, 2), 'application/json');
  await put(keys.csv, renderCsv(report), 'text/csv; charset=utf-8');
  await put(keys.html, renderHtml(report), 'text/html; charset=utf-8');
  const missed = report.targets.filter((target) => target.misses.length > 0);
  await awsCall(
    'sns:Publish',
    () =>
      deps.sns.send(
        new PublishCommand({
          TopicArn: deps.topicArn,
          Subject: `backup-kit evidence ${month}: ${report.summary.met} met, ${report.summary.missed} missed`.replace(/[^\x20-\x7e]/g, '?').slice(0, 100),
          Message: [
            `backup-kit: the evidence report of ${month} (${report.from} to ${report.to}).`,
            '',
            `${report.summary.met} of ${report.targets.length} targets met their recovery objectives.`,
            ...(missed.length > 0 ? ['', 'Missed:', ...missed.map((target) => `- ${target.target}: ${target.misses.join('; ')}`)] : []),
            ...(report.openAlarms.length > 0 ? ['', `Alarms open now: ${report.openAlarms.join(', ')}`] : []),
            '',
            `The report: s3://${deps.bucket}/${keys.html} (also .csv and .json), locked by the bucket's Object Lock.`,
            `Read it with: aws s3 cp s3://${deps.bucket}/${keys.html} . (docs/status.md, "The monthly evidence report").`,
          ].join('\n'),
        }),
      ),
    deps.retry,
  );
  return { month, keys, summary: report.summary };
}
