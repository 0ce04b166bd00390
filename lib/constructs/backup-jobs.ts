import { Duration, Stack, TimeZone } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as events from 'aws-cdk-lib/aws-events';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { join } from 'node:path';
import {
  COMMAND_DETAIL_TYPE,
  INVOCATION_DETAIL_TYPE,
  RESULT_ENV,
  TRIGGER_ENV,
  encodeTargetPlans,
  type TargetPlan,
  type TierPlan,
} from '../../contracts/backup-command';
import { consoleLinks } from '../../contracts/console-links';
import { BackupCommandDocument } from './backup-command-document';
import { BackupInstancePolicy } from './backup-instance-policy';
import { InstancePolicyStacks } from './instance-policy-stacks';
import { HouseFunction } from './house-function';
import type { TierLockBound } from './object-lock-bounds';
import { RunCommandJob } from './run-command-job';
import { ShareableTestEvents } from './shareable-test-events';
import { METRICS, SERVICES } from '../../contracts/metric-catalog';
import { catalogMetric } from './monitoring';

/** A tier as the backup jobs use it: retention, and when it runs if it is scheduled. */
export interface BackupJobsTier extends TierLockBound {
  /** EventBridge Scheduler expression (`cron(...)`); absent for on-demand tiers. */
  readonly schedule?: string;
}

export interface BackupJobsProps {
  /** Prefix of the names that are a contract (document, instance policies). */
  readonly namePrefix: string;
  /** The targets, every default resolved (see `targetPlans`). */
  readonly targets: readonly TargetPlan[];
  /** Every configured tier by name. */
  readonly tiers: Readonly<Record<string, BackupJobsTier>>;
  /** Time zone of every schedule. */
  readonly timeZone: TimeZone;
  readonly backupBucket: s3.IBucket;
  readonly backupKey: kms.IKey;
  /** Encrypts logs, the dead-letter queue and schedules. */
  readonly opsKey: kms.IKey;
  /** Where failures are announced. */
  readonly alertTopic: sns.ITopic;
  /**
   * Directory of the instance scripts the document embeds (`BACKUP_SCRIPT_FILES`).
   * @default - `scripts/instance/` of this repository
   */
  readonly scriptsDir?: string;
  /**
   * Attempts of a schedule to invoke the trigger before the event goes to the dead-letter queue.
   * @default 3
   */
  readonly scheduleRetryAttempts?: number;
  /**
   * How late a scheduled run may still start (a backup hours late is better than none).
   * @default - 2 hours
   */
  readonly scheduleMaxEventAge?: Duration;
  /**
   * How long an instance has to pick up a backup command before it counts as not delivered.
   * @default - 30 minutes
   */
  readonly deliveryTimeout?: Duration;
  /**
   * How long command output (the instance scripts' logs) is kept.
   * @default - one year
   */
  readonly commandLogRetention?: logs.RetentionDays;
}

/**
 * Scheduled backups of EC2-hosted databases and files through SSM Run Command (the pipeline of
 * RunCommandJob with the backup document): per-tier schedules invoking the trigger, the result
 * function, and one managed policy per target for the instances. Its alarms are made by
 * `Monitoring.monitorBackupJobs`.
 */
export class BackupJobs extends RunCommandJob {
  readonly trigger: HouseFunction;
  readonly result: HouseFunction;
  /** One schedule per scheduled tier that has targets, by tier name. */
  readonly schedules: ReadonlyMap<string, scheduler.Schedule>;
  /** The managed policy of each target, by target name. */
  readonly instancePolicies: ReadonlyMap<string, BackupInstancePolicy>;
  readonly resultRule: events.Rule;
  /** Ready-made trigger events in the Lambda console's Test tab (a run per tier, a backup per target). */
  readonly testEvents: ShareableTestEvents;

