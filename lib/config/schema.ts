import { z } from 'zod';
import { RESERVED_PREFIXES } from '../../contracts/bucket-layout';
import { isAwsRegion, isIanaTimeZone } from './regions';
import {
  MIN_STORAGE_DAYS,
  NEXT_TRANSITION_GAP_CLASSES,
  THIRTY_DAY_CLASSES,
  TRANSITION_STORAGE_CLASSES,
  type TransitionStorageClass,
} from './storage-classes';

/**
 * The app's one config, validated at synth. Each later capability adds its own section
 * (targets, RDS sources, ...) as an optional field with a default, so an older config
 * file keeps validating.
 */

export const regionSchema = z.string().superRefine((value, ctx) => {
  if (!isAwsRegion(value)) ctx.addIssue({ code: 'custom', message: `unknown AWS region '${value}'` });
});

const timeZoneSchema = z.string().superRefine((value, ctx) => {
  if (!isIanaTimeZone(value)) {
    ctx.addIssue({ code: 'custom', message: `unknown IANA time zone '${value}' (e.g. 'UTC', 'Europe/Berlin')` });
  }
});

/**
 * EventBridge Scheduler cron: `cron(minutes hours day-of-month month day-of-week year)`,
 * where exactly one of day-of-month and day-of-week is `?`.
 */
export const schedulerCronSchema = z.string().superRefine((value, ctx) => {
  const match = /^cron\((.*)\)$/.exec(value.trim());
  const fields = match?.[1]?.trim().split(/\s+/) ?? [];
  if (!match || fields.length !== 6) {
    ctx.addIssue({
      code: 'custom',
      message: `'${value}' is not an EventBridge Scheduler cron expression: expected cron(minutes hours day-of-month month day-of-week year), e.g. cron(0 2 * * ? *)`,
    });
    return;
  }
  const [, , dayOfMonth, , dayOfWeek] = fields;
  if ((dayOfMonth === '?') === (dayOfWeek === '?')) {
    ctx.addIssue({
      code: 'custom',
      message: `'${value}': exactly one of day-of-month and day-of-week must be '?'`,
    });
  }
});

const transitionSchema = z.strictObject({
  /** The S3 storage class objects move to. */
  storageClass: z.enum(TRANSITION_STORAGE_CLASSES),
  /** Days after the object was written (or became noncurrent). */
  afterDays: z.number().int().min(0),
});
export type TransitionConfig = z.infer<typeof transitionSchema>;

const tierSchema = z.strictObject({
  /**
   * When the tier runs, in the config's time zone. Omit for an on-demand tier
   * (manual, pre-deploy) that only an engineer or a pipeline starts.
   */
  schedule: schedulerCronSchema.optional(),
  /**
   * Days a backup of this tier is kept: the lifecycle expires it then, and each object's
   * Object Lock retain-until date is set to this many days after upload.
   */
  retentionDays: z.number().int().min(1),
  /** Storage-class transitions, in increasing `afterDays`. */
  transitions: z.array(transitionSchema).default([]),
  /**
   * Object Lock mode of this tier's backups, in both buckets (a replica keeps its source's lock).
   * COMPLIANCE: no one, root and the break-glass role included, can delete one or shorten its
   * lock before `retentionDays` are over. Default: `objectLock.mode`.
   */
  objectLockMode: z.enum(['GOVERNANCE', 'COMPLIANCE']).optional(),
});
export type TierConfig = z.infer<typeof tierSchema>;

/** Tier names become S3 prefixes, metric dimensions and event values. */
export const TIER_NAME_PATTERN = /^[a-z][a-z0-9-]{0,23}$/;

export const DEFAULT_TIERS = {
  daily: { schedule: 'cron(0 2 * * ? *)', retentionDays: 30, transitions: [] },
  weekly: {
    schedule: 'cron(0 3 ? * SUN *)',
    retentionDays: 90,
    transitions: [{ storageClass: 'STANDARD_IA', afterDays: 30 }],
  },
  monthly: {
    schedule: 'cron(0 4 1 * ? *)',
    retentionDays: 365,
    // Deep Archive at 120 rather than 90: Glacier Flexible Retrieval bills 90 days minimum,
    // so moving on at day 90 would pay 30 days of Glacier twice.
    transitions: [
      { storageClass: 'GLACIER', afterDays: 30 },
      { storageClass: 'DEEP_ARCHIVE', afterDays: 120 },
    ],
  },
  manual: { retentionDays: 7, transitions: [] },
  predeploy: { retentionDays: 7, transitions: [] },
} as const satisfies Record<string, z.input<typeof tierSchema>>;

