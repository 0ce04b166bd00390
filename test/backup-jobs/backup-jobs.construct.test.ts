import { App, Duration, Stack, TimeZone } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { describe, expect, it } from 'vitest';
import { Template } from 'aws-cdk-lib/assertions';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { randomBytes } from 'node:crypto';
import { decodeTargetPlans, type TargetPlan } from '../../contracts/backup-command';
import { BackupJobs, type BackupJobsProps } from '../../lib/constructs/backup-jobs';
import { FIXTURE_INSTANCE_SCRIPTS_DIR } from '../foundation/app-fixture';

const target: TargetPlan = {
  name: 'app-sqlite',
  kind: 'sqlite',
  instances: { instanceIds: ['i-0123456789abcdef0'] },
  tiers: ['daily'],
  path: '/var/app/db.sqlite3',
  executionTimeoutSeconds: 3600,
  maxConcurrency: '1',
  maxErrors: '100%',
};

function jobsWith(changes: Partial<BackupJobsProps>): BackupJobs {
  const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Jobs', { env: { account: '123456789012', region: 'eu-west-1' } });
  const key = new kms.Key(stack, 'Key');
  return new BackupJobs(stack, 'BackupJobs', {
    namePrefix: 'test',
    targets: [target],
    tiers: { daily: { retention: Duration.days(30), schedule: 'cron(0 2 * * ? *)' }, manual: { retention: Duration.days(7) } },
    timeZone: TimeZone.of('UTC'),
    backupBucket: new s3.Bucket(stack, 'Bucket'),
    backupKey: key,
    opsKey: key,
    alertTopic: new sns.Topic(stack, 'Topic'),
    scriptsDir: FIXTURE_INSTANCE_SCRIPTS_DIR,
    ...changes,
  });
}

describe('BackupJobs: validation', () => {
  it('GIVEN no targets THEN targets is named', () => {
    expect(() => jobsWith({ targets: [] })).toThrow(/BackupJobs targets: at least one target is required/);
  });

  it('GIVEN a target in an unknown tier THEN the target and tier are named', () => {
    expect(() => jobsWith({ targets: [{ ...target, tiers: ['hourly'] }] })).toThrow(/BackupJobs targets: 'app-sqlite' takes part in unknown tier\(s\) hourly/);
  });

  it('GIVEN more targets than readable JSON allows THEN they travel gzipped and decode to the same plans', () => {
    const many = Array.from({ length: 40 }, (_, index) => ({ ...target, name: `app-sqlite-${index}` }));
    const jobs = jobsWith({ targets: many });
    const variables = Template.fromStack(Stack.of(jobs)).toJSON().Resources[Stack.of(jobs).getLogicalId(jobs.trigger.function.node.defaultChild as CfnFunction)]
      .Properties.Environment.Variables as Record<string, string>;
    const encoded = variables.BACKUP_TARGETS ?? '';
    expect(encoded.startsWith('gzip:')).toBe(true);
    expect(decodeTargetPlans(encoded)).toEqual(many);
  });

  it('GIVEN more targets than even compressed fit the environment THEN they travel in the bundle, and the trigger reads the same plans', () => {
    const many = Array.from({ length: 300 }, (_, index) => ({ ...target, name: `app-${index}`, path: `/var/app/${randomBytes(24).toString('hex')}/db.sqlite3` }));
    const jobs = jobsWith({ targets: many });
    const variables = Template.fromStack(Stack.of(jobs)).toJSON().Resources[Stack.of(jobs).getLogicalId(jobs.trigger.function.node.defaultChild as CfnFunction)]
      .Properties.Environment.Variables as Record<string, string>;
    expect(variables.BACKUP_TARGETS).toBeUndefined();
    expect(variables.BUNDLED_SETTINGS).toBe('BACKUP_TARGETS');
  });

  it('GIVEN a retry count Scheduler does not allow THEN scheduleRetryAttempts is named', () => {
    expect(() => jobsWith({ scheduleRetryAttempts: 200 })).toThrow(/BackupJobs scheduleRetryAttempts: must be 0-185/);
  });

  it('GIVEN a delivery timeout under 30 s THEN deliveryTimeout is named', () => {
    expect(() => jobsWith({ deliveryTimeout: Duration.seconds(5) })).toThrow(/BackupJobs deliveryTimeout: must be 30 s to 30 days/);
  });
});

describe('BackupJobs: what the monitoring facade adopts', () => {
  it('GIVEN the construct THEN its metrics carry the service, Target and Tier dimensions of the result function', () => {
    const jobs = jobsWith({});
    const metric = jobs.metricBackup('BackupFailed', 'app-sqlite', 'daily');
    expect(metric.namespace).toBe('BackupKit');
    expect(metric.dimensions).toEqual({ service: 'backup-result', Target: 'app-sqlite', Tier: 'daily' });
    expect(metric.statistic).toBe('Sum');
    expect(jobs.metricSendFailed('app-sqlite', 'daily').dimensions).toEqual({ service: 'backup-trigger', Target: 'app-sqlite', Tier: 'daily' });
    expect([...jobs.schedules.keys()]).toEqual(['daily']);
    expect([...jobs.instancePolicies.keys()]).toEqual(['app-sqlite']);
  });
});
