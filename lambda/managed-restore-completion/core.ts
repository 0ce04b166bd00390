import { DescribeRestoreJobCommand, type BackupClient, type DescribeRestoreJobCommandOutput } from '@aws-sdk/client-backup';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import * as z from '../../contracts/zod';
import { consoleLinks } from '../../contracts/console-links';
import { parseEventWith } from '../../contracts/errors';
import type { ManagedRestoreSettings } from '../../contracts/managed-restore';
import { isoSeconds } from '../../contracts/rds';
import { awsCall, type RetryOptions } from '../shared/retry';
import { stampVerdict, validateRestoreTest, type ValidationDependencies, type Verdict } from './validation';

/**
 * Reports a restore the AWS Backup restore function started, once AWS Backup says it completed:
 * an SNS message with what was restored into what, from which recovery point, and the minutes it
 * took (the measured RTO), and the minutes as a metric per resource. Restore tests of the kit's
 * restore testing plans are validated (validation.ts). Failed restore jobs are the job alerts' to
 * mail; restores started by anyone else (the console) are not this function's.
 */

/** The part of an EventBridge "Restore Job State Change" event this function reads; not strict, AWS adds fields. */
export const restoreJobEventSchema = z.object({
  'detail-type': z.literal('Restore Job State Change'),
  source: z.literal('aws.backup'),
  region: z.string().check(z.minLength(1)),
  detail: z.object({ restoreJobId: z.string().check(z.minLength(1), z.maxLength(200)), state: z.optional(z.string()) }),
});
export type RestoreJobEvent = z.infer<typeof restoreJobEventSchema>;

export function parseRestoreJobEvent(event: unknown): RestoreJobEvent {
  return parseEventWith(restoreJobEventSchema, event);
}

export interface CompletionDependencies {
  /** AWS Backup of the region the event came from. */
  readonly backupIn: (region: string) => BackupClient;
  /** What a restore test's validation reads, in the region of the event. */
  readonly validationIn: (region: string) => ValidationDependencies;
  /** Records a restore test as a drill of `resource`: its verdict and the seconds the restore took. */
  readonly recordDrill: (resource: string, succeeded: boolean, seconds: number | undefined) => void;
  readonly sns: SNSClient;
  readonly topicArn: string;
  /** Records the measured minutes of a restore of `resource` (`rds:orders-db`). */
  readonly recordMinutes: (resource: string, minutes: number) => void;
  readonly retry?: RetryOptions;
}

export type CompletionOutcome =
  | { readonly outcome: 'ignored'; readonly reason: string }
  | { readonly outcome: 'validated'; readonly resource: string; readonly status: Verdict['status']; readonly summary: string; readonly stamp: 'stamped' | 'already-stamped' }
  | { readonly outcome: 'reported'; readonly resource: string; readonly created: string; readonly minutes: number | undefined };

export async function reportCompletedRestore(event: RestoreJobEvent, settings: ManagedRestoreSettings, deps: CompletionDependencies): Promise<CompletionOutcome> {
  const jobId = event.detail.restoreJobId;
  // The event says little and could be sent by anyone with events:PutEvents: AWS Backup's own record decides.
  const job = await awsCall('backup:DescribeRestoreJob', () => deps.backupIn(event.region).send(new DescribeRestoreJobCommand({ RestoreJobId: jobId })), deps.retry);
  if (job.Status !== 'COMPLETED') return { outcome: 'ignored', reason: `restore job ${jobId} is ${job.Status ?? 'in an unknown state'}, not COMPLETED` };
  if (settings.restoreTestingRoleArn !== undefined && job.IamRoleArn === settings.restoreTestingRoleArn) return validateTest(job, event.region, settings, deps);
  if (job.IamRoleArn !== settings.restoreRoleArn) return { outcome: 'ignored', reason: `restore job ${jobId} was not started by the restore function or a restore test (role ${job.IamRoleArn ?? 'unknown'})` };
  const resource = settings.resources.find((candidate) => candidate.arn === job.SourceResourceArn);
  const name = resource?.name ?? job.SourceResourceArn ?? 'an unknown resource';
  const created = job.CreatedResourceArn ?? 'an unknown resource';
  const minutes = job.CreationDate && job.CompletionDate ? Math.round((job.CompletionDate.getTime() - job.CreationDate.getTime()) / 6_000) / 10 : undefined;

  await awsCall('sns:Publish', () =>
    deps.sns.send(new PublishCommand({ TopicArn: deps.topicArn, Subject: subject(name, created, minutes), Message: message(job, name, created, minutes, event.region) })),
    deps.retry,
  );
  if (resource && minutes !== undefined) deps.recordMinutes(resource.name, minutes);
  return { outcome: 'reported', resource: name, created, minutes };
}

/**
 * A restore test of a resource the config names: the copy checked, the verdict stamped on the job,
 * recorded as a drill of the resource, and mailed when it failed.
 */
