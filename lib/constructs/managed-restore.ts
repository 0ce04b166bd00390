import { Aws, CfnOutput, Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { join } from 'node:path';
import { z } from 'zod';
import { consoleLinks } from '../../contracts/console-links';
import {
  MANAGED_RESTORE_ENV,
  NAME_MAX_LENGTH,
  RESTORED_SUFFIX_LENGTH,
  RESTORE_TEST_PREFIX,
  managedRestoreEventSchema,
  restoredNamePrefix,
  type ManagedRestoreEventInput,
  type ManagedRestoreSettings,
  type RestorableResource,
} from '../../contracts/managed-restore';
import { REQUESTED_BY_PLACEHOLDER } from '../../contracts/rds-restore-event';
import { SERVICES } from '../../contracts/metric-catalog';
import { grantAlertPublishing } from './alert-topic';
import { deadLetterAsyncFailures, deadLetterQueue } from './dead-letters';
import type { DatabaseProbe } from './database-probe';
import { HouseFunction } from './house-function';
import { awsBackupRestoreRole } from './managed-restore-testing';
import { acknowledgeWildcards } from './nag';
import { nagRdsArn, rdsArn } from './rds-arns';
import { ShareableTestEvents } from './shareable-test-events';

/** S3 calls that write or delete: the restore role may make them only on `<bucket>-restored-*`. */
const S3_WRITES = [
  's3:CreateBucket',
  's3:DeleteBucket',
  's3:DeleteBucketPolicy',
  's3:PutBucketAcl',
  's3:PutBucketPolicy',
  's3:PutBucketVersioning',
  's3:PutBucketOwnershipControls',
  's3:PutEncryptionConfiguration',
  's3:PutLifecycleConfiguration',
  's3:PutObject',
  's3:PutObjectAcl',
  's3:PutObjectTagging',
  's3:PutObjectVersionAcl',
  's3:PutObjectVersionTagging',
  's3:DeleteObject',
  's3:DeleteObjectVersion',
  's3:DeleteObjectTagging',
];
/** RDS calls that change or remove a database: the restore role may make them only on `<source>-restored-*`. */
const RDS_CHANGES = [
  'rds:DeleteDBInstance',
  'rds:DeleteDBCluster',
  'rds:ModifyDBInstance',
  'rds:ModifyDBCluster',
  'rds:RebootDBInstance',
  'rds:StopDBInstance',
  'rds:StopDBCluster',
  'rds:FailoverDBCluster',
  'rds:PromoteReadReplica',
];

export interface ManagedRestoreProps {
  /** The resources the config protects by ARN or bucket name, of the kinds a console restore handles; at least one. */
  readonly resources: readonly RestorableResource[];
  /** The vault's name, the same in both regions. */
  readonly vaultName: string;
  readonly drRegion: string;
  /** Key of the functions' log groups and of the dead-letter queue. */
  readonly logKey: kms.IKey;
  /** Where a completed restore is reported. */
  readonly alertTopic: sns.ITopic;
  /**
   * The role of the restore testing plans: their completed jobs are validated and recorded as drills.
   * @default - restore tests are not validated
   */
  readonly restoreTestingRole?: iam.IRole;
  /**
   * Runs the SQL probes of the restore tests' database copies; required when a resource is `probed`.
   * @default - no copy is probed
   */
  readonly databaseProbe?: DatabaseProbe;
}

/**
 * Console restores of the data AWS Backup protects: a function an engineer invokes with
 * `{ "source": "orders-db", "recoveryPoint": "latest-before:2026-01-31", "dryRun": true }`, and the
 * role AWS Backup restores with, which may create and write only `<source>-restored-*` resources
 * (an explicit deny on everything else, whatever AWS's managed policies allow).
 */
export class ManagedRestore extends Construct {
  readonly handler: HouseFunction;
  /** Reports each completed restore the function started, with its minutes. */
  readonly completion: HouseFunction;
  /** Completion events the report could not handle after its retries. */
  readonly deadLetterQueue: sqs.Queue;
  /** The role AWS Backup restores with. */
  readonly restoreRole: iam.Role;
  readonly testEvents: ShareableTestEvents;
  readonly consoleLink: string;

  constructor(scope: Construct, id: string, props: ManagedRestoreProps) {
    super(scope, id);
    validateResources(props);
    const stack = Stack.of(this);
    const primaryRegion = stack.region;
    if (!Token.isUnresolved(primaryRegion) && primaryRegion === props.drRegion) throw new Error(`ManagedRestore drRegion: must differ from the stack's region (both are ${primaryRegion})`);
    const regions = [primaryRegion, props.drRegion];
    const buckets = props.resources.filter((resource) => resource.kind === 's3');
    const databases = props.resources.filter((resource) => resource.kind !== 's3');

    this.restoreRole = awsBackupRestoreRole(this, 'RestoreRole', {
      description: 'backup-kit: AWS Backup restores recovery points of the managed data into new <source>-restored-* resources with this role (console restores)',
      restoresBuckets: buckets.length > 0,
      why: "kept current by AWS; this role's explicit denies confine every write to <source>-restored-* resources.",
    });
    const restoredBuckets = buckets.flatMap((bucket) => [`arn:${Aws.PARTITION}:s3:::${restoredNamePrefix(bucket.identifier)}*`, `arn:${Aws.PARTITION}:s3:::${restoredNamePrefix(bucket.identifier)}*/*`]);
    this.restoreRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'WriteOnlyRestoredBuckets',
        effect: iam.Effect.DENY,
        actions: S3_WRITES,
        // With no bucket to restore, no bucket at all.
        ...(restoredBuckets.length > 0 ? { notResources: restoredBuckets } : { resources: ['*'] }),
      }),
    );
    const restoredDatabases = regions.flatMap((region) => databases.flatMap((database) => [rdsArn(region, `db:${restoredNamePrefix(database.identifier)}*`), rdsArn(region, `cluster:${restoredNamePrefix(database.identifier)}*`)]));
    this.restoreRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ChangeOnlyRestoredDatabases',
        effect: iam.Effect.DENY,
        actions: RDS_CHANGES,
        ...(restoredDatabases.length > 0 ? { notResources: restoredDatabases } : { resources: ['*'] }),
      }),
    );

    const settings: ManagedRestoreSettings = {
      primaryRegion,
      drRegion: props.drRegion,
      vaultName: props.vaultName,
      restoreRoleArn: this.restoreRole.roleArn,
      ...(props.restoreTestingRole ? { restoreTestingRoleArn: props.restoreTestingRole.roleArn } : {}),
      resources: props.resources.map((resource) => ({ ...resource })),
    };
    this.handler = new HouseFunction(this, 'Handler', {
      entry: join(__dirname, '../../lambda/managed-restore/handler.ts'),
      description: `Restores data AWS Backup protects from a recovery point into a new <source>-restored-* resource (${props.resources.map((resource) => resource.name).join(', ')})`.slice(0, 256),
      serviceName: SERVICES.managedBackup,
      logKey: props.logKey,
      timeout: Duration.minutes(2),
      environment: { [MANAGED_RESTORE_ENV.settings]: stack.toJsonString(settings) },
    });
    this.grantRestores(props, regions, buckets, databases);

    this.completion = new HouseFunction(this, 'Completion', {
      entry: join(__dirname, '../../lambda/managed-restore-completion/handler.ts'),
      description: 'Reports a completed restore from AWS Backup with the minutes it took, and validates restore tests',
      serviceName: SERVICES.managedBackup,
      logKey: props.logKey,
      // A restore test of a large bucket lists both the copy and the live bucket.
      timeout: Duration.minutes(5),
      environment: {
        [MANAGED_RESTORE_ENV.settings]: stack.toJsonString(settings),
        [MANAGED_RESTORE_ENV.alertTopic]: props.alertTopic.topicArn,
        ...(props.databaseProbe ? { [MANAGED_RESTORE_ENV.probeFunction]: props.databaseProbe.handler.function.functionName } : {}),
      },
    });
    props.databaseProbe?.grantInvoke(this.completion.role);
    this.completion.role.addToPolicy(new iam.PolicyStatement({ sid: 'ReadRestoreJobs', actions: ['backup:DescribeRestoreJob'], resources: ['*'] }));
    Validations.of(this.completion.role).acknowledge({ id: 'AwsSolutions-IAM5[Resource::*]', reason: 'backup:DescribeRestoreJob and backup:PutRestoreValidationResult have no resource type in IAM, so they take only "*"; they read a restore job\'s record and stamp a restore test\'s verdict.' });
    grantAlertPublishing(this.completion.role, props.alertTopic, props.logKey);
    if (props.restoreTestingRole) grantValidationTo(this.completion.role, buckets, databases, primaryRegion);
    this.deadLetterQueue = deadLetterQueue(this, 'CompletionDeadLetters', props.logKey, 'AWS Backup restore completion rule and function');
    new events.Rule(this, 'CompletedRestoreJobs', {
      description: 'backup-kit: completed AWS Backup restore jobs, for the report of those the restore function started',
      // Restore jobs of the DR region come forwarded by the DR vault stack, with their region.
      eventPattern: { source: ['aws.backup'], detailType: ['Restore Job State Change'], detail: { state: ['COMPLETED'] } },
      targets: [new eventTargets.LambdaFunction(this.completion.function, { deadLetterQueue: this.deadLetterQueue, retryAttempts: 4, maxEventAge: Duration.hours(6) })],
    });
    deadLetterAsyncFailures(this.completion, this.deadLetterQueue, props.logKey);

    this.testEvents = new ShareableTestEvents(this, 'TestEvents', {
      function: this.handler.function,
      logKey: props.logKey,
      eventSchema: z.toJSONSchema(managedRestoreEventSchema, { io: 'input', target: 'openapi-3.0', unrepresentable: 'any' }) as Record<string, unknown>,
    });
    const example = (event: ManagedRestoreEventInput): Record<string, unknown> => ({ ...event, requestedBy: REQUESTED_BY_PLACEHOLDER });
    const database = databases[0]?.name;
    const bucket = buckets[0]?.name;
    if (database) {
      this.testEvents
        .addEvent('database latest dry run', example({ source: database, recoveryPoint: 'latest', dryRun: true }))
        .addEvent('database a month ago dry run', example({ source: database, recoveryPoint: 'latest-before:2026-01-31', dryRun: true }));
    }
    if (bucket) {
      this.testEvents
        .addEvent('bucket latest dry run', example({ source: bucket, recoveryPoint: 'latest', dryRun: true }))
        .addEvent('bucket prefix dry run', example({ source: bucket, recoveryPoint: 'latest', items: ['uploads/2026/01/'], dryRun: true }));
    }

    this.consoleLink = consoleLinks.lambdaTest(primaryRegion, this.handler.function.functionName);
    new CfnOutput(this, 'ConsoleLink', {
      description: 'The AWS Backup restore function in the Lambda console (Test tab: shareable dry-run events)',
      value: this.consoleLink,
    });
  }

  private grantRestores(props: ManagedRestoreProps, regions: readonly string[], buckets: readonly RestorableResource[], databases: readonly RestorableResource[]): void {
    const role = this.handler.role;
    const backupArn = (region: string, resource: string) => `arn:${Aws.PARTITION}:backup:${region}:${Aws.ACCOUNT_ID}:${resource}`;
    role.addToPolicy(new iam.PolicyStatement({ sid: 'ListTheVaults', actions: ['backup:ListRecoveryPointsByBackupVault'], resources: regions.map((region) => backupArn(region, `backup-vault:${props.vaultName}`)) }));
    // A recovery point is AWS Backup's own (S3) or, for RDS and Aurora, the snapshot AWS Backup made
    // (`snapshot:awsbackup:…`). Its ARN does not name its vault: the function checks that the point
    // it restores is in the kit's vault.
    const recoveryPoints = regions.flatMap((region) => [
      ...(buckets.length > 0 ? [`recovery-point:*`].map((resource) => [region, 'backup', resource] as const) : []),
      ...(databases.length > 0 ? ['snapshot:awsbackup:*', 'cluster-snapshot:awsbackup:*'].map((resource) => [region, 'rds', resource] as const) : []),
    ]);
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'RestoreRecoveryPoints',
        actions: ['backup:GetRecoveryPointRestoreMetadata', 'backup:StartRestoreJob'],
        resources: recoveryPoints.map(([region, service, resource]) => (service === 'backup' ? backupArn(region, resource) : rdsArn(region, resource))),
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'PassTheRestoreRole',
        actions: ['iam:PassRole'],
        resources: [this.restoreRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'backup.amazonaws.com' } },
      }),
    );
    acknowledgeWildcards(
      role,
      recoveryPoints.map(([region, service, resource]) => (service === 'backup' ? `Resource::arn:<AWS::Partition>:backup:${region}:<AWS::AccountId>:${resource}` : nagRdsArn(region, resource))),
      "A recovery point ARN does not name its vault or resource; the function restores only points it found in the kit's vault for a configured resource, and only with the restore role, which writes only <source>-restored-* resources.",
    );
    if (buckets.length > 0) {
      const restored = buckets.map((bucket) => `arn:${Aws.PARTITION}:s3:::${restoredNamePrefix(bucket.identifier)}*`);
      role.addToPolicy(new iam.PolicyStatement({ sid: 'SeeWhetherTheNewBucketExists', actions: ['s3:ListBucket'], resources: restored }));
      role.addToPolicy(new iam.PolicyStatement({ sid: 'CheckSourceVersioning', actions: ['s3:GetBucketVersioning'], resources: buckets.map((bucket) => `arn:${Aws.PARTITION}:s3:::${bucket.identifier}`) }));
      acknowledgeWildcards(role, buckets.map((bucket) => `Resource::arn:<AWS::Partition>:s3:::${restoredNamePrefix(bucket.identifier)}*`), 'Names of new buckets a restore may create: the function only checks that the name is free.');
    }
    if (databases.length > 0) {
      const targets = (kind: 'db' | 'cluster') => regions.flatMap((region) => databases.map((database) => `${kind}:${restoredNamePrefix(database.identifier)}*`).map((resource) => [region, resource] as const));
      role.addToPolicy(new iam.PolicyStatement({ sid: 'SeeWhetherTheNewInstanceExists', actions: ['rds:DescribeDBInstances'], resources: targets('db').map(([region, resource]) => rdsArn(region, resource)) }));
      role.addToPolicy(new iam.PolicyStatement({ sid: 'SeeWhetherTheNewClusterExists', actions: ['rds:DescribeDBClusters'], resources: targets('cluster').map(([region, resource]) => rdsArn(region, resource)) }));
      acknowledgeWildcards(role, [...targets('db'), ...targets('cluster')].map(([region, resource]) => nagRdsArn(region, resource)), 'Names of new databases a restore may create: the function only checks that the name is free.');
    }
  }
}

