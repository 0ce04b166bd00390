import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { EXPECTED_SINCE_PREFIX, VERDICT_PREFIX } from '../../contracts/manifest';
import { drillExpectedSinceKey } from '../../contracts/restore-command';
import type { TransitionConfig } from '../config/schema';
import { lockBoundStatements, type TierLockBound } from './object-lock-bounds';
import { privateBucketProps } from './private-bucket';

/**
 * One lifecycle tier: objects under `<name>/` move through `transitions` and expire after
 * `retention`; whoever writes them may lock them at most that long, and only in `mode`.
 */
export interface BackupTierLifecycle extends TierLockBound {
  readonly name: string;
  readonly transitions: readonly TransitionConfig[];
}

export interface NoncurrentVersionLifecycle {
  readonly transitions: readonly TransitionConfig[];
  readonly expireAfter: Duration;
}

export interface BackupBucketProps {
  /** Tiers, each with its prefix rule. */
  readonly tiers: readonly BackupTierLifecycle[];
  /** What happens to versions once they are no longer current. */
  readonly noncurrentVersions: NoncurrentVersionLifecycle;
  /**
   * Default Object Lock retention every new object version gets when its writer sets none; its
   * mode is also the only one allowed outside the tiers (verdicts, drill records).
   */
  readonly objectLockRetention: s3.ObjectLockRetention;
  /** Where server access logs go. */
  readonly accessLogBucket: s3.IBucket;
  /**
   * Days after which incomplete multipart uploads are aborted.
   * @default - 7 days
   */
  readonly abortIncompleteUploadsAfter?: Duration;
  /**
   * Physical bucket name; only for a bucket other stacks must find by name (the replica).
   * @default - CloudFormation generates the name
   */
  readonly bucketName?: string;
  /**
   * Alias of the bucket's KMS key; only where the alias is a contract (replication targets it).
   * @default - no alias
   */
  readonly keyAlias?: string;
  /** What the bucket holds, for the key's description. */
  readonly description: string;
  /**
   * Roles (by name; `*` matches any characters) still allowed what the guard denies everyone else:
   * the break-glass role and CloudFormation's deploy role.
   * @default - no guard: account administrators can delete locked versions, change the bucket policy and disable the key
   */
  readonly guardExemptRoleNames?: readonly string[];
  /**
   * For a replica in an isolated account: the roles of the workload account let in. The replication
   * role may write replicas (taking them over for this account) and encrypt them with this
   * bucket's key through S3; the reader roles may list and read object metadata and versions.
   * @default - no other account is let in
   */
  readonly crossAccount?: CrossAccountAccess;
}

export interface CrossAccountAccess {
  /** ARN of the role S3 replicates with, in the source account. */
  readonly replicationRoleArn: string;
  /** ARNs of roles that check replicas (HeadObject). */
  readonly readerRoleArns?: readonly string[];
}

/** What no one but the exempt roles may do to the bucket or its objects. */
export const GUARDED_BUCKET_ACTIONS = [
  's3:BypassGovernanceRetention',
  's3:DeleteObjectVersion',
  's3:PutBucketPolicy',
  's3:DeleteBucketPolicy',
  's3:PutBucketObjectLockConfiguration',
  's3:PutBucketVersioning',
  's3:PutLifecycleConfiguration',
  's3:PutReplicationConfiguration',
  's3:DeleteBucket',
] as const;

/** What no one but the exempt roles may do to the key (without it every backup is unreadable). */
export const GUARDED_KEY_ACTIONS = ['kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:PutKeyPolicy', 'kms:DisableKeyRotation'] as const;

/** The condition that leaves the roles named (`*` matches any characters) out of a guard's deny. */
export function guardExemption(scope: Construct, roleNames: readonly string[]): { ArnNotLike: { 'aws:PrincipalArn': string[] } } {
  const stack = Stack.of(scope);
  return { ArnNotLike: { 'aws:PrincipalArn': roleNames.map((name) => stack.formatArn({ service: 'iam', region: '', resource: 'role', resourceName: name })) } };
}

