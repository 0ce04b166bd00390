import { Arn, ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { TargetPlan } from '../../contracts/backup-command';
import { acknowledgeWildcardResources } from './nag';
import { lockBoundStatements, type TierLockBound } from './object-lock-bounds';

export interface BackupInstancePolicyProps {
  /** The target whose instances get this policy. */
  readonly target: TargetPlan;
  /** The backup bucket. */
  readonly bucket: s3.IBucket;
  /** The backup bucket's key. */
  readonly bucketKey: kms.IKey;
  /** Where the SSM agent sends the command output. */
  readonly commandLogGroup: logs.ILogGroup;
  /** Name of the managed policy: teams attach it to instance roles by this name. */
  readonly managedPolicyName: string;
  /** The lock of each tier the target takes part in: the longest retention and the only mode the instance may set there. */
  readonly tierLocks: Readonly<Record<string, TierLockBound>>;
}

/**
 * The managed policy a target's instances need to back it up, for the team to attach to their
 * instance role (next to AmazonSSMManagedInstanceCore, which lets the SSM agent receive the
 * command): write new objects under the target's own prefixes `<tier>/<target>/` with Object
 * Lock retention and read them back, encrypt them with the backup key through S3, read the
 * target's own password, write the command output. It cannot list the bucket, touch another
 * target's prefix, delete a backup or bypass its retention.
 */
export class BackupInstancePolicy extends Construct {
  readonly policy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: BackupInstancePolicyProps) {
    super(scope, id);
    const { target } = props;
    if (!/^[A-Za-z0-9+=,.@_-]{1,128}$/.test(props.managedPolicyName)) {
      throw new Error(`BackupInstancePolicy managedPolicyName: '${props.managedPolicyName}' must be 1-128 letters, digits and + = , . @ _ -`);
    }
    if (target.tiers.length === 0) {
      throw new Error(`BackupInstancePolicy target: '${target.name}' takes part in no tier`);
    }
    const stack = Stack.of(this);
    const prefixes = target.tiers.map((tier) => `${tier}/${target.name}/*`);

    const bounds = target.tiers.flatMap((tier) => {
      const lock = props.tierLocks[tier];
      if (lock === undefined) throw new Error(`BackupInstancePolicy tierLocks: no lock for tier '${tier}' of target '${target.name}'`);
      return lockBoundStatements(`Tier${tier.replace(/[^A-Za-z0-9]/g, '')}`, [props.bucket.arnForObjects(`${tier}/${target.name}/*`)], lock.retention, lock.mode ?? 'GOVERNANCE');
    });
    const statements = [
      ...bounds,
      new iam.PolicyStatement({
        sid: 'WriteOwnBackups',
        // Multipart uploads are covered by PutObject, and carry their Object Lock (no later
        // PutObjectRetention); AbortMultipartUpload lets a failed stream clean up. No read: the
        // upload's response names the version, and the verifier checks the lock S3 applied.
        actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
        resources: prefixes.map((prefix) => props.bucket.arnForObjects(prefix)),
      }),
      new iam.PolicyStatement({
        sid: 'EncryptBackupsThroughS3',
        // S3 asks for a data key per object, and must decrypt it again to complete a multipart upload.
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [props.bucketKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${stack.region}.amazonaws.com` } },
      }),
      ...passwordStatements(stack, target),
      new iam.PolicyStatement({
        sid: 'WriteCommandOutput',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
        resources: [props.commandLogGroup.logGroupArn],
      }),
      new iam.PolicyStatement({
        sid: 'FindCommandOutputGroup',
        // The SSM agent looks the group up before streaming to it; DescribeLogGroups only lists,
        // and takes no resource but `*` (a log-group ARN there would grant nothing).
        actions: ['logs:DescribeLogGroups'],
        resources: ['*'],
      }),
    ];

    this.policy = new iam.ManagedPolicy(this, 'Policy', {
      managedPolicyName: props.managedPolicyName,
      description: `backup-kit: lets an instance back up target '${target.name}' (attach next to AmazonSSMManagedInstanceCore)`,
      statements,
    });

    acknowledgeWildcardResources(
      this.policy,
      prefixes.map((prefix) => props.bucket.arnForObjects(prefix)),
      `The instance writes new objects under its own target's prefixes only (${prefixes.join(', ')}); object keys carry a timestamp, so the prefix is the narrowest name.`,
    );
    acknowledgeWildcardResources(
      this.policy,
      ['*'],
      'The SSM agent looks up the command output group with DescribeLogGroups, which lists and cannot be scoped to one group; it grants no read of log events.',
    );
    if (target.database) {
      acknowledgeWildcardResources(
        this.policy,
        [passwordKeysArn(stack, target)],
        "The key that encrypts the password parameter or secret is the team's and unknown here; decryption is limited by kms:ViaService to SSM or Secrets Manager and by the encryption context to this one parameter or secret.",
      );
      const password = target.database.password;
      if ('secretId' in password) {
        acknowledgeWildcardResources(
          this.policy,
          secretArnPatterns(stack, password.secretId).filter((pattern) => pattern.includes('?')),
          'Secrets Manager appends six random characters to a secret ARN; the pattern matches exactly that suffix of this one secret.',
        );
      }
    }
  }
}

/** Statements that let an instance read a target's database password (the restore policy reuses them for the restore role's). */
export function passwordStatements(stack: Stack, target: TargetPlan): iam.PolicyStatement[] {
  if (!target.database) return [];
  const password = target.database.password;
  const keyArn = passwordKeysArn(stack, target);
  if ('ssmParameter' in password) {
    const parameterArn = stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: password.ssmParameter.replace(/^\//, '') });
    return [
      new iam.PolicyStatement({ sid: 'ReadOwnPasswordParameter', actions: ['ssm:GetParameter'], resources: [parameterArn] }),
      new iam.PolicyStatement({
        sid: 'DecryptOwnPasswordParameter',
        actions: ['kms:Decrypt'],
        resources: [keyArn],
        conditions: {
          StringEquals: { 'kms:ViaService': `ssm.${stack.region}.amazonaws.com`, 'kms:EncryptionContext:PARAMETER_ARN': parameterArn },
        },
      }),
    ];
  }
  const secretArns = secretArnPatterns(stack, password.secretId);
  return [
    new iam.PolicyStatement({ sid: 'ReadOwnPasswordSecret', actions: ['secretsmanager:GetSecretValue'], resources: secretArns }),
    new iam.PolicyStatement({
      sid: 'DecryptOwnPasswordSecret',
      actions: ['kms:Decrypt'],
      resources: [keyArn],
      conditions: {
        StringEquals: { 'kms:ViaService': `secretsmanager.${passwordRegion(stack, target)}.amazonaws.com` },
        StringLike: { 'kms:EncryptionContext:SecretARN': secretArns },
      },
    }),
  ];
}

/** A secret named by name gets its random suffix matched; a full ARN matches itself (and with a suffix, if it had none). */
export function secretArnPatterns(stack: Stack, secretId: string): string[] {
  if (secretId.startsWith('arn:')) return [secretId, `${secretId}-??????`];
  return [stack.formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: `${secretId}-??????`, arnFormat: ArnFormat.COLON_RESOURCE_NAME })];
}

/** Keys in the account and region of the password's parameter or secret. */
export function passwordKeysArn(stack: Stack, target: TargetPlan): string {
  const password = target.database?.password;
  if (password && 'secretId' in password && password.secretId.startsWith('arn:')) {
    const arn = Arn.split(password.secretId, ArnFormat.COLON_RESOURCE_NAME);
    return `arn:${arn.partition ?? stack.partition}:kms:${arn.region ?? stack.region}:${arn.account ?? stack.account}:key/*`;
  }
  return stack.formatArn({ service: 'kms', resource: 'key', resourceName: '*' });
}

function passwordRegion(stack: Stack, target: TargetPlan): string {
  const password = target.database?.password;
  if (password && 'secretId' in password && password.secretId.startsWith('arn:')) {
    return Arn.split(password.secretId, ArnFormat.COLON_RESOURCE_NAME).region ?? stack.region;
  }
  return stack.region;
}
