import type { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { ObjectLockModeName } from '../../contracts/backup-command';

/** The lock a tier's objects get: retain-until at most `retention` after upload, in `mode`. */
export interface TierLockBound {
  readonly retention: Duration;
  /**
   * GOVERNANCE can be lifted with s3:BypassGovernanceRetention (the guard leaves that to the
   * break-glass role); COMPLIANCE by nobody, root included.
   * @default 'GOVERNANCE'
   */
  readonly mode?: ObjectLockModeName;
}

/** Days of slack over a tier's retention: the script sets retain-until from its own clock at upload. */
export const RETENTION_MARGIN_DAYS = 1;

export interface LockBoundOptions {
  /**
   * Bound every object but these (a NotResource statement) instead of `objectArns`: what a bucket
   * holds outside its tiers.
   * @default - bound exactly `objectArns`
   */
  readonly except?: readonly string[];
}

/**
 * Deny statements that bound what Object Lock a writer may set on `objectArns`: retention at most
 * `retention` (plus the margin), only `mode`, and never a legal hold (an indefinite lock). Without
 * them a compromised writer could lock its objects in COMPLIANCE mode for a century: storage that
 * nobody could ever delete.
 */
export function lockBoundStatements(sid: string, objectArns: readonly string[], retention: Duration, mode: ObjectLockModeName, options: LockBoundOptions = {}): iam.PolicyStatement[] {
  const writes = ['s3:PutObject', 's3:PutObjectRetention'];
  const where = options.except ? { notResources: [...options.except] } : { resources: [...objectArns] };
  return [
    new iam.PolicyStatement({
      sid: `${sid}RetentionAtMost${retention.toDays()}Days`,
      effect: iam.Effect.DENY,
      actions: writes,
      ...where,
      conditions: { NumericGreaterThan: { 's3:object-lock-remaining-retention-days': String(retention.toDays() + RETENTION_MARGIN_DAYS) } },
    }),
    new iam.PolicyStatement({
      sid: `${sid}Only${mode === 'GOVERNANCE' ? 'Governance' : 'Compliance'}Mode`,
      effect: iam.Effect.DENY,
      actions: writes,
      ...where,
      conditions: { StringNotEquals: { 's3:object-lock-mode': mode }, Null: { 's3:object-lock-mode': 'false' } },
    }),
    new iam.PolicyStatement({
      sid: `${sid}NoLegalHold`,
      effect: iam.Effect.DENY,
      actions: ['s3:PutObject'],
      ...where,
      conditions: { StringEquals: { 's3:object-lock-legal-hold': 'ON' } },
    }),
  ];
}