/** What the validation of a restore test reads: AWS Backup's test copies (`awsbackup-restore-test*`) and the live buckets; and where it stamps the verdict. */
function grantValidationTo(role: iam.IRole, buckets: readonly RestorableResource[], databases: readonly RestorableResource[], region: string): void {
  const copies = `${RESTORE_TEST_PREFIX}*`;
  role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'StampRestoreTestVerdicts', actions: ['backup:PutRestoreValidationResult'], resources: ['*'] }));
  if (buckets.length > 0) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'ListTestCopiesAndLiveBuckets', actions: ['s3:ListBucket'], resources: [`arn:${Aws.PARTITION}:s3:::${copies}`, ...buckets.map((bucket) => `arn:${Aws.PARTITION}:s3:::${bucket.identifier}`)] }),
    );
    acknowledgeWildcards(role, [`Resource::arn:<AWS::Partition>:s3:::${copies}`], "AWS Backup names a restore test's bucket awsbackup-restore-test-<random>: the validation lists its keys, nothing else.");
  }
  if (databases.length > 0) {
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'DescribeTestCopies', actions: ['rds:DescribeDBInstances', 'rds:DescribeDBClusters'], resources: [rdsArn(region, `db:${copies}`), rdsArn(region, `cluster:${copies}`)] }));
    acknowledgeWildcards(role, [nagRdsArn(region, `db:${copies}`), nagRdsArn(region, `cluster:${copies}`)], "AWS Backup names a restore test's database awsbackup-restore-test-<random>: the validation describes it, nothing else.");
  }
}

