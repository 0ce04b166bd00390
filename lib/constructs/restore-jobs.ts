import { CustomResource, Duration, Stack, TimeZone } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { join } from 'node:path';
import { INVOCATION_DETAIL_TYPE, type ObjectLockModeName } from '../../contracts/backup-command';
import { consoleLinks } from '../../contracts/console-links';
import {
  DRILL_NAME_INFIX,
  DRILL_RECORD_PREFIX,
  DRILL_SERVICE,
  RESTORE_ENV,
  RESTORE_SERVICE,
  rdsDrillTargetName,
  type RestoreSite,
  type RestoreTarget,
} from '../../contracts/restore-command';
import { REBUILD_RECORD_PREFIX, type RebuildEventInput } from '../../contracts/rebuild';
import { HouseFunction } from './house-function';
import { acknowledgeWildcardResources, acknowledgeWildcards } from './nag';
import { RestoreCommandDocument } from './restore-command-document';
import { InstancePolicyStacks } from './instance-policy-stacks';
import { restoreInstancePolicy } from './restore-instance-policy';
import { RunCommandJob } from './run-command-job';
import type { ShareableTestEvents } from './shareable-test-events';
import { restoreTestEvents } from './restore-test-events';
import { validateRestoreJobsProps } from './restore-jobs-validation';
import { grantRdsDrills } from './rds-drill-grants';

/** An RDS instance drilled by point-in-time restore into a temporary instance. */
export interface RdsDrillSource {
  readonly identifier: string;
  /** Class of the temporary instance. */
  readonly instanceClass: string;
  /**
   * The instance's KMS key.
   * @default - any key of the account, through RDS only
   */
  readonly kmsKey?: kms.IKey;
}

export interface RestoreDrillOptions {
  /** EventBridge Scheduler cron of the drills, in `timeZone`. */
  readonly schedule: string;
  /** The alarm fires after this many days without a successful drill of a target. */
  readonly alarmAfterDays: number;
  /**
   * RDS instances drilled by point-in-time restore.
   * @default - none
   */
  readonly rds?: readonly RdsDrillSource[];
  /**
   * Servers rebuilt onto a standby instance on the drill schedule, in scratch mode: each target
   * restored there, checked against its manifest and removed, one after another; the alert gives
   * the measured recovery time of the server. The server must be one of `servers`.
   * @default - none
   */
  readonly rebuilds?: readonly { readonly server: string; readonly onto: string }[];
}

export interface RestoreJobsProps {
  /** Prefix of the names that are a contract (document, instance policies). */
  readonly namePrefix: string;
  /** The EC2 targets with their backup and restore settings. */
  readonly targets: readonly RestoreTarget[];
  readonly backupBucket: s3.IBucket;
  readonly backupKey: kms.IKey;
  /** Tier of the safety backups a replace takes first. */
  readonly safetyTier: string;
  /**
   * Retention of that tier.
   * @default - the tier does not exist: replace restores are refused, scratch restores and drills work
   */
  readonly safetyRetention?: Duration;
  /**
   * The safety tier's Object Lock mode: safety backups are locked in it, and in no other.
   * @default 'GOVERNANCE'
   */
  readonly safetyObjectLockMode?: ObjectLockModeName;
  /** Encrypts logs, queues and schedules. */
  readonly opsKey: kms.IKey;
  readonly alertTopic: sns.ITopic;
  readonly timeZone: TimeZone;
  /**
   * The monthly drills and their alarm.
   * @default - no drills
   */
  readonly drills?: RestoreDrillOptions;
  /**
   * The instances that restore here have no backup policy of the target (the DR region, where the
   * primary's policies name other regions): the restore policy also lets them read the backup
   * user's password, as the backup policy does.
   * @default false
   */
  readonly standaloneInstancePolicies?: boolean;
  /**
   * Servers rebuilt in one call (`{ "rebuild": name, "onto": "i-…" }`): name → its targets, each
   * with instances it may be restored onto (`restore.onto`).
   * @default - none: rebuild events are refused
   */
  readonly servers?: Readonly<Record<string, readonly string[]>>;
  /**
   * Directory of the instance scripts the restore document embeds (`RESTORE_SCRIPT_FILES`).
   * @default - `scripts/instance/` of this repository
   */
  readonly scriptsDir?: string;
  /**
   * How long an instance has to pick up a restore before it counts as not delivered.
   * @default - 10 minutes
   */
  readonly deliveryTimeout?: Duration;
}

