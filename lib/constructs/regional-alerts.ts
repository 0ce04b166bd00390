import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as events from 'aws-cdk-lib/aws-events';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { AlertTopic } from './alert-topic';
import { AlarmFactory } from './monitoring';
import { OpsKey } from './ops-key';

export interface RegionalAlertsProps {
  /** E-mail addresses subscribed to this region's alert topic (the config's `alertEmails`). */
  readonly emails: readonly string[];
  /** What this region runs, for the alarm texts. */
  readonly description: string;
}

/**
 * Alerting for a region other than the jobs' (the DR region): CloudWatch alarms can only notify a
 * topic of their own region, so the region gets its own key, alert topic (the same e-mail
 * subscriptions), a dead-letter queue for its rules' targets, and alarms on that queue and on the
 * rules' failed invocations.
 */
export class RegionalAlerts extends Construct {
  readonly key: OpsKey;
  readonly alerts: AlertTopic;
  /** Where the region's rule targets put events they could not deliver. */
  readonly deadLetterQueue: sqs.Queue;
  private readonly description: string;
  private readonly alarmFactory: AlarmFactory;

  constructor(scope: Construct, id: string, props: RegionalAlertsProps) {
    super(scope, id);
    this.description = props.description;
    this.key = new OpsKey(this, 'Key');
    this.alerts = new AlertTopic(this, 'Alerts', { key: this.key.key, emails: props.emails });
    this.alarmFactory = new AlarmFactory(this, this.alerts.topic);
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetters', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: this.key.key,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: "This queue is itself the dead-letter queue of the region's rules; an alarm fires on its first message.",
    });
    this.alarm('DeadLettersAlarm', {
      description: `backup-kit ${props.description}: an event could not be forwarded and is in the dead-letter queue. Read it (SQS console) to see what was lost, and act on it by hand.`,
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: cloudwatch.Stats.MAXIMUM }),
    });
  }

  /** Alarms when the rule fails to invoke its targets (after their retries). */
  watchRule(rule: events.Rule, what: string): cloudwatch.Alarm {
    return this.alarm(`FailedInvocations-${rule.node.id}`, {
      description: `backup-kit ${this.description}: the rule that ${what} failed to deliver events. Check the rule's target and its role, and the dead-letter queue.`,
      metric: new cloudwatch.Metric({ namespace: 'AWS/Events', metricName: 'FailedInvocations', dimensionsMap: { RuleName: rule.ruleName }, statistic: cloudwatch.Stats.SUM, period: Duration.minutes(5) }),
    });
  }

  /** Events given up on persist until someone acts: notify when they fire and when they clear. */
  private alarm(id: string, spec: { description: string; metric: cloudwatch.IMetric }): cloudwatch.Alarm {
    return this.alarmFactory.addAlarm(id, {
      ...spec,
      threshold: 0,
      comparison: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      notifyOnRecovery: true,
      runbook: 'docs/deploy.md#every-alarm-and-what-it-means',
    });
  }
}
