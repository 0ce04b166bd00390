import { Aws, CfnResource, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudtrail from 'aws-cdk-lib/aws-cloudtrail';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { alertDeadLetterQueue, alertTopicTarget } from './alert-rules';
import { primaryBusTarget } from './primary-bus-forwarding';
import type { RegionalAlerts } from './regional-alerts';
import { privateBucketProps } from './private-bucket';

/**
 * What the alerts watch, as CloudTrail names them. Bucket-level changes are management events;
 * object deletions, lock changes and legal holds are data events, which only a trail with data-event selectors
 * on the buckets records. The kit itself never deletes in its buckets, so every deletion is news.
 */
export const GUARDED_S3_EVENTS = [
  'PutBucketPolicy',
  'DeleteBucketPolicy',
  'PutBucketVersioning',
  'PutObjectLockConfiguration',
  'PutBucketLifecycle',
  'DeleteBucketLifecycle',
  'PutBucketReplication',
  'DeleteBucketReplication',
  'PutBucketEncryption',
  'DeleteBucketEncryption',
  'PutBucketPublicAccessBlock',
  'DeleteBucketPublicAccessBlock',
  'DeleteBucket',
  'DeleteObject',
  'DeleteObjects',
  'PutObjectLegalHold',
  // Every backup is born locked; nothing of the kit changes a lock afterwards.
  'PutObjectRetention',
] as const;
export const GUARDED_KMS_EVENTS = ['ScheduleKeyDeletion', 'DisableKey', 'PutKeyPolicy', 'DisableKeyRotation'] as const;
/** What would take a recovery point out of an AWS Backup vault early, or loosen the vault's guard (management events). */
export const GUARDED_BACKUP_EVENTS = [
  'DeleteRecoveryPoint',
  'UpdateRecoveryPointLifecycle',
  'DisassociateRecoveryPoint',
  'PutBackupVaultAccessPolicy',
  'DeleteBackupVaultAccessPolicy',
  'PutBackupVaultLockConfiguration',
  'DeleteBackupVaultLockConfiguration',
  'DeleteBackupVault',
] as const;
/** The sources GuardForwarding sends from another region or account (buckets, keys, trails and vaults there). */
const FORWARDED_SOURCES = ['aws.s3', 'aws.kms', 'aws.cloudtrail', 'aws.backup'] as const;
/** Stopping or narrowing the trail silences the data-event alerts: that is news too. */
export const GUARDED_TRAIL_EVENTS = ['StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors'] as const;

export interface GuardedResources {
  /** Names of the backup buckets whose changes alert. */
  readonly bucketNames: readonly string[];
  /** ARNs of their keys. */
  readonly keyArns: readonly string[];
  /** Name of the trail that records the buckets' data events. */
  readonly trailName: string;
  /**
   * Names of the AWS Backup vaults whose changes alert.
   * @default - none
   */
  readonly vaultNames?: readonly string[];
}

/** The EventBridge patterns of every guarded CloudTrail event on `resources`. */
export function guardEventPatterns(resources: GuardedResources): Partial<Record<'s3' | 'kms' | 'trail' | 'backup', events.EventPattern>>;
export function guardEventPatterns(resources: Omit<GuardedResources, 'trailName'>): Partial<Record<'s3' | 'kms' | 'backup', events.EventPattern>>;
export function guardEventPatterns(resources: Omit<GuardedResources, 'trailName'> & { trailName?: string }): Partial<Record<'s3' | 'kms' | 'trail' | 'backup', events.EventPattern>> {
  const viaCloudTrail = ['AWS API Call via CloudTrail'];
  // A kind with nothing to watch gets no pattern (EventBridge refuses an empty list).
  return {
    ...(resources.bucketNames.length === 0
      ? {}
      : {
          s3: {
            source: ['aws.s3'],
            detailType: viaCloudTrail,
            detail: { eventSource: ['s3.amazonaws.com'], eventName: [...GUARDED_S3_EVENTS], requestParameters: { bucketName: [...resources.bucketNames] } },
          },
        }),
    ...(resources.keyArns.length === 0
      ? {}
      : {
          kms: {
            source: ['aws.kms'],
            detailType: viaCloudTrail,
            detail: { eventSource: ['kms.amazonaws.com'], eventName: [...GUARDED_KMS_EVENTS], resources: { ARN: [...resources.keyArns] } },
          },
        }),
    ...(resources.trailName === undefined ? {} : { trail: trailPattern(resources.trailName) }),
    ...((resources.vaultNames ?? []).length === 0
      ? {}
      : {
          backup: {
            source: ['aws.backup'],
            detailType: viaCloudTrail,
            detail: { eventSource: ['backup.amazonaws.com'], eventName: [...GUARDED_BACKUP_EVENTS], requestParameters: { backupVaultName: [...(resources.vaultNames ?? [])] } },
          },
        }),
  };
}

function trailPattern(trailName: string): events.EventPattern {
  return {
    source: ['aws.cloudtrail'],
    detailType: ['AWS API Call via CloudTrail'],
    // A request names the trail by its name or its ARN.
    detail: { eventSource: ['cloudtrail.amazonaws.com'], eventName: [...GUARDED_TRAIL_EVENTS], requestParameters: { name: [trailName, { suffix: `:trail/${trailName}` }] } },
  };
}

export interface GuardTrailProps {
  /** Name of the trail (alerts match it by name). */
  readonly trailName: string;
  /** The buckets whose object deletions and legal holds are recorded as data events, in any region. */
  readonly bucketArns: readonly string[];
  /**
   * Record write management events too. Needed for the bucket-policy and key alerts unless
   * another trail of the account already records them in every region (an organization trail).
   * @default true
   */
  readonly managementEvents?: boolean;
  /** Where the log bucket's access logs go. */
  readonly accessLogBucket: s3.IBucket;
  /** How long the trail's log files are kept. */
  readonly retention: Duration;
}

/**
 * A multi-region trail whose only job is to feed the guard alerts: EventBridge sees CloudTrail
 * events only while a trail records them, and S3 object-level events only as data events. It logs
 * write events only, to its own KMS-encrypted, TLS-only bucket with log file validation.
 */
export class GuardTrail extends Construct {
  readonly trail: cloudtrail.Trail;
  readonly logBucket: s3.Bucket;
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: GuardTrailProps) {
    super(scope, id);
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{2,127}$/.test(props.trailName)) {
      throw new Error(`GuardTrail trailName: '${props.trailName}' must be 3-128 letters, digits, periods, underscores and hyphens`);
    }
    if (props.bucketArns.length === 0) throw new Error('GuardTrail bucketArns: name at least one bucket');
    const trailArn = `arn:${Aws.PARTITION}:cloudtrail:${Aws.REGION}:${Aws.ACCOUNT_ID}:trail/${props.trailName}`;
    this.key = new kms.Key(this, 'Key', {
      description: `Encrypts the log files of the ${props.trailName} trail`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudTrailEncryptsThisTrail',
        principals: [new iam.ServicePrincipal('cloudtrail.amazonaws.com')],
        actions: ['kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceArn': trailArn },
          StringLike: { 'kms:EncryptionContext:aws:cloudtrail:arn': `arn:${Aws.PARTITION}:cloudtrail:*:${Aws.ACCOUNT_ID}:trail/*` },
        },
      }),
    );
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudTrailDescribesThisKey',
        principals: [new iam.ServicePrincipal('cloudtrail.amazonaws.com')],
        actions: ['kms:DescribeKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceArn': trailArn } },
      }),
    );
    this.logBucket = new s3.Bucket(this, 'Logs', {
      ...privateBucketProps(this.key, props.accessLogBucket, 'guard-trail/'),
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ id: 'expire-trail-logs', expiration: props.retention, noncurrentVersionExpiration: Duration.days(1) }],
    });
    const managementEvents = props.managementEvents ?? true;
    this.trail = new cloudtrail.Trail(this, 'Trail', {
      trailName: props.trailName,
      isMultiRegionTrail: true,
      includeGlobalServiceEvents: true,
      enableFileValidation: true,
      bucket: this.logBucket,
      encryptionKey: this.key,
      managementEvents: managementEvents ? cloudtrail.ReadWriteType.WRITE_ONLY : cloudtrail.ReadWriteType.NONE,
    });
    this.trail.addEventSelector(cloudtrail.DataResourceType.S3_OBJECT, props.bucketArns.map((arn) => `${arn}/`), {
      readWriteType: cloudtrail.ReadWriteType.WRITE_ONLY,
      // The first selector has the management events, when they are wanted.
      includeManagementEvents: false,
    });
  }
}

