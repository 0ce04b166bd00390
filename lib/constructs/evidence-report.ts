import { Aws, Duration, Stack, TimeZone } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { join } from 'node:path';
import { EVIDENCE_REPORT_ENV, REPORT_PREFIX, type EvidenceDatabase, type EvidenceSettings, type EvidenceTarget } from '../../contracts/evidence-report';
import { VERDICT_PREFIX } from '../../contracts/manifest';
import { SERVICES } from '../../contracts/metric-catalog';
import { grantAlertPublishing } from './alert-topic';
import { deadLetterAsyncFailures, deadLetterQueue } from './dead-letters';
import { HouseFunction } from './house-function';
import { acknowledgeWildcardResources, acknowledgeWildcards } from './nag';
import { rdsArn } from './rds-arns';

export interface EvidenceReportProps {
  /** The targets the report covers, with their tiers' schedules, objectives and whether they are drilled. */
  readonly targets: readonly EvidenceTarget[];
  /**
   * RDS instances and Aurora clusters whose point-in-time window and restores the report shows.
   * @default - none
   */
  readonly databases?: readonly EvidenceDatabase[];
  /** The deployment's prefix: its alarms' names start with it. */
  readonly prefix: string;
  readonly bucket: s3.IBucket;
  readonly bucketKey: kms.IKey;
  readonly alertTopic: sns.ITopic;
  /** Key of the log group, the alert topic and the schedule's dead-letter queue. */
  readonly opsKey: kms.IKey;
  readonly timeZone: string;
  /**
   * When the report of the month before is made, in `timeZone`.
   * @default - the 1st of each month at 06:00
   */
  readonly schedule?: string;
}

/**
 * The monthly evidence report: a function that gathers each target's month from the backup bucket
 * (backups, verdicts, manifests), the drill metrics and the open alarms, and writes the report
 * under `reports/` (which it alone may write: its role can put nothing else), locked by the
 * bucket's Object Lock; a schedule on the 1st; the summary to the alert topic.
 */
export class EvidenceReport extends Construct {
  readonly handler: HouseFunction;
  readonly schedule: scheduler.Schedule;
  /** Schedule invocations that could not be delivered. */
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: EvidenceReportProps) {
    super(scope, id);
    if (props.targets.length === 0) throw new Error('EvidenceReport targets: at least one target is required');
    const stack = Stack.of(this);
    // Plain JSON (no token), so that a large estate's settings can move into the bundle.
    const databases = props.databases ?? [];
    const settings: EvidenceSettings = { prefix: props.prefix, targets: props.targets.map((target) => ({ ...target, tiers: target.tiers.map((tier) => ({ ...tier })) })), databases: databases.map((database) => ({ ...database })) };
    this.handler = new HouseFunction(this, 'Handler', {
      entry: join(__dirname, '../../lambda/evidence-report/handler.ts'),
      description: "Writes the month's backup and restore evidence of every target under reports/ in the backup bucket",
      serviceName: SERVICES.evidence,
      logKey: props.opsKey,
      memorySize: 512,
      timeout: Duration.minutes(10),
      environment: { [EVIDENCE_REPORT_ENV.settings]: JSON.stringify(settings), [EVIDENCE_REPORT_ENV.alertTopic]: props.alertTopic.topicArn, [EVIDENCE_REPORT_ENV.bucket]: props.bucket.bucketName },
    });
    const role = this.handler.role;
    const bucketArn = props.bucket.bucketArn;
    const tiers = [...new Set(props.targets.flatMap((target) => target.tiers.map((tier) => tier.tier)))];
    role.addToPolicy(new iam.PolicyStatement({ sid: 'ListBackups', actions: ['s3:ListBucket'], resources: [bucketArn] }));
    const read = [...tiers.map((tier) => `${bucketArn}/${tier}/*`), `${bucketArn}/${VERDICT_PREFIX}*`];
    role.addToPolicy(new iam.PolicyStatement({ sid: 'ReadManifestsAndVerdicts', actions: ['s3:GetObject'], resources: read }));
    role.addToPolicy(new iam.PolicyStatement({ sid: 'WriteReports', actions: ['s3:PutObject'], resources: [`${bucketArn}/${REPORT_PREFIX}*`] }));
    role.addToPolicy(new iam.PolicyStatement({ sid: 'ReadBucketProtection', actions: ['s3:GetEncryptionConfiguration', 's3:GetBucketObjectLockConfiguration'], resources: [bucketArn] }));
    role.addToPolicy(new iam.PolicyStatement({ sid: 'UseTheBackupKey', actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [props.bucketKey.keyArn] }));
    role.addToPolicy(new iam.PolicyStatement({ sid: 'ReadDrillMetrics', actions: ['cloudwatch:GetMetricData'], resources: ['*'] }));
    const alarms = `arn:${Aws.PARTITION}:cloudwatch:${stack.region}:${Aws.ACCOUNT_ID}:alarm:${props.prefix}-*`;
    role.addToPolicy(new iam.PolicyStatement({ sid: 'ReadOpenAlarms', actions: ['cloudwatch:DescribeAlarms'], resources: [alarms] }));
    grantAlertPublishing(role, props.alertTopic, props.opsKey);
    const instances = databases.filter((database) => database.kind === 'instance').map((database) => rdsArn(stack.region, `db:${database.identifier}`));
    const clusters = databases.filter((database) => database.kind === 'cluster').map((database) => rdsArn(stack.region, `cluster:${database.identifier}`));
    if (instances.length > 0) role.addToPolicy(new iam.PolicyStatement({ sid: 'ReadDatabaseWindows', actions: ['rds:DescribeDBInstances'], resources: instances }));
    if (clusters.length > 0) role.addToPolicy(new iam.PolicyStatement({ sid: 'ReadClusterWindows', actions: ['rds:DescribeDBClusters'], resources: clusters }));
    acknowledgeWildcards(role, ['Resource::*'], 'cloudwatch:GetMetricData has no resource type in IAM; the function reads the drill metrics of the configured targets.');
    acknowledgeWildcardResources(
      role,
      [...read, `${bucketArn}/${REPORT_PREFIX}*`, alarms],
      `Backups, manifests and verdicts are keyed by tier, target and date: the report reads them and writes only under ${REPORT_PREFIX}, a prefix no tier may take; it reads the state of the deployment's own alarms.`,
    );

    this.deadLetterQueue = deadLetterQueue(this, 'DeadLetters', props.opsKey, 'evidence report schedule and function');
    const schedulerRole = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } } }),
      description: 'Lets the evidence report schedule invoke its function',
    });
    schedulerRole.addToPolicy(new iam.PolicyStatement({ actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [props.opsKey.keyArn] }));
    this.schedule = new scheduler.Schedule(this, 'Monthly', {
      schedule: scheduler.ScheduleExpression.expression(props.schedule ?? 'cron(0 6 1 * ? *)', TimeZone.of(props.timeZone)),
      target: new targets.LambdaInvoke(this.handler.function, { role: schedulerRole, input: scheduler.ScheduleTargetInput.fromObject({}), deadLetterQueue: this.deadLetterQueue, retryAttempts: 3, maxEventAge: Duration.hours(6) }),
      description: "Writes the month before's evidence report",
    });
    acknowledgeWildcardResources(schedulerRole, [`${this.handler.function.functionArn}:*`], 'CDK grants invoke on the function and its versions (ARN:*); the schedule invokes only this function.');
    deadLetterAsyncFailures(this.handler, this.deadLetterQueue, props.opsKey);
  }
}