/** The key-policy statement of every guarded key: no deletion, disabling or policy change but by the exempt roles. */
export function guardKeyStatement(exemption: ReturnType<typeof guardExemption>): iam.PolicyStatement {
  return new iam.PolicyStatement({ sid: 'GuardKey', effect: iam.Effect.DENY, principals: [new iam.AnyPrincipal()], actions: [...GUARDED_KEY_ACTIONS], resources: ['*'], conditions: exemption });
}

/**
 * The bucket backups live in, with its customer-managed key: versioned, SSE-KMS with Bucket
 * Keys, public access blocked, TLS-only, access-logged, tiered by lifecycle and locked with
 * Object Lock so that nobody, a compromised job role included, can delete or overwrite a
 * backup inside its retention.
 */
export class BackupBucket extends Construct {
  readonly bucket: s3.Bucket;
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: BackupBucketProps) {
    super(scope, id);
    if (props.tiers.length === 0) {
      throw new Error('BackupBucket tiers: at least one tier is required');
    }
    for (const tier of props.tiers) {
      if (!/^[a-z][a-z0-9-]*$/.test(tier.name)) {
        throw new Error(`BackupBucket tiers: '${tier.name}' is not a valid tier name (lowercase letters, digits, hyphens)`);
      }
      if (`${tier.name}/` === VERDICT_PREFIX) throw new Error(`BackupBucket tiers: '${tier.name}' is reserved: the prefix ${VERDICT_PREFIX} holds the verification verdicts`);
      if (`${tier.name}/` === EXPECTED_SINCE_PREFIX) throw new Error(`BackupBucket tiers: '${tier.name}' is reserved: the prefix ${EXPECTED_SINCE_PREFIX} holds the markers since when each target's backups are expected`);
    }

    this.key = new kms.Key(this, 'Key', {
      description: `Encrypts ${props.description}`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
      ...(props.keyAlias ? { alias: props.keyAlias } : {}),
    });

    const abortAfter = props.abortIncompleteUploadsAfter ?? Duration.days(7);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      ...(props.bucketName ? { bucketName: props.bucketName } : {}),
      ...privateBucketProps(this.key, props.accessLogBucket, 'backup-bucket/'),
      objectLockEnabled: true,
      objectLockDefaultRetention: props.objectLockRetention,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        ...props.tiers.map(
          (tier): s3.LifecycleRule => ({
            id: `tier-${tier.name}`,
            prefix: `${tier.name}/`,
            expiration: tier.retention,
            transitions: tier.transitions.map((transition) => ({
              storageClass: new s3.StorageClass(transition.storageClass),
              transitionAfter: Duration.days(transition.afterDays),
            })),
          }),
        ),
        // The verdicts of a tier's backups go when the backups do.
        ...props.tiers.map((tier): s3.LifecycleRule => ({ id: `verdicts-${tier.name}`, prefix: `${VERDICT_PREFIX}${tier.name}/`, expiration: tier.retention })),
        {
          id: 'noncurrent-versions',
          noncurrentVersionTransitions: props.noncurrentVersions.transitions.map((transition) => ({
            storageClass: new s3.StorageClass(transition.storageClass),
            transitionAfter: Duration.days(transition.afterDays),
          })),
          noncurrentVersionExpiration: props.noncurrentVersions.expireAfter,
        },
        { id: 'expired-delete-markers', expiredObjectDeleteMarker: true },
        { id: 'abort-incomplete-multipart', abortIncompleteMultipartUploadAfter: abortAfter },
      ],
    });
    if (props.guardExemptRoleNames !== undefined) this.guard(props.guardExemptRoleNames);
    if (props.crossAccount !== undefined) this.letIn(props.crossAccount);
    // Backups, manifests, verdicts and expected-since markers are written once: creating an object there must carry
    // If-None-Match (PutObject, CompleteMultipartUpload), so no one makes a new version of a key.
    // CreateMultipartUpload and UploadPart cannot carry it, and S3 marks them as not creating.
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'WriteOnce',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [
          ...props.tiers.map((tier) => this.bucket.arnForObjects(`${tier.name}/*`)),
          this.bucket.arnForObjects(`${VERDICT_PREFIX}*`),
          this.bucket.arnForObjects(`${EXPECTED_SINCE_PREFIX}*`),
          this.bucket.arnForObjects(drillExpectedSinceKey('*')),
        ],
        conditions: { Null: { 's3:if-none-match': 'true' }, Bool: { 's3:ObjectCreationOperation': 'true' } },
      }),
    );
    // Whoever writes (a job, an instance, an administrator): in a tier, no lock longer than the
    // tier's retention nor in another mode than the tier's; elsewhere, no lock longer than the
    // longest tier nor in another mode than the bucket's default; nowhere a legal hold.
    const longest = props.tiers.reduce((days, tier) => Math.max(days, tier.retention.toDays()), 0);
    const defaultMode = props.objectLockRetention.mode === s3.ObjectLockMode.COMPLIANCE ? 'COMPLIANCE' : 'GOVERNANCE';
    const tierObjects = props.tiers.map((tier) => this.bucket.arnForObjects(`${tier.name}/*`));
    const bounds = [
      ...props.tiers.flatMap((tier) =>
        lockBoundStatements(`Tier${tier.name.replace(/[^A-Za-z0-9]/g, '')}`, [this.bucket.arnForObjects(`${tier.name}/*`)], tier.retention, tier.mode ?? 'GOVERNANCE'),
      ),
      ...lockBoundStatements('OutsideTiers', [], Duration.days(longest), defaultMode, { except: tierObjects }),
    ];
    for (const statement of bounds) {
      statement.addAnyPrincipal();
      this.bucket.addToResourcePolicy(statement);
    }
  }

  /** The workload account's replication and reader roles, by ARN: nothing else of that account gets in. */
  private letIn(access: CrossAccountAccess): void {
    const replication = new iam.ArnPrincipal(access.replicationRoleArn);
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'ReplicasFromWorkloadAccount',
        principals: [replication],
        // Owner override: the replicas belong to this account, whatever the source account does.
        actions: ['s3:ReplicateObject', 's3:ReplicateTags', 's3:ObjectOwnerOverrideToBucketOwner'],
        resources: [this.bucket.arnForObjects('*')],
      }),
    );
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'ReplicationChecksDestination',
        principals: [replication],
        actions: ['s3:GetBucketVersioning', 's3:ListBucket'],
        resources: [this.bucket.bucketArn],
      }),
    );
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'EncryptReplicasFromWorkloadAccount',
        principals: [replication],
        actions: ['kms:Encrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Stack.of(this).region}.amazonaws.com` } },
      }),
    );
    const readers = (access.readerRoleArns ?? []).map((arn) => new iam.ArnPrincipal(arn));
    if (readers.length > 0) {
      this.bucket.addToResourcePolicy(new iam.PolicyStatement({ sid: 'WorkloadReadersList', principals: readers, actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn] }));
      this.bucket.addToResourcePolicy(
        new iam.PolicyStatement({ sid: 'WorkloadReadersHead', principals: readers, actions: ['s3:GetObject', 's3:GetObjectVersion'], resources: [this.bucket.arnForObjects('*')] }),
      );
    }
  }

  /**
   * An administrator's credentials must not be enough to destroy both the backups and the means to
   * read them: deny the destructive and policy-changing actions to every principal but the exempt
   * roles, in the bucket policy and in the key policy.
   */
  private guard(exemptRoleNames: readonly string[]): void {
    if (exemptRoleNames.length === 0) throw new Error('BackupBucket guardExemptRoleNames: name at least the deploy role, or CloudFormation could not update the stack');
    const exempt = guardExemption(this, exemptRoleNames);
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'GuardLockedBackups',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: [...GUARDED_BUCKET_ACTIONS],
        resources: [this.bucket.bucketArn, this.bucket.arnForObjects('*')],
        conditions: exempt,
      }),
    );
    this.key.addToResourcePolicy(guardKeyStatement(exempt));
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'GuardKeyGrants',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['kms:CreateGrant'],
        resources: ['*'],
        // Grants AWS services make for their own resources stay possible.
        conditions: { ...exempt, Bool: { 'kms:GrantIsForAWSResource': 'false' } },
      }),
    );
  }
}
