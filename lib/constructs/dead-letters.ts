import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { HouseFunction } from './house-function';

/**
 * A dead-letter queue: what a rule or a function could not deliver stays 14 days, encrypted with
 * `key`, under the dead-letter alarm (register it with the monitoring). `of` says whose it is.
 */
export function deadLetterQueue(scope: Construct, id: string, key: kms.IKey, of: string): sqs.Queue {
  const queue = new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.KMS,
    encryptionMasterKey: key,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
    removalPolicy: RemovalPolicy.DESTROY,
  });
  Validations.of(queue).acknowledge({
    id: 'AwsSolutions-SQS3',
    reason: `This queue is itself the dead-letter queue of the ${of}; an alarm fires on its first message.`,
  });
  return queue;
}

/**
 * Asynchronous invocations (schedules, EventBridge) of `fn` that still fail after Lambda's retries
 * land in `queue`, so a lost event raises the alarm instead of vanishing.
 */
export function deadLetterAsyncFailures(fn: HouseFunction, queue: sqs.IQueue, key: kms.IKey): void {
  fn.function.configureAsyncInvoke({
    retryAttempts: 2,
    maxEventAge: Duration.hours(6),
    onFailure: { bind: (): lambda.DestinationConfig => ({ destination: queue.queueArn }) },
  });
  // Explicit actions: the destination's own grant would add KMS wildcards.
  fn.role.addToPolicy(new iam.PolicyStatement({ sid: 'SendFailedInvocations', actions: ['sqs:SendMessage'], resources: [queue.queueArn] }));
  fn.role.addToPolicy(new iam.PolicyStatement({ sid: 'EncryptFailedInvocations', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [key.keyArn] }));
}
