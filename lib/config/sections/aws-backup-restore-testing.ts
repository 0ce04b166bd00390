import { z } from 'zod';
import { DEFAULT_PROBE_USER, PROBE_LIMITS } from '../../../contracts/database-probe';
import { schedulerCronSchema } from '../schema';
import { derivedMaxAgeHours } from './verification';

/**
 * AWS Backup restore testing of a data class: when, how long the copy is kept, where its database
 * copies go, and the SQL they must answer; and where the database probe function runs.
 */

/** A config problem at a path (same shape as the config's own issues). */
interface ConfigIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

const probeSchema = z.strictObject({
  /** The database the statements run in. */
  database: z.string().regex(/^[A-Za-z_][A-Za-z0-9_$-]{0,63}$/, 'must be a database name (letters, digits, _, $, -; at most 64)'),
  /**
   * The database user the probe signs in as, with IAM database authentication: created in the
   * source (PostgreSQL: `GRANT rds_iam`; MySQL: `IDENTIFIED WITH AWSAuthenticationPlugin`), so
   * every copy has it; it needs only SELECT on what the statements read.
   */
  user: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,31}$/, 'must be a database user name (letters, digits, _; at most 32)').default(DEFAULT_PROBE_USER),
  /**
   * E.g. `SELECT max(created_at) > now() - interval '2 days' FROM orders`. They are in the
   * function's settings, so they must hold no secrets.
   */
  statements: z
    .array(
      z
        .string()
        .min(1)
        .max(PROBE_LIMITS.statementChars, `a statement is at most ${PROBE_LIMITS.statementChars} characters`)
        .regex(/^\s*(SELECT|WITH)\b/i, 'must be a query (begin with SELECT or WITH)'),
    )
    .min(1, 'at least one statement')
    .max(PROBE_LIMITS.statements, `at most ${PROBE_LIMITS.statements} statements`),
});
export type AwsBackupProbe = z.infer<typeof probeSchema>;

/** Where the database probe function runs: a VPC of the primary region from which the copies can be reached. */
export const probeNetworkSchema = z.strictObject({
  /** Private subnets of the VPC of `restoreTesting.network`'s subnet group (two zones or more). */
  subnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]{8,17}$/, 'must be a subnet ID (subnet-...)')).min(1, 'at least one subnet is required').max(16),
  /** The function's security groups: the copies' security groups must admit them on the database port. */
  securityGroupIds: z.array(z.string().regex(/^sg-[0-9a-f]{8,17}$/, 'must be a security group ID (sg-...)')).min(1, 'at least one security group is required').max(5),
});
export type AwsBackupProbeNetwork = z.infer<typeof probeNetworkSchema>;

