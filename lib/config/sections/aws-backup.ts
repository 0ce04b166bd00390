import { z } from 'zod';
import { objectivesSchema } from './objectives-schema';
import { schedulerCronSchema } from '../schema';
import { BUCKET_NAME } from './media-buckets';
import { derivedMaxAgeHours } from './verification';
import { DEFAULT_RESTORE_TESTING, classRestoreTestMaxDays, probeNetworkSchema, restoreTestingIssues, restoreTestingSchema } from './aws-backup-restore-testing';

export { classRestoreTestMaxDays } from './aws-backup-restore-testing';
import { MANAGED_RESOURCE_KINDS, type ManagedResourceList } from '../../../contracts/managed-backup';

/**
 * Managed data the kit protects through AWS Backup rather than with its own jobs: RDS DB
 * instances and Aurora clusters (history beyond RDS's 35-day point-in-time window), S3 buckets
 * (a deleted bucket or deleted versions), and optionally DynamoDB tables and EFS file systems.
 * Resources are grouped in data classes; each class is one backup plan whose rules say when, how
 * long, whether to cold storage, whether continuously, and whether a copy goes to the DR region.
 * No class, nothing deployed (and nothing billed).
 */

/** A config problem at a path (same shape as the config's own issues). */
interface ConfigIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

const ARN_PARTITION = 'arn:aws[a-z-]*';
const RDS_INSTANCE_ARN = new RegExp(`^${ARN_PARTITION}:rds:([a-z0-9-]+):(\\d{12}):db:[a-z][a-z0-9-]{0,62}$`);
const AURORA_CLUSTER_ARN = new RegExp(`^${ARN_PARTITION}:rds:([a-z0-9-]+):(\\d{12}):cluster:[a-z][a-z0-9-]{0,62}$`);
const DYNAMODB_TABLE_ARN = new RegExp(`^${ARN_PARTITION}:dynamodb:([a-z0-9-]+):(\\d{12}):table/[A-Za-z0-9_.-]{3,255}$`);
const EFS_ARN = new RegExp(`^${ARN_PARTITION}:elasticfilesystem:([a-z0-9-]+):(\\d{12}):file-system/fs-[0-9a-f]{8,40}$`);
/** AWS Backup's rule names. */
const RULE_NAME = /^[A-Za-z0-9_.-]{1,50}$/;

/** Days AWS Backup keeps a recovery point in cold storage at the least. */
export const COLD_STORAGE_MINIMUM_DAYS = 90;
/** Longest retention of a continuous backup (its point-in-time window). */
export const CONTINUOUS_MAXIMUM_DAYS = 35;
/** Shortest grace period before a compliance-mode Vault Lock becomes immutable. */
export const VAULT_LOCK_MINIMUM_GRACE_DAYS = 3;

const arnList = (pattern: RegExp, what: string) => z.array(z.string().regex(pattern, `must be the ARN of ${what}`)).default([]);

const resourcesSchema = z.strictObject({
  /** RDS DB instances, by ARN (`arn:aws:rds:<region>:<account>:db:<identifier>`). */
  rdsInstances: arnList(RDS_INSTANCE_ARN, 'an RDS DB instance (arn:aws:rds:<region>:<account>:db:<identifier>)'),
  /** Aurora clusters, by ARN (`arn:aws:rds:<region>:<account>:cluster:<identifier>`). */
  auroraClusters: arnList(AURORA_CLUSTER_ARN, 'an Aurora DB cluster (arn:aws:rds:<region>:<account>:cluster:<identifier>)'),
  /** S3 buckets, by name. AWS Backup requires versioning on each. */
  s3Buckets: z.array(z.string().regex(BUCKET_NAME, 'must be an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)')).default([]),
  /** DynamoDB tables, by ARN. */
  dynamoDbTables: arnList(DYNAMODB_TABLE_ARN, 'a DynamoDB table (arn:aws:dynamodb:<region>:<account>:table/<name>)'),
  /** EFS file systems, by ARN. */
  efsFileSystems: arnList(EFS_ARN, 'an EFS file system (arn:aws:elasticfilesystem:<region>:<account>:file-system/fs-...)'),
  /**
   * Resources of the primary region carrying all of these tags, whatever their type. Anyone
   * allowed to tag can then enrol a resource (and its cost): prefer ARNs.
   */
  tags: z.array(z.strictObject({ key: z.string().min(1).max(128), value: z.string().max(256) })).default([]),
});
export type AwsBackupResources = z.infer<typeof resourcesSchema>;

