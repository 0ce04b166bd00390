import { z } from 'zod';
import { objectivesSchema } from './objectives-schema';
import { CLUSTER_INSTANCE_SUFFIX_LENGTH, MAX_SOURCE_IDENTIFIER_LENGTH, RESTORE_NAME_INFIX, rdsIdentifierProblem } from '../../../contracts/rds';

/** A config problem at a path (same shape as the config's own issues). */
interface ConfigIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/**
 * The RDS DB instances an engineer may restore to a point in time from the Lambda console,
 * and, per instance, optional replication of its automated backups to the DR region so a
 * restore can run there too; and the Aurora clusters it may restore (a new cluster, then its
 * instances).
 */

const instanceIdentifierSchema = z.string().superRefine((value, ctx) => {
  const problem = rdsIdentifierProblem(value, MAX_SOURCE_IDENTIFIER_LENGTH);
  if (problem) {
    ctx.addIssue({
      code: 'custom',
      message:
        problem.startsWith('must be at most')
          ? `${problem}: '<identifier>-pitr-<yyyymmddhhmm>' must fit RDS's 63 characters`
          : `'${value}' is not a valid RDS DB instance identifier: ${problem}`,
    });
  } else if (value.includes(RESTORE_NAME_INFIX)) {
    ctx.addIssue({ code: 'custom', message: `'${value}' contains '${RESTORE_NAME_INFIX}', which marks the restored copies; name the original instance` });
  }
});

const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):key\/[A-Za-z0-9-]+$/;
const kmsKeyArnSchema = z.string().regex(KMS_KEY_ARN, 'must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), not an alias');

const drReplicationSchema = z.strictObject({
  /** Days RDS keeps the replicated backups in the DR region (RDS allows 1-35). */
  retentionDays: z.number().int().min(1).max(35).default(7),
  /**
   * Key in the DR region for the replicated backups and for instances restored from them.
   * Required when the source is encrypted (deploy fails otherwise, naming this field).
   */
  kmsKeyArn: kmsKeyArnSchema.optional(),
  /** DB subnet group in the DR region a DR restore goes into (the source's exists only in the primary). */
  subnetGroupName: z.string().min(1).max(255),
  /** VPC security groups in the DR region for a DR restore. */
  securityGroupIds: z.array(z.string().regex(/^sg-[0-9a-f]{8,17}$/, 'must be a security group ID (sg-...)')).min(1, 'at least one security group is required'),
  /** DB parameter group in the DR region; omitted, a DR restore gets the engine's default group. */
  parameterGroupName: z.string().min(1).max(255).optional(),
  /** Option group in the DR region; omitted, the engine's default option group. */
  optionGroupName: z.string().min(1).max(255).optional(),
});

const rdsInstanceSchema = z.strictObject({
  /** The DB instance identifier (lowercase; at most 45 characters so the restored copy's name fits). */
  identifier: instanceIdentifierSchema,
  /**
   * The instance's KMS key. Given, the restore role may use only this key; omitted, any key of
   * the account, through RDS in the primary region only.
   */
  kmsKeyArn: kmsKeyArnSchema.optional(),
  /** Replicate the automated backups to the DR region (extra cost: copy transfer plus storage there). */
  drReplication: drReplicationSchema.optional(),
  /** Recovery objectives; by default RPO 24 h, RTO 2 h (point-in-time restore keeps minutes of data). */
  objectives: objectivesSchema,
});
export type RdsInstanceConfig = z.infer<typeof rdsInstanceSchema>;

const rdsClusterSchema = z.strictObject({
  /** The Aurora DB cluster identifier (lowercase; at most 43 characters so the copy's instances' names fit). */
  identifier: instanceIdentifierSchema.refine((value) => value.length <= MAX_SOURCE_IDENTIFIER_LENGTH - CLUSTER_INSTANCE_SUFFIX_LENGTH, {
    message: `must be at most ${MAX_SOURCE_IDENTIFIER_LENGTH - CLUSTER_INSTANCE_SUFFIX_LENGTH} characters: '<identifier>-pitr-<yyyymmddhhmm>-<n>' names the copy's instances within RDS's 63`,
  }),
  /** The cluster's KMS key. Given, the restore role may use only this key. */
  kmsKeyArn: kmsKeyArnSchema.optional(),
  /** Recovery objectives; by default RPO 24 h, RTO 2 h. */
  objectives: objectivesSchema,
});
export type RdsClusterConfig = z.infer<typeof rdsClusterSchema>;

