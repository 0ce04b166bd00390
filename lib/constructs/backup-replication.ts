import { Aws, Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledgeWildcards, nagArnOf } from './nag';

/** ID of the replication rule: the S3 replication metrics carry it as the RuleId dimension. */
export const REPLICATION_RULE_ID = 'replicate-all-backups';

export interface BackupReplicationProps {
  /** The primary backup bucket. */
  readonly source: s3.Bucket;
  /** The primary bucket's key. */
  readonly sourceKey: kms.IKey;
  /** Name of the replica bucket in the DR region. */
  readonly destinationBucketName: string;
  /** The DR region. */
  readonly destinationRegion: string;
  /** Alias of the replica key (`alias/...`); its ARN is what S3 encrypts replicas with. */
  readonly destinationKeyAlias: string;
  /**
   * S3 Replication Time Control (15-minute SLA).
   * @default true
   */
  readonly replicationTimeControl?: boolean;
  /**
   * Replication metrics and events.
   * @default true
   */
  readonly metrics?: boolean;
  /**
   * The account of the replica bucket when it is not this one (an isolated backup account):
   * replicas are then handed to that account (owner override).
   * @default - the replica is in this account
   */
  readonly destinationAccount?: string;
  /**
   * Physical name of the replication role; set it when another account's policies must name it.
   * @default - CloudFormation generates the name
   */
  readonly roleName?: string;
}

/**
 * Cross-region replication of every backup, KMS-encrypted ones included, to the replica
 * bucket. Delete markers are not replicated: a deletion in the primary never removes the
 * replica copy. The role may read only the source bucket and key and write only the
 * replica bucket and key.
 */
export class BackupReplication extends Construct {
  readonly role: iam.Role;
  /** How long S3 promises (with RTC) or is expected to take to replicate an object. */
  readonly replicationTime: Duration = Duration.minutes(15);

  constructor(scope: Construct, id: string, props: BackupReplicationProps) {
    super(scope, id);
    const rtc = props.replicationTimeControl ?? true;
    const metrics = props.metrics ?? true;
    if (rtc && !metrics) {
      throw new Error('BackupReplication metrics: Replication Time Control requires replication metrics to be on');
    }
    if (!props.destinationKeyAlias.startsWith('alias/')) {
      throw new Error(`BackupReplication destinationKeyAlias: must start with 'alias/' (got '${props.destinationKeyAlias}')`);
    }
    if (props.destinationAccount !== undefined && !/^\d{12}$/.test(props.destinationAccount)) {
      throw new Error(`BackupReplication destinationAccount: '${props.destinationAccount}' is not a 12-digit AWS account ID`);
    }
    const destinationAccount = props.destinationAccount ?? Aws.ACCOUNT_ID;
    const crossAccount = props.destinationAccount !== undefined;
    const destinationBucketArn = `arn:${Aws.PARTITION}:s3:::${props.destinationBucketName}`;
    const destinationKeyAliasArn = `arn:${Aws.PARTITION}:kms:${props.destinationRegion}:${destinationAccount}:${props.destinationKeyAlias}`;

    this.role = new iam.Role(this, 'Role', {
      // Only S3 acting for this account (the confused-deputy guard AWS recommends for service roles).
      assumedBy: new iam.ServicePrincipal('s3.amazonaws.com').withConditions({ StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } }),
      ...(props.roleName !== undefined ? { roleName: props.roleName } : {}),
      description: 'Replicates backups to the DR-region replica bucket',
    });
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadSourceConfiguration',
        actions: ['s3:GetReplicationConfiguration', 's3:ListBucket'],
        resources: [props.source.bucketArn],
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadSourceVersions',
        actions: [
          's3:GetObjectVersionForReplication',
          's3:GetObjectVersionAcl',
          's3:GetObjectVersionTagging',
          's3:GetObjectRetention',
          's3:GetObjectLegalHold',
        ],
        resources: [props.source.arnForObjects('*')],
      }),
    );
    // No s3:ReplicateDelete: delete markers are never replicated.
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'WriteReplicas',
        actions: ['s3:ReplicateObject', 's3:ReplicateTags', ...(crossAccount ? ['s3:ObjectOwnerOverrideToBucketOwner'] : [])],
        resources: [`${destinationBucketArn}/*`],
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'DecryptSource',
        actions: ['kms:Decrypt'],
        resources: [props.sourceKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` } },
      }),
    );
    // The replica key lives in the DR stack; synth cannot know its ID, so the grant names it by alias.
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'EncryptReplicas',
        actions: ['kms:Encrypt', 'kms:GenerateDataKey'],
        resources: [`arn:${Aws.PARTITION}:kms:${props.destinationRegion}:${destinationAccount}:key/*`],
        conditions: {
          StringEquals: { 'kms:ViaService': `s3.${props.destinationRegion}.amazonaws.com` },
          'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [props.destinationKeyAlias] },
        },
      }),
    );
    acknowledgeWildcards(
      this.role,
      [
        `Resource::${nagArnOf(props.source.node.defaultChild as s3.CfnBucket, '/*')}`,
        `Resource::arn:<AWS::Partition>:s3:::${props.destinationBucketName.replace(Aws.ACCOUNT_ID, '<AWS::AccountId>')}/*`,
      ],
      'Replication copies every object version of the backup bucket to the replica bucket, so it reads source/* and writes replica/*.',
    );
    acknowledgeWildcards(
      this.role,
      [`Resource::arn:<AWS::Partition>:kms:${props.destinationRegion}:${crossAccount ? destinationAccount : '<AWS::AccountId>'}:key/*`],
      'The replica key lives in the DR stack and its ID is unknown here at synth; the grant is narrowed by kms:ResourceAliases to the replica key alias and kms:ViaService to S3 in the DR region.',
    );

    const cfnBucket = props.source.node.defaultChild as s3.CfnBucket;
    cfnBucket.replicationConfiguration = {
      role: this.role.roleArn,
      rules: [
        {
          id: REPLICATION_RULE_ID,
          status: 'Enabled',
          priority: 1,
          filter: { prefix: '' },
          deleteMarkerReplication: { status: 'Disabled' },
          sourceSelectionCriteria: { sseKmsEncryptedObjects: { status: 'Enabled' } },
          destination: {
            bucket: destinationBucketArn,
            ...(crossAccount ? { account: destinationAccount, accessControlTranslation: { owner: 'Destination' } } : {}),
            encryptionConfiguration: { replicaKmsKeyId: destinationKeyAliasArn },
            ...(rtc ? { replicationTime: { status: 'Enabled', time: { minutes: 15 } } } : {}),
            ...(metrics ? { metrics: { status: 'Enabled', eventThreshold: { minutes: 15 } } } : {}),
          },
        },
      ],
    };
  }
}
