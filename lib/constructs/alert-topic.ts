import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

export interface AlertTopicProps {
  /** Key that encrypts messages at rest. */
  readonly key: kms.IKey;
  /**
   * E-mail addresses subscribed to the topic; each confirms once by e-mail.
   * @default - no subscriptions (add them in the console or later)
   */
  readonly emails?: readonly string[];
}

/**
 * Lets a role publish to the KMS-encrypted alert topic: `sns:Publish` on the topic, and the data
 * key SNS asks for on its behalf (GenerateDataKey, Decrypt) on the topic's key. Not the
 * `GenerateDataKey*` and `Encrypt` of `grantPublish`.
 */
export function grantAlertPublishing(role: iam.IRole, topic: sns.ITopic, topicKey: kms.IKey): void {
  role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'PublishAlerts', actions: ['sns:Publish'], resources: [topic.topicArn] }));
  role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'EncryptAlerts', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [topicKey.keyArn] }));
}

/** The topic every job alerts on: KMS-encrypted, TLS-only, with the config's e-mail subscriptions. */
export class AlertTopic extends Construct {
  readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, props: AlertTopicProps) {
    super(scope, id);
    for (const email of props.emails ?? []) {
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
        throw new Error(`AlertTopic emails: '${email}' is not an e-mail address`);
      }
    }
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'Backup kit alerts',
      masterKey: props.key,
      enforceSSL: true,
    });
    for (const email of props.emails ?? []) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    }
  }
}