const ruleSchema = z.strictObject({
  /** When the rule runs, in the config's time zone (AWS Backup runs a rule at most once an hour). */
  schedule: schedulerCronSchema,
  /** Days a recovery point is kept, in the primary vault and in its DR copy. */
  retentionDays: z.number().int().min(1).max(36500),
  /**
   * Days after which a recovery point moves to cold storage, where AWS Backup keeps it at least
   * 90 days. AWS Backup moves only some resource types (EFS and DynamoDB among those here, not
   * RDS, Aurora or S3) and ignores it for the others.
   */
  coldStorageAfterDays: z.number().int().min(1).optional(),
  /**
   * Continuous backup: point-in-time restore within the retention (at most 35 days). RDS, Aurora
   * and S3 support it; other types get a snapshot at the schedule instead.
   */
  continuous: z.boolean().default(false),
  /** Copy every recovery point to the DR region's vault. */
  copyToDr: z.boolean().default(true),
  /**
   * With `replication.isolatedAccount`: also copy every recovery point to the isolated account's
   * vault in the primary region (RDS and Aurora copy across accounts or regions, not both at once).
   */
  copyToIsolatedAccount: z.boolean().default(true),
});
export type AwsBackupRule = z.infer<typeof ruleSchema>;

/** The seeds' practice: daily kept 35 days, monthly kept a year, both copied to the DR region. */
export const DEFAULT_AWS_BACKUP_RULES = {
  daily: { schedule: 'cron(0 3 * * ? *)', retentionDays: 35, continuous: false, copyToDr: true, copyToIsolatedAccount: true },
  monthly: { schedule: 'cron(0 5 1 * ? *)', retentionDays: 365, continuous: false, copyToDr: true, copyToIsolatedAccount: true },
} as const satisfies Record<string, z.input<typeof ruleSchema>>;


const classSchema = z.strictObject({
  /** What this class protects. */
  resources: resourcesSchema,
  /**
   * Hours the newest recovery point of each resource listed by ARN or name may be old before its
   * alarm. Derived from the most frequent snapshot rule when absent: a daily rule allows
   * 36 h (AWS Backup starts a job within 8 h of its time), a weekly one the longest gap between
   * its days plus a day, a monthly one 32 days.
   */
  maxRecoveryPointAgeHours: z.number().int().min(1).max(24 * 400).optional(),
  /** Recovery objectives of the class's resources; by default RPO 24 h, RTO 2 h for databases and 4 h for buckets and file systems. */
  objectives: objectivesSchema,
  /** AWS Backup restore testing of the class's resources named by ARN or bucket name. */
  restoreTesting: restoreTestingSchema.default(DEFAULT_RESTORE_TESTING),
  /** Rules by name. Given, the map replaces the defaults whole. */
  rules: z.record(z.string().regex(RULE_NAME, "rule names are 1-50 letters, digits, '-', '_' or '.'"), ruleSchema).default(DEFAULT_AWS_BACKUP_RULES as unknown as Record<string, AwsBackupRule>),
});
export type AwsBackupClass = z.infer<typeof classSchema>;

const vaultLockSchema = z.strictObject({
  /**
   * GOVERNANCE: the lock can be removed by whoever may call backup:DeleteBackupVaultLockConfiguration
   * (the vault policy leaves that to the break-glass role). COMPLIANCE: after `changeableForDays`
   * nobody, root included, can remove it, nor delete a recovery point before its retention ends.
   */
  mode: z.enum(['GOVERNANCE', 'COMPLIANCE']).default('GOVERNANCE'),
  /** Every rule must keep its recovery points at least this long. */
  minRetentionDays: z.number().int().min(1).max(36500).default(7),
  /** No rule may keep its recovery points longer than this. */
  maxRetentionDays: z.number().int().min(1).max(36500).default(3650),
  /** COMPLIANCE only: the days after deployment during which the lock can still be removed (AWS: at least 3). */
  changeableForDays: z.number().int().min(VAULT_LOCK_MINIMUM_GRACE_DAYS).default(VAULT_LOCK_MINIMUM_GRACE_DAYS),
});
export type AwsBackupVaultLock = z.infer<typeof vaultLockSchema>;

