import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct, type IDependable } from 'constructs';
import { METRIC_NAMESPACE, METRICS, type MetricSpec } from '../../contracts/metric-catalog';
import type { BackupJobs } from './backup-jobs';
import type { ManagedRestore } from './managed-restore';
import type { RecoveryPointAges } from './recovery-point-ages';
import type { RestoreJobs } from './restore-jobs';

export { METRIC_NAMESPACE };

/**
 * One of the kit's metrics as the catalog defines it, with values for one of its dimension sets
 * (the synth fails on any other set: an alarm on it would watch a series nobody publishes).
 */
export function catalogMetric(spec: MetricSpec, dimensions: Readonly<Record<string, string>>, options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
  const given = Object.keys(dimensions).sort();
  if (!spec.dimensionSets.some((set) => set.length === given.length && [...set].sort().every((name, index) => name === given[index]))) {
    throw new Error(`metric ${spec.service}/${spec.name}: dimensions {${given.join(',')}} are none of the catalog's (${spec.dimensionSets.map((set) => `{${set.join(',')}}`).join(' or ')})`);
  }
  return new cloudwatch.Metric({ namespace: METRIC_NAMESPACE, metricName: spec.name, ...options, dimensionsMap: { service: spec.service, ...dimensions } });
}

/**
 * Builds the app's metrics: its own (from the metric catalog: namespace, `service` per job,
 * dimension sets) and the AWS ones it watches. One place, so alarms and dashboard read the same
 * series the functions publish.
 */
export class MetricFactory {
  /** A catalog metric with values for one of its dimension sets. */
  app(spec: MetricSpec, dimensions: Readonly<Record<string, string>>, statistic: string, period: Duration): cloudwatch.Metric {
    return catalogMetric(spec, dimensions, { statistic, period });
  }

  /** Every series of a catalog metric with one of its dimension sets (dashboards: one line per target). */
  search(spec: MetricSpec, statistic: string, period: Duration, label: string, dimensionSet: readonly string[] = spec.dimensionSets[0] ?? []): cloudwatch.MathExpression {
    if (!spec.dimensionSets.some((set) => set.join(',') === dimensionSet.join(','))) {
      throw new Error(`metric ${spec.service}/${spec.name}: {${dimensionSet.join(',')}} is not one of its dimension sets`);
    }
    const schema = [METRIC_NAMESPACE, 'service', ...dimensionSet].join(',');
    return new cloudwatch.MathExpression({
      expression: `SEARCH('{${schema}} service="${spec.service}" MetricName="${spec.name}"', '${statistic}', ${period.toSeconds()})`,
      label,
      period,
      usingMetrics: {},
    });
  }

  s3Replication(metricName: string, source: string, destination: string, ruleId: string, statistic: string, period: Duration): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/S3',
      metricName,
      dimensionsMap: { SourceBucket: source, DestinationBucket: destination, RuleId: ruleId },
      statistic,
      period,
    });
  }
}

export interface AlarmSpec {
  readonly metric: cloudwatch.IMetric;
  readonly threshold: number;
  readonly comparison: cloudwatch.ComparisonOperator;
  readonly treatMissingData: cloudwatch.TreatMissingData;
  /** What broke, for whom, and what to do next. */
  readonly description: string;
  /** The docs page with the runbook, as a repository path with an optional anchor (e.g. `docs/drills.md`); the description ends with it. */
  readonly runbook: string;
  /** @default 1 */
  readonly evaluationPeriods?: number;
  /** @default - all evaluation periods */
  readonly datapointsToAlarm?: number;
  /**
   * Also notify when the alarm returns to OK: for conditions that persist (age, a full queue).
   * Event counts (a failed run) drop back to OK after a quiet period without anything having been
   * fixed, so they notify only when they fire.
   * @default false
   */
  readonly notifyOnRecovery?: boolean;
}

/** Makes alarms that notify the alert topic when they fire (and, for lasting conditions, when they recover). */
export class AlarmFactory {
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(
    private readonly scope: Construct,
    private readonly topic: sns.ITopic,
  ) {}