const noncurrentSchema = z.strictObject({
  /** Transitions of versions that are no longer current (days after they became noncurrent). */
  transitions: z.array(transitionSchema).default([{ storageClass: 'GLACIER', afterDays: 30 }]),
  /** Days after becoming noncurrent when a version is removed for good. */
  expireAfterDays: z.number().int().min(1).default(365),
});

const objectLockSchema = z.strictObject({
  /**
   * GOVERNANCE: users with s3:BypassGovernanceRetention (no role of this app has it) can lift it.
   * COMPLIANCE: nobody, root included, can delete a locked version before its date.
   */
  mode: z.enum(['GOVERNANCE', 'COMPLIANCE']).default('GOVERNANCE'),
  /** Retention every new object gets when its writer sets none. */
  defaultRetentionDays: z.number().int().min(1).default(7),
});

const replicationSchema = z.strictObject({
  /** S3 Replication Time Control: 99.99% of objects replicated within 15 minutes (extra cost). */
  replicationTimeControl: z.boolean().default(true),
  /** Replication metrics (latency, pending bytes, failures) in CloudWatch. */
  metrics: z.boolean().default(true),
  /**
   * An isolated backup account for the replica bucket and its key: nobody in the workload account,
   * its root included, can then touch the replica. Objects are replicated with owner override
   * (the replica account owns them). Requires `account`.
   */
  isolatedAccount: z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account ID').optional(),
});

const accessLogsSchema = z.strictObject({
  /** Days server access logs are kept. */
  retentionDays: z.number().int().min(1).default(365),
});

const IAM_ROLE_NAME = /^[\w+=,.@*-]{1,64}$/;

const guardSchema = z.strictObject({
  /**
   * The one role that may still do what the guard denies everyone else (delete a locked version,
   * change the bucket policy, schedule the key's deletion, ...). Create it yourself, with MFA on its
   * trust policy, and use it only by the break-glass procedure in docs/security.md.
   */
  breakGlassRoleName: z.string().regex(IAM_ROLE_NAME, 'must be an IAM role name (letters, digits and + = , . @ _ -)').optional(),
  /**
   * The role CloudFormation deploys with, which keeps what it needs to update the stacks (a
   * pattern: `*` matches any characters). The CDK bootstrap's execution role by default.
   */
  deployRoleNamePattern: z.string().regex(IAM_ROLE_NAME, 'must be an IAM role name pattern (letters, digits, * and + = , . @ _ -)').default('cdk-*-cfn-exec-role-*'),
  /**
   * Refuse targets found by tag: anyone allowed ec2:CreateTags could enrol an instance of theirs
   * in a target's backup and restore commands. With it, targets name their instance IDs.
   */
  instanceIdsOnly: z.boolean().default(false),
  /**
   * Alert on the alert topic within minutes when anyone changes or deletes what the guard protects
   * (bucket policy, lock, versioning, lifecycle, replication, an object version, the keys), in both
   * regions: EventBridge rules on CloudTrail events, fed by a multi-region trail of the kit's own.
   */
  alerts: z.boolean().default(true),
  /**
   * Let that trail record write management events too (bucket and key changes). Turn off only when
   * another trail already records them in every region (an organization trail): a second copy of
   * management events is billed. The buckets' data events are always recorded.
   */
  trailManagementEvents: z.boolean().default(true),
});
export type GuardConfig = z.infer<typeof guardSchema>;

