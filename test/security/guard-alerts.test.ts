import type { Stack } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { buildTestApp } from '../foundation/app-fixture';
import { matchesPattern } from '../support/event-patterns';
import { ACCOUNT, TemplateResolver } from '../support/iam';

/**
 * The guard alerts: CloudTrail events of what the guard protects reach the alert topic, in both
 * regions, and routine traffic does not. The synthesized rules' patterns are run against events
 * shaped as CloudTrail delivers them to EventBridge.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
const GUARD = { breakGlassRoleName: 'backup-break-glass', deployRoleNamePattern: 'cdk-*-cfn-exec-role-*' };
const { stacks } = buildTestApp({ guard: GUARD });
const resolver = new TemplateResolver([stacks.storage, stacks.replicaStorage, stacks.jobs]);
const PRIMARY = 'eu-west-1';
const DR = 'eu-central-1';

function lockedBucketName(stack: Stack): string {
  const [id] = resolver.resourcesOf(stack, 'AWS::S3::Bucket').find(([, properties]) => properties.ObjectLockEnabled === true) ?? [];
  return String(resolver.resolve({ Ref: id ?? '' }, stack));
}
function keyArn(stack: Stack): string {
  const [id] = resolver.resourcesOf(stack, 'AWS::KMS::Key').find(([id]) => id.startsWith('Backups') || id.startsWith('Replica')) ?? [];
  return String(resolver.resolve({ 'Fn::GetAtt': [id ?? '', 'Arn'] }, stack));
}
/** The rules of a stack whose id starts with `prefix`, patterns resolved, with their targets. */
function rules(stack: Stack, prefix: string): { id: string; pattern: Record<string, Json>; targets: Record<string, Json>[] }[] {
  return resolver
    .resourcesOf(stack, 'AWS::Events::Rule')
    .filter(([id]) => id.startsWith(prefix))
    .map(([id, properties]) => ({ id, pattern: resolver.resolve(properties.EventPattern ?? null, stack) as Record<string, Json>, targets: (properties.Targets ?? []) as Record<string, Json>[] }));
}

const bucket = lockedBucketName(stacks.storage);
const replica = lockedBucketName(stacks.replicaStorage);
const key = keyArn(stacks.storage);
const replicaKey = keyArn(stacks.replicaStorage);

/** An event as CloudTrail hands it to EventBridge. */
function cloudTrailEvent(source: 's3' | 'kms' | 'cloudtrail' | 'backup', eventName: string, region: string, detail: Record<string, Json>): Record<string, Json> {
  return {
    version: '0',
    id: '6f7e6d5c-4b3a-2918-0706-f5e4d3c2b1a0',
    'detail-type': 'AWS API Call via CloudTrail',
    source: `aws.${source}`,
    account: ACCOUNT,
    time: '2026-12-02T03:04:05Z',
    region,
    resources: [],
    detail: {
      eventVersion: '1.10',
      userIdentity: { type: 'AssumedRole', arn: `arn:aws:sts::${ACCOUNT}:assumed-role/admin/mallory`, accountId: ACCOUNT },
      eventTime: '2026-12-02T03:04:05Z',
      eventSource: `${source}.amazonaws.com`,
      eventName,
      awsRegion: region,
      sourceIPAddress: '203.0.113.9',
      userAgent: 'aws-cli/2.22.0',
      readOnly: false,
      eventType: 'AwsApiCall',
      ...detail,
    },
  };
}
const s3Call = (eventName: string, bucketName: string, region: string, extra: Record<string, Json> = {}) =>
  cloudTrailEvent('s3', eventName, region, { requestParameters: { bucketName, Host: `${bucketName}.s3.${region}.amazonaws.com`, ...extra }, managementEvent: !eventName.includes('Object') });
const kmsCall = (eventName: string, arn: string, region: string) =>
  cloudTrailEvent('kms', eventName, region, { requestParameters: { keyId: arn.split('/').pop() ?? '' }, resources: [{ accountId: ACCOUNT, type: 'AWS::KMS::Key', ARN: arn }], managementEvent: true });
const trailCall = (eventName: string, name: string) => cloudTrailEvent('cloudtrail', eventName, PRIMARY, { requestParameters: { name }, managementEvent: true });

