import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as events from 'aws-cdk-lib/aws-events';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { AlertTopic } from './alert-topic';
import { AlarmFactory } from './monitoring';
import { OpsKey } from './ops-key';

/** A region's alert topic and the key of its operational data (logs, topic, queues). */
export interface AlertChannel {
  readonly key: kms.IKey;
  readonly topic: sns.ITopic;
}

export interface RegionalAlertsProps {
  /** What this stack runs in the region, for the alarm texts. */
  readonly description: string;
  /**
   * The region's alert channel, owned by another stack of the same account and region. Every
   * stack of the account in the region shares one: each key costs a month's fee, and each topic
   * asks every address for its own confirmation.
   * @default - this construct makes the channel: an ops key and a topic with `emails` subscribed
   */
  readonly channel?: AlertChannel;
  /**
   * E-mail addresses subscribed to the topic this construct makes (the config's `alertEmails`).
   * @default - none; ignored when `channel` is given
   */
  readonly emails?: readonly string[];
}

/**
 * Alerting for a region other than the jobs' (the DR region): CloudWatch alarms can only notify a
 * topic of their own region, so the region has its own key and alert topic (the same e-mail
 * subscriptions), shared by the account's stacks there. Each stack gets a dead-letter queue for
 * its rules' targets when it first asks for one, and alarms on that queue and on its rules' failed
 * invocations, in its own scope (a queue's policy names the rules that use it).
 */
export class RegionalAlerts extends Construct {
  readonly channel: AlertChannel;
  private readonly description: string;
  private readonly alarmFactory: AlarmFactory;
  private queue?: sqs.Queue;

  constructor(scope: Construct, id: string, props: RegionalAlertsProps) {
    super(scope, id);
    this.description = props.description;
    if (props.channel) {
      this.channel = props.channel;
    } else {
      const key = new OpsKey(this, 'Key').key;
      this.channel = { key, topic: new AlertTopic(this, 'Alerts', { key, emails: props.emails ?? [] }).topic };
    }
    this.alarmFactory = new AlarmFactory(this, this.channel.topic);
  }

  /** Where the region's rule targets put events they could not deliver; made on first use, with its alarm. */
  get deadLetterQueue(): sqs.Queue {
    if (this.queue) return this.queue;
    const queue = new sqs.Queue(this, 'DeadLetters', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: this.channel.key,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(queue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: "This queue is itself the dead-letter queue of the region's rules; an alarm fires on its first message.",
    });
    this.alarm('DeadLettersAlarm', {
      description: `backup-kit ${this.description}: an event could not be forwarded and is in the dead-letter queue. Read it (SQS console) to see what was lost, and act on it by hand.`,
      metric: queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: cloudwatch.Stats.MAXIMUM }),
    });
    this.queue = queue;
    return queue;
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