export interface GuardAlertsProps {
  /** What this region holds of the guarded resources. */
  readonly resources: GuardedResources;
  /** Where the alerts go. */
  readonly alertTopic: sns.ITopic;
  /** Regions whose guarded events are forwarded to this region's default bus (by `GuardForwarding`). */
  readonly forwardedFromRegions?: readonly string[];
  /**
   * Another account that forwards its guarded events here (an isolated replica account): the
   * default bus's policy lets it put events, and its events alert.
   * @default - only this account's events
   */
  readonly forwardingAccount?: string;
  /** Encrypts the dead-letter queue (the alert topic's key, so EventBridge may use it). */
  readonly queueKey: kms.IKey;
}

/**
 * EventBridge rules that turn each guarded CloudTrail event (a bucket policy, lock, versioning,
 * lifecycle or replication change, an object deletion, a key's deletion, disabling or policy
 * change, the trail stopped) into an alert within minutes, whoever made it and whether it
 * succeeded or was refused.
 */
export class GuardAlerts extends Construct {
  readonly rules: events.Rule[] = [];
  /** Alerts SNS did not take after retries; watch it. */
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: GuardAlertsProps) {
    super(scope, id);
    this.deadLetterQueue = alertDeadLetterQueue(this, props.queueKey, 'guard alert rules');
    const patterns = guardEventPatterns(props.resources);
    const target = alertTopicTarget(props.alertTopic, guardAlertMessage(), this.deadLetterQueue);
    for (const [name, pattern] of Object.entries(patterns)) {
      this.rules.push(
        new events.Rule(this, `Guarded-${name}`, {
          description: `backup-kit guard: alert on guarded ${name} changes of the backup storage`,
          eventPattern: pattern,
          targets: [target],
        }),
      );
    }
    if (props.forwardingAccount !== undefined) {
      if (!/^\d{12}$/.test(props.forwardingAccount)) throw new Error(`GuardAlerts forwardingAccount: '${props.forwardingAccount}' is not a 12-digit AWS account ID`);
      const statementId = `backup-kit-guard-${props.forwardingAccount}`;
      // A plain resource: the L1 class warns on its deprecated properties whenever a tool reads them.
      new CfnResource(this, 'ForwardingAccountMayPut', {
        type: 'AWS::Events::EventBusPolicy',
        properties: {
          EventBusName: 'default',
          StatementId: statementId,
          Statement: {
            Sid: statementId,
            Effect: 'Allow',
            Principal: { AWS: `arn:${Aws.PARTITION}:iam::${props.forwardingAccount}:root` },
            Action: 'events:PutEvents',
            Resource: `arn:${Aws.PARTITION}:events:${Aws.REGION}:${Aws.ACCOUNT_ID}:event-bus/default`,
            // Only the guarded sources: the other account cannot inject anything else here.
            Condition: { StringEquals: { 'events:source': [...FORWARDED_SOURCES] } },
          },
        },
      });
    }
    if (props.forwardingAccount !== undefined) {
      // The other account's own resources in this region (its AWS Backup vault), forwarded from there.
      this.rules.push(
        new events.Rule(this, 'Guarded-forwarding-account', {
          description: `backup-kit guard: alert on guarded changes forwarded from account ${props.forwardingAccount} in this region`,
          eventPattern: { source: [...FORWARDED_SOURCES], detailType: ['AWS API Call via CloudTrail'], region: [Aws.REGION], account: [props.forwardingAccount] },
          targets: [target],
        }),
      );
    }
    const forwarded = props.forwardedFromRegions ?? [];
    if (forwarded.length > 0) {
      // Only GuardForwarding sends these sources from another region to this bus.
      this.rules.push(
        new events.Rule(this, 'Guarded-forwarded', {
          description: `backup-kit guard: alert on guarded changes forwarded from ${forwarded.join(', ')}`,
          eventPattern: {
            source: [...FORWARDED_SOURCES],
            detailType: ['AWS API Call via CloudTrail'],
            region: [...forwarded],
            account: [Aws.ACCOUNT_ID, ...(props.forwardingAccount !== undefined ? [props.forwardingAccount] : [])],
          },
          targets: [target],
        }),
      );
    }
  }
}