describe('guard alerts on the AWS Backup vault of the managed data', () => {
  const managed = buildTestApp({
    guard: GUARD,
    account: ACCOUNT,
    awsBackup: { classes: { databases: { resources: { rdsInstances: [`arn:aws:rds:${PRIMARY}:${ACCOUNT}:db:orders-db`] } } } },
  }).stacks;
  const managedResolver = new TemplateResolver([managed.storage, managed.jobs]);
  const alerting = managedResolver
    .resourcesOf(managed.jobs, 'AWS::Events::Rule')
    .filter(([id]) => id.startsWith('GuardAlerts'))
    .map(([, properties]) => managedResolver.resolve(properties.EventPattern ?? null, managed.jobs) as Record<string, Json>);
  const alerts = (event: Record<string, Json>) => alerting.some((pattern) => matchesPattern(pattern, event));
  const backupCall = (eventName: string, backupVaultName: string, extra: Record<string, Json> = {}) =>
    cloudTrailEvent('backup', eventName, PRIMARY, { requestParameters: { backupVaultName, ...extra }, managementEvent: true });
  const [vaultKeyId] = managedResolver.resourcesOf(managed.storage, 'AWS::KMS::Key').find(([id]) => id.startsWith('ManagedVault')) ?? [];
  const vaultKey = String(managedResolver.resolve({ 'Fn::GetAtt': [vaultKeyId ?? '', 'Arn'] }, managed.storage));

  it.each([
    ['DeleteRecoveryPoint', { recoveryPointArn: `arn:aws:backup:${PRIMARY}:${ACCOUNT}:recovery-point:rp-1` }],
    ['UpdateRecoveryPointLifecycle', { recoveryPointArn: `arn:aws:backup:${PRIMARY}:${ACCOUNT}:recovery-point:rp-1`, lifecycle: { deleteAfterDays: 1 } }],
    ['DisassociateRecoveryPoint', {}],
    ['PutBackupVaultAccessPolicy', {}],
    ['DeleteBackupVaultAccessPolicy', {}],
    ['DeleteBackupVaultLockConfiguration', {}],
    ['DeleteBackupVault', {}],
  ] as [string, Record<string, Json>][])('%s on the vault alerts, refused or not', (eventName, extra) => {
    expect(alerts(backupCall(eventName, 'backup-kit-managed', extra))).toBe(true);
    const refused = backupCall(eventName, 'backup-kit-managed', extra);
    (refused.detail as Record<string, Json>).errorCode = 'AccessDeniedException';
    expect(alerts(refused)).toBe(true);
  });

  it("ScheduleKeyDeletion on the vault's key alerts; routine calls and other vaults do not", () => {
    expect(alerts(kmsCall('ScheduleKeyDeletion', vaultKey, PRIMARY))).toBe(true);
    expect(alerts(backupCall('StartBackupJob', 'backup-kit-managed'))).toBe(false);
    expect(alerts(backupCall('DeleteRecoveryPoint', 'someone-elses-vault'))).toBe(false);
  });

  describe("the DR region's vault", () => {
    const drStack = managed.managedVaultDr!;
    const drResolver = new TemplateResolver([managed.replicaStorage, drStack, managed.jobs]);
    const forwarding = drResolver
      .resourcesOf(drStack, 'AWS::Events::Rule')
      .map(([id, properties]) => ({ id, pattern: drResolver.resolve(properties.EventPattern ?? null, drStack) as Record<string, Json>, targets: drResolver.resolve((properties.Targets ?? null) as Json, drStack) }));
    const forwarded = (event: Record<string, Json>) => forwarding.some((rule) => matchesPattern(rule.pattern, event));
    const drCall = (eventName: string, backupVaultName: string) => cloudTrailEvent('backup', eventName, DR, { requestParameters: { backupVaultName }, managementEvent: true });
    const [drKeyId] = drResolver.resourcesOf(drStack, 'AWS::KMS::Key').find(([id]) => id.startsWith('ManagedVault')) ?? [];
    const drKey = String(drResolver.resolve({ 'Fn::GetAtt': [drKeyId ?? '', 'Arn'] }, drStack));

    it('forwards every guarded call on it and on its key to the primary default bus, where it alerts, refused or not', () => {
      for (const eventName of ['DeleteRecoveryPoint', 'UpdateRecoveryPointLifecycle', 'PutBackupVaultAccessPolicy', 'DeleteBackupVaultLockConfiguration', 'DeleteBackupVault']) {
        const event = drCall(eventName, 'backup-kit-managed');
        (event.detail as Record<string, Json>).errorCode = 'AccessDeniedException';
        expect(forwarded(event), eventName).toBe(true);
        expect(alerts(event), eventName).toBe(true);
      }
      expect(forwarded(kmsCall('ScheduleKeyDeletion', drKey, DR))).toBe(true);
      expect(alerts(kmsCall('ScheduleKeyDeletion', drKey, DR))).toBe(true);
      for (const rule of forwarding) expect(JSON.stringify(rule.targets)).toContain(`arn:aws:events:${PRIMARY}:${ACCOUNT}:event-bus/default`);
    });

    it('forwards nothing else: routine calls, other vaults, other keys', () => {
      expect(forwarded(drCall('StartCopyJob', 'backup-kit-managed'))).toBe(false);
      expect(forwarded(drCall('DeleteRecoveryPoint', 'someone-elses-vault'))).toBe(false);
      expect(forwarded(kmsCall('Decrypt', drKey, DR))).toBe(false);
    });

    it("uses the replica stack's alert channel (no second key or topic in the region), and its forwarding failures are alarmed", () => {
      expect(drResolver.resourcesOf(drStack, 'AWS::SNS::Topic')).toEqual([]);
      expect(drResolver.resourcesOf(drStack, 'AWS::KMS::Key').map(([id]) => id)).toEqual([drKeyId]);
      expect(drResolver.resourcesOf(drStack, 'AWS::SQS::Queue')).toHaveLength(1);
      const alarmed = drResolver.resourcesOf(drStack, 'AWS::CloudWatch::Alarm').map(([, alarm]) => JSON.stringify(alarm.Dimensions ?? ''));
      for (const rule of forwarding) expect(alarmed.some((dimensions) => dimensions.includes(rule.id)), rule.id).toBe(true);
    });
  });
});