export const baseConfigShape = {
  /** Prefix of every stack and of the names that must be fixed; lowercase, 2-20 characters. */
  prefix: z
    .string()
    .regex(/^[a-z][a-z0-9-]{1,19}$/, 'must be 2-20 characters of lowercase letters, digits and hyphens, starting with a letter'),
  /** Region of the backup bucket and of every job. */
  primaryRegion: regionSchema,
  /** Region of the replica bucket; must differ from primaryRegion. */
  drRegion: regionSchema,
  /** AWS account to deploy to; omit to deploy to the account of the credentials in use. */
  account: z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account ID').optional(),
  /** E-mail addresses subscribed to the alert topic (each confirms by e-mail once). */
  alertEmails: z.array(z.email({ message: 'must be an e-mail address' })).default([]),
  /** IANA time zone for every schedule. */
  timeZone: timeZoneSchema.default('UTC'),
  /** Backup tiers by name. Given, the map replaces the defaults whole. */
  tiers: z
    .record(z.string().regex(TIER_NAME_PATTERN, 'tier names are 1-24 lowercase letters, digits, hyphens'), tierSchema)
    .default(DEFAULT_TIERS as unknown as Record<string, TierConfig>),
  noncurrentVersions: noncurrentSchema.default({
    transitions: [{ storageClass: 'GLACIER', afterDays: 30 }],
    expireAfterDays: 365,
  }),
  objectLock: objectLockSchema.default({ mode: 'GOVERNANCE', defaultRetentionDays: 7 }),
  replication: replicationSchema.default({ replicationTimeControl: true, metrics: true }),
  accessLogs: accessLogsSchema.default({ retentionDays: 365 }),
  /** Days after which S3 aborts an incomplete multipart upload and frees its parts. */
  abortIncompleteUploadsAfterDays: z.number().int().min(1).default(7),
  /**
   * What even an account administrator may not do to the backups: the bucket and key policies
   * deny it to everyone but the break-glass role and CloudFormation's deploy role.
   */
  guard: guardSchema.default({ deployRoleNamePattern: 'cdk-*-cfn-exec-role-*', instanceIdsOnly: false, alerts: true, trailManagementEvents: true }),
};

type Issue = { path: (string | number)[]; message: string };

/** Checks of one transition list; errors are S3's own rules, warnings cost money. */
export function checkTransitions(
  transitions: readonly TransitionConfig[],
  expireAfterDays: number,
  path: (string | number)[],
): { errors: Issue[]; warnings: Issue[] } {
  const errors: Issue[] = [];
  const warnings: Issue[] = [];
  transitions.forEach((transition, index) => {
    const here = [...path, 'transitions', index];
    if (THIRTY_DAY_CLASSES.has(transition.storageClass) && transition.afterDays < 30) {
      errors.push({
        path: [...here, 'afterDays'],
        message: `S3 does not transition to ${transition.storageClass} before day 30 (got ${transition.afterDays})`,
      });
    }
    const previous = transitions[index - 1];
    if (previous) {
      if (transition.afterDays <= previous.afterDays) {
        errors.push({
          path: [...here, 'afterDays'],
          message: `must be after the previous transition (${previous.storageClass} at day ${previous.afterDays})`,
        });
      } else if (
        NEXT_TRANSITION_GAP_CLASSES.has(previous.storageClass) &&
        transition.afterDays - previous.afterDays < 30
      ) {
        errors.push({
          path: [...here, 'afterDays'],
          message: `S3 requires 30 days in ${previous.storageClass} (day ${previous.afterDays}) before the next transition (got day ${transition.afterDays})`,
        });
      }
    }
    const leaves = transitions[index + 1]?.afterDays ?? expireAfterDays;
    const held = leaves - transition.afterDays;
    const minimum = MIN_STORAGE_DAYS[transition.storageClass];
    if (held < minimum) {
      warnings.push({
        path: here,
        message: `${transition.storageClass} bills at least ${minimum} days but objects stay ${held} days (day ${transition.afterDays} to ${leaves}); S3 charges the difference`,
      });
    }
  });
  const seen = new Set<TransitionStorageClass>();
  transitions.forEach((transition, index) => {
    if (seen.has(transition.storageClass)) {
      errors.push({
        path: [...path, 'transitions', index, 'storageClass'],
        message: `${transition.storageClass} appears twice`,
      });
    }
    seen.add(transition.storageClass);
  });
  const last = transitions[transitions.length - 1];
  if (last && expireAfterDays <= last.afterDays) {
    errors.push({
      path,
      message: `expiration (day ${expireAfterDays}) must be after the last transition (${last.storageClass} at day ${last.afterDays})`,
    });
  }
  return { errors, warnings };
}

