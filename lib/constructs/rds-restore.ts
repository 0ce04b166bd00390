import { Aws, CfnOutput, Duration, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { grantAlertPublishing } from './alert-topic';
import { deadLetterAsyncFailures, deadLetterQueue } from './dead-letters';
import { Construct } from 'constructs';
import { join } from 'node:path';
import { z } from 'zod';
import { REQUESTED_BY_PLACEHOLDER, restoreEventSchema, type RestoreEventInput } from '../../contracts/rds-restore-event';
import { consoleLinks } from '../../contracts/console-links';
import {
  MAX_SOURCE_IDENTIFIER_LENGTH,
  RDS_RESTORE_METRICS,
  RDS_RESTORE_SERVICE,
  RESTORE_ALERT_TOPIC_ENV,
  RESTORE_SETTINGS_ENV,
  rdsIdentifierProblem,
  restoreTargetPrefix,
  type RestoreSettings,
} from '../../contracts/rds';
import { HouseFunction } from './house-function';
import { acknowledgeWildcards } from './nag';
import { ShareableTestEvents } from './shareable-test-events';
import { METRICS } from '../../contracts/metric-catalog';
import { catalogMetric } from './monitoring';

/** Where a DR-region restore of a source goes: the source's own network exists only in the primary region. */
export interface RdsRestoreDrTarget {
  /** DB subnet group in the DR region. */
  readonly subnetGroupName: string;
  /** VPC security groups in the DR region. */
  readonly securityGroupIds: readonly string[];
  /**
   * DB parameter group in the DR region.
   * @default - the engine's default parameter group
   */
  readonly parameterGroupName?: string;
  /**
   * Option group in the DR region.
   * @default - the engine's default option group
   */
  readonly optionGroupName?: string;
  /**
   * Key in the DR region of the replicated backups (encrypted sources).
   * @default - the source is not encrypted
   */
  readonly kmsKey?: kms.IKey;
}

/** An RDS DB instance the function may restore. */
export interface RdsRestoreSource {
  /** DB instance identifier (lowercase, at most 45 characters). */
  readonly identifier: string;
  /**
   * The source's KMS key: the restore role may use only it.
   * @default - any key of the account, through RDS in the primary region only
   */
  readonly kmsKey?: kms.IKey;
  /**
   * Restores in the DR region from the source's replicated automated backups.
   * @default - restores run in the primary region only
   */
  readonly dr?: RdsRestoreDrTarget;
}

export interface RdsRestoreProps {
  /** The allowlist: the only instances the function may restore. */
  readonly sources: readonly RdsRestoreSource[];
  /** The DR region (where replicated backups of sources with `dr` live). */
  readonly drRegion: string;
  /** Key of the functions' log groups. */
  readonly logKey: kms.IKey;
  /** Topic that hears when a restored instance is available (or failed). */
  readonly alertTopic: sns.ITopic;
}

/** RDS events that mean a restored instance was created, restored, finished its first backup, or broke. */
export const RESTORE_COMPLETION_EVENT_IDS = ['RDS-EVENT-0005', 'RDS-EVENT-0008', 'RDS-EVENT-0019', 'RDS-EVENT-0002'] as const;

/** EventBridge pattern of RDS instance events of the instances the restore function creates. */
export function restoredInstanceEventPattern(sourceIdentifiers: readonly string[]): events.EventPattern {
  return {
    source: ['aws.rds'],
    detailType: ['RDS DB Instance Event'],
    detail: {
      SourceType: ['DB_INSTANCE'],
      SourceIdentifier: sourceIdentifiers.map((identifier) => ({ prefix: restoreTargetPrefix(identifier) })),
      $or: [{ EventID: [...RESTORE_COMPLETION_EVENT_IDS] }, { EventCategories: ['failure'] }],
    },
  };
}

/** Example time of the "specific time" test event: outside the window, the answer shows the window. */
const EXAMPLE_RESTORE_TIME = '2026-11-21T14:06:00Z';

/**
 * Point-in-time restore of allowlisted RDS DB instances, started by an engineer from the
 * Lambda console: the restore function (scoped so that it can create `<source>-pitr-*`
 * instances and nothing else, and never modify, stop or delete one), the completion function
 * that reports the restored instance on the alert topic and records the minutes it took,
 * the EventBridge rule between them, shareable console test events and stack outputs.
 */
export class RdsRestore extends Construct {
  readonly restoreFunction: HouseFunction;
  readonly completionFunction: HouseFunction;
  readonly completionRule: events.Rule;
  /**
   * Restored-instance events the completion could not take: the rule could not invoke it, or it
   * failed after Lambda's retries. Watch it (the jobs stack alarms on its first message).
   */
  readonly deadLetterQueue: sqs.Queue;
  readonly testEvents: ShareableTestEvents;
  readonly sources: readonly RdsRestoreSource[];

  constructor(scope: Construct, id: string, props: RdsRestoreProps) {
    super(scope, id);
    validateSources(props.sources);
    const primaryRegion = Stack.of(this).region;
    if (!Token.isUnresolved(primaryRegion) && primaryRegion === props.drRegion) {
      throw new Error(`RdsRestore drRegion: must differ from the stack's region (both are ${primaryRegion})`);
    }
    this.sources = props.sources;
    const settings: RestoreSettings = {
      primaryRegion,
      drRegion: props.drRegion,
      sources: props.sources.map((source) => ({
        identifier: source.identifier,
        ...(source.kmsKey ? { kmsKeyArn: source.kmsKey.keyArn } : {}),
        ...(source.dr
          ? {
              dr: {
                subnetGroupName: source.dr.subnetGroupName,
                securityGroupIds: [...source.dr.securityGroupIds],
                ...(source.dr.parameterGroupName ? { parameterGroupName: source.dr.parameterGroupName } : {}),
                ...(source.dr.optionGroupName ? { optionGroupName: source.dr.optionGroupName } : {}),
                ...(source.dr.kmsKey ? { kmsKeyArn: source.dr.kmsKey.keyArn } : {}),
              },
            }
          : {}),
      })),
    };
    const settingsJson = Stack.of(this).toJsonString(settings);

    this.restoreFunction = new HouseFunction(this, 'Restore', {
      entry: join(__dirname, '../../lambda/rds-restore/handler.ts'),
      description: `Restores an allowlisted RDS instance to a point in time (${props.sources.map((source) => source.identifier).join(', ')})`,
      logKey: props.logKey,
      serviceName: RDS_RESTORE_SERVICE,
      timeout: Duration.minutes(2),
      environment: { [RESTORE_SETTINGS_ENV]: settingsJson },
    });
    this.grantRestore(this.restoreFunction.role, props, primaryRegion);

    this.completionFunction = new HouseFunction(this, 'Completion', {
      entry: join(__dirname, '../../lambda/rds-restore-completion/handler.ts'),
      description: 'Reports a restored RDS instance when it is available and records the minutes it took',
      logKey: props.logKey,
      serviceName: RDS_RESTORE_SERVICE,
      timeout: Duration.minutes(1),
      environment: { [RESTORE_SETTINGS_ENV]: settingsJson, [RESTORE_ALERT_TOPIC_ENV]: props.alertTopic.topicArn },
    });
    this.grantCompletion(this.completionFunction.role, props, primaryRegion);
    grantAlertPublishing(this.completionFunction.role, props.alertTopic, props.logKey);

    this.deadLetterQueue = deadLetterQueue(this, 'CompletionDeadLetters', props.logKey, 'restore-completion rule and function');
    this.completionRule = new events.Rule(this, 'RestoredInstanceEvents', {
      description: 'RDS events of instances created by the point-in-time restore function',
      eventPattern: restoredInstanceEventPattern(props.sources.map((source) => source.identifier)),
      targets: [
        new targets.LambdaFunction(this.completionFunction.function, { deadLetterQueue: this.deadLetterQueue, retryAttempts: 4, maxEventAge: Duration.hours(6) }),
      ],
    });
    // The rule's invocation is asynchronous: a completion that fails after Lambda's retries would
    // otherwise vanish, and nobody would hear that the restored instance is ready.
    deadLetterAsyncFailures(this.completionFunction, this.deadLetterQueue, props.logKey);

    this.testEvents = new ShareableTestEvents(this, 'TestEvents', {
      function: this.restoreFunction.function,
      logKey: props.logKey,
      eventSchema: z.toJSONSchema(restoreEventSchema, { io: 'input', target: 'openapi-3.0', unrepresentable: 'any' }) as Record<string, unknown>,
    });
    const first = props.sources[0]?.identifier ?? '';
    const example = (event: RestoreEventInput): Record<string, unknown> => ({ ...event, requestedBy: REQUESTED_BY_PLACEHOLDER });
    this.testEvents
      .addEvent('latest', example({ source: first, restoreTime: 'latest' }))
      .addEvent('specific time', example({ source: first, restoreTime: EXAMPLE_RESTORE_TIME }))
      .addEvent('dry run', example({ source: first, restoreTime: 'latest', dryRun: true }));

    new CfnOutput(this, 'FunctionName', {
      description: 'RDS point-in-time restore function: invoke it with {"source": "<instance>", "restoreTime": "latest"}',
      value: this.restoreFunction.function.functionName,
    });
    new CfnOutput(this, 'ConsoleLink', {
      description: 'The RDS restore function in the Lambda console (Test tab: shareable events "latest", "specific time", "dry run")',
      value: consoleLinks.lambdaFunction(primaryRegion, this.restoreFunction.function.functionName),
    });
  }

  /** Minutes from request to available of restores of `source` (the measured RTO), for dashboards and alarms. */
  metricRestoreMinutes(source: string, options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return this.metric(RDS_RESTORE_METRICS.minutes, source, { statistic: 'Maximum', period: Duration.days(1), ...options });
  }

  /** Restores started for `source`. */
  metricRestoresStarted(source: string, options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return this.metric(RDS_RESTORE_METRICS.started, source, { statistic: 'Sum', period: Duration.days(1), ...options });
  }

  private metric(metricName: string, source: string, options: cloudwatch.MetricOptions): cloudwatch.Metric {
    if (!this.sources.some((candidate) => candidate.identifier === source)) {
      throw new Error(`RdsRestore metric source: '${source}' is not an allowlisted source`);
    }
    const spec = metricName === METRICS.rdsRestoreStarted.name ? METRICS.rdsRestoreStarted : METRICS.rdsRestoreMinutes;
    if (spec.name !== metricName) throw new Error(`RdsRestore metric: '${metricName}' is not in the metric catalog`);
    return catalogMetric(spec, { Source: source }, options);
  }

  private grantRestore(role: iam.Role, props: RdsRestoreProps, primaryRegion: string): void {
    const drSources = props.sources.filter((source) => source.dr);
    const regions = drSources.length > 0 ? [primaryRegion, props.drRegion] : [primaryRegion];
    const targetArns = (region: string, sources: readonly RdsRestoreSource[]) =>
      sources.map((source) => rdsArn(region, `db:${restoreTargetPrefix(source.identifier)}*`));

    // Listing is how a repeated request finds its restore in progress; describing changes nothing.
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'DescribeInstances',
        actions: ['rds:DescribeDBInstances'],
        resources: regions.map((region) => rdsArn(region, 'db:*')),
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'DescribeAutomatedBackups',
        actions: ['rds:DescribeDBInstanceAutomatedBackups'],
        resources: regions.flatMap((region) => [rdsArn(region, 'db:*'), rdsArn(region, 'auto-backup:*')]),
      }),
    );
    // The source's subnet, parameter and option groups are read from the source at run time,
    // so the restore may attach any of them to the new instance; it cannot change them.
    const primaryGroups = ['subgrp:*', 'pg:*', 'og:*'].map((resource) => rdsArn(primaryRegion, resource));
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'RestoreAllowlistedSources',
        actions: ['rds:RestoreDBInstanceToPointInTime'],
        resources: [
          ...props.sources.map((source) => rdsArn(primaryRegion, `db:${source.identifier}`)),
          ...targetArns(primaryRegion, props.sources),
          ...primaryGroups,
        ],
      }),
    );
    const drGroups = drSources.flatMap((source) => {
      const dr = source.dr as RdsRestoreDrTarget;
      return [
        rdsArn(props.drRegion, `subgrp:${dr.subnetGroupName}`),
        rdsArn(props.drRegion, dr.parameterGroupName ? `pg:${dr.parameterGroupName}` : 'pg:default.*'),
        rdsArn(props.drRegion, dr.optionGroupName ? `og:${dr.optionGroupName}` : 'og:default:*'),
      ];
    });
    if (drSources.length > 0) {
      role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'RestoreFromReplicatedBackups',
          actions: ['rds:RestoreDBInstanceToPointInTime'],
          resources: [rdsArn(props.drRegion, 'auto-backup:*'), ...targetArns(props.drRegion, drSources), ...[...new Set(drGroups)]],
        }),
      );
    }
    // RestoreDBInstanceToPointInTime with Tags needs AddTagsToResource on the new instance.
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'TagRestoredInstances',
        actions: ['rds:AddTagsToResource'],
        resources: [...targetArns(primaryRegion, props.sources), ...targetArns(props.drRegion, drSources)],
      }),
    );
    grantKmsThroughRds(role, primaryRegion, props.sources.some((source) => !source.kmsKey) ? [kmsKeyWildcard(primaryRegion)] : props.sources.map((source) => (source.kmsKey as kms.IKey).keyArn));
    const drKeys = drSources.flatMap((source) => (source.dr?.kmsKey ? [source.dr.kmsKey.keyArn] : []));
    if (drKeys.length > 0) grantKmsThroughRds(role, props.drRegion, drKeys);

    acknowledgeWildcards(
      role,
      regions.flatMap((region) => [nagRdsArn(region, 'db:*'), nagRdsArn(region, 'auto-backup:*')]),
      'Read-only: a repeated restore request lists the instances of the region to find its restore in progress by tag, and the restorable window comes from the automated backups, whose IDs are generated by RDS.',
    );
    acknowledgeWildcards(
      role,
      [...props.sources.map((source) => nagRdsArn(primaryRegion, `db:${restoreTargetPrefix(source.identifier)}*`)), ...drSources.map((source) => nagRdsArn(props.drRegion, `db:${restoreTargetPrefix(source.identifier)}*`))],
      'The restore creates and tags only new instances named <source>-pitr-<stamp>; the name pattern is what keeps it away from every other instance.',
    );
    acknowledgeWildcards(
      role,
      ['subgrp:*', 'pg:*', 'og:*'].map((resource) => nagRdsArn(primaryRegion, resource)),
      "RestoreDBInstanceToPointInTime attaches the source's subnet, parameter and option groups, which the function reads from the source at run time; the action cannot modify them.",
    );
    if (drSources.length > 0) {
      acknowledgeWildcards(
        role,
        [nagRdsArn(props.drRegion, 'auto-backup:*')],
        'DR restores start from replicated automated backups, whose IDs RDS generates.',
      );
      acknowledgeWildcards(
        role,
        [
          ...(drSources.some((source) => !source.dr?.parameterGroupName) ? [nagRdsArn(props.drRegion, 'pg:default.*')] : []),
          ...(drSources.some((source) => !source.dr?.optionGroupName) ? [nagRdsArn(props.drRegion, 'og:default:*')] : []),
        ],
        'Without a DR parameter or option group in the config, a DR restore attaches the engine default group; only default groups are named.',
      );
    }
    if (props.sources.some((source) => !source.kmsKey)) {
      acknowledgeWildcards(
        role,
        [`Resource::arn:<AWS::Partition>:kms:${primaryRegion}:<AWS::AccountId>:key/*`],
        "An encrypted source's key is not named in the config; the grant is limited to use through RDS in the primary region (kms:ViaService) for AWS resources (kms:GrantIsForAWSResource).",
      );
    }
  }

  private grantCompletion(role: iam.Role, props: RdsRestoreProps, primaryRegion: string): void {
    const drSources = props.sources.filter((source) => source.dr);
    const targetArns = [
      ...props.sources.map((source) => rdsArn(primaryRegion, `db:${restoreTargetPrefix(source.identifier)}*`)),
      ...drSources.map((source) => rdsArn(props.drRegion, `db:${restoreTargetPrefix(source.identifier)}*`)),
    ];
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadAndMarkRestoredInstances',
        actions: ['rds:DescribeDBInstances', 'rds:AddTagsToResource'],
        resources: targetArns,
      }),
    );
    acknowledgeWildcards(
      role,
      [...props.sources.map((source) => nagRdsArn(primaryRegion, `db:${restoreTargetPrefix(source.identifier)}*`)), ...drSources.map((source) => nagRdsArn(props.drRegion, `db:${restoreTargetPrefix(source.identifier)}*`))],
      'The completion reads and marks (one tag) only the instances the restore function created, all named <source>-pitr-<stamp>.',
    );
  }
}

