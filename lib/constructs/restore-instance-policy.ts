import { Stack, type Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import type { ObjectLockModeName } from '../../contracts/backup-command';
import { verdictPrefixOf } from '../../contracts/manifest';
import type { RestoreTarget } from '../../contracts/restore-command';
import { passwordKeysArn, passwordStatements, secretArnPatterns } from './backup-instance-policy';
import { acknowledgeWildcardResources } from './nag';
import { lockBoundStatements } from './object-lock-bounds';

export interface RestoreInstancePolicyProps {
  /** Prefix of the policy's name (`<prefix>-restore-<target>`). */
  readonly namePrefix: string;
  readonly backupBucket: s3.IBucket;
  readonly backupKey: kms.IKey;
  /** Tier of the safety backups a replace takes first. */
  readonly safetyTier: string;
  /** Retention of that tier; absent: replace is refused, so no safety backup is ever written. */
  readonly safetyRetention?: Duration;
  /** @default 'GOVERNANCE' */
  readonly safetyObjectLockMode?: ObjectLockModeName;
  /** Where the SSM agent writes the restore's output. */
  readonly commandLogGroup: logs.ILogGroup;
  /**
   * The instance has no backup policy of the target (the DR region): without a restore role, the
   * restore connects as the backup user, whose password this policy then lets it read.
   * @default false
   */
  readonly standaloneInstancePolicies?: boolean;
}

/**
 * What an instance needs to restore a target: read its backups and decrypt them through S3,
 * write its safety backups (the safety tier only), read the restore role's password, send
 * the run's output. It cannot delete or overwrite a backup.
 */
export function restoreInstancePolicy(scope: Construct, target: RestoreTarget, props: RestoreInstancePolicyProps): iam.ManagedPolicy {
  const stack = Stack.of(scope);
  const name = target.backup.name;
  const readPrefixes = readPrefixesOf(target);
  const safetyObjects = props.backupBucket.arnForObjects(`${props.safetyTier}/${name}/*`);
  const readObjects = readPrefixes.map((prefix) => props.backupBucket.arnForObjects(`${prefix}*`));
  const restorePassword =
    target.restore.user !== undefined && target.restore.password !== undefined && target.backup.database
      ? passwordStatements(stack, { ...target.backup, database: { ...target.backup.database, password: target.restore.password } })
      : props.standaloneInstancePolicies && target.backup.database
        ? passwordStatements(stack, target.backup)
        : [];
  const policy = new iam.ManagedPolicy(scope, `InstancePolicy-${name}`, {
    managedPolicyName: `${props.namePrefix}-restore-${name}`,
    description: `backup-kit: lets an instance restore target '${name}' (attach with the target's backup policy and AmazonSSMManagedInstanceCore)`,
    statements: [
      new iam.PolicyStatement({
        sid: 'ListOwnBackups',
        actions: ['s3:ListBucket', 's3:ListBucketVersions'],
        resources: [props.backupBucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': readPrefixes.map((prefix) => `${prefix}*`) } },
      }),
      new iam.PolicyStatement({ sid: 'ReadOwnBackups', actions: ['s3:GetObject', 's3:GetObjectVersion'], resources: readObjects }),
      // Without the safety tier a replace is refused, so no safety backup is ever written.
      ...(props.safetyRetention !== undefined
        ? [
            ...lockBoundStatements('Safety', [safetyObjects], props.safetyRetention, props.safetyObjectLockMode ?? 'GOVERNANCE'),
            new iam.PolicyStatement({ sid: 'WriteSafetyBackups', actions: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:GetObject'], resources: [safetyObjects] }),
          ]
        : []),
      new iam.PolicyStatement({
        sid: 'UseBackupKeyThroughS3',
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [props.backupKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${stack.region}.amazonaws.com` } },
      }),
      ...restorePassword,
      new iam.PolicyStatement({ sid: 'WriteCommandOutput', actions: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'], resources: [props.commandLogGroup.logGroupArn] }),
      new iam.PolicyStatement({ sid: 'FindCommandOutputGroup', actions: ['logs:DescribeLogGroups'], resources: ['*'] }),
    ],
  });
  acknowledgeWildcardResources(policy, [...readObjects, safetyObjects], `The instance reads its own target's backups (${readPrefixes.join(', ')}) and writes safety backups under ${props.safetyTier}/${name}/ only; object keys carry a timestamp, so the prefix is the narrowest name.`);
  acknowledgeWildcardResources(policy, ['*'], 'The SSM agent looks up the command output group with DescribeLogGroups, which lists and takes no resource but * (AWS service reference).');
  if (restorePassword.length > 0 && target.backup.database) {
    const password = target.restore.password ?? target.backup.database.password;
    const plan = { ...target.backup, database: { ...target.backup.database, password } };
    acknowledgeWildcardResources(
      policy,
      [passwordKeysArn(stack, plan)],
      "The key that encrypts the restore role's password parameter or secret is the team's and unknown here; decryption is limited by kms:ViaService and by the encryption context to that one parameter or secret.",
    );
    if ('secretId' in password) {
      acknowledgeWildcardResources(
        policy,
        secretArnPatterns(stack, password.secretId).filter((pattern) => pattern.includes('?')),
        'Secrets Manager appends six random characters to a secret ARN; the pattern matches exactly that suffix of this one secret.',
      );
    }
  }
  return policy;
}

/** Where a target's backups, manifests and verdicts are: its tier prefixes and their verdict prefixes. */
function readPrefixesOf(target: RestoreTarget): string[] {
  return target.backup.tiers.flatMap((tier) => [`${tier}/${target.backup.name}/`, verdictPrefixOf(tier, target.backup.name)]);
}
