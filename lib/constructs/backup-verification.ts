import { Aws, CustomResource, Duration, RemovalPolicy, TimeZone, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { grantAlertPublishing } from './alert-topic';
import { Construct } from 'constructs';
import { join } from 'node:path';
import { EXPECTED_SINCE_PREFIX, VERDICT_PREFIX } from '../../contracts/manifest';
import { encodeConfiguredTargets, type ConfiguredTargetTier } from '../../contracts/configured-targets';
import { VERIFY_ENV, type VerifySettings } from '../../contracts/verify-settings';
import { HouseFunction } from './house-function';
import { acknowledgeWildcardResources } from './nag';
import { SERVICES } from '../../contracts/metric-catalog';

export interface BackupVerificationProps {
  /** The primary backup bucket. */
  readonly bucket: s3.IBucket;
  /** The backup bucket's key: decrypts backups, encrypts verdicts. */
  readonly backupKey: kms.IKey;
  /** Name of the replica bucket in the DR region (a contract name, see lib/naming.ts). */
  readonly replicaBucketName: string;
  /** The DR region. */
  readonly replicaRegion: string;
  /**
   * Physical name of the worker's role; set it when the replica's account (an isolated one) must
   * name the role in its bucket policy.
   * @default - CloudFormation generates the name
   */
  readonly workerRoleName?: string;
  /** Encrypts the queues and the functions' logs. */
  readonly opsKey: kms.IKey;
  /** Where one message per failed check goes. */
  readonly alertTopic: sns.ITopic;
  /** IANA time zone of the schedules. */
  readonly timeZone: string;
  /** EventBridge Scheduler cron of the daily verification. */
  readonly schedule: string;
  /** Limits and thresholds the functions apply. */
  readonly settings: VerifySettings;
  /**
   * Worker memory; Lambda gives CPU in proportion, and hashing plus gunzip use one core.
   * @default 1769 (one full vCPU)
   */
  readonly workerMemoryMiB?: number;
  /**
   * Most verifications running at once.
   * @default 10
   */
  readonly maxConcurrency?: number;
  /**
   * Targets and the scheduled tiers they take part in, from the config: each must have backups,
   * and one without any is alerted and counted as a failed verification.
   * @default - targets are only discovered from the bucket
   */
  readonly configuredTargets?: readonly ConfiguredTargetTier[];
}

const LAMBDA_DIR = join(__dirname, '..', '..', 'lambda', 'verify');
/** The worker runs to Lambda's limit; the code stops reading early enough to write a verdict. */
const WORKER_TIMEOUT = Duration.minutes(15);

/**
 * Verification of every backup. A daily schedule invokes the planner, which finds the newest
 * backup of every target and tier and queues one message per backup; the worker verifies one
 * object per message (batch size 1, bounded concurrency) and writes its verdict beside it. An
 * hourly schedule asks the planner to publish backup ages, so the age alarms see data every hour.
 * Both functions can read backups and never delete or overwrite them: the worker writes only
 * verdicts under `verdicts/`, the planner only the once-written markers under `expected-since/`
 * that say since when a configured target's first backup has been expected. At deploy the planner
 * reports the ages once (`agesAtDeploy`), so alarms created after it start with data.
 */
export class BackupVerification extends Construct {
  /**
   * The age report the planner makes at every deploy that changes the configured targets: make
   * the age alarms depend on it, so they are created with a datapoint rather than breaching.
   */
  readonly agesAtDeploy: CustomResource;
  readonly planner: HouseFunction;
  readonly worker: HouseFunction;
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  /** Where schedule invocations that failed after their retries go. */
  readonly scheduleDeadLetterQueue: sqs.Queue;
  readonly dailySchedule: scheduler.Schedule;
  readonly ageReportSchedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: BackupVerificationProps) {
    super(scope, id);
    const workerMemory = props.workerMemoryMiB ?? 1769;
    const maxConcurrency = props.maxConcurrency ?? 10;
    if (maxConcurrency < 2 || maxConcurrency > 1000) {
      throw new Error(`BackupVerification maxConcurrency: SQS event sources allow 2 to 1000 (got ${maxConcurrency})`);
    }
    if (workerMemory < 256 || workerMemory > 10240) {
      throw new Error(`BackupVerification workerMemoryMiB: Lambda allows 256 to 10240 here (got ${workerMemory})`);
    }
    if (props.settings.sqliteIntegrityCheckMaxBytes * 3 > workerMemory * 2 ** 20) {
      throw new Error(`BackupVerification settings.sqliteIntegrityCheckMaxBytes: needs about three times its size in memory, more than the worker's ${workerMemory} MiB`);
    }

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetters', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.opsKey,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.opsKey,
      enforceSSL: true,
      // AWS's guidance for SQS event sources: six times the function timeout, so a message held by
      // a throttled poller is not handed out twice.
      visibilityTimeout: Duration.seconds(WORKER_TIMEOUT.toSeconds() * 6),
      retentionPeriod: Duration.days(2),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: 3 },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.scheduleDeadLetterQueue = new sqs.Queue(this, 'ScheduleDeadLetters', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.opsKey,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: RemovalPolicy.DESTROY,
    });

    const settingsJson = JSON.stringify(props.settings);
    const bucketArn = props.bucket.bucketArn;
    const replicaBucketArn = `arn:${Aws.PARTITION}:s3:::${props.replicaBucketName}`;

    this.worker = new HouseFunction(this, 'Worker', {
      entry: join(LAMBDA_DIR, 'worker-handler.ts'),
      description: 'Verifies one backup: manifest, SHA-256, gunzip, dump format, age, size, replica; writes verdicts/<key>/<time>.json',
      logKey: props.opsKey,
      serviceName: SERVICES.verify,
      ...(props.workerRoleName !== undefined ? { roleName: props.workerRoleName } : {}),
      memorySize: workerMemory,
      timeout: WORKER_TIMEOUT,
      environment: {
        [VERIFY_ENV.bucket]: props.bucket.bucketName,
        [VERIFY_ENV.backupKeyArn]: props.backupKey.keyArn,
        [VERIFY_ENV.replicaBucket]: props.replicaBucketName,
        [VERIFY_ENV.replicaRegion]: props.replicaRegion,
        [VERIFY_ENV.alertTopicArn]: props.alertTopic.topicArn,
        [VERIFY_ENV.settings]: settingsJson,
      },
      // sql.js loads its WebAssembly binary at run time from beside the handler.
      extraFiles: [{ from: require.resolve('sql.js/dist/sql-wasm.wasm'), to: 'sql-wasm.wasm' }],
    });
    this.worker.function.addEventSource(
      new sources.SqsEventSource(this.queue, { batchSize: 1, maxConcurrency, reportBatchItemFailures: true }),
    );

    this.planner = new HouseFunction(this, 'Planner', {
      entry: join(LAMBDA_DIR, 'planner-handler.ts'),
      description: 'Plans backup verification: {} all, {"target": "..."}, {"key": "..."}; {"action": "report-ages"} publishes backup ages',
      logKey: props.opsKey,
      serviceName: SERVICES.verify,
      memorySize: 512,
      timeout: Duration.minutes(10),
      environment: {
        [VERIFY_ENV.bucket]: props.bucket.bucketName,
        [VERIFY_ENV.queueUrl]: this.queue.queueUrl,
        [VERIFY_ENV.alertTopicArn]: props.alertTopic.topicArn,
        [VERIFY_ENV.backupKeyArn]: props.backupKey.keyArn,
        [VERIFY_ENV.settings]: settingsJson,
        ...(props.configuredTargets ? { [VERIFY_ENV.configuredTargets]: encodeConfiguredTargets(props.configuredTargets) } : {}),
      },
    });

    // Worker: read backups, manifests and verdicts; write verdicts only; read replica metadata.
    const worker = this.worker.role;
    // ListBucketVersions: a backup must hold exactly one version, and the first one is what is read.
    worker.addToPolicy(new iam.PolicyStatement({ sid: 'ListBackups', actions: ['s3:ListBucket', 's3:ListBucketVersions'], resources: [bucketArn] }));
    // GetObjectRetention: HeadObject states a version's lock only to a caller allowed to read it.
    worker.addToPolicy(new iam.PolicyStatement({ sid: 'ReadBackups', actions: ['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectRetention'], resources: [`${bucketArn}/*`] }));
    worker.addToPolicy(new iam.PolicyStatement({ sid: 'WriteVerdicts', actions: ['s3:PutObject'], resources: [`${bucketArn}/${VERDICT_PREFIX}*`] }));
    worker.addToPolicy(
      new iam.PolicyStatement({
        sid: 'BackupKeyThroughS3',
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [props.backupKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` } },
      }),
    );
    // HeadObject needs s3:GetObject; ListBucket makes a missing replica a 404 rather than a 403.
    // No replica key grant: HeadObject does not decrypt.
    worker.addToPolicy(new iam.PolicyStatement({ sid: 'ListReplica', actions: ['s3:ListBucket'], resources: [replicaBucketArn] }));
    worker.addToPolicy(new iam.PolicyStatement({ sid: 'HeadReplica', actions: ['s3:GetObject', 's3:GetObjectVersion'], resources: [`${replicaBucketArn}/*`] }));
    // SNS and SQS ask for a data key of the ops key, and decrypt it again: nothing more.
    grantAlertPublishing(worker, props.alertTopic, props.opsKey);

    // Planner: list and read (HeadObject, verdicts); send to the queue.
    const planner = this.planner.role;
    planner.addToPolicy(new iam.PolicyStatement({ sid: 'ListBackups', actions: ['s3:ListBucket'], resources: [bucketArn] }));
    planner.addToPolicy(new iam.PolicyStatement({ sid: 'ReadBackupsAndVerdicts', actions: ['s3:GetObject'], resources: [`${bucketArn}/*`] }));
    planner.addToPolicy(
      new iam.PolicyStatement({
        sid: 'DecryptVerdicts',
        actions: ['kms:Decrypt'],
        resources: [props.backupKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` } },
      }),
    );
    // Sending to the encrypted queue needs GenerateDataKey and Decrypt of its key; not the
    // Encrypt/ReEncrypt*/GenerateDataKey* that grantSendMessages adds.
    planner.addToPolicy(new iam.PolicyStatement({ sid: 'SendToQueue', actions: ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'], resources: [this.queue.queueArn] }));
    grantAlertPublishing(planner, props.alertTopic, props.opsKey);
    // The markers since when each configured pair's first backup is expected: written once, encrypted with the backup key.
    planner.addToPolicy(new iam.PolicyStatement({ sid: 'WriteExpectedSince', actions: ['s3:PutObject'], resources: [`${bucketArn}/${EXPECTED_SINCE_PREFIX}*`] }));
    planner.addToPolicy(
      new iam.PolicyStatement({
        sid: 'EncryptExpectedSince',
        actions: ['kms:GenerateDataKey'],
        resources: [props.backupKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` } },
      }),
    );
    this.agesAtDeploy = new CustomResource(this, 'AgesAtDeploy', {
      serviceToken: this.planner.function.functionArn,
      resourceType: 'Custom::BackupAgesAtDeploy',
      // A change of the configured pairs or their limits reports again, before new alarms exist.
      properties: { ConfiguredTargets: encodeConfiguredTargets(props.configuredTargets ?? []), TierMaxAgeHours: JSON.stringify(props.settings.tierMaxAgeHours) },
    });
    // The report needs the planner's permissions in place.
    this.agesAtDeploy.node.addDependency(this.planner.role);

    const timeZone = TimeZone.of(props.timeZone);
    // Its own role, so the grant is exactly this function (the shared default role is per stack).
    const schedulerRole = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } } }),
      description: 'Lets the verify schedules invoke the verify planner',
    });
    // The schedules' dead-letter queue is KMS-encrypted: Scheduler sends to it with this role.
    schedulerRole.addToPolicy(new iam.PolicyStatement({ actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [props.opsKey.keyArn] }));
    const invoke = (input: Record<string, unknown>) =>
      new targets.LambdaInvoke(this.planner.function, {
        role: schedulerRole,
        input: scheduler.ScheduleTargetInput.fromObject(input),
        deadLetterQueue: this.scheduleDeadLetterQueue,
        retryAttempts: 3,
        maxEventAge: Duration.hours(1),
      });
    this.dailySchedule = new scheduler.Schedule(this, 'Daily', {
      schedule: scheduler.ScheduleExpression.expression(props.schedule, timeZone),
      target: invoke({}),
      description: 'Verifies the newest backup of every target and tier',
    });
    this.ageReportSchedule = new scheduler.Schedule(this, 'AgeReport', {
      schedule: scheduler.ScheduleExpression.expression('cron(15 * * * ? *)', timeZone),
      target: invoke({ action: 'report-ages' }),
      description: 'Publishes the age of the newest verified backup of every target and tier',
    });

    acknowledgeWildcardResources(
      worker,
      [`${bucketArn}/*`, `${bucketArn}/${VERDICT_PREFIX}*`, `${replicaBucketArn}/*`],
      `The verifier reads any backup, manifest and verdict of the backup bucket (keys are per target and date), writes only under ${VERDICT_PREFIX} (which no instance role can write), and reads replica metadata by the same keys and versions.`,
    );
    acknowledgeWildcardResources(
      planner,
      [`${bucketArn}/*`, `${bucketArn}/${EXPECTED_SINCE_PREFIX}*`],
      `The planner checks that a requested backup exists and reads verdicts, under any target and date prefix of the backup bucket; it writes only the once-written markers under ${EXPECTED_SINCE_PREFIX}.`,
    );
    acknowledgeWildcardResources(
      schedulerRole,
      [`${this.planner.function.functionArn}:*`],
      'CDK grants invoke on the planner and its versions (ARN:*); the schedules invoke only this function.',
    );
    Validations.of(this.scheduleDeadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is the dead-letter queue of the verify schedules (EventBridge Scheduler), so it needs no dead-letter queue of its own.',
    });
  }
}
