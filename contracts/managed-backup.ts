import * as z from './zod';

/**
 * The contract of the managed-backup function (the data AWS Backup protects): the settings the
 * stack gives it, the events it takes, and how a protected resource is named in its metric and
 * alarms. Pure: no SDK, no CDK.
 */

/** The function's environment, by what each variable holds. */
export const MANAGED_BACKUP_ENV = {
  /** JSON of `ManagedBackupSettings`. */
  settings: 'MANAGED_BACKUP_SETTINGS',
} as const;

/** Resource types the config names by ARN or bucket name, and the word each is shown with. */
/** The AWS Backup vault of the managed data classes: the same name in both regions, so a copy action can name the DR one. */
export function managedVaultName(prefix: string): string {
  return `${prefix}-managed`;
}

export const MANAGED_RESOURCE_KINDS = {
  rdsInstances: 'rds',
  auroraClusters: 'aurora',
  s3Buckets: 's3',
  dynamoDbTables: 'dynamodb',
  efsFileSystems: 'efs',
} as const;
export type ManagedResourceList = keyof typeof MANAGED_RESOURCE_KINDS;

/**
 * How a protected resource is named in its metric's `Resource` dimension, its alarm and its log
 * lines: `<kind>:<name>` (`rds:orders-db`, `s3:team-media`), so an instance and a bucket of the
 * same name stay apart.
 */
export function managedResourceName(list: ManagedResourceList, resource: string): string {
  const kind = MANAGED_RESOURCE_KINDS[list];
  if (list === 's3Buckets') return `${kind}:${resource}`;
  if (list === 'efsFileSystems') return `${kind}:${resource.slice(resource.lastIndexOf('/') + 1)}`;
  if (list === 'dynamoDbTables') return `${kind}:${resource.slice(resource.indexOf(':table/') + ':table/'.length)}`;
  return `${kind}:${resource.slice(resource.lastIndexOf(':') + 1)}`;
}

const watchedResourceSchema = z.strictObject({
  /** `<kind>:<name>`, see managedResourceName. */
  name: z.string().check(z.minLength(1)),
  arn: z.string().check(z.regex(/^arn:aws[a-z-]*:/)),
  /** The data class (backup plan) that protects it. */
  className: z.string().check(z.minLength(1)),
  /** Hours its newest recovery point may be old before the alarm. */
  maxAgeHours: z.number().check(z.positive()),
  /** Days its last restore test that passed validation may be old before the alarm; absent when its class is not restore-tested. */
  restoreTestMaxDays: z.optional(z.number().check(z.positive())),
  /** The plan and selection that enrolled it: until its first recovery point, its age counts from the selection's creation. */
  backupPlanId: z.string().check(z.minLength(1)),
  selectionId: z.string().check(z.minLength(1)),
});
export type WatchedResource = z.infer<typeof watchedResourceSchema>;

export const managedBackupSettingsSchema = z.strictObject({
  region: z.string().check(z.minLength(1)),
  /** The primary-region vault every rule writes to: only its recovery points count. */
  vaultName: z.string().check(z.minLength(1)),
  resources: z.array(watchedResourceSchema),
});
export type ManagedBackupSettings = z.infer<typeof managedBackupSettingsSchema>;

export function parseManagedBackupSettings(raw: unknown): ManagedBackupSettings {
  const parsed = managedBackupSettingsSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`environment variable ${MANAGED_BACKUP_ENV.settings} is invalid: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  }
  return parsed.data;
}

/** What the function is asked: the hourly report of every watched resource's newest recovery point. */
export const managedBackupEventSchema = z.strictObject({ action: z.literal('report-ages') });
export type ManagedBackupEvent = z.infer<typeof managedBackupEventSchema>;

/** The hour (UTC) of the day whose hourly report also reports the restore tests' ages: once a day is enough. */
export const RESTORE_TEST_REPORT_HOUR_UTC = 7;

/** The hourly schedule's input. */
export const REPORT_AGES_EVENT: ManagedBackupEvent = { action: 'report-ages' };