const awsBackupSchema = z.strictObject({
  /** Data classes by name (e.g. `databases`, `media`); each is one backup plan. */
  classes: z.record(z.string().regex(/^[a-z][a-z0-9-]{0,23}$/, 'class names are 1-24 lowercase letters, digits, hyphens'), classSchema).default({}),
  /** The Vault Lock of both vaults (primary and DR region). */
  vaultLock: vaultLockSchema.default({ mode: 'GOVERNANCE', minRetentionDays: 7, maxRetentionDays: 3650, changeableForDays: VAULT_LOCK_MINIMUM_GRACE_DAYS }),
  /**
   * Where the database probe function runs, when a class's restore tests probe their RDS copies
   * with SQL (`restoreTesting.probes`): subnets and security groups in the VPC of those copies.
   */
  probeNetwork: probeNetworkSchema.optional(),
});
export type AwsBackupConfig = z.infer<typeof awsBackupSchema>;

export const awsBackupShape = {
  /** RDS, Aurora, S3 (DynamoDB, EFS) protected through AWS Backup: vaults, plans, copies. */
  awsBackup: awsBackupSchema.default({
    classes: {},
    vaultLock: { mode: 'GOVERNANCE', minRetentionDays: 7, maxRetentionDays: 3650, changeableForDays: VAULT_LOCK_MINIMUM_GRACE_DAYS },
  }),
};

/** Hours a daily rule's recovery point may be old: a day, AWS Backup's 8-hour start window, and a few hours for the job. */
export const DAILY_RECOVERY_POINT_MAX_AGE_HOURS = 36;

/**
 * The age alarm's limit of a class's resources: its override, else the limit of its most frequent
 * snapshot rule; undefined when it has only continuous rules (a continuous recovery point keeps
 * its creation date as it is extended, so its age says nothing).
 */
export function classMaxRecoveryPointAgeHours(backupClass: AwsBackupClass): number | undefined {
  if (backupClass.maxRecoveryPointAgeHours !== undefined) return backupClass.maxRecoveryPointAgeHours;
  const limits = Object.values(backupClass.rules)
    .filter((rule) => !rule.continuous)
    .map((rule) => derivedMaxAgeHours(rule.schedule, DAILY_RECOVERY_POINT_MAX_AGE_HOURS))
    .filter((hours): hours is number => hours !== undefined);
  return limits.length > 0 ? Math.min(...limits) : undefined;
}

/** A resource named in a class whose newest recovery point is watched. */
export interface WatchedManagedResource {
  readonly list: ManagedResourceList;
  /** Its ARN, or for a bucket its name. */
  readonly resource: string;
  readonly className: string;
  readonly maxAgeHours: number;
  /** Days without a validated restore test before its alarm; absent when the class is not restore-tested. */
  readonly restoreTestMaxDays?: number;
}

/**
 * The resources whose recovery point ages are reported and alarmed: every one named by ARN or
 * bucket name in a class with an age limit (tag-selected ones cannot be listed at synth; a class
 * with only continuous rules has no limit; the config warns of both).
 */
export function watchedManagedResources(awsBackup: AwsBackupConfig): WatchedManagedResource[] {
  return Object.entries(awsBackup.classes).flatMap(([className, backupClass]) => {
    const maxAgeHours = classMaxRecoveryPointAgeHours(backupClass);
    if (maxAgeHours === undefined) return [];
    const restoreTestMaxDays = classRestoreTestMaxDays(backupClass);
    return (Object.keys(MANAGED_RESOURCE_KINDS) as ManagedResourceList[]).flatMap((list) =>
      backupClass.resources[list].map((resource) => ({ list, resource, className, maxAgeHours, ...(restoreTestMaxDays !== undefined ? { restoreTestMaxDays } : {}) })),
    );
  });
}

/** Resource types AWS Backup backs up continuously, of those the config can name. */
const CONTINUOUS_TYPES = ['rdsInstances', 'auroraClusters', 's3Buckets'] as const;
/** Resource types AWS Backup moves to cold storage, of those the config can name. */
const COLD_STORAGE_TYPES = ['dynamoDbTables', 'efsFileSystems'] as const;
const ARN_LISTS = ['rdsInstances', 'auroraClusters', 'dynamoDbTables', 'efsFileSystems'] as const;