describe('guard alerts in the primary region', () => {
  const alerting = rules(stacks.jobs, 'GuardAlerts');
  const alerts = (event: Record<string, Json>) => alerting.some((rule) => matchesPattern(rule.pattern, event));

  it.each([
    ['PutBucketPolicy', {}],
    ['DeleteBucketPolicy', {}],
    ['PutBucketVersioning', { VersioningConfiguration: { Status: 'Suspended' } }],
    ['PutObjectLockConfiguration', {}],
    ['PutBucketLifecycle', {}],
    ['PutBucketReplication', {}],
    ['DeleteBucket', {}],
    ['DeleteObject', { key: 'daily/orders-db/x.pgdump.gz', versionId: 'v1' }],
    ['DeleteObjects', { delete: { Object: [{ Key: 'daily/orders-db/x.pgdump.gz' }] } }],
    ['PutObjectLegalHold', { key: 'daily/orders-db/x.pgdump.gz', 'legal-hold': '' }],
    ['PutObjectRetention', { key: 'daily/orders-db/x.pgdump.gz', retention: '' }],
  ] as [string, Record<string, Json>][])('%s on the backup bucket alerts', (eventName, extra) => {
    expect(alerts(s3Call(eventName, bucket, PRIMARY, extra))).toBe(true);
  });

  it('a refused attempt alerts too (probing is news)', () => {
    const refused = s3Call('PutBucketPolicy', bucket, PRIMARY);
    (refused.detail as Record<string, Json>).errorCode = 'AccessDenied';
    expect(alerts(refused)).toBe(true);
  });

  it.each(['ScheduleKeyDeletion', 'DisableKey', 'PutKeyPolicy', 'DisableKeyRotation'])('%s on the backup key alerts', (eventName) => {
    expect(alerts(kmsCall(eventName, key, PRIMARY))).toBe(true);
  });

  it.each(['StopLogging', 'DeleteTrail', 'PutEventSelectors'])('%s on the guard trail alerts, by name or by ARN', (eventName) => {
    expect(alerts(trailCall(eventName, 'backup-kit-guard'))).toBe(true);
    expect(alerts(trailCall(eventName, `arn:aws:cloudtrail:${PRIMARY}:${ACCOUNT}:trail/backup-kit-guard`))).toBe(true);
  });

  it('routine traffic and other resources do not alert', () => {
    expect(alerts(s3Call('PutObject', bucket, PRIMARY, { key: 'daily/orders-db/x.pgdump.gz' }))).toBe(false);
    expect(alerts(s3Call('PutBucketPolicy', 'someone-elses-bucket', PRIMARY))).toBe(false);
    expect(alerts(kmsCall('ScheduleKeyDeletion', `arn:aws:kms:${PRIMARY}:${ACCOUNT}:key/00000000-0000-0000-0000-000000000000`, PRIMARY))).toBe(false);
    expect(alerts(kmsCall('Decrypt', key, PRIMARY))).toBe(false);
    expect(alerts(trailCall('StopLogging', 'another-trail'))).toBe(false);
  });

  it('each rule sends to the alert topic with retries and a dead-letter queue that is watched', () => {
    const [topicId] = resolver.resourcesOf(stacks.jobs, 'AWS::SNS::Topic')[0] ?? [];
    // The bucket, its key, the trail, the forwarded DR events, and the example's AWS Backup vault.
    expect(alerting.length).toBe(5);
    for (const rule of alerting) {
      expect(rule.targets).toEqual([
        expect.objectContaining({
          Arn: { Ref: topicId },
          RetryPolicy: { MaximumEventAgeInSeconds: 86400, MaximumRetryAttempts: 8 },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [expect.stringMatching(/^GuardAlertsDeadLetters/), 'Arn'] } },
          InputTransformer: expect.objectContaining({ InputTemplate: expect.stringContaining('treat the account as compromised') }),
        }),
      ]);
    }
    const alarms = resolver.resourcesOf(stacks.jobs, 'AWS::CloudWatch::Alarm').filter(([, properties]) =>
      JSON.stringify(properties.Dimensions ?? []).includes('GuardAlertsDeadLetters'),
    );
    expect(alarms).toHaveLength(1);
  });
});