/**
 * Restores of EC2-hosted databases and files, and the restore drills (the pipeline of
 * RunCommandJob with the restore document): the console-invoked restore function, the result
 * function (alerts with duration, `restore` and `drill` metrics, drill records), the drill
 * function with its monthly and daily schedules, and one managed policy per target for the
 * instances that restore it. Its alarms, the no-recent-drill ones included, are made by
 * `Monitoring.monitorRestoreJobs`.
 */
export class RestoreJobs extends RunCommandJob {
  readonly restoreFunction: HouseFunction;
  readonly resultFunction: HouseFunction;
  readonly drillFunction?: HouseFunction;
  readonly resultRule: events.Rule;
  /** The drill and report schedules, when drills are on. */
  readonly schedules: readonly scheduler.Schedule[] = [];
  /** The drills, when on: which targets (EC2 targets, and `rds:<identifier>`), the alarm's limit, and the report run at deploy that the alarms must follow. */
  readonly drills?: { readonly targets: readonly string[]; readonly alarmAfterDays: number; readonly reportAtDeploy: CustomResource };
  /** The managed policy of each target's restoring instances, by target name. */
  readonly instancePolicies: ReadonlyMap<string, iam.ManagedPolicy>;
  readonly testEvents: ShareableTestEvents;

  constructor(scope: Construct, id: string, props: RestoreJobsProps) {
    validateRestoreJobsProps(props);
    super(scope, id, {
      ...props,
      noun: 'Restore',
      documentClass: RestoreCommandDocument,
      documentName: `BackupKit-${props.namePrefix}-InstanceRestore`,
      deadLetterQueueReason: 'This queue is itself the dead-letter queue of the restore result rule and the drill schedules; an alarm fires on its first message.',
    });
    const stack = Stack.of(this);
    const deliveryTimeout = props.deliveryTimeout ?? Duration.minutes(10);

    const site: RestoreSite = {
      bucket: props.backupBucket.bucketName,
      kmsKeyArn: props.backupKey.keyArn,
      region: stack.region,
      safetyTier: props.safetyTier,
      safetyRetentionDays: props.safetyRetention?.toDays() ?? 0,
      safetyObjectLockMode: props.safetyObjectLockMode ?? 'GOVERNANCE',
    };
    const targetsJson = JSON.stringify(props.targets);
    const serversJson = JSON.stringify(props.servers ?? {});
    const jobEnvironment = {
      [RESTORE_ENV.documentName]: this.document.documentName,
      [RESTORE_ENV.documentSha256]: this.document.contentSha256,
      [RESTORE_ENV.site]: stack.toJsonString(site),
      [RESTORE_ENV.targets]: targetsJson,
      [RESTORE_ENV.servers]: serversJson,
      [RESTORE_ENV.commandLogGroupName]: this.commandLogGroup.logGroupName,
      [RESTORE_ENV.deliveryTimeoutSeconds]: String(deliveryTimeout.toSeconds()),
    };

    this.restoreFunction = new HouseFunction(this, 'Restore', {
      entry: join(__dirname, '../../lambda/restore/handler.ts'),
      description: 'Restores an EC2 target backup (console): {"target":"name","mode":"scratch"|"replace","dryRun":true}; rebuilds a server: {"rebuild":"server","onto":"i-...","dryRun":true}',
      serviceName: RESTORE_SERVICE,
      logKey: props.opsKey,
      // A rebuild chooses and pins a backup per target and waits up to a minute for the preflight on the instance.
      timeout: Duration.minutes(3),
      environment: jobEnvironment,
    });
    this.grantChooseAndSend(this.restoreFunction.role, props, { onto: true });
    // Restores onto another instance wait for the preflight's answer there.
    this.grantReadRuns(this.restoreFunction.role);

    const result = this.addResultFunction({
      entry: join(__dirname, '../../lambda/restore-result/handler.ts'),
      description: 'Records each finished restore and drill run: alert with duration, restore/drill metrics, drill records',
      serviceName: RESTORE_SERVICE,
      environment: {
        [RESTORE_ENV.documentName]: this.document.documentName,
        [RESTORE_ENV.alertTopicArn]: props.alertTopic.topicArn,
        [RESTORE_ENV.commandLogGroupName]: this.commandLogGroup.logGroupName,
        [RESTORE_ENV.bucket]: props.backupBucket.bucketName,
      },
      detailTypes: [INVOCATION_DETAIL_TYPE],
    });
    this.resultFunction = result.fn;
    this.resultRule = result.rule;
    this.grantRecords(this.resultFunction.role, props, DRILL_RECORD_PREFIX, ['s3:PutObject']);
    const servers = Object.values(props.servers ?? {});
    if (servers.length > 0) {
      // Rebuilds: the restore function records the plan and sends the first target; the result
      // function sends each next one, only to the instances those targets may be restored onto.
      this.grantRecords(this.restoreFunction.role, props, REBUILD_RECORD_PREFIX, ['s3:PutObject']);
      this.grantRecords(this.resultFunction.role, props, REBUILD_RECORD_PREFIX, ['s3:GetObject', 's3:PutObject']);
      const rebuilt = new Set(servers.flat());
      this.grantSend(this.resultFunction.role, props.targets.flatMap((target) => (rebuilt.has(target.backup.name) && target.restore.onto ? [target.restore.onto] : [])));
    }

    if (props.drills) {
      const drills = props.drills;
      const rdsDrills = drills.rds ?? [];
      const drillFunction = new HouseFunction(this, 'Drill', {
        entry: join(__dirname, '../../lambda/drill/handler.ts'),
        description: 'Restore drills: monthly scratch restores of every target (and RDS point-in-time drills), daily days-since-last-drill report',
        serviceName: DRILL_SERVICE,
        logKey: props.opsKey,
        timeout: Duration.minutes(10),
        environment: {
          ...jobEnvironment,
          [RESTORE_ENV.alertTopicArn]: props.alertTopic.topicArn,
          [RESTORE_ENV.drillAlarmAfterDays]: String(drills.alarmAfterDays),
          [RESTORE_ENV.rdsDrills]: JSON.stringify(rdsDrills.map((drill) => ({ identifier: drill.identifier, instanceClass: drill.instanceClass }))),
        },
      });
      this.drillFunction = drillFunction;
      this.grantChooseAndSend(drillFunction.role, props, { onto: false });
      this.grantAlerts(drillFunction.role);
      this.deadLetterFailedInvocations(drillFunction);
      this.grantRecords(drillFunction.role, props, DRILL_RECORD_PREFIX, ['s3:GetObject', 's3:PutObject']);
      if (rdsDrills.length > 0) grantRdsDrills(drillFunction.role, rdsDrills, stack.region);
      this.schedules = [...this.createSchedules(drillFunction, drills, props), ...this.createRebuildDrillSchedules(drills, props)];
      if (rdsDrills.length > 0) {
        new events.Rule(this, 'RdsDrillRule', {
          description: 'RDS events of the temporary drill instances, for the drill function to check, record and delete them',
          eventPattern: {
            source: ['aws.rds'],
            detailType: ['RDS DB Instance Event'],
            detail: { SourceType: ['DB_INSTANCE'], SourceIdentifier: rdsDrills.map((drill) => ({ prefix: `${drill.identifier}${DRILL_NAME_INFIX}` })) },
          },
          targets: [new eventTargets.LambdaFunction(drillFunction.function, { deadLetterQueue: this.deadLetterQueue, retryAttempts: 4, maxEventAge: Duration.hours(6) })],
        });
      }
      const drilled = [...props.targets.filter((target) => target.restore.drill).map((target) => target.backup.name), ...rdsDrills.map((drill) => rdsDrillTargetName(drill.identifier))];
      // The drill report once at deploy (and whenever the drilled targets change), before the
      // no-recent-drill alarms exist: a never-drilled target then counts from now, not from missing data.
      const reportAtDeploy = new CustomResource(this, 'DrillReportAtDeploy', {
        serviceToken: drillFunction.function.functionArn,
        resourceType: 'Custom::DrillReportAtDeploy',
        properties: { DrilledTargets: drilled.join(',') },
      });
      reportAtDeploy.node.addDependency(drillFunction.role);
      this.drills = { targets: drilled, alarmAfterDays: drills.alarmAfterDays, reportAtDeploy };
    }

    // In nested stacks: a resource per target would end the parent stack within CloudFormation's 500.
    const policyStacks = new InstancePolicyStacks(this, 'InstancePolicies', { targets: props.targets.map((target) => target.backup.name) });
    this.instancePolicies = new Map(
      props.targets.map((target) => [target.backup.name, restoreInstancePolicy(policyStacks.scopeFor(target.backup.name), target, { ...props, commandLogGroup: this.commandLogGroup })]),
    );

    this.testEvents = restoreTestEvents(this, { fn: this.restoreFunction.function, logKey: props.opsKey, targets: props.targets, servers: props.servers ?? {} });
  }