const rdsSchema = z.strictObject({
  /** RDS DB instances the restore function may restore, by identifier. */
  instances: z.array(rdsInstanceSchema).default([]),
  /**
   * Aurora DB clusters the restore function may restore to a point in time, by identifier: a new
   * cluster, then one instance per instance of the source, with the source's classes. Primary
   * region only (Aurora keeps no automated backups in another region).
   */
  clusters: z.array(rdsClusterSchema).default([]),
});
export type RdsConfig = z.infer<typeof rdsSchema>;

export const rdsConfigShape = {
  /** RDS point-in-time restore: the allowlist of DB instances and their DR replication. */
  rds: rdsSchema.default({ instances: [], clusters: [] }),
};

interface ConfigWithRds {
  readonly primaryRegion: string;
  readonly drRegion: string;
  readonly account?: string | undefined;
  readonly rds: RdsConfig;
}

/** Cross-field rules: unique identifiers, keys in the right region and account. */
export function rdsConfigIssues(config: ConfigWithRds): { errors: ConfigIssue[]; warnings: ConfigIssue[] } {
  const errors: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const seen = new Map<string, number>();
  config.rds.instances.forEach((instance, index) => {
    const here = ['rds', 'instances', index];
    const first = seen.get(instance.identifier);
    if (first !== undefined) {
      errors.push({ path: [...here, 'identifier'], message: `'${instance.identifier}' is listed twice (also rds.instances.${first})` });
    } else {
      seen.set(instance.identifier, index);
    }
    const checkKey = (arn: string | undefined, region: string, path: (string | number)[]) => {
      const match = arn ? KMS_KEY_ARN.exec(arn) : null;
      if (!match) return;
      if (match[1] !== region) {
        errors.push({ path, message: `must be a key in ${region} (got one in ${match[1]})` });
      }
      if (config.account && match[2] !== config.account) {
        errors.push({ path, message: `must be a key of account ${config.account} (got ${match[2]})` });
      }
    };
    checkKey(instance.kmsKeyArn, config.primaryRegion, [...here, 'kmsKeyArn']);
    if (instance.drReplication) {
      checkKey(instance.drReplication.kmsKeyArn, config.drRegion, [...here, 'drReplication', 'kmsKeyArn']);
      if (!instance.drReplication.kmsKeyArn) {
        warnings.push({
          path: [...here, 'drReplication', 'kmsKeyArn'],
          message: `not set: if ${instance.identifier} is encrypted, replication fails at deploy until a key in ${config.drRegion} is given`,
        });
      }
      const groups = instance.drReplication.securityGroupIds;
      const duplicate = groups.find((group, position) => groups.indexOf(group) !== position);
      if (duplicate) {
        errors.push({ path: [...here, 'drReplication', 'securityGroupIds'], message: `'${duplicate}' is listed twice` });
      }
    }
  });
  config.rds.clusters.forEach((cluster, index) => {
    const here = ['rds', 'clusters', index];
    const instance = config.rds.instances.findIndex((candidate) => candidate.identifier === cluster.identifier);
    if (instance >= 0) errors.push({ path: [...here, 'identifier'], message: `'${cluster.identifier}' is also rds.instances.${instance}: a name is an instance or a cluster` });
    const first = config.rds.clusters.findIndex((candidate) => candidate.identifier === cluster.identifier);
    if (first !== index) errors.push({ path: [...here, 'identifier'], message: `'${cluster.identifier}' is listed twice (also rds.clusters.${first})` });
    const match = cluster.kmsKeyArn ? KMS_KEY_ARN.exec(cluster.kmsKeyArn) : null;
    if (match && match[1] !== config.primaryRegion) errors.push({ path: [...here, 'kmsKeyArn'], message: `must be a key in ${config.primaryRegion} (got one in ${match[1]})` });
    if (match && config.account && match[2] !== config.account) errors.push({ path: [...here, 'kmsKeyArn'], message: `must be a key of account ${config.account} (got ${match[2]})` });
  });
  return { errors, warnings };
}