/** The alert text: what, on which resource, by whom, from where, and whether AWS refused it. */
function guardAlertMessage(): events.RuleTargetInput {
  const field = events.EventField.fromPath;
  return events.RuleTargetInput.fromMultilineText(
    [
      `backup-kit guard: ${field('$.detail.eventName')} on the backup storage in ${field('$.region')} at ${field('$.detail.eventTime')}`,
      `by: ${field('$.detail.userIdentity.arn')} from ${field('$.detail.sourceIPAddress')}`,
      `request: ${field('$.detail.requestParameters')}`,
      `refused by AWS (empty when it succeeded): ${field('$.detail.errorCode')} ${field('$.detail.errorMessage')}`,
      'If this was not a planned deploy or break-glass change: treat the account as compromised. Do not delete anything; see docs/security.md.',
    ].join('\n'),
  );
}

export interface GuardForwardingProps {
  /** This region's guarded buckets and keys, and the trail when this account has its own. */
  readonly resources: Omit<GuardedResources, 'trailName'> & { readonly trailName?: string };
  /** The region whose default bus runs the alerts. */
  readonly primaryRegion: string;
  /**
   * The account of that bus, when it is not this one (an isolated replica account forwards to
   * the workload account, whose bus policy lets it in).
   * @default - this account
   */
  readonly primaryAccount?: string;
  /** Where this region's forwarding failures go: its dead-letter queue and the alarms on the rules. */
  readonly regionalAlerts: RegionalAlerts;
}

