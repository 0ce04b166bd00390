import { Duration } from 'aws-cdk-lib';
import type * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { deadLetterQueue } from './dead-letters';

/**
 * The dead-letter queue of EventBridge rules that mail the alert topic: what SNS did not take after
 * the retries stays 14 days, encrypted with `key`, under the dead-letter alarm (register it with
 * the monitoring).
 */
export function alertDeadLetterQueue(scope: Construct, key: kms.IKey, rules: string): sqs.Queue {
  return deadLetterQueue(scope, 'DeadLetters', key, rules);
}

/** A rule target mailing `message` to the alert topic, retried for up to a day, then kept in `deadLetterQueue`. */
export function alertTopicTarget(topic: sns.ITopic, message: events.RuleTargetInput, deadLetterQueue: sqs.IQueue): targets.SnsTopic {
  return new targets.SnsTopic(topic, { message, deadLetterQueue, retryAttempts: 8, maxEventAge: Duration.hours(24) });
}