async function validateTest(job: DescribeRestoreJobCommandOutput, region: string, settings: ManagedRestoreSettings, deps: CompletionDependencies): Promise<CompletionOutcome> {
  const jobId = job.RestoreJobId ?? 'unknown';
  const resource = settings.resources.find((candidate) => candidate.arn === job.SourceResourceArn);
  if (!resource) return { outcome: 'ignored', reason: `restore test ${jobId} restored ${job.SourceResourceArn ?? 'an unknown resource'}, which the kit validates not (only RDS, Aurora and S3 named by ARN or bucket name)` };
  const found = await validateRestoreTest(job, resource, deps.validationIn(region));
  const stamp = await stampVerdict(jobId, found, { backup: deps.backupIn(region), ...(deps.retry ? { retry: deps.retry } : {}) });
  // EventBridge delivers at least once: a test already stamped was recorded and mailed by the first delivery.
  if (stamp === 'already-stamped') return { outcome: 'validated', resource: resource.name, status: found.status, summary: found.summary, stamp };
  const seconds = job.CreationDate && job.CompletionDate ? Math.round((job.CompletionDate.getTime() - job.CreationDate.getTime()) / 1000) : undefined;
  deps.recordDrill(resource.name, found.status === 'SUCCESSFUL', seconds);
  if (found.status === 'FAILED') {
    await awsCall('sns:Publish', () =>
      deps.sns.send(
        new PublishCommand({
          TopicArn: deps.topicArn,
          Subject: `backup-kit: restore test FAILED: ${resource.name}`.replace(/[^\x20-\x7e]/g, '?').slice(0, 100),
          Message: [
            `backup-kit: the AWS Backup restore test of ${resource.name} restored, but its copy failed validation.`,
            '',
            ...found.problems.map((problem) => `- ${problem}`),
            '',
            `checked: ${found.summary}`,
            `recovery point: ${job.RecoveryPointArn ?? 'unknown'}${job.RecoveryPointCreationDate ? `, made ${isoSeconds(job.RecoveryPointCreationDate)}` : ''}`,
            `job: ${jobId} ${consoleLinks.backupRestoreJob(region, jobId)}`,
            '',
            'Next: AWS Backup keeps the copy for the validation window; look at it before it is deleted, then restore the recovery point yourself (docs/aws-backup.md, "A restore test failed").',
          ].join('\n'),
        }),
      ),
      deps.retry,
    );
  }
  return { outcome: 'validated', resource: resource.name, status: found.status, summary: found.summary, stamp };
}

/** The last part of an ARN: the instance, cluster or bucket name. */
function shortName(arn: string): string {
  return arn.slice(Math.max(arn.lastIndexOf(':'), arn.lastIndexOf('/')) + 1);
}

function subject(name: string, created: string, minutes: number | undefined): string {
  // SNS subjects: at most 100 printable ASCII characters.
  const text = `backup-kit: restored ${name} into ${shortName(created)}${minutes === undefined ? '' : ` in ${minutes} min`}`;
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 100);
}

function message(job: DescribeRestoreJobCommandOutput, name: string, created: string, minutes: number | undefined, region: string): string {
  const size = job.BackupSizeInBytes === undefined ? 'unknown' : `${(job.BackupSizeInBytes / 1024 ** 3).toFixed(1)} GiB`;
  const next =
    job.ResourceType === 'Aurora'
      ? `AWS Backup restores an Aurora cluster without instances: add one (aws rds create-db-instance --region ${region} --db-cluster-identifier ${shortName(created)} --db-instance-identifier ${shortName(created)}-1 --db-instance-class <class> --engine <engine>), then connect.`
      : job.ResourceType === 'S3'
        ? `Check the objects (aws s3 ls s3://${shortName(created)}/ --recursive --summarize), then copy back what you need or point the application at the bucket.`
        : `Connect to it with the credentials of the recovery point's time: ${consoleLinks.rdsInstance(region, shortName(created))}`;
  return [
    `backup-kit: a restore from AWS Backup completed in ${region}.`,
    '',
    `restored: ${name}`,
    `into: ${created}`,
    `recovery point: ${job.RecoveryPointArn ?? 'unknown'}${job.RecoveryPointCreationDate ? `, made ${isoSeconds(job.RecoveryPointCreationDate)}` : ''}`,
    `took: ${minutes === undefined ? 'unknown' : `${minutes} minutes`} from the job's start${job.CompletionDate ? ` to ${isoSeconds(job.CompletionDate)}` : ''} (this restore's measured time to recover)`,
    `size: ${size}`,
    `job: ${job.RestoreJobId ?? 'unknown'} ${job.RestoreJobId ? consoleLinks.backupRestoreJob(region, job.RestoreJobId) : ''}`.trimEnd(),
    '',
    `Next: ${next} It has deletion protection on where the service has one; delete it when it has served (runbook: docs/aws-backup.md).`,
  ].join('\n');
}