/** In another region (the replica's): forwards the guarded events of that region's resources to the primary region. */
export class GuardForwarding extends Construct {
  readonly rules: events.Rule[] = [];

  constructor(scope: Construct, id: string, props: GuardForwardingProps) {
    super(scope, id);
    const target = primaryBusTarget(this, {
      primaryRegion: props.primaryRegion,
      ...(props.primaryAccount !== undefined ? { primaryAccount: props.primaryAccount } : {}),
      what: 'the guarded events of this region',
      deadLetterQueue: props.regionalAlerts.deadLetterQueue,
      ids: { bus: 'PrimaryDefaultBus', role: 'PutToPrimaryBus' },
    });
    const { trailName, ...bucketsAndKeys } = props.resources;
    const patterns = trailName !== undefined ? guardEventPatterns({ ...bucketsAndKeys, trailName }) : guardEventPatterns(bucketsAndKeys);
    for (const [name, pattern] of Object.entries(patterns)) {
      this.rules.push(
        new events.Rule(this, `Forward-${name}`, {
          description: `backup-kit guard: forwards guarded ${name} changes to ${props.primaryRegion}`,
          eventPattern: pattern,
          targets: [target],
        }),
      );
    }
    for (const rule of this.rules) props.regionalAlerts.watchRule(rule, `forwards guarded ${rule.node.id.replace('Forward-', '')} changes to ${props.primaryRegion}`);
  }
}