  constructor(scope: Construct, id: string, props: BackupJobsProps) {
    validateProps(props);
    super(scope, id, {
      ...props,
      noun: 'Backup',
      documentClass: BackupCommandDocument,
      documentName: `BackupKit-${props.namePrefix}-InstanceBackup`,
      deadLetterQueueReason:
        'This queue is itself the dead-letter queue of the backup schedules, the Run Command status rule and the trigger/result async invocations; an alarm fires on its first message.',
    });
    const deliveryTimeout = props.deliveryTimeout ?? Duration.minutes(30);

    const tierPlan: TierPlan = Object.fromEntries(
      Object.entries(props.tiers).map(([name, tier]) => [name, { retentionDays: tier.retention.toDays(), scheduled: tier.schedule !== undefined, objectLockMode: tier.mode ?? 'GOVERNANCE' }]),
    );
    const encodedTargets = encodeTargetPlans(props.targets);

    this.trigger = new HouseFunction(this, 'Trigger', {
      entry: join(__dirname, '../../lambda/backup-trigger/handler.ts'),
      description: 'Starts EC2 backups: one Run Command per target of a tier ({"tier":"daily"} or {"tier":"manual","target":"name"})',
      serviceName: SERVICES.backupTrigger,
      logKey: props.opsKey,
      timeout: Duration.minutes(5),
      environment: {
        [TRIGGER_ENV.documentName]: this.document.documentName,
        [TRIGGER_ENV.documentSha256]: this.document.contentSha256,
        [TRIGGER_ENV.bucket]: props.backupBucket.bucketName,
        [TRIGGER_ENV.kmsKeyArn]: props.backupKey.keyArn,
        [TRIGGER_ENV.commandLogGroupName]: this.commandLogGroup.logGroupName,
        [TRIGGER_ENV.alertTopicArn]: props.alertTopic.topicArn,
        [TRIGGER_ENV.deliveryTimeoutSeconds]: String(deliveryTimeout.toSeconds()),
        [TRIGGER_ENV.tiers]: JSON.stringify(tierPlan),
        [TRIGGER_ENV.targets]: encodedTargets,
      },
    });
    const result = this.addResultFunction({
      entry: join(__dirname, '../../lambda/backup-result/handler.ts'),
      description: 'Records each finished EC2 backup run: metrics, and an alert with the next step when it failed',
      serviceName: SERVICES.backupResult,
      environment: {
        [RESULT_ENV.documentName]: this.document.documentName,
        [RESULT_ENV.alertTopicArn]: props.alertTopic.topicArn,
        [RESULT_ENV.commandLogGroupName]: this.commandLogGroup.logGroupName,
        [RESULT_ENV.triggerFunctionName]: this.trigger.function.functionName,
      },
      detailTypes: [INVOCATION_DETAIL_TYPE, COMMAND_DETAIL_TYPE],
    });
    this.result = result.fn;
    this.resultRule = result.rule;
    this.grantSend(this.trigger.role, props.targets.map((target) => target.instances));
    this.grantAlerts(this.trigger.role);
    this.deadLetterFailedInvocations(this.trigger);

    this.schedules = this.createSchedules(props);
    // In nested stacks: two resources per target would end the parent stack near 200 targets.
    const policyStacks = new InstancePolicyStacks(this, 'InstancePolicies', { targets: props.targets.map((target) => target.name) });
    this.instancePolicies = new Map(
      props.targets.map((target) => [
        target.name,
        new BackupInstancePolicy(policyStacks.scopeFor(target.name), `InstancePolicy-${target.name}`, {
          target,
          bucket: props.backupBucket,
          bucketKey: props.backupKey,
          commandLogGroup: this.commandLogGroup,
          managedPolicyName: `${props.namePrefix}-backup-${target.name}`,
          tierLocks: props.tiers,
        }),
      ]),
    );

    this.testEvents = this.createTestEvents(props);
  }

  /** Link to the trigger's Test tab, where an engineer starts a manual or pre-deploy backup. */
  get triggerConsoleLink(): string {
    return consoleLinks.lambdaTest(Stack.of(this).region, this.trigger.function.functionName);
  }

  /** BackupSucceeded/BackupFailed/BackupDurationSeconds of one target and tier (the stored size is the verifier's BackupBytes). */
  metricBackup(
    metricName: 'BackupSucceeded' | 'BackupFailed' | 'BackupDurationSeconds',
    target: string,
    tier: string,
    options: cloudwatch.MetricOptions = {},
  ): cloudwatch.Metric {
    const spec = {
      BackupSucceeded: METRICS.backupSucceeded,
      BackupFailed: METRICS.backupFailed,
      BackupDurationSeconds: METRICS.backupDurationSeconds,
    }[metricName];
    return catalogMetric(spec, { Target: target, Tier: tier }, {
      statistic: metricName === 'BackupSucceeded' || metricName === 'BackupFailed' ? cloudwatch.Stats.SUM : cloudwatch.Stats.MAXIMUM,
      period: Duration.days(1),
      ...options,
    });
  }