export const restoreTestingSchema = z.strictObject({
  /**
   * Restore a recovery point of every resource of the class on a schedule, into a throwaway copy
   * AWS Backup deletes after the validation window: proof that the recovery points restore.
   */
  enabled: z.boolean().default(true),
  /** When, in the config's time zone: by default monthly, on the 15th at 06:00. */
  schedule: schedulerCronSchema.default('cron(0 6 15 * ? *)'),
  /** Hours the restored copy is kept (and billed) before AWS Backup deletes it. */
  validationWindowHours: z.number().int().min(1).max(168).default(2),
  /** Pick the newest recovery point of the last `selectionWindowDays` (or a random one). */
  algorithm: z.enum(['LATEST_WITHIN_WINDOW', 'RANDOM_WITHIN_WINDOW']).default('LATEST_WITHIN_WINDOW'),
  selectionWindowDays: z.number().int().min(1).max(365).default(35),
  /**
   * Days a resource's last restore test that passed validation may be old before its alarm.
   * Derived from the schedule when absent: the longest gap between runs plus a day for AWS
   * Backup's start window, the restore and its validation (a monthly schedule: 33 days).
   */
  alarmAfterDays: z.number().int().min(1).max(400).optional(),
  /**
   * Where restore tests put the class's RDS and Aurora copies. Without it AWS Backup infers the
   * default VPC: a copy of production data there, or a test that fails where the account has none.
   */
  network: z
    .strictObject({
      /** A DB subnet group of the primary region (one the source databases use is fine). */
      subnetGroupName: z
        .string()
        .min(1)
        .max(255)
        .regex(/^[A-Za-z0-9 ._-]+$/, 'must be a DB subnet group name (letters, digits, spaces, periods, underscores, hyphens)')
        .refine((name) => name.toLowerCase() !== 'default', "must name a DB subnet group of your own: 'default' is the default VPC's"),
      /** VPC security groups of the copies: one that admits nothing but what validates them. */
      securityGroupIds: z.array(z.string().regex(/^sg-[0-9a-f]{8,17}$/, 'must be a security group ID (sg-...)')).min(1, 'at least one security group is required').max(5),
    })
    .optional(),
  /**
   * SQL each restore test's copy of an RDS instance must answer, by instance identifier: the
   * database probe function connects to the copy with IAM database authentication as `user` (no
   * password anywhere) and runs each statement in a read-only transaction; each must return a row
   * whose first value is true (not false, 0 or NULL). Needs `network` and `awsBackup.probeNetwork`.
   */
  probes: z.record(z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be an RDS instance identifier of this class'), probeSchema).default({}),
});
export type AwsBackupRestoreTesting = z.infer<typeof restoreTestingSchema>;
export const DEFAULT_RESTORE_TESTING: AwsBackupRestoreTesting = { enabled: true, schedule: 'cron(0 6 15 * ? *)', validationWindowHours: 2, algorithm: 'LATEST_WITHIN_WINDOW', selectionWindowDays: 35, probes: {} };

/**
 * Days a restore-tested class's resources may go without a restore test that passed validation,
 * or undefined when the class is not restore-tested or its schedule's cadence cannot be derived.
 */
export function classRestoreTestMaxDays(backupClass: { readonly restoreTesting: AwsBackupRestoreTesting }): number | undefined {
  const testing = backupClass.restoreTesting;
  if (!testing.enabled) return undefined;
  if (testing.alarmAfterDays !== undefined) return testing.alarmAfterDays;
  const hours = derivedMaxAgeHours(testing.schedule, 24);
  return hours === undefined ? undefined : Math.ceil((hours + 24) / 24);
}


/** What the restore testing checks read of a class. */
interface RestoreTestedClass {
  readonly restoreTesting: AwsBackupRestoreTesting;
  readonly resources: { readonly rdsInstances: readonly string[]; readonly auroraClusters: readonly string[]; readonly s3Buckets: readonly string[]; readonly dynamoDbTables: readonly string[]; readonly efsFileSystems: readonly string[] };
}

/** The last part of an RDS ARN: the instance or cluster identifier. */
const identifierOf = (arn: string) => arn.slice(arn.lastIndexOf(':') + 1);

/** A class's restore testing: a derivable alarm, a network for database copies, probes of its own restore-tested RDS instances. */
export function restoreTestingIssues(
  here: readonly (string | number)[],
  backupClass: RestoreTestedClass,
  probeNetwork: AwsBackupProbeNetwork | undefined,
  issues: { readonly errors: ConfigIssue[]; readonly warnings: ConfigIssue[] },
): void {
  const testing = backupClass.restoreTesting;
  const resources = backupClass.resources;
  const path = [...here, 'restoreTesting'];
  const named = resources.rdsInstances.length + resources.auroraClusters.length + resources.s3Buckets.length + resources.dynamoDbTables.length + resources.efsFileSystems.length;
  if (testing.enabled && named > 0 && classRestoreTestMaxDays(backupClass) === undefined) {
    issues.errors.push({ path: [...path, 'alarmAfterDays'], message: `cannot derive how often '${testing.schedule}' restore-tests this class; set the days a resource may go without a passed restore test` });
  }
  if (testing.enabled && !testing.network && resources.rdsInstances.length + resources.auroraClusters.length > 0) {
    issues.warnings.push({
      path: [...path, 'network'],
      message: "not set: AWS Backup's monthly restore tests put this class's RDS and Aurora copies in the default VPC (a copy of production data there), and fail every month where the account has none: set the DB subnet group and security groups the copies get",
    });
  }
  const probed = Object.keys(testing.probes);
  if (probed.length === 0) return;
  const instances = new Set(resources.rdsInstances.map(identifierOf));
  const clusters = new Set(resources.auroraClusters.map(identifierOf));
  for (const identifier of probed) {
    if (clusters.has(identifier)) {
      issues.errors.push({ path: [...path, 'probes', identifier], message: `'${identifier}' is an Aurora cluster: AWS Backup restores a cluster's test copy without instances, so it cannot answer SQL (probe RDS instances only)` });
    } else if (!instances.has(identifier)) {
      issues.errors.push({ path: [...path, 'probes', identifier], message: `'${identifier}' is not an RDS instance of this class (resources.rdsInstances): only this class's restore tests run its probes` });
    }
  }
  if (!testing.enabled) {
    issues.errors.push({ path: [...path, 'probes'], message: 'restore testing of this class is off (enabled: false), so no copy would ever be probed: turn it on or remove the probes' });
  }
  if (!testing.network) {
    issues.errors.push({ path: [...path, 'network'], message: 'required with probes: the probe function reaches the copies only in a VPC the config names (the DB subnet group and security groups of the copies)' });
  }
  if (!probeNetwork) {
    issues.errors.push({ path: ['awsBackup', 'probeNetwork'], message: `required with ${[...path, 'probes'].join('.')}: the subnets and security groups of the database probe function, in the VPC of the copies` });
  }
}