describe('guard alerts of the DR region', () => {
  const forwarding = rules(stacks.replicaStorage, 'GuardForwarding');
  const forwarded = (event: Record<string, Json>) => forwarding.some((rule) => matchesPattern(rule.pattern, event));
  const primaryForwardedRule = rules(stacks.jobs, 'GuardAlerts').filter((rule) => rule.id.includes('forwarded'));

  it('changes of the replica bucket and key are forwarded to the primary default bus, and alert there', () => {
    for (const event of [s3Call('PutBucketPolicy', replica, DR), s3Call('DeleteObject', replica, DR, { key: 'daily/x', versionId: 'v1' }), kmsCall('ScheduleKeyDeletion', replicaKey, DR)]) {
      expect(forwarded(event)).toBe(true);
      expect(primaryForwardedRule.some((rule) => matchesPattern(rule.pattern, event))).toBe(true);
    }
    for (const rule of forwarding) {
      expect(JSON.stringify(resolver.resolve(rule.targets as Json, stacks.replicaStorage))).toContain(`arn:aws:events:${PRIMARY}:${ACCOUNT}:event-bus/default`);
    }
  });

  it('nothing else of the DR region is forwarded', () => {
    expect(forwarded(s3Call('PutBucketPolicy', 'someone-elses-bucket', DR))).toBe(false);
    expect(forwarded(s3Call('PutObject', replica, DR, { key: 'daily/x' }))).toBe(false);
    expect(forwarded(kmsCall('Decrypt', replicaKey, DR))).toBe(false);
  });
});