function validateResources(props: ManagedRestoreProps): void {
  const resources = props.resources;
  if (resources.length === 0) throw new Error('ManagedRestore resources: at least one resource is required');
  const probed = resources.filter((resource) => resource.probed);
  if (probed.length > 0 && (!props.databaseProbe || !props.restoreTestingRole)) {
    throw new Error(`ManagedRestore databaseProbe: ${probed.map((resource) => resource.name).join(', ')} ${probed.length === 1 ? 'is' : 'are'} probed, which needs the database probe and the restore testing role`);
  }
  for (const resource of probed) if (resource.kind !== 'rds') throw new Error(`ManagedRestore resources: '${resource.name}' is probed, but only RDS instances' copies answer SQL`);
  const seen = new Set<string>();
  for (const resource of resources) {
    if (seen.has(resource.name)) throw new Error(`ManagedRestore resources: '${resource.name}' is listed twice`);
    seen.add(resource.name);
    if (resource.identifier.length > NAME_MAX_LENGTH - RESTORED_SUFFIX_LENGTH) {
      throw new Error(`ManagedRestore resources: '${resource.identifier}' is ${resource.identifier.length} characters; a restored copy '${restoredNamePrefix(resource.identifier)}<yyyymmddhhmm>' must fit ${NAME_MAX_LENGTH}, so the source may have at most ${NAME_MAX_LENGTH - RESTORED_SUFFIX_LENGTH}`);
    }
  }
}