/** A schema's cross-field rules: the errors fail synth, the warnings are printed. */
export function crossFieldIssues(config: BaseConfig): { errors: Issue[]; warnings: Issue[] } {
  const errors: Issue[] = [];
  const warnings: Issue[] = [];
  if (config.drRegion === config.primaryRegion) {
    errors.push({
      path: ['drRegion'],
      message: `must differ from primaryRegion (both are '${config.primaryRegion}'): a replica in the same region does not survive a regional outage`,
    });
  }
  if (config.replication.isolatedAccount !== undefined) {
    if (config.account === undefined) {
      errors.push({ path: ['account'], message: 'must name the workload account when replication.isolatedAccount is set: the replica account\'s policies name the roles of this account' });
    } else if (config.account === config.replication.isolatedAccount) {
      errors.push({ path: ['replication', 'isolatedAccount'], message: `must differ from account (both are '${config.account}'): an isolated replica lives in another account` });
    }
  }
  if (config.replication.replicationTimeControl && !config.replication.metrics) {
    errors.push({
      path: ['replication', 'metrics'],
      message: 'must be true while replication.replicationTimeControl is true (S3 requires metrics for RTC)',
    });
  }
  const tierEntries = Object.entries(config.tiers);
  if (tierEntries.length === 0) {
    errors.push({ path: ['tiers'], message: 'at least one tier is required' });
  }
  for (const [name, tier] of tierEntries) {
    const reserved = RESERVED_PREFIXES[`${name}/`];
    if (reserved !== undefined) {
      errors.push({ path: ['tiers', name], message: `the prefix '${name}/' of the backup bucket holds ${reserved}, which no instance may write; name the tier differently` });
    }
    const result = checkTransitions(tier.transitions, tier.retentionDays, ['tiers', name]);
    result.errors.forEach((issue) =>
      errors.push(
        issue.path.length === 2 ? { path: [...issue.path, 'retentionDays'], message: issue.message } : issue,
      ),
    );
    warnings.push(...result.warnings);
  }
  warnings.push(...complianceWarnings(config));
  const noncurrent = checkTransitions(
    config.noncurrentVersions.transitions,
    config.noncurrentVersions.expireAfterDays,
    ['noncurrentVersions'],
  );
  noncurrent.errors.forEach((issue) =>
    errors.push(
      issue.path.length === 1 ? { path: [...issue.path, 'expireAfterDays'], message: issue.message } : issue,
    ),
  );
  warnings.push(...noncurrent.warnings);

  const shortest = tierEntries.reduce<[string, number] | undefined>(
    (found, [name, tier]) => (!found || tier.retentionDays < found[1] ? [name, tier.retentionDays] : found),
    undefined,
  );
  if (shortest && config.objectLock.defaultRetentionDays > shortest[1]) {
    errors.push({
      path: ['objectLock', 'defaultRetentionDays'],
      message: `${config.objectLock.defaultRetentionDays} days is longer than the shortest tier's retention (tiers.${shortest[0]}.retentionDays = ${shortest[1]}): those backups could not expire when their tier says`,
    });
  }
  return { errors, warnings };
}

/** The Object Lock mode of a tier's backups: its own, or the buckets' default. */
export function tierLockMode(config: Pick<BaseConfig, 'tiers' | 'objectLock'>, tier: string): 'GOVERNANCE' | 'COMPLIANCE' {
  return config.tiers[tier]?.objectLockMode ?? config.objectLock.mode;
}

/** COMPLIANCE is legal and sometimes right, but irreversible: say what it costs, per tier. */
function complianceWarnings(config: BaseConfig): Issue[] {
  const warnings: Issue[] = [];
  if (config.objectLock.mode === 'COMPLIANCE') {
    warnings.push({
      path: ['objectLock', 'mode'],
      message: `COMPLIANCE is the default of every tier without its own objectLockMode, and of what the buckets hold besides backups (verdicts, drill records: ${config.objectLock.defaultRetentionDays} days)`,
    });
  }
  for (const [name, tier] of Object.entries(config.tiers)) {
    if (tierLockMode(config, name) !== 'COMPLIANCE') continue;
    warnings.push({
      path: ['tiers', name, tier.objectLockMode !== undefined ? 'objectLockMode' : 'retentionDays'],
      message:
        `backups of tier '${name}' are locked in COMPLIANCE mode: no one (root, the break-glass role, AWS Support) can delete one or shorten its lock, ` +
        `so each is stored and billed for ${tier.retentionDays} days in both the primary and the replica bucket, even after the stacks are deleted; ` +
        `a backup written with a wrong retention or by mistake cannot be removed. Try the tier in GOVERNANCE first`,
    });
  }
  return warnings;
}

export const baseConfigSchema = z.strictObject(baseConfigShape);
export type BaseConfig = z.infer<typeof baseConfigSchema>;