describe('the guard trail', () => {
  function trailOf(stack: Stack): Record<string, Json> {
    const trails = resolver.resourcesOf(stack, 'AWS::CloudTrail::Trail');
    expect(trails).toHaveLength(1);
    return resolver.resolve(trails[0]?.[1] ?? null, stack) as Record<string, Json>;
  }

  it('records, in every region, write management events and the data events of both buckets, to an encrypted, validated log', () => {
    const trail = trailOf(stacks.storage);
    expect(trail).toMatchObject({ TrailName: 'backup-kit-guard', IsMultiRegionTrail: true, IsLogging: true, EnableLogFileValidation: true, KMSKeyId: expect.stringMatching(/^arn:aws:kms:/) });
    expect(trail.EventSelectors).toEqual([
      { IncludeManagementEvents: true, ReadWriteType: 'WriteOnly' },
      { DataResources: [{ Type: 'AWS::S3::Object', Values: [`arn:aws:s3:::${bucket}/`, `arn:aws:s3:::${replica}/`] }], IncludeManagementEvents: false, ReadWriteType: 'WriteOnly' },
    ]);
  });

  it('with trailManagementEvents off, records only the data events (no second bill for management events)', () => {
    const quiet = buildTestApp({ guard: { ...GUARD, trailManagementEvents: false } }).stacks;
    const trail = new TemplateResolver([quiet.storage]).resourcesOf(quiet.storage, 'AWS::CloudTrail::Trail')[0]?.[1] ?? {};
    expect(JSON.stringify(trail.EventSelectors)).not.toContain('"IncludeManagementEvents":true');
    expect(JSON.stringify(trail.EventSelectors)).toContain('AWS::S3::Object');
  });

  it('with guard.alerts off there is no trail and no rule', () => {
    const off = buildTestApp({ guard: { ...GUARD, alerts: false } }).stacks;
    const offResolver = new TemplateResolver([off.storage, off.replicaStorage, off.jobs]);
    expect(offResolver.resourcesOf(off.storage, 'AWS::CloudTrail::Trail')).toEqual([]);
    expect(offResolver.resourcesOf(off.jobs, 'AWS::Events::Rule').filter(([id]) => id.startsWith('Guard'))).toEqual([]);
    expect(offResolver.resourcesOf(off.replicaStorage, 'AWS::Events::Rule')).toEqual([]);
    // The DR region's alert channel stays for the restore stacks there; no idle queue, no idle alarm.
    expect(offResolver.resourcesOf(off.replicaStorage, 'AWS::SNS::Topic')).toHaveLength(1);
    expect(offResolver.resourcesOf(off.replicaStorage, 'AWS::SQS::Queue')).toEqual([]);
    expect(offResolver.resourcesOf(off.replicaStorage, 'AWS::CloudWatch::Alarm')).toEqual([]);
  });
});

describe('the offline pattern matcher follows EventBridge', () => {
  it('matches any element of an array, looks into arrays of objects, and supports prefix, suffix and anything-but', () => {
    const event = { detail: { resources: [{ ARN: 'a' }, { ARN: 'b' }], tags: ['x', 'y'], name: 'arn:trail/t' } };
    expect(matchesPattern({ detail: { resources: { ARN: ['b'] } } }, event)).toBe(true);
    expect(matchesPattern({ detail: { resources: { ARN: ['c'] } } }, event)).toBe(false);
    expect(matchesPattern({ detail: { tags: ['y'] } }, event)).toBe(true);
    expect(matchesPattern({ detail: { name: [{ suffix: '/t' }] } }, event)).toBe(true);
    expect(matchesPattern({ detail: { name: [{ prefix: 'arn:' }] } }, event)).toBe(true);
    expect(matchesPattern({ detail: { name: [{ 'anything-but': ['arn:trail/t'] }] } }, event)).toBe(false);
    expect(matchesPattern({ detail: { missing: ['x'] } }, event)).toBe(false);
    expect(matchesPattern({ detail: { missing: [{ exists: false }] } }, event)).toBe(true);
  });
});

describe('alerting in the DR region itself', () => {
  const regionalTopic = () => resolver.resourcesOf(stacks.replicaStorage, 'AWS::SNS::Topic').map(([id]) => id);

  it('the DR region has its own alert topic, with the same e-mail subscriptions', () => {
    expect(regionalTopic()).toHaveLength(1);
    const subscriptions = resolver.resourcesOf(stacks.replicaStorage, 'AWS::SNS::Subscription').map(([, subscription]) => subscription.Endpoint);
    expect(subscriptions).toEqual(['oncall@example.com']);
  });

  it('each forwarding rule sends what it cannot deliver to a dead-letter queue, and alarms there on failed invocations and on that queue, notifying both ways', () => {
    const [topic] = regionalTopic();
    const forwards = resolver.resourcesOf(stacks.replicaStorage, 'AWS::Events::Rule');
    const alarms = resolver.resourcesOf(stacks.replicaStorage, 'AWS::CloudWatch::Alarm');
    for (const [id, rule] of forwards) {
      expect(JSON.stringify(rule.Targets)).toMatch(/"DeadLetterConfig":\{"Arn":\{"Fn::GetAtt":\["RegionalAlertsDeadLetters/);
      const failed = alarms.filter(([, alarm]) => alarm.MetricName === 'FailedInvocations' && JSON.stringify(alarm.Dimensions).includes(id));
      expect(failed).toHaveLength(1);
    }
    expect(alarms.some(([, alarm]) => JSON.stringify(alarm.Dimensions ?? []).includes('RegionalAlertsDeadLetters'))).toBe(true);
    for (const [, alarm] of alarms) {
      expect(alarm.AlarmActions).toEqual([{ Ref: topic }]);
      expect(alarm.OKActions).toEqual([{ Ref: topic }]);
    }
  });
});
