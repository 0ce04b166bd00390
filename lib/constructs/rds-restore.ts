import { CfnOutput, Duration, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
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
  CLUSTER_INSTANCE_SUFFIX_LENGTH,
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
import { grantCompletion, grantRestore } from './rds-restore-grants';
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

/** An RDS DB instance (or Aurora DB cluster) the function may restore. */
export interface RdsRestoreSource {
  /** DB instance or cluster identifier (lowercase, at most 45 characters; 43 for a cluster). */
  readonly identifier: string;
  /**
   * `cluster` for an Aurora DB cluster: restored as a new cluster, then its instances; primary region only.
   * @default - an RDS DB instance
   */
  readonly kind?: 'cluster';
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
        ...(source.kind ? { kind: source.kind } : {}),
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
    grantRestore(this.restoreFunction.role, props, primaryRegion);

    this.completionFunction = new HouseFunction(this, 'Completion', {
      entry: join(__dirname, '../../lambda/rds-restore-completion/handler.ts'),
      description: 'Reports a restored RDS instance when it is available and records the minutes it took',
      logKey: props.logKey,
      serviceName: RDS_RESTORE_SERVICE,
      timeout: Duration.minutes(1),
      environment: { [RESTORE_SETTINGS_ENV]: settingsJson, [RESTORE_ALERT_TOPIC_ENV]: props.alertTopic.topicArn },
    });
    grantCompletion(this.completionFunction.role, props, primaryRegion);
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
    if (source.kind === 'cluster' && source.dr) throw new Error(`RdsRestore sources: '${source.identifier}' is a cluster, which restores in the primary region only (no dr)`);
    if (source.kind === 'cluster' && source.identifier.length > MAX_SOURCE_IDENTIFIER_LENGTH - CLUSTER_INSTANCE_SUFFIX_LENGTH) {
      throw new Error(`RdsRestore sources: cluster '${source.identifier}' may have at most ${MAX_SOURCE_IDENTIFIER_LENGTH - CLUSTER_INSTANCE_SUFFIX_LENGTH} characters (its copy's instances add -<n>)`);
    }
    if (source.dr && source.dr.securityGroupIds.length === 0) {
      throw new Error(`RdsRestore sources: '${source.identifier}' dr.securityGroupIds must name at least one security group`);
    }
  }
}