  addAlarm(id: string, spec: AlarmSpec): cloudwatch.Alarm {
    if (!/^docs\/[\w/.-]+\.md(#[\w-]+)?$/.test(spec.runbook)) throw new Error(`Monitoring alarm ${id} runbook: '${spec.runbook}' is not a docs/ page path`);
    const description = `${spec.description} Runbook: ${spec.runbook}`;
    if (description.length > 1024) throw new Error(`Monitoring alarm ${id} description: at most 1024 characters (CloudWatch's limit)`);
    const alarm = new cloudwatch.Alarm(this.scope, id, {
      metric: spec.metric,
      threshold: spec.threshold,
      comparisonOperator: spec.comparison,
      evaluationPeriods: spec.evaluationPeriods ?? 1,
      datapointsToAlarm: spec.datapointsToAlarm ?? spec.evaluationPeriods ?? 1,
      treatMissingData: spec.treatMissingData,
      alarmDescription: description,
    });
    const action = new actions.SnsAction(this.topic);
    alarm.addAlarmAction(action);
    if (spec.notifyOnRecovery) alarm.addOkAction(action);
    this.alarms.push(alarm);
    return alarm;
  }
}

export interface MonitoringProps {
  /** Where every alarm notifies. */
  readonly alertTopic: sns.ITopic;
  /**
   * Name of the CloudWatch dashboard.
   * @default - CloudFormation generates the name
   */
  readonly dashboardName?: string;
}

export interface ReplicationMonitoringProps {
  readonly sourceBucketName: string;
  readonly destinationBucketName: string;
  readonly ruleId: string;
  /**
   * Replication latency above which the alarm fires.
   * @default - 15 minutes (Replication Time Control's promise)
   */
  readonly maxLatency?: Duration;
}

/** Metrics that age alarms read are published hourly; two missing or high hours in a row alarm. */
const AGE_PERIOD = Duration.hours(1);
const EVENT_PERIOD = Duration.hours(1);
const OPERATIONS_PERIOD = Duration.minutes(5);

/**
 * The app's monitoring facade: one call per job, target or queue wires the same alarms (to the
 * alert topic, with descriptions naming the job, the target and the next step) and the same
 * dashboard widgets.
 *
 * ```ts
 * monitoring.addLambda(fn, 'backup trigger');
 * monitoring.addDeadLetterQueue(dlq, 'backup schedules');
 * monitoring.addTierAge('daily', 26);
 * monitoring.addBackupConditions();
 * ```
 */
/** The construct id of the function `AwsCustomResource` makes once per stack. */
const AWS_CUSTOM_RESOURCE_PROVIDER_ID = `AWS${cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace(/-/g, '')}`;

export class Monitoring extends Construct {
  readonly metrics = new MetricFactory();
  readonly alarmFactory: AlarmFactory;
  readonly dashboard: cloudwatch.Dashboard;
  private readonly lambdaWidgets: cloudwatch.IWidget[] = [];
  private readonly queueWidgets: cloudwatch.IWidget[] = [];
  private readonly jobIds = new Set<string>();
  private readonly watchedFunctions = new Set<lambda.IFunction>();
  private readonly tiers = new Set<string>();
  private conditionsAdded = false;
  private readonly ageLogGroups: logs.ILogGroup[] = [];
  private readonly ageAlarms: cloudwatch.Alarm[] = [];
  private readonly ageAlarmPrerequisites: IDependable[] = [];

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    this.alarmFactory = new AlarmFactory(this, props.alertTopic);
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      ...(props.dashboardName ? { dashboardName: props.dashboardName } : {}),
      defaultInterval: Duration.days(14),
    });
    // Tags on dashboards are newer than the CloudFormation schema cfn-lint checks against.
    (this.dashboard.node.defaultChild as cloudwatch.CfnDashboard).addPropertyDeletionOverride('Tags');
    this.node.addValidation({ validate: () => (this.rendered ? [] : ['Monitoring: finish() was not called, so the dashboard is empty and some functions have no alarms']) });
  }

  /** All alarms made so far. */
  get alarms(): readonly cloudwatch.Alarm[] {
    return this.alarmFactory.alarms;
  }

  /**
   * The Errors alarm of one function of the app, and its dashboard graph (errors and throttles).
   * Throttles have one alarm per region (see `finish`).
   */
  addLambda(fn: lambda.IFunction, job: string): void {
    const id = this.uniqueId('Lambda', job);
    this.watchedFunctions.add(fn);
    const errors = fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' });
    const throttles = fn.metricThrottles({ period: Duration.minutes(5), statistic: 'Sum' });
    this.alarmFactory.addAlarm(`${id}Errors`, {
      metric: errors,
      threshold: 0,
      comparison: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      description: `Job '${job}': its Lambda function failed (Errors > 0 in 5 minutes). Next step: open the function's log group, find the error (search for "ERROR"), fix the cause, and re-run the job for the affected target.`,
      runbook: 'docs/deploy.md#every-alarm-and-what-it-means',
    });
    this.lambdaWidgets.push(
      new cloudwatch.GraphWidget({ title: `${job}: errors and throttles`, left: [errors.with({ label: 'Errors' }), throttles.with({ label: 'Throttles' })], width: 8 }),
    );
  }

  /**
   * One Throttles alarm for the region: the kit's functions reserve no concurrency, so Lambda
   * throttles them only when the region's shared concurrency runs out, which its all-functions
   * series shows. One alarm instead of one per function, whatever their number.
   */
  private addThrottlesAlarm(): void {
    this.alarmFactory.addAlarm('LambdaThrottles', {
      metric: lambda.Function.metricAllThrottles({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 0,
      comparison: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      description: `Job 'lambda': Lambda throttled invocations in this region (Throttles > 0 in 5 minutes, over every function of the account; the kit's functions share its unreserved concurrency). Next step: the dashboard's errors-and-throttles graphs show whether the kit's jobs were among them; check the account's concurrency (Lambda console, Concurrency) and the functions using it; raise the quota or lower their concurrency, then re-run any job that failed.`,
      runbook: 'docs/deploy.md#every-alarm-and-what-it-means',
    });
  }

  /**
   * Errors alarms for every Lambda function under `scope` not added yet, named by
   * its construct path: any job that forgot. Not the `AwsCustomResource` provider: CloudFormation
   * is its only caller, and its failure fails the deployment in front of the deployer.
   */
  private addRemainingFunctions(scope: Construct): void {
    for (const child of scope.node.findAll()) {
      if (child instanceof lambda.Function && !this.watchedFunctions.has(child) && child.node.id !== AWS_CUSTOM_RESOURCE_PROVIDER_ID) {
        const path = child.node.path.split('/').slice(1).filter((part) => part !== 'Function' && part !== 'Resource');
        this.addLambda(child, path.join(' ') || child.node.id);
      }
    }
  }

  /**
   * Alarm when a dead-letter queue holds any message: some event was given up on. `holds` says
   * what such a message is, `nextStep` what to do about it, for the job at hand.
   */
  addDeadLetterQueue(queue: sqs.IQueue, job: string, options: { holds?: string; nextStep?: string } = {}): void {
    const id = this.uniqueId('Dlq', job);
    const visible = queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' });
    this.queueWidgets.push(new cloudwatch.GraphWidget({ title: `${job}: dead-letter messages`, left: [visible], width: 8 }));
    const holds = options.holds ?? 'some run was given up after its retries';
    const nextStep = options.nextStep ?? 'read the messages in the queue (SQS console, Poll for messages) to see which target or backup, fix the cause, then re-run the job for it and purge the queue.';
    this.alarmFactory.addAlarm(id, {
      metric: visible,
      threshold: 0,
      comparison: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      notifyOnRecovery: true,
      description: `Job '${job}': its dead-letter queue is not empty: ${holds}. Next step: ${nextStep}`,
      runbook: 'docs/runbooks/dead-letter.md',
    });
  }

  /** The EC2 backup jobs: their trigger and result functions and their dead-letter queue. */
  monitorBackupJobs(jobs: BackupJobs): void {
    this.addLambda(jobs.trigger.function, 'backup trigger');
    this.addLambda(jobs.result.function, 'backup result');
    this.addDeadLetterQueue(jobs.deadLetterQueue, 'backup jobs', {
      holds: 'a scheduled backup run, a trigger or a result invocation failed for good',
      nextStep: 'read the message (SQS console, Poll for messages) to see which tier or run; fix the cause; start the tier again from the trigger function, then purge the queue.',
    });
  }

  /**
   * The EC2 restores and drills: their functions, their dead-letter queue, and per drilled
   * target an alarm when its last successful drill is too old. Those alarms are created after
   * the drill report that runs at deploy, so a target never drilled counts from the deploy.
   */
  monitorRestoreJobs(jobs: RestoreJobs): void {
    this.addLambda(jobs.restoreFunction.function, 'restore');
    this.addLambda(jobs.resultFunction.function, 'restore result');
    if (jobs.drillFunction) this.addLambda(jobs.drillFunction.function, 'restore drill');
    this.addDeadLetterQueue(jobs.deadLetterQueue, 'restores and drills', {
      holds: 'a restore result, a drill schedule or an RDS drill event could not be delivered',
      nextStep: 'read the message (SQS console) to see which run; check its outcome in Run Command and record it by hand, then purge the queue.',
    });
    if (!jobs.drills || jobs.drills.targets.length === 0) return;
    const days = jobs.drills.alarmAfterDays;
    const alarm = this.alarmFactory.addAlarm('NoRecentDrill', {
      metric: this.metrics.app(METRICS.daysSinceLastSuccessfulDrill, {}, 'Maximum', Duration.days(1)),
      threshold: days,
      comparison: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      // A target never drilled is reported from the time the kit began to expect its drills; a report that stops must alarm.
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      notifyOnRecovery: true,
      description:
        `Job 'restore drill': some drilled target has had no successful restore drill for more than ${days} days (or the daily drill report stopped), so its backups are not proven restorable. ` +
        `The mail 'backup-kit restore drill overdue' names each target as it crosses the limit; every target's days: invoke the drill function with {"action":"report"}. ` +
        `Next step: read the last drill alerts and the drill function's log, fix the cause, then drill the target now with {"action":"drill","target":"<target>"}; the alarm clears at the next daily report.`,
      runbook: 'docs/drills.md',
    });
    alarm.node.addDependency(jobs.drills.reportAtDeploy);
  }

  /**
   * The data AWS Backup protects: the report's function, and per resource an alarm when its
   * newest recovery point is older than its limit or no age was reported for 2 h. Created after
   * the report at deploy, so a resource never backed up counts from its enrolment.
   */
  monitorRecoveryPointAges(ages: RecoveryPointAges): void {
    this.addLambda(ages.handler.function, 'managed backup ages');
    const hour = Duration.hours(1);
    const metrics: cloudwatch.IMetric[] = [];
    for (const resource of ages.resources) {
      const metric = this.metrics.app(METRICS.hoursSinceLastRecoveryPoint, { Resource: resource.name }, 'Maximum', hour);
      metrics.push(metric.with({ label: resource.name }));
      const alarm = this.alarmFactory.addAlarm(`${this.uniqueId('RecoveryPoint', resource.name)}Age`, {
        metric,
        threshold: resource.maxAgeHours,
        comparison: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 2,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        notifyOnRecovery: true,
        description:
          `AWS Backup (class '${resource.className}'): ${resource.name} has had no completed recovery point in the primary vault for more than ${resource.maxAgeHours} h, or no age was reported for 2 h (the report function is silent). ` +
          "Next step: in the AWS Backup console, Jobs, filter by the resource: a failed job names its cause; no job at all means the plan no longer selects it (a renamed or recreated resource: correct the ARN in the config and deploy). Take a backup on demand meanwhile.",
        runbook: 'docs/aws-backup.md#a-resource-has-no-recent-recovery-point',
      });
      alarm.node.addDependency(ages.reportAtDeploy);
      if (resource.restoreTestMaxDays !== undefined) {
        const days = resource.restoreTestMaxDays;
        const testAlarm = this.alarmFactory.addAlarm(`${this.uniqueId('RestoreTest', resource.name)}Age`, {
          // Reported once a day (and at deploy), as a drill of the resource.
          metric: this.metrics.app(METRICS.daysSinceLastSuccessfulDrill, { Target: resource.name }, 'Maximum', Duration.days(1)),
          threshold: days,
          comparison: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 2,
          treatMissingData: cloudwatch.TreatMissingData.BREACHING,
          notifyOnRecovery: true,
          description:
            `AWS Backup (class '${resource.className}'): ${resource.name} has had no restore test that passed validation for more than ${days} days, or no age was reported for 2 days (the report function is silent), so its recovery points are not proven restorable. ` +
            'Next step: in the AWS Backup console, Restore testing, Jobs: a failed job or a FAILED validation names its cause; no job means the restore testing plan no longer selects it.',
          runbook: 'docs/aws-backup.md#a-restore-test-failed',
        });
        testAlarm.node.addDependency(ages.reportAtDeploy);
      }
    }
    this.managedWidgets.push(
      new cloudwatch.GraphWidget({
        title: 'AWS Backup: hours since the newest recovery point (per resource)',
        left: metrics,
        leftAnnotations: [...new Set(ages.resources.map((resource) => resource.maxAgeHours))].map((hours) => ({ value: hours, label: `limit ${hours} h` })),
        width: 24,
      }),
    );
  }

  /**
   * Restores from AWS Backup recovery points: the restore function and its completion report
   * (errors, the report's dead letters), and each restore's measured minutes on the AWS Backup row.
   */
  monitorManagedRestores(restores: ManagedRestore): void {
    this.addLambda(restores.handler.function, 'AWS Backup restore');
    this.addLambda(restores.completion.function, 'AWS Backup restore completion');
    this.addDeadLetterQueue(restores.deadLetterQueue, 'AWS Backup restore completion');
    this.managedWidgets.push(
      new cloudwatch.GraphWidget({ title: 'AWS Backup restore time (minutes, per resource)', left: [this.metrics.search(METRICS.managedRestoreMinutes, 'Maximum', Duration.days(1), '')], width: 24 }),
    );
  }

  private readonly managedWidgets: cloudwatch.IWidget[] = [];

  /**
   * The age alarm of one tier: the largest age over its targets (the metric's {Tier} series) above
   * the tier's limit, or no age reported for 2 h (missing data breaches, so a silent scheduler or
   * verifier is caught). It also covers backups of targets since removed from the config. The
   * hourly report mails each target's name as it crosses the limit.
   */
  addTierAge(tier: string, maxAgeHours: number): void {
    if (this.tiers.has(tier)) throw new Error(`Monitoring addTierAge: tier '${tier}' was added twice`);
    this.tiers.add(tier);
    this.addAgeAlarm(
      `${this.uniqueId('Tier', tier)}Age`,
      { Tier: tier },
      maxAgeHours,
      `Tier '${tier}': some target has had no verified backup for more than ${maxAgeHours} h, or no age was reported for 2 h (the verify planner is silent). The mail 'Backup overdue' names each target as it crosses the limit; every target's age: the dashboard's age table, or invoke the verify planner with { "action": "report-ages" }.`,
    );
  }

  /**
   * One alarm per condition over every target and tier (the metric's series without dimensions,
   * the largest value of any target): backup failed, verification failed, size anomaly, replica
   * missing. Their number does not grow with the targets; the job that publishes each condition
   * mails the target's and tier's names.
   */
  addBackupConditions(): void {
    if (this.conditionsAdded) throw new Error('Monitoring addBackupConditions: called twice');
    this.conditionsAdded = true;
    const condition = (id: string, spec: MetricSpec, job: string, what: string, runbook: string) =>
      this.alarmFactory.addAlarm(id, {
        metric: this.metrics.app(spec, {}, 'Maximum', EVENT_PERIOD),
        threshold: 1,
        comparison: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        description: `Job '${job}'. ${what}`,
        runbook,
      });
    condition(
      'BackupFailed',
      METRICS.backupFailed,
      'backup',
      `A backup of some target failed in the last hour. Next step: read the alert mail 'backup-kit FAILED: <target> (<tier>) on <instance>', which names the target, instance, exit code and stderr; open the Run Command output, fix the cause and run a manual backup ({ "tier": "manual", "target": "<target>" }).`,
      'docs/runbooks/backup-failed.md',
    );
    condition(
      'VerificationFailed',
      METRICS.verificationFailed,
      'verify',
      `The newest backup of some target failed verification (or a configured target has none). Next step: read the mail 'Backup verification failed' or 'Backup missing', which names the target, tier, key and failed check; follow that check's runbook, and do not restore from that backup.`,
      'docs/verification.md#alarms-and-what-to-do',
    );
    condition(
      'SizeAnomaly',
      METRICS.sizeAnomaly,
      'verify',
      `The size of some target's backup is off (outside its bounds against the mean of the previous ones, or exactly the previous size). Next step: read the mail 'Backup verification failed: <target> <tier> (size)'; compare the manifest counts with the previous backup's; check the source for dropped tables or files or a runaway table.`,
      'docs/verification.md#alarms-and-what-to-do',
    );
    condition(
      'ReplicaMissing',
      METRICS.replicaMissing,
      'verify',
      `Some target's backup has no complete copy in the DR bucket after the replication allowance. Next step: read the mail naming the target and key (check 'replica'); check the replication alarms and the rule replicate-all-backups; re-copy with S3 Batch Replication.`,
      'docs/verification.md#alarms-and-what-to-do',
    );
  }

  /**
   * The dashboard's table of every target's backup age, from the verify planner's hourly log
   * lines (the metric is per tier only: a metric per target sent hourly costs more than its alarm).
   */
  showAgeTable(plannerLogGroup: logs.ILogGroup): void {
    this.ageLogGroups.push(plannerLogGroup);
  }

  /**
   * Creates every age alarm (made so far, and later) only after `step`: the first age report of
   * a deployment, so an age alarm starts with a datapoint instead of breaching on missing data.
   */
  startAgeAlarmsAfter(step: IDependable): void {
    this.ageAlarmPrerequisites.push(step);
    for (const alarm of this.ageAlarms) alarm.node.addDependency(step);
  }

  /** S3 replication: failed operations and latency above the allowance. */
  addReplication(props: ReplicationMonitoringProps): void {
    const maxLatency = props.maxLatency ?? Duration.minutes(15);
    const metric = (name: string, statistic: string) => this.metrics.s3Replication(name, props.sourceBucketName, props.destinationBucketName, props.ruleId, statistic, OPERATIONS_PERIOD);
    this.alarmFactory.addAlarm('ReplicationFailed', {
      metric: metric('OperationsFailedReplication', 'Sum'),
      threshold: 0,
      comparison: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      description: `Job 'replication' (rule ${props.ruleId}): S3 failed to replicate objects to the DR bucket. Next step: check the replication role and the replica key policy (a KMS denial is the usual cause), then re-copy the failed objects with S3 Batch Replication.`,
      runbook: 'docs/verification.md#alarms-and-what-to-do',
    });
    this.alarmFactory.addAlarm('ReplicationLatency', {
      metric: metric('ReplicationLatency', 'Maximum'),
      threshold: maxLatency.toSeconds(),
      comparison: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      notifyOnRecovery: true,
      description: `Job 'replication' (rule ${props.ruleId}): objects take more than ${maxLatency.toSeconds()} s to reach the DR bucket. Next step: check BytesPendingReplication on the dashboard and the AWS Health Dashboard for S3 in both regions; a large backup burst clears by itself.`,
      runbook: 'docs/verification.md#alarms-and-what-to-do',
    });
    this.replicationWidgets = [
      new cloudwatch.GraphWidget({ title: 'Replication latency (s)', left: [metric('ReplicationLatency', 'Maximum')], leftAnnotations: [{ value: maxLatency.toSeconds(), label: 'allowance' }], width: 8 }),
      new cloudwatch.GraphWidget({ title: 'Bytes pending replication', left: [metric('BytesPendingReplication', 'Maximum')], right: [metric('OperationsPendingReplication', 'Maximum')], width: 8 }),
      new cloudwatch.GraphWidget({ title: 'Failed replication operations', left: [metric('OperationsFailedReplication', 'Sum')], width: 8 }),
    ];
  }

  private replicationWidgets: cloudwatch.IWidget[] = [];
  private rendered = false;

  private addAgeAlarm(id: string, dims: Record<string, string>, maxAgeHours: number, what: string): void {
    const alarm = this.alarmFactory.addAlarm(id, {
      metric: this.metrics.app(METRICS.hoursSinceLastVerifiedBackup, dims, 'Maximum', AGE_PERIOD),
      threshold: maxAgeHours,
      comparison: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      notifyOnRecovery: true,
      description: `Job 'verify'. ${what} Next step: check the backup and verify schedules ran (EventBridge Scheduler), the last backup's Run Command and its verdict; take a manual backup and verify it with { "key": "<key>" }.`,
      runbook: 'docs/verification.md#alarms-and-what-to-do',
    });
    for (const step of this.ageAlarmPrerequisites) alarm.node.addDependency(step);
    this.ageAlarms.push(alarm);
  }

  private uniqueId(kind: string, name: string): string {
    const base = `${kind}${name.replace(/[^A-Za-z0-9]+(.)?/g, (_, next: string | undefined) => (next ? next.toUpperCase() : '')).replace(/^./, (first) => first.toUpperCase())}`;
    if (this.jobIds.has(base)) throw new Error(`Monitoring: '${name}' was added twice as ${kind.toLowerCase()}`);
    this.jobIds.add(base);
    return base;
  }

  /**
   * The last step, once every job is in place: alarms for any function under `scope` not added
   * yet (CDK's own helpers included), then the dashboard's layout.
   */
  finish(scope: Construct): void {
    if (this.rendered) throw new Error('Monitoring finish: called twice');
    this.addRemainingFunctions(scope);
    if (this.watchedFunctions.size > 0) this.addThrottlesAlarm();
    this.renderDashboard();
  }

  /** Lays out the dashboard once every job has been added. */
  private renderDashboard(): void {
    this.rendered = true;
    const m = this.metrics;
    const day = Duration.days(1);
    const hour = Duration.hours(1);
    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({ markdown: '# Backups\nAge of the newest verified backup, sizes, and the outcome of every backup and verification. Runbooks: docs/verification.md#alarms-and-what-to-do.', width: 24, height: 2 }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Hours since last verified backup (the oldest target of each tier)', left: [m.search(METRICS.hoursSinceLastVerifiedBackup, 'Maximum', hour, '')], width: 12 }),
      new cloudwatch.GraphWidget({ title: 'Backup size (bytes, per target and tier)', left: [m.search(METRICS.backupBytes, 'Maximum', day, '')], width: 12 }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Backups: succeeded and failed',
        left: [m.search(METRICS.backupSucceeded, 'Sum', day, 'succeeded')],
        right: [m.search(METRICS.backupFailed, 'Sum', day, 'failed')],
        stacked: false,
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Verifications: all and failed',
        // Every verification sends VerificationFailed, 0 or 1: its sample count is the number of verifications.
        left: [m.search(METRICS.verificationFailed, 'SampleCount', day, 'verifications')],
        right: [m.search(METRICS.verificationFailed, 'Sum', day, 'failed')],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Size anomalies and missing replicas',
        left: [m.search(METRICS.sizeAnomaly, 'Maximum', day, 'size anomaly'), m.search(METRICS.replicaMissing, 'Maximum', day, 'replica missing')],
        width: 8,
      }),
    );
    if (this.ageLogGroups.length > 0) {
      this.dashboard.addWidgets(
        new cloudwatch.LogQueryWidget({
          title: 'Backup age per target (hours; late first), from the hourly age report',
          logGroupNames: this.ageLogGroups.map((group) => group.logGroupName),
          view: cloudwatch.LogQueryVisualizationType.TABLE,
          queryLines: [
            'filter message = "backup age"',
            'stats latest(hours) as hours, latest(maxAgeHours) as limit, latest(late) as late by target, tier',
            'sort late desc, hours desc',
            'limit 500',
          ],
          width: 24,
          height: 8,
        }),
      );
    }
    if (this.replicationWidgets.length > 0) this.dashboard.addWidgets(...this.replicationWidgets);
    if (this.managedWidgets.length > 0) {
      this.dashboard.addWidgets(new cloudwatch.TextWidget({ markdown: '# AWS Backup\nRDS, Aurora and S3 data protected by AWS Backup plans. Runbook: docs/aws-backup.md.', width: 24, height: 2 }), ...this.managedWidgets);
    }
    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({ markdown: '# Restores and drills\nRDS point-in-time restores, dump and file restores, and scheduled restore drills.', width: 24, height: 2 }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'RDS restore time (minutes, per source)', left: [m.search(METRICS.rdsRestoreMinutes, 'Maximum', day, '')], width: 8 }),
      new cloudwatch.GraphWidget({
        title: 'Restores: time (s), succeeded and failed',
        left: [m.search(METRICS.restoreSeconds, 'Maximum', day, '')],
        right: [m.search(METRICS.restoreSucceeded, 'Sum', day, 'succeeded'), m.search(METRICS.restoreFailed, 'Sum', day, 'failed')],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Restore drills: time (s), succeeded and failed',
        left: [m.search(METRICS.drillSeconds, 'Maximum', day, '')],
        right: [m.search(METRICS.drillSucceeded, 'Sum', day, 'succeeded'), m.search(METRICS.drillFailed, 'Sum', day, 'failed')],
        width: 8,
      }),
    );
    if (this.lambdaWidgets.length > 0 || this.queueWidgets.length > 0) {
      this.dashboard.addWidgets(new cloudwatch.TextWidget({ markdown: '# Jobs\nErrors and throttles of every function, and dead-letter queues.', width: 24, height: 2 }));
      this.dashboard.addWidgets(...this.lambdaWidgets, ...this.queueWidgets);
    }
    const shown = [...this.alarms];
    if (shown.length > 0) {
      this.dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: shown, width: 24, height: Math.min(12, 2 + Math.ceil(shown.length / 4)) }));
    }
  }
}