interface ConfigWithAwsBackup {
  readonly primaryRegion: string;
  readonly account?: string | undefined;
  readonly replication: { readonly isolatedAccount?: string | undefined };
  readonly awsBackup: AwsBackupConfig;
}

/** Whether a cron's minutes field names one minute: AWS Backup runs a rule at most hourly. */
function runsAtMostHourly(schedule: string): boolean {
  const [minutes = ''] = /^cron\((.*)\)$/.exec(schedule.trim())?.[1]?.trim().split(/\s+/) ?? [];
  return /^\d{1,2}$/.test(minutes);
}

/** Cross-field rules: resources in the primary region, each in one class; rules within the Vault Lock and AWS Backup's limits. */
export function awsBackupIssues(config: ConfigWithAwsBackup): { errors: ConfigIssue[]; warnings: ConfigIssue[] } {
  const errors: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const lock = config.awsBackup.vaultLock;
  const lockPath = ['awsBackup', 'vaultLock'];
  if (lock.minRetentionDays > lock.maxRetentionDays) {
    errors.push({ path: [...lockPath, 'minRetentionDays'], message: `${lock.minRetentionDays} is above maxRetentionDays (${lock.maxRetentionDays})` });
  }
  const classes = Object.entries(config.awsBackup.classes);
  if (classes.length > 0 && lock.mode === 'COMPLIANCE') {
    warnings.push({
      path: [...lockPath, 'mode'],
      message: `COMPLIANCE: ${lock.changeableForDays} days after the first deployment the Vault Lock of both vaults becomes immutable. From then on nobody, root and AWS Support included, can remove it, shorten a recovery point's retention or delete the vaults while they hold recovery points`,
    });
  }

  const isolated = config.replication.isolatedAccount;
  const copiesToIsolated = isolated !== undefined && classes.some(([, backupClass]) => Object.values(backupClass.rules).some((rule) => rule.copyToIsolatedAccount));
  if (copiesToIsolated) {
    warnings.push({
      path: ['awsBackup', 'classes'],
      message:
        `recovery points are copied to the isolated account ${isolated} (copyToIsolatedAccount): AWS Backup copies across accounts only inside one AWS Organization with cross-account backup turned on (AWS Backup settings of the management account), ` +
        `and an RDS or Aurora snapshot only when its database's KMS key is a customer managed key shared with ${isolated} (one encrypted with aws/rds cannot leave the account): a copy that cannot be made fails its job, and the job alert says why`,
    });
  }

  const owner = new Map<string, string>();
  for (const [className, backupClass] of classes) {
    const here = ['awsBackup', 'classes', className];
    const resources = backupClass.resources;
    const named = ARN_LISTS.reduce((count, list) => count + resources[list].length, resources.s3Buckets.length);
    if (named === 0 && resources.tags.length === 0) {
      errors.push({ path: [...here, 'resources'], message: 'names nothing to protect: list resources by ARN (or bucket name) or by tags' });
    }
    for (const list of ARN_LISTS) {
      resources[list].forEach((arn, index) => {
        const [, , , region, account] = arn.split(':');
        if (region !== config.primaryRegion) {
          errors.push({ path: [...here, 'resources', list, index], message: `is in ${region}: a backup plan protects resources of its own region, ${config.primaryRegion}` });
        }
        if (config.account !== undefined && account !== config.account) {
          errors.push({ path: [...here, 'resources', list, index], message: `belongs to account ${account}, not ${config.account}` });
        }
      });
    }
    for (const list of [...ARN_LISTS, 's3Buckets'] as const) {
      resources[list].forEach((resource, index) => {
        const first = owner.get(resource);
        if (first !== undefined) {
          errors.push({ path: [...here, 'resources', list, index], message: `'${resource}' is already protected by ${first}: one class per resource (two would back it up and bill it twice)` });
        } else {
          owner.set(resource, `awsBackup.classes.${className}.resources.${list}.${index}`);
        }
      });
    }
    if (resources.s3Buckets.length > 0) {
      warnings.push({
        path: [...here, 'resources', 's3Buckets'],
        message: `${resources.s3Buckets.join(', ')}: AWS Backup backs up only versioned buckets, and this app cannot see a bucket's versioning at synth: check each is versioned (aws s3api get-bucket-versioning). Versioning keeps every overwritten and deleted version until the bucket's own lifecycle expires it, and AWS Backup bills per GB-month stored plus the S3 requests it makes`,
      });
    }

    if (backupClass.maxRecoveryPointAgeHours === undefined && classMaxRecoveryPointAgeHours(backupClass) === undefined) {
      const snapshotRules = Object.values(backupClass.rules).some((rule) => !rule.continuous);
      (snapshotRules ? errors : warnings).push({
        path: [...here, 'maxRecoveryPointAgeHours'],
        message: snapshotRules
          ? "cannot derive the recovery points' maximum age from the schedules of this class's snapshot rules; set it in hours"
          : 'this class has only continuous rules, so no recovery point age alarm watches its resources: add a snapshot rule (a daily one is the default) or set this',
      });
    }
    restoreTestingIssues(here, backupClass, config.awsBackup.probeNetwork, { errors, warnings });
    if (resources.tags.length > 0) {
      warnings.push({
        path: [...here, 'resources', 'tags'],
        message: 'resources selected by tag are backed up but have no recovery point age alarm (the kit cannot list them at synth): name the ones that matter by ARN or bucket name',
      });
    }

    const types = (lists: readonly (keyof AwsBackupResources)[]) => lists.some((list) => resources[list].length > 0) || resources.tags.length > 0;
    for (const [ruleName, rule] of Object.entries(backupClass.rules)) {
      const rulePath = [...here, 'rules', ruleName];
      if (rule.retentionDays < lock.minRetentionDays || rule.retentionDays > lock.maxRetentionDays) {
        errors.push({
          path: [...rulePath, 'retentionDays'],
          message: `${rule.retentionDays} days is outside the Vault Lock's ${lock.minRetentionDays}-${lock.maxRetentionDays} days (awsBackup.vaultLock.minRetentionDays/maxRetentionDays): the vault would refuse every backup and copy of this rule`,
        });
      }
      if (!runsAtMostHourly(rule.schedule)) {
        errors.push({ path: [...rulePath, 'schedule'], message: `'${rule.schedule}' runs more than once an hour; AWS Backup runs a rule at most hourly (name one minute)` });
      }
      if (rule.continuous) {
        if (rule.retentionDays > CONTINUOUS_MAXIMUM_DAYS) {
          errors.push({ path: [...rulePath, 'retentionDays'], message: `${rule.retentionDays} days with continuous backup: its point-in-time window is at most ${CONTINUOUS_MAXIMUM_DAYS} days (add a separate snapshot rule for longer history)` });
        }
        if (rule.coldStorageAfterDays !== undefined) {
          errors.push({ path: [...rulePath, 'coldStorageAfterDays'], message: 'continuous backups do not move to cold storage: remove it, or put it on a snapshot rule' });
        }
        if (!types(CONTINUOUS_TYPES)) {
          warnings.push({ path: [...rulePath, 'continuous'], message: 'no resource of this class supports continuous backup (RDS, Aurora, S3): they get a snapshot at the schedule instead' });
        }
      }
      if (rule.coldStorageAfterDays !== undefined) {
        if (rule.retentionDays < rule.coldStorageAfterDays + COLD_STORAGE_MINIMUM_DAYS) {
          errors.push({
            path: [...rulePath, 'retentionDays'],
            message: `${rule.retentionDays} days: AWS Backup keeps a recovery point at least ${COLD_STORAGE_MINIMUM_DAYS} days in cold storage, so with coldStorageAfterDays ${rule.coldStorageAfterDays} it must be at least ${rule.coldStorageAfterDays + COLD_STORAGE_MINIMUM_DAYS}`,
          });
        }
        if (!types(COLD_STORAGE_TYPES)) {
          warnings.push({ path: [...rulePath, 'coldStorageAfterDays'], message: 'AWS Backup moves only EFS and DynamoDB recovery points (of the types listed here) to cold storage and ignores this for RDS, Aurora and S3' });
        }
      }
    }
  }
  return { errors, warnings };
}