function validateSources(sources: readonly RdsRestoreSource[]): void {
  if (sources.length === 0) {
    throw new Error('RdsRestore sources: at least one source is required');
  }
  const seen = new Set<string>();
  for (const source of sources) {
    const problem = rdsIdentifierProblem(source.identifier, MAX_SOURCE_IDENTIFIER_LENGTH);
    if (problem) throw new Error(`RdsRestore sources: '${source.identifier}' is not a valid source identifier: ${problem}`);
    if (seen.has(source.identifier)) throw new Error(`RdsRestore sources: '${source.identifier}' is listed twice`);
    seen.add(source.identifier);
    if (source.dr && source.dr.securityGroupIds.length === 0) {
      throw new Error(`RdsRestore sources: '${source.identifier}' dr.securityGroupIds must name at least one security group`);
    }
  }
}

/** ARN of an RDS resource of this account. */
export function rdsArn(region: string, resource: string): string {
  return `arn:${Aws.PARTITION}:rds:${region}:${Aws.ACCOUNT_ID}:${resource}`;
}

/** How cdk-nag spells `rdsArn(region, resource)` in an AwsSolutions-IAM5 finding. */
export function nagRdsArn(region: string, resource: string): string {
  return `Resource::arn:<AWS::Partition>:rds:${region}:<AWS::AccountId>:${resource}`;
}

function kmsKeyWildcard(region: string): string {
  return `arn:${Aws.PARTITION}:kms:${region}:${Aws.ACCOUNT_ID}:key/*`;
}

/** Lets RDS use `keys` on the role's behalf in `region` (the grants RDS needs for encrypted instances), and nothing else. */
export function grantKmsThroughRds(role: iam.Role, region: string, keys: readonly string[]): void {
  const viaRds = { 'kms:ViaService': `rds.${region}.amazonaws.com` };
  role.addToPolicy(
    new iam.PolicyStatement({
      actions: ['kms:DescribeKey'],
      resources: [...keys],
      conditions: { StringEquals: viaRds },
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      actions: ['kms:CreateGrant'],
      resources: [...keys],
      conditions: { StringEquals: viaRds, Bool: { 'kms:GrantIsForAWSResource': 'true' } },
    }),
  );
}