  /** BackupSendFailed: a target's command could not be sent at all. */
  metricSendFailed(target: string, tier: string, options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return catalogMetric(METRICS.backupSendFailed, { Target: target, Tier: tier }, { statistic: cloudwatch.Stats.SUM, period: Duration.days(1), ...options });
  }

  /**
   * Events an engineer picks in the trigger's Test tab: each on-demand tier (manual,
   * pre-deploy) for each target, and a whole run of each scheduled tier.
   */
  private createTestEvents(props: BackupJobsProps): ShareableTestEvents {
    const tierNames = Object.keys(props.tiers);
    const testEvents = new ShareableTestEvents(this, 'TestEvents', {
      function: this.trigger.function,
      logKey: props.opsKey,
      eventSchema: {
        type: 'object',
        required: ['tier'],
        additionalProperties: false,
        properties: {
          tier: { type: 'string', enum: tierNames },
          target: { type: 'string', enum: props.targets.map((target) => target.name) },
        },
      },
    });
    for (const [tierName, tier] of Object.entries(props.tiers)) {
      if (tier.schedule === undefined) {
        for (const target of props.targets.filter((candidate) => candidate.tiers.includes(tierName))) {
          testEvents.addEvent(`${tierName} backup of ${target.name}`, { tier: tierName, target: target.name });
        }
      } else if (props.targets.some((target) => target.tiers.includes(tierName))) {
        testEvents.addEvent(`${tierName} run of every target`, { tier: tierName });
      }
    }
    return testEvents;
  }

  private createSchedules(props: BackupJobsProps): Map<string, scheduler.Schedule> {
    const schedules = new Map<string, scheduler.Schedule>();
    const scheduled = Object.entries(props.tiers).filter(
      ([name, tier]) => tier.schedule !== undefined && props.targets.some((target) => target.tiers.includes(name)),
    );
    if (scheduled.length === 0) return schedules;

    const role = this.schedulerRole(this.trigger, 'Lets the backup schedules invoke the backup trigger and dead-letter what they cannot deliver', 'the backup trigger function');

    for (const [tierName, tier] of scheduled) {
      const schedule = new scheduler.Schedule(this, `Schedule-${tierName}`, {
        description: `backup-kit: starts the '${tierName}' EC2 backups (${tier.schedule} ${props.timeZone.timezoneName})`,
        schedule: scheduler.ScheduleExpression.expression(tier.schedule as string, props.timeZone),
        key: props.opsKey,
        target: new schedulerTargets.LambdaInvoke(this.trigger.function, {
          input: scheduler.ScheduleTargetInput.fromObject({ tier: tierName }),
          role,
          deadLetterQueue: this.deadLetterQueue,
          retryAttempts: props.scheduleRetryAttempts ?? 3,
          maxEventAge: props.scheduleMaxEventAge ?? Duration.hours(2),
        }),
      });
      schedules.set(tierName, schedule);
    }
    return schedules;
  }
}

function validateProps(props: BackupJobsProps): void {
  if (props.targets.length === 0) {
    throw new Error('BackupJobs targets: at least one target is required (leave the construct out when there is nothing to back up)');
  }
  const tierNames = Object.keys(props.tiers);
  for (const target of props.targets) {
    const unknown = target.tiers.filter((tier) => !tierNames.includes(tier));
    if (unknown.length > 0) {
      throw new Error(`BackupJobs targets: '${target.name}' takes part in unknown tier(s) ${unknown.join(', ')} (tiers: ${tierNames.join(', ')})`);
    }
  }
  for (const [name, tier] of Object.entries(props.tiers)) {
    if (tier.retention.toDays() < 1) throw new Error(`BackupJobs tiers: '${name}' retention must be at least one day`);
  }
  const attempts = props.scheduleRetryAttempts ?? 3;
  if (!Number.isInteger(attempts) || attempts < 0 || attempts > 185) {
    throw new Error(`BackupJobs scheduleRetryAttempts: must be 0-185 (got ${attempts})`);
  }
  const age = (props.scheduleMaxEventAge ?? Duration.hours(2)).toSeconds();
  if (age < 60 || age > 86_400) throw new Error(`BackupJobs scheduleMaxEventAge: must be 1 minute to 24 hours (got ${age} s)`);
  const delivery = (props.deliveryTimeout ?? Duration.minutes(30)).toSeconds();
  if (delivery < 30 || delivery > 2_592_000) throw new Error(`BackupJobs deliveryTimeout: must be 30 s to 30 days (got ${delivery} s)`);
}