  /** Link to the restore function's Test tab. */
  get restoreConsoleLink(): string {
    return consoleLinks.lambdaTest(Stack.of(this).region, this.restoreFunction.function.functionName);
  }

  /**
   * Read the targets' backups (listing, manifests, verdicts), find their instances, send the
   * restore document to them; with `onto`, also to the instances each target may be restored onto.
   */
  private grantChooseAndSend(role: iam.Role, props: RestoreJobsProps, options: { readonly onto: boolean }): void {
    const stack = Stack.of(this);
    // The tiers the targets take part in (and the safety tier), with their verdicts: a role's
    // policies must fit IAM's limits (10 managed policies of 6,144 characters) with 500 targets, so
    // they name tiers, not targets. Which target a restore may touch is the event's validation and
    // the instances the role may send to.
    const tiers = [...new Set([...props.targets.flatMap((target) => target.backup.tiers), props.safetyTier])].sort();
    const prefixes = tiers.flatMap((tier) => [`${tier}/`, `verdicts/${tier}/`]);
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ListTargetBackups',
        // Versions: a restore reads exactly the first (verified) version of a backup and its manifest.
        actions: ['s3:ListBucket', 's3:ListBucketVersions'],
        resources: [props.backupBucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': prefixes.map((prefix) => `${prefix}*`) } },
      }),
    );
    const objectArns = prefixes.map((prefix) => props.backupBucket.arnForObjects(`${prefix}*`));
    role.addToPolicy(new iam.PolicyStatement({ sid: 'ReadManifestsAndVerdicts', actions: ['s3:GetObject', 's3:GetObjectVersion'], resources: objectArns }));
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'DecryptThroughS3',
        actions: ['kms:Decrypt'],
        resources: [props.backupKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${stack.region}.amazonaws.com` } },
      }),
    );
    acknowledgeWildcardResources(role, objectArns, 'The functions read the backups, manifests and verdicts of the configured tiers only, under <tier>/ and verdicts/<tier>/; object keys carry a target and a timestamp, and naming each target would pass IAM\'s policy size limits at scale.');
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'FindManagedInstances',
        // DescribeInstanceInformation supports no resource-level permissions; it only reads SSM's inventory.
        actions: ['ssm:DescribeInstanceInformation'],
        resources: ['*'],
      }),
    );
    acknowledgeWildcards(role, ['Resource::*'], 'ssm:DescribeInstanceInformation supports no resource-level permissions; it lists which managed instances carry a target\'s tag and whether their agent is online.');
    const onto = options.onto ? props.targets.flatMap((target) => (target.restore.onto ? [target.restore.onto] : [])) : [];
    this.grantSend(role, [...props.targets.map((target) => target.backup.instances), ...onto]);
  }

  /** Records under `prefix` of the backup bucket (drills/: last successful drill per target; rebuilds/: each rebuild's plan and results): the only objects these functions write there. */
  private grantRecords(role: iam.Role, props: RestoreJobsProps, prefix: string, actions: string[]): void {
    const records = props.backupBucket.arnForObjects(`${prefix}*`);
    const what = prefix === DRILL_RECORD_PREFIX ? 'Drill' : 'Rebuild';
    role.addToPolicy(new iam.PolicyStatement({ sid: `${what}Records`, actions, resources: [records] }));
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: `Encrypt${what}RecordsThroughS3`,
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [props.backupKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Stack.of(this).region}.amazonaws.com` } },
      }),
    );
    acknowledgeWildcardResources(role, [records], `${what} records live under ${prefix} of the backup bucket, one object per ${what === 'Drill' ? 'target' : 'rebuild'}; the prefix keeps these functions away from every backup.`);
  }

  /** The rebuild drills: the restore function, on the drill schedule, with a rebuild drill event; a refusal fails the invocation into the dead-letter queue. */
  private createRebuildDrillSchedules(drills: RestoreDrillOptions, props: RestoreJobsProps): scheduler.Schedule[] {
    const rebuilds = drills.rebuilds ?? [];
    if (rebuilds.length === 0) return [];
    this.deadLetterFailedInvocations(this.restoreFunction);
    const role = this.schedulerRole(this.restoreFunction, 'Lets the rebuild drill schedules invoke the restore function and dead-letter what they cannot deliver', 'the restore function', 'RebuildDrillSchedulerRole');
    return rebuilds.map(
      ({ server, onto }) =>
        new scheduler.Schedule(this, `RebuildDrillSchedule-${server}`, {
          description: `backup-kit: rebuild drill of server ${server} onto ${onto} (${drills.schedule} ${props.timeZone.timezoneName})`,
          schedule: scheduler.ScheduleExpression.expression(drills.schedule, props.timeZone),
          key: props.opsKey,
          target: new schedulerTargets.LambdaInvoke(this.restoreFunction.function, {
            input: scheduler.ScheduleTargetInput.fromObject({ rebuild: server, onto, mode: 'scratch', drill: true, requestedBy: 'monthly rebuild drill' } satisfies RebuildEventInput),
            role,
            deadLetterQueue: this.deadLetterQueue,
            retryAttempts: 3,
            maxEventAge: Duration.hours(6),
          }),
        }),
    );
  }

  private createSchedules(drillFunction: HouseFunction, drills: RestoreDrillOptions, props: RestoreJobsProps): scheduler.Schedule[] {
    const role = this.schedulerRole(drillFunction, 'Lets the drill schedules invoke the drill function and dead-letter what they cannot deliver', 'the drill function');
    const target = (action: 'drill' | 'report') =>
      new schedulerTargets.LambdaInvoke(drillFunction.function, {
        input: scheduler.ScheduleTargetInput.fromObject({ action }),
        role,
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: 3,
        maxEventAge: Duration.hours(6),
      });
    return [
      new scheduler.Schedule(this, 'DrillSchedule', {
        description: `backup-kit: restore drills of every target (${drills.schedule} ${props.timeZone.timezoneName})`,
        schedule: scheduler.ScheduleExpression.expression(drills.schedule, props.timeZone),
        key: props.opsKey,
        target: target('drill'),
      }),
      new scheduler.Schedule(this, 'DrillReportSchedule', {
        description: 'backup-kit: daily report of the days since each target\'s last successful restore drill',
        schedule: scheduler.ScheduleExpression.expression('cron(30 6 * * ? *)', props.timeZone),
        key: props.opsKey,
        target: target('report'),
      }),
    ];
  }
}
