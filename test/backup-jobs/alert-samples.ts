import { formatFailureAlert, type BackupFailure } from '../../lambda/backup-result/core';
import { formatNotSentAlert, nextStepForSendError } from '../../lambda/backup-trigger/core';
import { describeExitCode } from '../../contracts/backup-command';
import { redactSecrets } from '../../lambda/shared/redact';

/** The alerts shown in docs/backups.md, produced by the functions' own formatting code. */

const region = 'eu-west-1';

export function sampleFailureAlert(): { subject: string; message: string } {
  const stderr = [
    'backup: target orders-db (postgres) tier daily on i-0123456789abcdef0',
    'backup: reading the password from SSM parameter /orders/prod/db-backup-password',
    'pg_dump: error: connection to server at "127.0.0.1", port 5432 failed: FATAL:  password authentication failed for user "backup"',
    'backup: FAILED at stage credentials (exit 3): PGPASSWORD=Wr0ngPassw0rd was refused',
  ];
  const failure: BackupFailure = {
    identity: { target: 'orders-db', tier: 'daily', kind: 'postgres', documentVersion: '4' },
    instanceId: 'i-0123456789abcdef0',
    commandId: '0b6f2c1e-4a7d-4f0e-9a55-3c2d1b0a9f8e',
    status: 'Failed',
    exitCode: 3,
    meaning: describeExitCode(3),
    startedAt: '2025-03-04T02:00:02.000Z',
    durationSeconds: 3,
    stderrTail: stderr.map(redactSecrets),
    stderrTruncated: false,
  };
  return formatFailureAlert(failure, {
    region,
    documentName: 'BackupKit-backup-kit-InstanceBackup',
    alertTopicArn: 'arn:aws:sns:eu-west-1:111122223333:backup-kit-jobs-AlertsTopic',
    commandLogGroupName: 'backup-kit-jobs-BackupJobsCommandOutput61E0B83D-AbCdEf012345',
    triggerFunctionName: 'backup-kit-jobs-BackupJobsTriggerFunctionE8D7DAAB-Ab12Cd34Ef56',
  });
}

export function sampleNotSentAlert(): { subject: string; message: string } {
  const error = Object.assign(new Error('Instances [[i-0fedcba9876543210]] not in a valid state for account 111122223333'), { name: 'InvalidInstanceId' });
  return formatNotSentAlert(
    'daily',
    4,
    [{ target: 'repairs-sqlite', instances: 'i-0fedcba9876543210', error: error.message, nextStep: nextStepForSendError(error) }],
    { region, functionName: 'backup-kit-jobs-BackupJobsTriggerFunctionE8D7DAAB-Ab12Cd34Ef56' },
  );
}
